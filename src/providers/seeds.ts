import type { ProviderId } from './index.js';
import { libvirtSeeds } from './libvirt-seeds.js';
import type { SeedSupport } from './seed-types.js';

export type { SeedInput, SeedSupport } from './seed-types.js';

const NOTHING: SeedSupport = { prepare: async () => {}, remove: async () => {} };

/** Every provider's way to hand a machine its seed (./seed-types.ts), by id: a provider added to the registry without an entry here does not type-check. */
export const PROVIDER_SEEDS: { readonly [Id in ProviderId]: SeedSupport } = {
  virtualbox: NOTHING,
  libvirt: libvirtSeeds,
};
