import type { BakeRecord } from '../../src/vagrant/boxes.js';
import { z } from 'zod';
import { API_VERSION, KIND, clusterSchema, type ClusterConfig } from '../../src/config/schema.js';
import { distroIds, loadCatalog } from '../../src/distros.js';
import type { OfflineArtifacts } from '../../src/offline/artifacts.js';
import { cachedPatchOf } from '../../src/offline/source.js';
import { buildPlan, type Arch, type ClusterPlan, type PlanSecrets } from '../../src/plan/plan.js';
import type { OptionsOf, ProviderSections } from '../../src/providers/index.js';

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

/**
 * The providers' sections as a cluster.yaml may give them: each optional, any of its fields
 * optional (every field has a default and the section a `.prefault({})`). z.input cannot say so:
 * the registry types a section's schema as z.ZodType<Options>, whose input is `unknown` and required.
 */
type ProviderSectionOverrides = { [Id in keyof ProviderSections]?: Partial<OptionsOf<Id>> };

/** What a cluster.yaml may say, without apiVersion and kind. */
export type ConfigOverrides = Omit<z.input<typeof clusterSchema>, 'apiVersion' | 'kind' | keyof ProviderSections> & ProviderSectionOverrides;

/** A full config: the defaults with `overrides` on top, through the real schema. */
export function testConfig(overrides: ConfigOverrides = {}): ClusterConfig {
  return clusterSchema.parse({ ...overrides, apiVersion: API_VERSION, kind: KIND });
}

export interface PlanOptions {
  arch?: Arch;
  workerIndices?: number[];
  secrets?: PlanSecrets;
  /** The artifacts directory as loading would resolve it (no file system needed to plan); default testOffline() of the config's version. */
  offline?: OfflineArtifacts;
  /** What the configured box has baked in (its record in Vagrant's box store). */
  baked?: BakeRecord;
  /** Whether the configured box (ours) is built on this host. */
  boxBuilt?: boolean;
}

/** The files a test plan installs from its artifacts, as a bake set. */
export const TEST_BAKE = { files: { 'bin/kubeadm': 'a'.repeat(64), 'images/etcd.tar': 'b'.repeat(64) }, bakeHash: 'c'.repeat(64) };

/** A box's bake record that matches testOffline() (or, with `files`, one that does not). */
export function testBakeRecord(over: Partial<BakeRecord> = {}): BakeRecord {
  return { kubernetes: '1.37.2', files: TEST_BAKE.files, bakeHash: TEST_BAKE.bakeHash, containerd: 'artifacts', cni: 'flannel', images: [], base: 'd'.repeat(64), ...over };
}

/** A resolved artifacts directory for plans, as `loadConfig` hands it over (with containerd: what the cache fetches for runtime.containerd release). */
export function testOffline(patch = '1.37.2', containerd = true): OfflineArtifacts {
  return {
    root: '/srv/k8s-artifacts',
    dir: `/srv/k8s-artifacts/v${patch}/amd64`,
    patch,
    arch: 'amd64',
    containerd,
    sumsHash: 'f'.repeat(64),
    controlPlaneArchives: ['etcd.tar', 'kube-apiserver.tar', 'kube-controller-manager.tar', 'kube-scheduler.tar'],
    bake: TEST_BAKE,
  };
}

/** A plan with the fixed secrets, for amd64 unless told otherwise; its artifacts are the cache's of its version unless `offline` says otherwise. */
export function testPlan(overrides: ConfigOverrides = {}, options: PlanOptions = {}): ClusterPlan {
  const config = testConfig(overrides);
  return buildPlan({
    catalog: loadCatalog(),
    config,
    secrets: options.secrets ?? FIXED_SECRETS,
    arch: options.arch ?? 'amd64',
    offline: options.offline ?? testOffline(cachedPatchOf(config.kubernetes.version) ?? config.kubernetes.version, config.runtime.containerd === 'release'),
    ...(options.workerIndices ? { workerIndices: options.workerIndices } : {}),
    ...(options.baked ? { baked: options.baked } : {}),
    ...(options.boxBuilt !== undefined ? { boxBuilt: options.boxBuilt } : {}),
  });
}

/** The maintained minors (2026-12-01) the golden matrix renders for. */
export const MAINTAINED_MINORS = ['1.35', '1.36', '1.37'] as const;

/** One plan case: config overrides and plan options (an artifacts directory other than the default). */
export interface PlanCase {
  config: ConfigOverrides;
  options?: PlanOptions;
}

/**
 * The configs the golden and integration tests render: every distro of the catalog x both CNIs x
 * the maintained minors (flannel on VirtualBox, Calico on libvirt), each with the cache's artifacts
 * of its version (testOffline), then the special cases: a pinned patch, no workers with the
 * dashboard, software emulation (with an artifacts directory that has containerd, and one that has
 * not), the distro's containerd, nftables, a box override and a non-default network.
 */
export const PLAN_CASES: Record<string, PlanCase> = {
  ...Object.fromEntries(
    distroIds().flatMap((distro) =>
      (['flannel', 'calico'] as const).flatMap((cni) =>
        MAINTAINED_MINORS.map((minor): [string, PlanCase] => {
          const provider = cni === 'flannel' ? 'virtualbox' : 'libvirt';
          return [`${provider}-${distro}-${cni}-${minor}`, { config: { provider, distro, kubernetes: { version: minor, cni } } }];
        }),
      ),
    ),
  ),
  'virtualbox-ubuntu-22.04-calico-1.36.2-pinned': {
    config: { distro: 'ubuntu-22.04', kubernetes: { version: '1.36.2', cni: 'calico' } },
  },
  'virtualbox-rocky-9-flannel-1.37.2-dashboard-no-workers': {
    config: { distro: 'rocky-9', kubernetes: { version: '1.37.2' }, workers: { count: 0 }, addons: { dashboard: true } },
  },
  'libvirt-qemu-debian-12-flannel': {
    config: { provider: 'libvirt', distro: 'debian-12', libvirt: { driver: 'qemu' }, kubernetes: { version: '1.37' }, network: { masterIP: '192.168.61.10' }, workers: { count: 1 } },
    options: { offline: testOffline('1.37.2', true) },
  },
  'libvirt-qemu-almalinux-10-calico-dir-without-containerd-dashboard': {
    config: { provider: 'libvirt', distro: 'almalinux-10', libvirt: { driver: 'qemu' }, kubernetes: { version: '1.36', cni: 'calico' }, addons: { dashboard: true }, workers: { count: 1 } },
    options: { offline: testOffline('1.36.5', false) },
  },
  'libvirt-ubuntu-24.04-flannel-distro-containerd-nftables': {
    config: { provider: 'libvirt', runtime: { containerd: 'distro' }, kubernetes: { proxyMode: 'nftables' }, network: { masterIP: '192.168.62.10' }, workers: { count: 1 } },
  },
  'virtualbox-custom-network-box-version': {
    config: {
      name: 'lab',
      box: { name: 'example/ubuntu-noble', version: '202502.21.0' },
      kubernetes: { version: '1.37', podSubnet: '10.200.0.0/16', serviceSubnet: '10.112.0.0/12', tokenTTL: '2h30m' },
      network: { masterIP: '192.168.57.20', workerIPStart: '192.168.57.101' },
      controlPlane: { cpus: 4, memory: 4096 },
      workers: { count: 3, cpus: 2, memory: 2048 },
    },
  },
};

export function casePlan(name: string): ClusterPlan {
  const c = PLAN_CASES[name];
  if (!c) throw new Error(`no plan case ${name}`);
  return testPlan(c.config, c.options);
}
