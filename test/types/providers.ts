/**
 * The provider seam (src/providers): one registry whose entries carry their typed options. A
 * provider with a config section but without what goes with it, or code reading a field its
 * provider's options do not have, does not type-check.
 */
import * as z from 'zod';
import type { ClusterConfig } from '../../src/config/schema.js';
import type { ClusterPlan } from '../../src/plan/plan.js';
import { PROVIDER_HOSTS, type ProviderHosts } from '../../src/providers/hosts.js';
import { providerDef, type ProviderId } from '../../src/providers/index.js';
import type { ProviderDef } from '../../src/providers/types.js';

const schema = z.strictObject({ switch: z.string().default('Default Switch'), generation: z.number().default(2) }).prefault({});
type HypervOptions = z.output<typeof schema>;
const common = { id: 'hyperv', title: 'Hyper-V', natNetwork: { cidr: '172.16.0.0/24', what: 'the default switch' }, runsInParallel: true } as const;
const comments = { switch: 'the virtual switch', generation: '1 | 2' };
const hints = { switch: 'the name Get-VMSwitch prints', generation: '2 unless the box is BIOS-only' };

// A complete provider with options type-checks.
export const complete: ProviderDef<'hyperv', HypervOptions> = { ...common, options: { schema, comments, hints }, slowdown: (o) => (o.generation === 1 ? 2 : 1) };
// And one without options, too.
export const plain: ProviderDef<'hyperv', undefined> = { ...common, options: undefined };

// @ts-expect-error options declared, but no config section
export const noSection: ProviderDef<'hyperv', HypervOptions> = { ...common, options: undefined };
// @ts-expect-error a field without the hint that goes under a problem with it
export const noHint: ProviderDef<'hyperv', HypervOptions> = { ...common, options: { schema, comments, hints: { switch: 'x' } } };
// @ts-expect-error a field without the comment `init` writes beside it
export const noComment: ProviderDef<'hyperv', HypervOptions> = { ...common, options: { schema, comments: { generation: '1 | 2' }, hints } };
// @ts-expect-error a schema whose values are not the declared options
export const wrongSchema: ProviderDef<'hyperv', HypervOptions> = { ...common, options: { schema: z.strictObject({ switch: z.number() }), comments, hints } };
// @ts-expect-error slowdown reads a field its options do not have
export const wrongField: ProviderDef<'hyperv', HypervOptions> = { ...common, options: { schema, comments, hints }, slowdown: (o) => (o.driver === 'qemu' ? 5 : 1) };
// @ts-expect-error a section for a provider that says it has none
export const extraSection: ProviderDef<'hyperv', undefined> = { ...common, options: { schema, comments, hints } };

// Adding a provider to the registry without host checks: PROVIDER_HOSTS no longer has every id.
// @ts-expect-error the host-check table lacks the new provider
export const hosts: ProviderHosts<ProviderId | 'hyperv'> = PROVIDER_HOSTS;

// Provider options are typed where they are read: no casts.
export const driverOfPlan = (plan: ClusterPlan): 'kvm' | 'qemu' => plan.providerOptions.libvirt.driver;
export const driverOfConfig = (config: ClusterConfig): 'kvm' | 'qemu' => config.libvirt.driver;
export const noSectionOfVirtualbox = (plan: ClusterPlan): undefined => plan.providerOptions.virtualbox;
// @ts-expect-error libvirt's options have no such field
export const misspelt = (plan: ClusterPlan) => plan.providerOptions.libvirt.drivr;
// @ts-expect-error there is no such provider
providerDef('hyperv');
export const slowdown: ((o: { driver: 'kvm' | 'qemu' }) => number) | undefined = providerDef('libvirt').slowdown;
