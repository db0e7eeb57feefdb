import type { Arch } from '../boxes/catalog.js';
import { cniDef } from '../cni/index.js';
import { UsageError } from '../errors.js';
import { ARTIFACTS } from '../offline/artifacts.js';
import { clusterNeeds } from '../offline/needs.js';
import { parseImageReference } from '../oci/reference.js';
import { KNOWN_PATCHES, kubeadmImages, minorInfo } from '../versions.js';
import { cniPluginDownload, kubernetesDownloads, manifestDownloads, runtimeDownloads, type ReleaseDownload } from './sources.js';

/**
 * What `artifacts fetch` puts into `v<patch>/<arch>/` for a set of needs: the release downloads of
 * src/artifacts/sources.ts (with the layout files each gives) and the images (each an archive under
 * images/). Pure.
 */

/** What a directory is fetched for; several fetches into one directory add up. */
export interface FetchNeeds {
  cnis: readonly string[];
  dashboard: boolean;
  /** containerd and runc (runtime.containerd: release). */
  containerd: boolean;
}

export type PlannedItem =
  | { kind: 'download'; download: ReleaseDownload; files: readonly string[] }
  | { kind: 'image'; ref: string; file: string };

/** A plan item's short name, for progress and messages. */
export function itemName(item: PlannedItem): string {
  return item.kind === 'download' ? item.download.id : item.ref;
}

/** The layout files an item gives. */
export function itemFiles(item: PlannedItem): readonly string[] {
  return item.kind === 'download' ? item.files : [item.file];
}

/**
 * The patch a fetch is for: a patch as given, a minor's newest known one. A minor this version knows
 * no images of is refused (the guests would not have what kubeadm pulls).
 */
export function fetchPatch(version: string): string {
  const minor = version.split('.').slice(0, 2).join('.');
  if (!minorInfo(minor)) {
    const known = Object.keys(KNOWN_PATCHES).join(', ');
    throw new UsageError(`Kubernetes ${version}: this version of kubeadm-vagrant does not know the images kubeadm ${minor} runs (it knows ${known}); set kubernetes.version to one of those`);
  }
  if (/^\d+\.\d+$/.test(version)) return KNOWN_PATCHES[minor]!;
  return version;
}

/** images/<name>.tar: the repository's last component; where two images would clash, the whole path with '-'. */
export function imageArchiveNames(refs: readonly string[]): Map<string, string> {
  const last = (ref: string) => parseImageReference(ref).repository.split('/').pop()!;
  const counts = new Map<string, number>();
  for (const ref of refs) counts.set(last(ref), (counts.get(last(ref)) ?? 0) + 1);
  return new Map(refs.map((ref) => {
    const r = parseImageReference(ref);
    const name = counts.get(last(ref))! > 1 ? `${r.registry}-${r.repository}`.replace(/[/:]/g, '-') : last(ref);
    return [ref, `${ARTIFACTS.imagesDir}/${name}.tar`];
  }));
}

/** The layout files a release download gives. */
function filesOf(d: ReleaseDownload): string[] {
  return 'to' in d.install ? [d.install.to] : d.install.members.map((m) => m.to);
}

/**
 * Every item of `v<patch>/<arch>/` for the needs: kubeadm, kubelet, kubectl, crictl, the CNI plugins
 * (each CNI's own too), containerd and runc when asked, each CNI's manifests (pinned: `pins` supplies
 * those the project does not pin), and the images (kubeadm's for the patch, each CNI's, the smoke
 * test's, Headlamp's with the dashboard). Throws a UsageError for an unknown minor or a manifest without a pin.
 */
export function artifactPlan(patch: string, arch: Arch, needs: FetchNeeds, pins: Readonly<Record<string, string>> = {}): PlannedItem[] {
  if (!kubeadmImages(patch)) fetchPatch(patch);
  const minor = patch.split('.').slice(0, 2).join('.');
  const cnis = [...new Set(needs.cnis)].sort();
  if (cnis.length === 0) throw new UsageError('a fetch needs at least one CNI (kubernetes.cni)');
  const perCni = cnis.map((id) => clusterNeeds(patch, id, needs.dashboard));
  const ownPlugins = [...new Set(perCni.flatMap((n) => n.cniPlugins))].sort();
  const downloads: ReleaseDownload[] = [
    ...kubernetesDownloads(patch, arch),
    ...runtimeDownloads(minor, arch, { containerd: needs.containerd, cniPlugins: ARTIFACTS.cniBase }),
    ...ownPlugins.map((p) => cniPluginDownload(p, arch)),
    ...cnis.flatMap((id) => manifestDownloads(cniDef(id), pins)),
  ];
  const images = [...new Set(perCni.flatMap((n) => n.images))];
  const names = imageArchiveNames(images);
  return [
    ...downloads.map((download): PlannedItem => ({ kind: 'download', download, files: filesOf(download) })),
    ...images.map((ref): PlannedItem => ({ kind: 'image', ref, file: names.get(ref)! })),
  ];
}
