import type * as z from 'zod';
import type { ProviderHost } from '../doctor/types.js';
import type { ConfigProblem } from '../errors.js';

/** What a provider's validation sees of a config whose fields may have failed their own checks. */
export interface ProviderCheckInput {
  masterIP?: string;
  /** The master's /24 (the node network), when masterIP is valid. */
  nodeNetwork?: string;
}

/**
 * Everything the tool knows about one Vagrant provider. Adding a provider is a module like
 * virtualbox.ts, its Vagrantfile block (templates/providers/<id>.rb.ejs) and a line in ./index.ts
 * (the box is made for it from the catalog's images: boxes/catalog.json has no provider column).
 */
export interface ProviderDef {
  id: string;
  title: string;
  /** The network the provider puts every guest's first interface on; nothing of the cluster may overlap it. */
  natNetwork: { cidr: string; what: string };
  /** Whether `vagrant up` may start several machines at once (VirtualBox cannot). */
  runsInParallel: boolean;
  /** The provider's own section of cluster.yaml (e.g. `libvirt: {driver: qemu}`), if it has one. */
  options?: z.ZodType;
  /**
   * How much slower than hardware its machines run, given its config section (software emulation
   * is several times slower): kubeadm's and up's waits are multiplied by it. Default 1.
   */
  slowdown?: (options: unknown) => number;
  /** Provider-specific config checks (e.g. VirtualBox's host-only range). */
  check?: (input: ProviderCheckInput) => { errors: ConfigProblem[]; warnings: ConfigProblem[] };
  /** Its host checks for `doctor` and `up` (the provider installed and usable, its networks, clashes). */
  host?: ProviderHost;
}
