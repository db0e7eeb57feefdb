import type { Arch } from '../distros.js';
import { RUNTIME } from '../versions.js';

/**
 * Where every file of an artifacts directory comes from upstream: the one table that `artifacts
 * fetch` reads (and the tests' mirrors imitate). Pure data: URLs, how each is checked, and which
 * members of an archive land where in `v<patch>/<arch>/` (the layout of src/offline/artifacts.ts).
 *
 * A mirror of these files (`mirrors.files`) holds them under `<base>/<host><path>`, the way
 * kubespray's offline `files_repo` does: `<base>/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubeadm`.
 */

/** How the upstream checksum of a download is known. */
export type ChecksumSource =
  /** A checksum file published beside it: bare hex (dl.k8s.io's `.sha256`) or sha256sum lines (`<hex>  <name>`); `entry` names the line. */
  | { kind: 'file'; url: string; entry?: string }
  /** No checksum published at the pinned URL: the digest is pinned in this project (where it was read is said in `pinnedFrom`). */
  | { kind: 'pinned'; digest: string; pinnedFrom: string };

/** One upstream download and what the artifacts directory takes from it. */
export interface ReleaseDownload {
  /** A short name, unique in a set (`kubeadm`, `cni-plugins`). */
  id: string;
  /** The upstream URL (https). */
  url: string;
  checksum: ChecksumSource;
  /** The file itself lands at `to`; or members of a tar(.gz) archive land at their `to`. */
  install: { to: string; mode: number } | { members: readonly { member: string; to: string; mode: number }[] };
}

/** Versions of what is fetched besides Kubernetes (the containerd, runc and CNI plugin pins of src/versions.ts). */
export const RELEASE_PINS = {
  ...RUNTIME,
  /** crictl of the Kubernetes minor (cri-tools releases one per minor). */
  criTools: (kubernetesMinor: string) => `${kubernetesMinor}.0`,
  /** flannel's CNI plugin, as kube-flannel.yml v0.28.10 names it (its install-cni-plugin image tag). */
  flannelCniPlugin: 'v1.9.1-flannel3',
} as const;

const EXEC = 0o755;
const GITHUB = 'https://github.com';

/** kubeadm, kubelet and kubectl of a patch, each with dl.k8s.io's published `.sha256`. */
export function kubernetesDownloads(patch: string, arch: Arch): ReleaseDownload[] {
  return ['kubeadm', 'kubelet', 'kubectl'].map((bin) => {
    const url = `https://dl.k8s.io/release/v${patch}/bin/linux/${arch}/${bin}`;
    return { id: bin, url, checksum: { kind: 'file', url: `${url}.sha256` }, install: { to: `bin/${bin}`, mode: EXEC } };
  });
}

/** crictl, the CNI reference plugins, containerd (static build) and runc, from their GitHub releases. */
export function runtimeDownloads(kubernetesMinor: string, arch: Arch, opts: { containerd: boolean; cniPlugins: readonly string[] }): ReleaseDownload[] {
  const cri = RELEASE_PINS.criTools(kubernetesMinor);
  const crictl = `${GITHUB}/kubernetes-sigs/cri-tools/releases/download/v${cri}/crictl-v${cri}-linux-${arch}.tar.gz`;
  const cni = RELEASE_PINS.cniPlugins;
  const plugins = `${GITHUB}/containernetworking/plugins/releases/download/v${cni}/cni-plugins-linux-${arch}-v${cni}.tgz`;
  const downloads: ReleaseDownload[] = [
    { id: 'crictl', url: crictl, checksum: { kind: 'file', url: `${crictl}.sha256` }, install: { members: [{ member: 'crictl', to: 'bin/crictl', mode: EXEC }] } },
    {
      id: 'cni-plugins',
      url: plugins,
      checksum: { kind: 'file', url: `${plugins}.sha256` },
      install: { members: opts.cniPlugins.map((p) => ({ member: `./${p}`, to: `cni/${p}`, mode: EXEC })) },
    },
  ];
  if (opts.containerd) {
    const v = RELEASE_PINS.containerd;
    const archive = `${GITHUB}/containerd/containerd/releases/download/v${v}/containerd-static-${v}-linux-${arch}.tar.gz`;
    const runc = `${GITHUB}/opencontainers/runc/releases/download/v${RELEASE_PINS.runc}`;
    downloads.push(
      {
        id: 'containerd',
        url: archive,
        checksum: { kind: 'file', url: `${archive}.sha256sum` },
        install: { members: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map((b) => ({ member: `bin/${b}`, to: `containerd/${b}`, mode: EXEC })) },
      },
      { id: 'runc', url: `${runc}/runc.${arch}`, checksum: { kind: 'file', url: `${runc}/runc.sha256sum`, entry: `runc.${arch}` }, install: { to: 'containerd/runc', mode: EXEC } },
    );
  }
  return downloads;
}

/** flannel's own CNI plugin (flannel-io/cni-plugin's release archive holds `flannel-<arch>`). */
export function flannelPluginDownload(arch: Arch): ReleaseDownload {
  const v = RELEASE_PINS.flannelCniPlugin;
  const url = `${GITHUB}/flannel-io/cni-plugin/releases/download/${v}/cni-plugin-flannel-linux-${arch}-${v}.tgz`;
  return { id: 'flannel-cni-plugin', url, checksum: { kind: 'file', url: `${url}.sha256` }, install: { members: [{ member: `flannel-${arch}`, to: 'cni/flannel', mode: EXEC }] } };
}

/** `<base>/<host><path>` for a mirror of release files; the upstream URL when there is none. */
export function mirroredUrl(url: string, filesMirror: string | undefined): string {
  if (!filesMirror) return url;
  const u = new URL(url);
  return `${filesMirror.replace(/\/+$/, '')}/${u.host}${u.pathname}`;
}
