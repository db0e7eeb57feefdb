import type { PodMatcher } from '../verify/kube.js';

/**
 * Everything the tool knows about one pod network add-on. Adding a CNI is a module like
 * flannel.ts, its shell partial (templates/provision/cni/<id>.sh.ejs, which defines
 * `install_cni` for the control-plane phase) and a line in ./index.ts.
 */
export interface CniDef {
  id: string;
  title: string;
  /** The pinned upstream release. */
  version: string;
  /** Upstream manifests the control plane downloads once and keeps in its config directory. */
  manifests: readonly CniManifest[];
  /** The pod that proves the network runs on a node (one per node, from a DaemonSet). */
  nodePod: PodMatcher;
  /** What an install needs from the artifacts directory besides the manifests. */
  offline: { images: readonly string[]; cniPlugins: readonly string[] };
}

/** One upstream manifest of a CNI, at its pinned tag. */
export interface CniManifest {
  /** The file name under the artifacts' manifests/. */
  name: string;
  url: string;
  /**
   * The sha256 of the file at `url`, pinned in this project, and where it was read: `artifacts
   * fetch` takes the manifest only with these bytes. Absent where no pin could be verified here.
   */
  pin?: { sha256: string; readFrom: string };
}
