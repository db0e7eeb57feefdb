/**
 * The Kubernetes minors this tool knows, and the pinned versions of what it installs besides
 * Kubernetes. The one table of minors: validation (supported, end of life, newer than known),
 * the artifacts check (the images kubeadm names) and the README read it.
 */

export interface MinorInfo {
  /** `1.37`. */
  minor: string;
  /** First release of the minor. */
  released: string;
  /** End of maintenance (kubernetes.io/releases); for the newest minors the date the policy gives. */
  endOfLife: string;
  /**
   * What kubeadm of this minor names in `kubeadm config images list` besides kube-*: read from
   * cmd/kubeadm/app/constants/constants.go of k8s.io/kubernetes at `readAt` (patches may move etcd).
   */
  images: { pause: string; etcd: string; coredns: string; readAt: string };
  /** The newest patch release of the minor known on KNOWN_AT (kubernetes.io/releases): a higher patch gets a warning. */
  newestPatch: number;
}

/** When the newest patches below were read. */
export const KNOWN_AT = '2026-12-01';

/** Oldest first. kubeadm config v1beta4 exists in every one of them (v1beta3 is gone from 1.37). */
export const MINORS: readonly MinorInfo[] = [
  { minor: '1.31', released: '2024-08-13', endOfLife: '2025-10-28', images: { pause: '3.10', etcd: '3.5.24-0', coredns: 'v1.11.3', readAt: 'v1.31.14' }, newestPatch: 14 },
  { minor: '1.32', released: '2024-12-11', endOfLife: '2026-02-28', images: { pause: '3.10', etcd: '3.5.24-0', coredns: 'v1.11.3', readAt: 'v1.32.13' }, newestPatch: 13 },
  { minor: '1.33', released: '2025-04-23', endOfLife: '2026-06-28', images: { pause: '3.10', etcd: '3.5.24-0', coredns: 'v1.12.0', readAt: 'v1.33.13' }, newestPatch: 13 },
  { minor: '1.34', released: '2025-08-27', endOfLife: '2026-10-27', images: { pause: '3.10.1', etcd: '3.6.5-0', coredns: 'v1.12.1', readAt: 'v1.34.12' }, newestPatch: 12 },
  { minor: '1.35', released: '2025-12-17', endOfLife: '2027-02-28', images: { pause: '3.10.1', etcd: '3.6.6-0', coredns: 'v1.13.1', readAt: 'v1.35.8' }, newestPatch: 8 },
  { minor: '1.36', released: '2026-04-22', endOfLife: '2027-06-28', images: { pause: '3.10.2', etcd: '3.6.8-0', coredns: 'v1.14.2', readAt: 'v1.36.5' }, newestPatch: 5 },
  { minor: '1.37', released: '2026-08-26', endOfLife: '2027-10-28', images: { pause: '3.10.2', etcd: '3.7.0-0', coredns: 'v1.14.6', readAt: 'v1.37.2' }, newestPatch: 2 },
];

/**
 * The newest patch of each minor this version knows (the patch its MINORS entry was read at): what a
 * minor resolves to where a patch is needed (`artifacts fetch`). A newer patch can still be named.
 */
export const KNOWN_PATCHES: Readonly<Record<string, string>> = Object.fromEntries(MINORS.map((m) => [m.minor, m.images.readAt.slice(1)]));

/** A patch as given, or a minor's newest known patch; undefined for a minor this version has no patch of. */
export function resolvePatch(version: string): string | undefined {
  return /^\d+\.\d+\.\d+$/.test(version) ? version : KNOWN_PATCHES[version];
}

/** The newest minor this project has proven end to end (the default). */
export const NEWEST_PROVEN_MINOR = '1.37';
/** Minors past the newest known are accepted (with a warning) this far ahead: 1.38 is due 2026-12-16. */
export const MINORS_AHEAD_ACCEPTED = 2;

/** The newest known patch of a minor, `1.37.2`, when the minor is known. */
export function newestKnownPatch(minor: string): string | undefined {
  const info = minorInfo(minor);
  return info ? `${info.minor}.${info.newestPatch}` : undefined;
}

export function minorInfo(minor: string): MinorInfo | undefined {
  return MINORS.find((m) => m.minor === minor);
}

export function minorNumber(minor: string): number {
  return Number(minor.split('.')[1]);
}

/** The oldest and newest known minor numbers (31, 37). */
export const OLDEST_MINOR = minorNumber(MINORS[0]!.minor);
export const NEWEST_MINOR = minorNumber(MINORS[MINORS.length - 1]!.minor);

/**
 * The images of `kubeadm config images list` that only a control plane runs (kubeadm's static
 * pods), by repository name: a worker does not import them offline, nor is it checked for them.
 */
export const CONTROL_PLANE_IMAGES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'] as const;

/** Whether an image reference (`registry.k8s.io/etcd:3.7.0-0`) is one of CONTROL_PLANE_IMAGES. */
export function isControlPlaneImage(ref: string): boolean {
  const repo = ref.replace(/[@:][^/]*$/, '');
  return (CONTROL_PLANE_IMAGES as readonly string[]).includes(repo.slice(repo.lastIndexOf('/') + 1));
}

/** The images `kubeadm config images list` names for a patch, when its minor is known. */
export function kubeadmImages(patch: string): string[] | undefined {
  const info = minorInfo(patch.split('.').slice(0, 2).join('.'));
  if (!info) return undefined;
  const v = `v${patch}`;
  return [
    `registry.k8s.io/kube-apiserver:${v}`,
    `registry.k8s.io/kube-controller-manager:${v}`,
    `registry.k8s.io/kube-scheduler:${v}`,
    `registry.k8s.io/kube-proxy:${v}`,
    `registry.k8s.io/coredns/coredns:${info.images.coredns}`,
    `registry.k8s.io/pause:${info.images.pause}`,
    `registry.k8s.io/etcd:${info.images.etcd}`,
  ];
}

/**
 * containerd 2.x from its official release archives (containerd's RELEASES.md: 2.3 is the LTS line,
 * recommended for Kubernetes 1.36 and 1.37), with the runc its release names
 * (script/setup/runc-version) and the CNI plugins Kubernetes names (build/dependencies.yaml).
 */
export const RUNTIME = {
  containerd: '2.3.7',
  runc: '1.5.2',
  cniPlugins: '1.9.1',
} as const;

/** The image the smoke test runs: the Kubernetes e2e test image of the newest proven minor. */
export const SMOKE_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.66.1';
