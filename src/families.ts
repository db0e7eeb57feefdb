/**
 * Distro families. A family is one entry here plus its shell partial
 * (templates/provision/family/<id>.sh.ejs, which defines the family's functions for every phase);
 * a distro of an existing family is one entry in boxes/catalog.json. Kept apart from src/distros.ts
 * so that the catalog's schema (src/boxes/catalog.ts) can name the families without an import cycle.
 */
export interface FamilyDef {
  id: string;
  packageManager: 'apt' | 'dnf';
  /** The pkgs.k8s.io repository of a Kubernetes minor for this family's packages. */
  kubernetesRepo: (minor: string) => string;
  /** The kubelet's defaults file (KUBELET_EXTRA_ARGS) of the family's packaging, which the kubelet unit reads. */
  kubeletDefaults: string;
}

export const FAMILIES = {
  debian: { id: 'debian', packageManager: 'apt', kubernetesRepo: (minor) => `https://pkgs.k8s.io/core:/stable:/v${minor}/deb/`, kubeletDefaults: '/etc/default/kubelet' },
  rhel: { id: 'rhel', packageManager: 'dnf', kubernetesRepo: (minor) => `https://pkgs.k8s.io/core:/stable:/v${minor}/rpm/`, kubeletDefaults: '/etc/sysconfig/kubelet' },
} as const satisfies Record<string, FamilyDef>;

export type Family = keyof typeof FAMILIES;
