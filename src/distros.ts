import { join } from 'node:path';
import { boxName, readCatalogFile, type Arch, type Catalog, type CatalogDistro } from './boxes/catalog.js';
import { boxesDir } from './layout.js';

/**
 * The distros and the box catalog (boxes/catalog.json, read by src/boxes/catalog.ts). A distro of
 * an existing family (src/families.ts) is one entry in the catalog.
 */
export { FAMILIES, type Family, type FamilyDef } from './families.js';
export type { Arch, Catalog, CatalogDistro };

let catalogCache: Catalog | undefined;

/** boxes/catalog.json, read once, when first asked for (never at import). The plan gets it as an input; only the edges read the file. */
export function loadCatalog(): Catalog {
  catalogCache ??= readCatalogFile(join(boxesDir, 'catalog.json'));
  return catalogCache;
}

/** The distros of a catalog (by default the one shipped), in its order. A function: importing this module reads nothing. */
export function distroIds(catalog: Catalog = loadCatalog()): string[] {
  return Object.keys(catalog.distros);
}

/** The distro a config without `distro:` uses. */
export const DEFAULT_DISTRO = 'ubuntu-24.04';

/**
 * The box for a distro on an architecture: `kubeadm-vagrant/<distro>`, built from the distro's own
 * image, for every provider; undefined when the catalog has no image of the distro for that architecture.
 */
export function catalogBox(catalog: Catalog, distro: string, _provider: string, arch: Arch): string | undefined {
  return catalog.distros[distro]?.images[arch] ? boxName(distro) : undefined;
}

/** This host's architecture in Go/Kubernetes naming. */
export function hostArch(nodeArch: string = process.arch): Arch {
  return nodeArch === 'arm64' ? 'arm64' : 'amd64';
}
