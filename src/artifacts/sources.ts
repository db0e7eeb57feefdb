import type { CniDef } from '../cni/types.js';
import type { Arch } from '../distros.js';
import { UsageError } from '../errors.js';
import { KNOWN_PATCHES, RUNTIME } from '../versions.js';

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
  /** No checksum published at the pinned URL: the digest (`sha256:<hex>`) is pinned in this project, or by the user (`pinnedFrom` says where it was read). */
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
  /** What an HTTP 404 for it means, when more can be said than "not found" (a patch that was never released). */
  notFound?: string;
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

/** For a patch newer than the newest this version knows of its minor: what a 404 for its downloads means. */
function unreleased(patch: string): { notFound?: string } {
  const minor = patch.split('.').slice(0, 2).join('.');
  const newest = KNOWN_PATCHES[minor];
  if (newest && Number(patch.split('.')[2]) <= Number(newest.split('.')[2])) return {};
  return { notFound: `Kubernetes v${patch} is not a released patch${newest ? ` (the newest ${minor} patch this version knows is ${newest})` : ''}` };
}

/** kubeadm, kubelet and kubectl of a patch, each with dl.k8s.io's published `.sha256`. */
export function kubernetesDownloads(patch: string, arch: Arch): ReleaseDownload[] {
  return ['kubeadm', 'kubelet', 'kubectl'].map((bin) => {
    const url = `https://dl.k8s.io/release/v${patch}/bin/linux/${arch}/${bin}`;
    return { id: bin, url, checksum: { kind: 'file', url: `${url}.sha256` }, install: { to: `bin/${bin}`, mode: EXEC }, ...unreleased(patch) };
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

/** The CNIs' own plugins (src/cni's `offline.cniPlugins`), by name: the download that holds each. */
const CNI_PLUGIN_DOWNLOADS: Readonly<Record<string, (arch: Arch) => ReleaseDownload>> = { flannel: flannelPluginDownload };

/** The download of a CNI's own plugin; one this table does not know is an internal error. */
export function cniPluginDownload(plugin: string, arch: Arch): ReleaseDownload {
  const download = CNI_PLUGIN_DOWNLOADS[plugin];
  if (!download) throw new Error(`no release download is known for the CNI plugin ${plugin} (src/artifacts/sources.ts)`);
  return download(arch);
}

/** Where a pin the user supplies comes from, as the lock file records it. */
export const USER_PIN = 'supplied by the user (artifacts fetch --trust-manifest, or mirrors.manifests in the config)';

/**
 * A CNI's manifests (src/cni), each checked against the digest pinned there or one the user supplies
 * (`supplied`: file name → sha256 hex). A manifest without either is refused, never trusted on first use.
 */
export function manifestDownloads(cni: CniDef, supplied: Readonly<Record<string, string>> = {}): ReleaseDownload[] {
  const missing = cni.manifests.filter((m) => !m.pin && !supplied[m.name]);
  if (missing.length > 0) {
    const names = missing.map((m) => `${m.name} (${m.url})`).join(', ');
    const example = missing.map((m) => `--trust-manifest ${m.name}=<sha256>`).join(' ');
    throw new UsageError(
      `${cni.title} ${cni.version}: no digest is pinned for ${names}: this project could not verify one from here, and kubeadm-vagrant never trusts a download on first use. ` +
        `Check the file yourself and give its sha256: \`kubeadm-vagrant artifacts fetch ${example}\`, or in the config \`mirrors: {manifests: {${missing[0]!.name}: <sha256>}}\``,
    );
  }
  return cni.manifests.map((m) => {
    const given = supplied[m.name];
    const checksum: ChecksumSource = given ? { kind: 'pinned', digest: `sha256:${given.toLowerCase()}`, pinnedFrom: USER_PIN } : { kind: 'pinned', digest: `sha256:${m.pin!.sha256}`, pinnedFrom: m.pin!.readFrom };
    return { id: `manifest:${m.name}`, url: m.url, checksum, install: { to: `manifests/${m.name}`, mode: 0o644 } };
  });
}

/** `<base>/<host><path>` for a mirror of release files; the upstream URL when there is none. */
export function mirroredUrl(url: string, filesMirror: string | undefined): string {
  if (!filesMirror) return url;
  const u = new URL(url);
  return `${filesMirror.replace(/\/+$/, '')}/${u.host}${u.pathname}`;
}
