import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { seedPath, seedVolumeName, vagrantMachineIdPath } from '../layout.js';
import type { ExternalCommand } from '../vagrant/commands.js';
import { libvirtUri } from './libvirt-host.js';
import { STORAGE_POOL } from './libvirt.js';
import type { SeedSupport } from './seed-types.js';

/** Where vagrant-libvirt makes its `default` pool when there is none (lib/vagrant-libvirt/util/storage_util.rb, qemu:///system). */
export const DEFAULT_POOL_PATH = '/var/lib/libvirt/images';

function virsh(env: NodeJS.ProcessEnv, ...args: string[]): ExternalCommand {
  const uri = libvirtUri(env);
  return { command: 'virsh', args: ['-c', uri, ...args], title: `virsh -c ${uri} ${args.join(' ')}` };
}

/**
 * libvirt's qemu runs as its own user, which cannot read a cluster directory (a 0700 state
 * directory, a home directory): each machine's seed is uploaded into the storage pool as a raw
 * volume, which the Vagrantfile attaches with `allow_existing` (vagrant-libvirt leaves such
 * volumes alone on destroy: `remove` deletes them). Only machines not created yet get one: a
 * machine reads its seed at its first boot, and its volume is not replaced under it.
 */
export const libvirtSeeds: SeedSupport = {
  async prepare({ plan, dir, nodes, runner, env }) {
    const fresh = nodes.filter((n) => !existsSync(join(dir, vagrantMachineIdPath(n.name, 'libvirt'))));
    if (fresh.length === 0) return;
    // vagrant-libvirt's own pool, made as it would make it at its first `up` (handle_storage_pool.rb).
    if ((await runner.run(virsh(env, 'pool-info', STORAGE_POOL), { allowFailure: true })).exitCode !== 0) {
      await runner.run(virsh(env, 'pool-define-as', STORAGE_POOL, 'dir', '--target', DEFAULT_POOL_PATH));
      await runner.run(virsh(env, 'pool-build', STORAGE_POOL));
      await runner.run(virsh(env, 'pool-start', STORAGE_POOL));
      await runner.run(virsh(env, 'pool-autostart', STORAGE_POOL), { allowFailure: true });
    }
    for (const n of fresh) {
      const volume = seedVolumeName(plan.name, n.name);
      const file = join(dir, seedPath(n.name));
      await runner.run(virsh(env, 'vol-delete', '--pool', STORAGE_POOL, volume), { allowFailure: true });
      await runner.run(virsh(env, 'vol-create-as', STORAGE_POOL, volume, String(statSync(file).size), '--format', 'raw'));
      await runner.run(virsh(env, 'vol-upload', '--pool', STORAGE_POOL, volume, file));
    }
  },
  async remove({ plan, nodes, runner, env }) {
    for (const n of nodes) await runner.run(virsh(env, 'vol-delete', '--pool', STORAGE_POOL, seedVolumeName(plan.name, n.name)), { allowFailure: true });
  },
};
