import type { ProviderHost } from '../doctor/types.js';
import type { ProviderId } from './index.js';
import { libvirtHost } from './libvirt-host.js';
import { virtualboxHost } from './virtualbox-host.js';

/**
 * Each provider's host checks, by id (only `doctor` and `up` load them): kept apart from the
 * descriptors in ./index.ts, which the config schema reads, so that neither the config nor the
 * plan imports the host checks. The type requires an entry for every provider of the registry: a
 * provider added there without its host checks does not type-check.
 */
export type ProviderHosts<Ids extends string = ProviderId> = { readonly [Id in Ids]: ProviderHost };

export const PROVIDER_HOSTS: ProviderHosts = {
  virtualbox: virtualboxHost,
  libvirt: libvirtHost,
};

export function providerHost(id: ProviderId): ProviderHost {
  return PROVIDER_HOSTS[id];
}
