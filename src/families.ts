/**
 * Distro families. A family is one entry here plus its shell partial
 * (templates/provision/family/<id>.sh.ejs, which defines the family's functions for every phase);
 * a distro of an existing family is one entry in boxes/catalog.json. Kept apart from src/distros.ts
 * so that the catalog's schema (src/boxes/catalog.ts) can name the families without an import cycle.
 */
export interface FamilyDef {
  id: string;
  /** What installs the distro's own packages in the guest (the host tools a box lacks; containerd with runtime.containerd: distro). */
  packageManager: 'apt' | 'dnf';
  /** The kubelet's defaults file (KUBELET_EXTRA_ARGS) of the family's convention, which the kubelet unit reads. */
  kubeletDefaults: string;
}

export const FAMILIES = {
  debian: { id: 'debian', packageManager: 'apt', kubeletDefaults: '/etc/default/kubelet' },
  rhel: { id: 'rhel', packageManager: 'dnf', kubeletDefaults: '/etc/sysconfig/kubelet' },
} as const satisfies Record<string, FamilyDef>;

export type Family = keyof typeof FAMILIES;
