import type * as z from 'zod';
import { libvirt } from './libvirt.js';
import type { ProviderDef } from './types.js';
import { virtualbox } from './virtualbox.js';

export type { ProviderDef, ProviderOptionsDef } from './types.js';

/**
 * Every provider, in the order help texts list them: the one registry. The config schema (each
 * provider's section), the plan's typed `providerOptions`, the hints, `init`'s cluster.yaml and
 * the Vagrantfile all read it; the host checks are registered by id in ./hosts.ts, whose type
 * requires one per provider here.
 */
export const PROVIDERS = [virtualbox, libvirt] as const;

type Provider = (typeof PROVIDERS)[number];
/** A provider's id: one of the registry's. */
export type ProviderId = Provider['id'];
/** The registry's entry of a provider id. */
export type ProviderOf<Id extends ProviderId> = Extract<Provider, { id: Id }>;
/** The type of a provider's config section (`undefined` for one without a section). */
export type OptionsOf<Id extends ProviderId> = ProviderOf<Id> extends ProviderDef<Id, infer Options extends object | undefined> ? Options : never;
/** Every provider's section, by id, as the plan carries them (the Vagrantfile has a block per provider). */
export type ProviderOptions = { [Id in ProviderId]: OptionsOf<Id> };
/** The config sections of the providers that have one, by id: their schemas, for the cluster schema. */
export type ProviderSections = { [Id in ProviderId as OptionsOf<Id> extends object ? Id : never]: z.ZodType<OptionsOf<Id>> };

export const PROVIDER_IDS = PROVIDERS.map((p) => p.id) as [ProviderId, ...ProviderId[]];
/** The provider a config without `provider:` uses. */
export const DEFAULT_PROVIDER: ProviderId = 'virtualbox';

export function isProviderId(id: unknown): id is ProviderId {
  return typeof id === 'string' && (PROVIDER_IDS as readonly string[]).includes(id);
}

/** The registry by id, each entry typed with its own options (so generic code can hand a provider its own section). */
type ProviderMap = { readonly [Id in ProviderId]: ProviderDef<Id, OptionsOf<Id>> };
const BY_ID = Object.fromEntries(PROVIDERS.map((p) => [p.id, p])) as unknown as ProviderMap;

/** The registry's entry of a provider, typed by its id. */
export function providerDef<Id extends ProviderId>(id: Id): ProviderOf<Id> {
  const def = PROVIDERS.find((p): p is ProviderOf<Id> => p.id === id);
  if (!def) throw new Error(`unknown provider ${id}`);
  return def;
}

/** The providers that have a config section, with it. */
export function providerSectionDefs(): { id: ProviderId; options: NonNullable<Provider['options']> }[] {
  return PROVIDERS.flatMap((p) => (p.options ? [{ id: p.id, options: p.options }] : []));
}

/** The section schemas for the cluster schema (a typed view of providerSectionDefs: built from the same registry). */
export const PROVIDER_SECTIONS = Object.fromEntries(providerSectionDefs().map((p) => [p.id, p.options.schema])) as ProviderSections;

/** Every provider's options from a validated config: its section, or undefined for a provider without one. */
export function providerOptionsFrom(config: Readonly<Record<string, unknown>>): ProviderOptions {
  return Object.fromEntries(PROVIDERS.map((p) => [p.id, p.options ? config[p.id] : undefined])) as ProviderOptions;
}

/** How much slower than hardware the machines of a provider run, given every provider's options (default 1). */
export function slowdownOf<Id extends ProviderId>(id: Id, options: ProviderOptions): number {
  const def: ProviderMap[Id] = BY_ID[id];
  return def.slowdown?.(options[id]) ?? 1;
}

/** A field's hint from the provider whose section it is in (`libvirt.driver`), if any. */
export function providerFieldHint(path: string): string | undefined {
  const [section, field, ...rest] = path.split('.');
  if (rest.length > 0 || field === undefined) return undefined;
  const def = providerSectionDefs().find((p) => p.id === section);
  return def ? (def.options.hints as Readonly<Record<string, string>>)[field] : undefined;
}
