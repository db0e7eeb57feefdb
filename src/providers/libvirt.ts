import { z } from 'zod';
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

export const libvirt: ProviderDef = {
  id: 'libvirt',
  title: 'libvirt (vagrant-libvirt)',
  natNetwork: { cidr: '192.168.121.0/24', what: "vagrant-libvirt's management network" },
  runsInParallel: true,
  options: libvirtOptions,
};
