import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxesDir } from './layout.js';

/**
 * Distro families and the box catalog. A family is one entry here plus its shell partial
 * (templates/provision/family/<id>.sh.ejs, which defines the family's functions for every phase);
 * a distro of an existing family is one entry in boxes/catalog.json.
 */
export interface FamilyDef {
  id: string;
  packageManager: 'apt' | 'dnf';
  /** The pkgs.k8s.io repository of a Kubernetes minor for this family's packages. */
  kubernetesRepo: (minor: string) => string;
}

export const FAMILIES = {
  debian: { id: 'debian', packageManager: 'apt', kubernetesRepo: (minor) => `https://pkgs.k8s.io/core:/stable:/v${minor}/deb/` },
  rhel: { id: 'rhel', packageManager: 'dnf', kubernetesRepo: (minor) => `https://pkgs.k8s.io/core:/stable:/v${minor}/rpm/` },
} as const satisfies Record<string, FamilyDef>;

export type Family = keyof typeof FAMILIES;
export type Arch = 'amd64' | 'arm64';

/** One distro of boxes/catalog.json: its family, and which public box each provider uses per architecture. */
export interface CatalogDistro {
  family: Family;
  /** Provider id → architecture → box name; null where no public box is known. */
  boxes: Record<string, Partial<Record<Arch, string | null>>>;
  /** Provider id → where those boxes were seen (publisher build sources, dated reports). */
  seen?: Record<string, string>;
  /** The CPU level the distro's userland needs (RHEL 10: x86-64-v3). */
  cpu?: 'x86-64-v3';
}

export interface Catalog {
  distros: Record<string, CatalogDistro>;
}

let catalogCache: Catalog | undefined;

/** boxes/catalog.json, read once, when first asked for (never at import). The plan gets it as an input; only the edges read the file. */
export function loadCatalog(): Catalog {
  catalogCache ??= JSON.parse(readFileSync(join(boxesDir, 'catalog.json'), 'utf8')) as Catalog;
  return catalogCache;
}

/** The distros of a catalog (by default the one shipped), in its order. A function: importing this module reads nothing. */
export function distroIds(catalog: Catalog = loadCatalog()): string[] {
  return Object.keys(catalog.distros);
}

/** The distro a config without `distro:` uses. */
export const DEFAULT_DISTRO = 'ubuntu-24.04';

/** The box the catalog names for a distro, provider and architecture, or undefined when it has none. */
export function catalogBox(catalog: Catalog, distro: string, provider: string, arch: Arch): string | undefined {
  return catalog.distros[distro]?.boxes[provider]?.[arch] ?? undefined;
}

/** This host's architecture in Go/Kubernetes naming. */
export function hostArch(nodeArch: string = process.arch): Arch {
  return nodeArch === 'arm64' ? 'arm64' : 'amd64';
}
