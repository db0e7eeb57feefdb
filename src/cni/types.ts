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
  manifests: readonly { name: string; url: string }[];
  /** The pod that proves the network runs on a node (one per node, from a DaemonSet). */
  nodePod: PodMatcher;
  /** What an offline install needs from the artifacts directory besides the manifests. */
  offline: { images: readonly string[]; cniPlugins: readonly string[] };
}
