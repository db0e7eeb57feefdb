import { z } from 'zod';
import { API_VERSION, KIND, clusterSchema, type ClusterConfig } from '../../src/config/schema.js';
import { loadCatalog } from '../../src/distros.js';
import { buildPlan, type Arch, type ClusterPlan, type PlanSecrets } from '../../src/plan/plan.js';

/** Fixed stand-ins for the secrets, so rendered files are the same bytes on every run. */
export const FIXED_TOKEN = 'abcdef.0123456789abcdef';
export const FIXED_CA_CERT_HASH = 'sha256:' + '0123456789abcdef'.repeat(4);
/** A real ssh-rsa public key made for the tests (its private half was thrown away). */
export const FIXED_SSH_PUBLIC_KEY =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC69U8/O/QpMd5xR7isDyNJUWO+qUm0/cXBnLrGyC9RhMVsH0UYo5zeYgyHfarTkM76zkI6eQ+5CI0visw22QCZMzByOIik/u5v+gCWF9oL8PmSODTPVioFLgaDLrKIz6j624YDoXcRrsxMcBImYQ46RWehQi/gzUPIjCL5WyKT+XOq/lmY5kKcoZ/ZrL5e2IjMwFPJSMaKFfJz0T4P8r00fnX2EZU7SyLGzRntDDN5e6+mAjFyrTJB5w9Mi9sVv6zfXjAulFV5LEID+M0Xh9zS8sn+RY3adMLKkrarifgFkYd0ZBKxgS82dJY+zLNe9JWnXtzcKY13L2d3ceAG0TJ9 kubeadm-vagrant-test';

export const FIXED_SECRETS: PlanSecrets = {
  token: FIXED_TOKEN,
  caCertHash: FIXED_CA_CERT_HASH,
  sshPublicKey: FIXED_SSH_PUBLIC_KEY,
};

/** What a cluster.yaml may say, without apiVersion and kind. */
export type ConfigOverrides = Omit<z.input<typeof clusterSchema>, 'apiVersion' | 'kind'>;

/** A full config: the defaults with `overrides` on top, through the real schema. */
export function testConfig(overrides: ConfigOverrides = {}): ClusterConfig {
  return clusterSchema.parse({ ...overrides, apiVersion: API_VERSION, kind: KIND });
}

export interface PlanOptions {
  arch?: Arch;
  workerIndices?: number[];
  secrets?: PlanSecrets;
}

/** A plan with the fixed secrets, for amd64 unless told otherwise. */
export function testPlan(overrides: ConfigOverrides = {}, options: PlanOptions = {}): ClusterPlan {
  return buildPlan({
    catalog: loadCatalog(),
    config: testConfig(overrides),
    secrets: options.secrets ?? FIXED_SECRETS,
    arch: options.arch ?? 'amd64',
    ...(options.workerIndices ? { workerIndices: options.workerIndices } : {}),
  });
}

/**
 * The configs the golden and integration tests render: providers x distros x CNIs x versions,
 * kubeadm v1beta3 (1.30) and v1beta4, minor-only and patch versions, no workers, the dashboard,
 * a box override with a version, and a non-default network.
 */
export const PLAN_CASES: Record<string, ConfigOverrides> = {
  'virtualbox-ubuntu-24.04-flannel-1.33': {},
  'virtualbox-ubuntu-22.04-calico-1.33.2': {
    distro: 'ubuntu-22.04',
    kubernetes: { version: '1.33.2', cni: 'calico' },
  },
  'virtualbox-debian-12-flannel-1.30': {
    distro: 'debian-12',
    kubernetes: { version: '1.30' },
    workers: { count: 1 },
  },
  'virtualbox-rocky-9-flannel-1.32.4-dashboard-no-workers': {
    distro: 'rocky-9',
    kubernetes: { version: '1.32.4' },
    workers: { count: 0 },
    addons: { dashboard: true },
  },
  'libvirt-ubuntu-24.04-calico-1.31-dashboard': {
    provider: 'libvirt',
    kubernetes: { version: '1.31', cni: 'calico' },
    addons: { dashboard: true },
    network: { masterIP: '192.168.60.10' },
  },
  'libvirt-debian-12-calico-1.30.14': {
    provider: 'libvirt',
    distro: 'debian-12',
    libvirt: { driver: 'qemu' },
    kubernetes: { version: '1.30.14', cni: 'calico' },
    network: { masterIP: '192.168.61.10' },
    workers: { count: 1 },
  },
  'libvirt-rocky-9-flannel-1.33': {
    provider: 'libvirt',
    distro: 'rocky-9',
    network: { masterIP: '192.168.62.10' },
    workers: { count: 1 },
  },
  'virtualbox-custom-network-box-version': {
    name: 'lab',
    box: { name: 'example/ubuntu-noble', version: '202502.21.0' },
    kubernetes: { version: '1.33', podSubnet: '10.200.0.0/16', serviceSubnet: '10.112.0.0/12', tokenTTL: '2h30m' },
    network: { masterIP: '192.168.57.20', workerIPStart: '192.168.57.101' },
    controlPlane: { cpus: 4, memory: 4096 },
    workers: { count: 3, cpus: 2, memory: 2048 },
  },
};

export function casePlan(name: string): ClusterPlan {
  const overrides = PLAN_CASES[name];
  if (!overrides) throw new Error(`no plan case ${name}`);
  return testPlan(overrides);
}
