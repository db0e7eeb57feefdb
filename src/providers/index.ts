import { libvirt, libvirtOptions } from './libvirt.js';
import type { ProviderDef } from './types.js';
import { virtualbox } from './virtualbox.js';

export type { ProviderDef } from './types.js';

/** Every provider, in the order help texts list them. */
export const PROVIDERS: readonly ProviderDef[] = [virtualbox, libvirt];
export const PROVIDER_IDS = PROVIDERS.map((p) => p.id) as [string, ...string[]];

/** The providers' own config sections, keyed by provider id, for the cluster schema. */
export const PROVIDER_OPTIONS = { libvirt: libvirtOptions } as const;

/** The provider of a validated config (its id was checked against PROVIDER_IDS). */
export function providerDef(id: string): ProviderDef {
  const def = PROVIDERS.find((p) => p.id === id);
  if (!def) throw new Error(`unknown provider ${id}`);
  return def;
}
