import type { ClusterPlan, NodePlan } from '../plan/plan.js';
import type { Runner } from '../vagrant/runner.js';

/**
 * How each provider hands a machine of one of our boxes its cloud-init seed (the image `generate`
 * writes to seedPath): VirtualBox attaches the file itself (the Vagrantfile's storageattach);
 * libvirt runs guests as another user, so the seed goes into its storage pool first and the
 * Vagrantfile attaches it by volume name. Only `up` (and `destroy`, `node remove`) load this.
 */
export interface SeedSupport {
  /** Before Vagrant creates the machines: their seeds where the Vagrantfile looks for them. */
  prepare(input: SeedInput): Promise<void>;
  /** After the machines are destroyed: what prepare made, gone. */
  remove(input: SeedInput): Promise<void>;
}

export interface SeedInput {
  plan: ClusterPlan;
  dir: string;
  nodes: readonly NodePlan[];
  runner: Runner;
  env: NodeJS.ProcessEnv;
}

