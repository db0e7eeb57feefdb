import { calico } from './calico.js';
import { flannel } from './flannel.js';
import type { CniDef } from './types.js';

export type { CniDef } from './types.js';

/** Every pod network add-on, in the order help texts list them. */
export const CNIS: readonly CniDef[] = [flannel, calico];
export const CNI_IDS = CNIS.map((c) => c.id) as [string, ...string[]];

/** The add-on of a validated config (its id was checked against CNI_IDS). */
export function cniDef(id: string): CniDef {
  const def = CNIS.find((c) => c.id === id);
  if (!def) throw new Error(`unknown CNI ${id}`);
  return def;
}
