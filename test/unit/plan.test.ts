import { describe, expect, it } from 'vitest';
import { clusterSchema, API_VERSION, KIND } from '../../src/config/schema.js';
import { crossFieldChecks } from '../../src/config/validate.js';
import { catalogBox, distroIds, hostArch, loadCatalog, type Catalog } from '../../src/distros.js';
import { buildPlan as buildPlanWith, workerIndicesFor, type PlanInputs, type PlanSecrets } from '../../src/plan/plan.js';
import type { OfflineArtifacts } from '../../src/offline/artifacts.js';
import { cachedPatchOf } from '../../src/offline/source.js';
import { PROVIDER_IDS } from '../../src/providers/index.js';
import { testOffline } from '../helpers/plans.js';

const secrets: PlanSecrets = { token: 'abcdef.0123456789abcdef', caCertHash: 'sha256:' + 'a'.repeat(64), sshPublicKey: 'ssh-rsa AAAA test' };
const config = (over: Record<string, unknown> = {}) => clusterSchema.parse({ apiVersion: API_VERSION, kind: KIND, ...over });
const catalog = loadCatalog();
/** The cache's artifacts of the config's version unless `offline` says otherwise. */
const buildPlan = (inputs: Omit<PlanInputs, 'catalog' | 'offline'> & { catalog?: Catalog; offline?: OfflineArtifacts }) =>
  buildPlanWith({ catalog, offline: testOffline(cachedPatchOf(inputs.config.kubernetes.version)!), ...inputs });

describe('plan', () => {
  it('names and addresses nodes from the master', () => {
    const plan = buildPlan({ config: config({ name: 'lab' }), secrets, arch: 'amd64' });
    expect(plan.nodes.map((n) => [n.name, n.hostname, n.role, n.ip])).toEqual([
      ['master', 'lab-master', 'control-plane', '192.168.56.10'],
      ['worker-1', 'lab-worker-1', 'worker', '192.168.56.11'],
      ['worker-2', 'lab-worker-2', 'worker', '192.168.56.12'],
    ]);
    expect(plan.network.nodeNetwork).toBe('192.168.56.0/24');
    expect(plan.controlPlane).toMatchObject({ cpus: 2, memory: 2048 });
    expect(plan.workers[0]).toMatchObject({ cpus: 1, memory: 1536 });
  });

  it('honours workerIPStart', () => {
    const plan = buildPlan({ config: config({ network: { masterIP: '192.168.56.10', workerIPStart: '192.168.56.100' } }), secrets, arch: 'amd64' });
    expect(plan.workers.map((w) => w.ip)).toEqual(['192.168.56.100', '192.168.56.101']);
  });

  it('picks the kubeadm API version by minor', () => {
    const v = (version: string) => buildPlan({ config: config({ kubernetes: { version } }), secrets, arch: 'amd64' }).kubernetes;
    expect(v('1.31').kubeadmApiVersion).toBe('kubeadm.k8s.io/v1beta4');
    expect(v('1.37').kubeadmApiVersion).toBe('kubeadm.k8s.io/v1beta4');
    // A minor is the patch its artifacts hold: the cache's is its newest known one.
    expect(v('1.33').patch).toBe('1.33.13');
    expect(v('1.33.2')).toMatchObject({ minor: '1.33', patch: '1.33.2', kubeadmApiVersion: 'kubeadm.k8s.io/v1beta4' });
  });

  it('the version is the artifacts directory\'s patch, containerd comes from it when it has one', () => {
    const artifacts = { root: '/a', dir: '/a/v1.37.2/amd64', patch: '1.37.2', arch: 'amd64' as const, containerd: true, sumsHash: 'f'.repeat(64), controlPlaneArchives: ['etcd.tar'] };
    const offline = buildPlan({ config: config({ kubernetes: { version: '1.37' } }), secrets, arch: 'amd64', offline: artifacts });
    expect(offline.kubernetes).toMatchObject({ minor: '1.37', patch: '1.37.2' });
    expect(offline.offline).toEqual({ dir: '/a/v1.37.2/amd64', patch: '1.37.2', sumsHash: 'f'.repeat(64), controlPlaneArchives: ['etcd.tar'] });
    // offline.dir may hold another patch of the minor than the cache would (its newest present).
    expect(buildPlan({ config: config({ kubernetes: { version: '1.37' } }), secrets, arch: 'amd64', offline: { ...artifacts, patch: '1.37.1' } }).kubernetes.patch).toBe('1.37.1');
    // Not known (not checked): workers import every archive.
    expect(buildPlan({ config: config(), secrets, arch: 'amd64', offline: { ...artifacts, controlPlaneArchives: undefined } }).offline?.controlPlaneArchives).toEqual([]);
    expect(offline.containerd).toBe('artifacts');
    expect(buildPlan({ config: config(), secrets, arch: 'amd64', offline: { ...artifacts, containerd: false } }).containerd).toBe('distro');
    expect(buildPlan({ config: config({ runtime: { containerd: 'distro' } }), secrets, arch: 'amd64', offline: artifacts }).containerd).toBe('distro');
    expect(buildPlan({ config: config(), secrets, arch: 'amd64' }).containerd).toBe('artifacts');
  });

  it('runs kubeadm\'s waits slower under software emulation only', () => {
    expect(buildPlan({ config: config({ provider: 'libvirt', libvirt: { driver: 'qemu' } }), secrets, arch: 'amd64' }).slowdown).toBe(5);
    expect(buildPlan({ config: config({ provider: 'libvirt' }), secrets, arch: 'amd64' }).slowdown).toBe(1);
    expect(buildPlan({ config: config({ libvirt: { driver: 'qemu' } }), secrets, arch: 'amd64' }).slowdown).toBe(1);
  });

  it('takes the box from the catalog, or the override', () => {
    expect(buildPlan({ config: config({ distro: 'debian-12', provider: 'libvirt' }), secrets, arch: 'amd64' }).box).toEqual({ name: 'kubeadm-vagrant/debian-12', ours: true });
    expect(buildPlan({ config: config({ distro: 'rocky-9', provider: 'virtualbox' }), secrets, arch: 'arm64' }).box).toEqual({ name: 'kubeadm-vagrant/rocky-9', ours: true });
    expect(buildPlan({ config: config({ box: 'my/box' }), secrets, arch: 'amd64' }).box).toEqual({ name: 'my/box', ours: false });
    expect(buildPlan({ config: config({ box: { name: 'my/box', version: '1.2.3' } }), secrets, arch: 'amd64' }).box).toEqual({ name: 'my/box', version: '1.2.3', ours: false });
  });

  it('a catalog gap is a config error on box, found by validation before any plan', () => {
    const gap: Catalog = structuredClone(catalog);
    delete gap.distros['rocky-9']!.images.arm64;
    const { errors } = crossFieldChecks(config({ distro: 'rocky-9', provider: 'libvirt' }), { catalog: gap, arch: 'arm64' });
    expect(errors).toEqual([expect.objectContaining({ path: 'box', message: 'the catalog has no rocky-9 box for libvirt on arm64' })]);
    expect(crossFieldChecks(config({ distro: 'rocky-9', provider: 'libvirt', box: 'my/box' }), { catalog: gap, arch: 'arm64' }).errors).toEqual([]);
  });

  it('takes the catalog as an input: another catalog, another distro entry', () => {
    const other: Catalog = structuredClone(catalog);
    other.distros['ubuntu-24.04']!.cpu = 'x86-64-v3';
    expect(buildPlan({ config: config(), secrets, arch: 'amd64', catalog: other }).distro).toEqual({ id: 'ubuntu-24.04', family: 'debian', cpu: 'x86-64-v3' });
    expect(buildPlan({ config: config(), secrets, arch: 'amd64' }).distro).toEqual({ id: 'ubuntu-24.04', family: 'debian' });
  });

  it('the catalog covers every distro and provider on amd64 and arm64', () => {
    for (const d of distroIds()) for (const p of PROVIDER_IDS) for (const a of ['amd64', 'arm64'] as const) expect(catalogBox(catalog, d, p, a), `${d}/${p}/${a}`).toBe(`kubeadm-vagrant/${d}`);
    expect(hostArch('x64')).toBe('amd64');
    expect(hostArch('arm64')).toBe('arm64');
  });

  it('is pure: same inputs, same plan; secrets pass through', () => {
    const a = buildPlan({ config: config(), secrets, arch: 'amd64' });
    const b = buildPlan({ config: config(), secrets, arch: 'amd64' });
    expect(a).toEqual(b);
    expect(a.secrets).toEqual(secrets);
  });
});

describe('worker indices for add and remove', () => {
  it('defaults to 1..count', () => {
    expect(workerIndicesFor(3)).toEqual([1, 2, 3]);
    expect(workerIndicesFor(0)).toEqual([]);
  });
  it('keeps survivors after a removal', () => {
    expect(workerIndicesFor(2, [1, 3])).toEqual([1, 3]);
  });
  it('adding after removing gives the lowest free index', () => {
    expect(workerIndicesFor(3, [1, 3])).toEqual([1, 2, 3]);
    expect(workerIndicesFor(4, [2, 3])).toEqual([1, 2, 3, 4]);
  });
  it('a lowered count drops the highest', () => {
    expect(workerIndicesFor(1, [2, 5])).toEqual([2]);
  });
  it('a removed worker keeps the other workers addresses stable', () => {
    const plan = buildPlan({ config: config({ workers: { count: 2 } }), secrets, arch: 'amd64', workerIndices: [1, 3] });
    expect(plan.workers.map((w) => `${w.name}=${w.ip}`)).toEqual(['worker-1=192.168.56.11', 'worker-3=192.168.56.13']);
  });
  it('refuses an index that would leave the /24 (validation, with the indices in use)', () => {
    const { errors } = crossFieldChecks(config({ network: { masterIP: '192.168.56.250' }, workers: { count: 1 } }), { catalog, arch: 'amd64', workerIndices: [6] });
    expect(errors.map((e) => e.message)).toEqual(["workers 192.168.56.251..192.168.57.0 do not all fit in 192.168.56.0/24 without its .0 and .255 (the master's /24: network.masterIP 192.168.56.250)"]);
    expect(crossFieldChecks(config({ network: { masterIP: '192.168.56.250' }, workers: { count: 1 } }), { catalog, arch: 'amd64', workerIndices: [4] }).errors).toEqual([]);
  });
});
