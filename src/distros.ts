import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { boxesDir } from './layout.js';

/**
 * The box catalog. A distro of an existing family (src/families.ts) is one entry in boxes/catalog.json.
 */
export { FAMILIES, type Family, type FamilyDef } from './families.js';
import type { Family } from './families.js';

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

/** boxes/catalog.json, read once. The plan gets it as an input; only the edges read the file. */
export function loadCatalog(): Catalog {
  catalogCache ??= JSON.parse(readFileSync(join(boxesDir, 'catalog.json'), 'utf8')) as Catalog;
  return catalogCache;
}

/** The distros of the catalog, in its order. */
export const DISTRO_IDS = Object.keys(loadCatalog().distros) as [string, ...string[]];

/** The box the catalog names for a distro, provider and architecture, or undefined when it has none. */
export function catalogBox(catalog: Catalog, distro: string, provider: string, arch: Arch): string | undefined {
  return catalog.distros[distro]?.boxes[provider]?.[arch] ?? undefined;
}

/** This host's architecture in Go/Kubernetes naming. */
export function hostArch(nodeArch: string = process.arch): Arch {
  return nodeArch === 'arm64' ? 'arm64' : 'amd64';
}
