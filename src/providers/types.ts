import type * as z from 'zod';
import type { ConfigProblem } from '../errors.js';

/**
 * What the tool knows about one Vagrant provider, besides its host checks (those are in
 * ./<id>-host.ts, registered in ./hosts.ts: only `doctor` and `up` load them). Adding a provider
 * is a module like virtualbox.ts, its host checks, its Vagrantfile block
 * (templates/providers/<id>.rb.ejs) and a line in ./index.ts and ./hosts.ts (the box is made for
 * it from the catalog's images: boxes/catalog.json has no provider column). The descriptor imports nothing of the config, the plan or the host checks, so the
 * config schema can be built from the registry without an import cycle.
 */

/** What a provider's validation sees of a config whose fields may have failed their own checks. */
export interface ProviderCheckInput {
  masterIP?: string;
  /** The master's /24 (the node network), when masterIP is valid. */
  nodeNetwork?: string;
}

/**
 * A provider's own section of cluster.yaml (`libvirt: {driver: qemu}`), named after the provider:
 * its schema, and per field what `init` writes beside it and the hint under a problem with it.
 * Both are required for every field of `Options`: a field without them does not type-check.
 */
export interface ProviderOptionsDef<Options extends object> {
  /** A strict object whose every field has a default, with `.prefault({})`: an absent section is the defaults. */
  schema: z.ZodType<Options>;
  /** Per field: the comment `init` writes after it in cluster.yaml (its values, what they mean). */
  comments: { readonly [K in keyof Options]-?: string };
  /** Per field: the hint under a config problem with it. */
  hints: { readonly [K in keyof Options]-?: string };
}

/**
 * One provider. `Options` is the type of its config section (`undefined`: it has none); the
 * section's schema, its comments and hints and everything that reads it (the slowdown, the plan's
 * `providerOptions`, its host checks) are typed by it.
 */
export interface ProviderDef<Id extends string = string, Options extends object | undefined = object | undefined> {
  id: Id;
  title: string;
  /** The network the provider puts every guest's first interface on; nothing of the cluster may overlap it. */
  natNetwork: { cidr: string; what: string };
  /** Whether `vagrant up` may start several machines at once (VirtualBox cannot). */
  runsInParallel: boolean;
  /** Its own section of cluster.yaml, named after its id; `undefined` for a provider that has none. */
  options: Options extends object ? ProviderOptionsDef<Options> : undefined;
  /**
   * How much slower than hardware its machines run, given its section (software emulation is
   * several times slower): kubeadm's and up's waits are multiplied by it. Default 1.
   */
  slowdown?: (options: Options) => number;
  /** Provider-specific config checks (e.g. VirtualBox's host-only range). */
  check?: (input: ProviderCheckInput) => { errors: ConfigProblem[]; warnings: ConfigProblem[] };
}
