import * as z from 'zod';
import type { ProviderDef } from './types.js';

export const LIBVIRT_DRIVERS = ['kvm', 'qemu'] as const;

/** `libvirt:` in cluster.yaml. */
export const libvirtOptions = z
  .strictObject({
    driver: z
      .enum(LIBVIRT_DRIVERS, { error: () => `must be one of ${LIBVIRT_DRIVERS.join(', ')} (the libvirt domain type; qemu is software emulation)` })
      .default('kvm'),
  })
  .prefault({});

export type LibvirtOptions = z.infer<typeof libvirtOptions>;

/** The factor for software emulation (see slowdown). */
export const QEMU_SLOWDOWN = 5;

/** vagrant-libvirt's defaults (lib/vagrant-libvirt/config.rb): its management network and storage pool. */
export const MANAGEMENT_NETWORK = { name: 'vagrant-libvirt', cidr: '192.168.121.0/24' } as const;
export const STORAGE_POOL = 'default';

export const libvirt: ProviderDef<'libvirt', LibvirtOptions> = {
  id: 'libvirt',
  title: 'libvirt (vagrant-libvirt)',
  natNetwork: { cidr: MANAGEMENT_NETWORK.cidr, what: "vagrant-libvirt's management network" },
  runsInParallel: true,
  options: {
    schema: libvirtOptions,
    comments: { driver: `${LIBVIRT_DRIVERS.join(' | ')} (software emulation, for hosts without nested virtualization)` },
    hints: { driver: 'kvm with hardware virtualization, qemu (slow) without' },
  },
  // qemu's software emulation (TCG) runs CPU-bound work 6-22 times slower than the host (measured
  // on the project's machines); kubeadm's defaults have some slack already, so 5 is enough.
  slowdown: (options) => (options.driver === 'qemu' ? QEMU_SLOWDOWN : 1),
};
