import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boxArchCheck, cpuCheck, hostChecksFor, memoryCheck, nodeNetworkCheck, vagrantCheck } from '../../src/doctor/checks.js';
import { compareVersions, parseMeminfo, parseRoutes, parseVagrantVersion } from '../../src/doctor/parsers.js';
import type { HostCheckSpec, HostContext, ProbeResult } from '../../src/doctor/types.js';
import { loadCatalog } from '../../src/distros.js';
import type { ClusterPlan } from '../../src/plan/plan.js';
import { providerHost } from '../../src/providers/hosts.js';
import { parseDomainList, parseNetworkXml, parsePoolState, parseVagrantPlugins, parseVirshVersion, virshError } from '../../src/providers/libvirt-host.js';
import { acceptedVirtualBox, parseNetworksConf, parseVBoxVersion, parseVBoxVms, virtualBoxSupport } from '../../src/providers/virtualbox-host.js';
import { testPlan } from '../helpers/plans.js';

/** Output of the real commands, kept in test/fixtures/host (virsh and ip from a libvirtd in a test's own network namespace). */
const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'host', name), 'utf8');

const ok = (stdout: string, code = 0, stderr = ''): ProbeResult => ({ status: 'ok', stdout, stderr, code });
const missing = (what: string): ProbeResult => ({ status: 'missing', message: `${what} is not installed (not found on PATH)` });

function context(plan: ClusterPlan, over: Partial<HostContext> = {}): HostContext {
  return { plan, machines: plan.nodes, machineIds: {}, arch: 'amd64', catalog: loadCatalog(), env: {}, ...over };
}

/** Evaluates one check against probe results given by command line. */
function evaluate(spec: HostCheckSpec, ctx: HostContext, results: Record<string, ProbeResult>) {
  const seen = new Map(Object.entries(results));
  // Every probe the check asks for (in every round) must be given: the test names what it reads.
  for (let round = 0; round < 3; round++) for (const p of spec.probes(ctx, seen)) expect(seen.has(p.id), `${spec.id} reads ${p.id}`).toBe(true);
  return spec.evaluate(seen, ctx);
}

const check = (provider: 'virtualbox' | 'libvirt', id: string): HostCheckSpec => hostChecksFor(providerHost(provider)).find((c) => c.id === id)!;

describe('host readers, on real output', () => {
  it('vagrant --version and versions', () => {
    expect(parseVagrantVersion(fixture('vagrant-version.txt'))).toBe('2.3.4');
    expect(parseVagrantVersion('Vagrant 2.4.9\n\nInstalled Version: 2.4.9')).toBe('2.4.9');
    expect(compareVersions('2.3.4', '2.4.2')).toBeLessThan(0);
    expect(compareVersions('2.4.10', '2.4.9')).toBeGreaterThan(0);
    expect(compareVersions('7.1', '7.1.0')).toBe(0);
  });

  it('vagrant plugin list', () => {
    expect(parseVagrantPlugins(fixture('vagrant-plugin-list.txt'))).toEqual([{ name: 'vagrant-libvirt', version: '0.11.2', scope: 'system' }]);
    expect(parseVagrantPlugins('vagrant-libvirt (0.12.2, global)\n  - Version Constraint: > 0\nvagrant-qemu (0.3.6, global)\n')).toEqual([
      { name: 'vagrant-libvirt', version: '0.12.2', scope: 'global' },
      { name: 'vagrant-qemu', version: '0.3.6', scope: 'global' },
    ]);
    expect(parseVagrantPlugins('No plugins installed.\n')).toEqual([]);
  });

  it('/proc/meminfo and ip route', () => {
    expect(parseMeminfo(fixture('proc-meminfo.txt'))).toEqual({ totalKiB: 24683620, availableKiB: 23644060 });
    expect(parseRoutes(fixture('ip-route-host.txt'))).toEqual([
      { dest: 'default', type: 'unicast', dev: 'eth0' },
      { dest: '192.0.2.0/24', type: 'unicast', dev: 'eth0' },
    ]);
    expect(parseRoutes(fixture('ip-route-libvirt.txt'))).toEqual([
      { dest: '10.20.30.0/24', type: 'unicast', dev: 'kvtest0' },
      { dest: '10.99.0.0/16', type: 'blackhole' },
      { dest: '192.168.56.0/24', type: 'unicast', dev: 'virbr2' },
      { dest: '192.168.121.0/24', type: 'unicast', dev: 'virbr1' },
    ]);
  });

  it('VBoxManage --version, list vms and networks.conf', () => {
    expect(parseVBoxVersion(fixture('vboxmanage-version-7.1.txt'))).toEqual({ version: '7.1.4', problems: [] });
    const broken = parseVBoxVersion(fixture('vboxmanage-version-no-vboxdrv.txt'));
    expect(broken.version).toBe('5.1.6');
    expect(broken.problems[0]).toMatch(/^WARNING: The character device \/dev\/vboxdrv does not exist/);
    expect(parseVBoxVersion('7.0.20_Ubuntur163906').version).toBe('7.0.20');
    expect(parseVBoxVms(fixture('vboxmanage-list-vms.txt'))).toEqual([
      { name: 'demo-master', uuid: '0b6c7a2e-5f0e-4c2b-9d7c-1a2b3c4d5e6f' },
      { name: 'other_default_1700000000000_12345', uuid: '9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b' },
    ]);
    expect(parseNetworksConf(fixture('vbox-networks.conf'))).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
  });

  it('virsh version, list, net-dumpxml, pool-info and its errors', () => {
    expect(parseVirshVersion(fixture('virsh-version.txt'))).toEqual({ library: '9.0.0', hypervisor: 'QEMU 7.2.22' });
    expect(virshError(fixture('virsh-version-no-libvirtd.stderr.txt'))).toBe("Failed to connect socket to '/nonexistent/libvirt-sock': No such file or directory");
    expect(parseDomainList(fixture('virsh-list-uuid-name.txt'))).toEqual([
      { uuid: '6ed422da-acf0-4009-8e66-1c49db56adc4', name: 'demo-master' },
      { uuid: '9ca89dcc-36f6-4c89-9cc0-1a8cb2bb9897', name: 'other_default' },
    ]);
    expect(parseNetworkXml(fixture('virsh-net-dumpxml-vagrant-libvirt.xml'))).toEqual({ name: 'vagrant-libvirt', bridge: 'virbr1', cidr: '192.168.121.0/24' });
    // The IPv6 address comes first; the IPv4 one with a prefix counts.
    expect(parseNetworkXml(fixture('virsh-net-dumpxml-private.xml'))).toEqual({ name: 'kv-private', bridge: 'virbr2', cidr: '192.168.56.0/24' });
    expect(parsePoolState(fixture('virsh-pool-info-inactive.txt'))).toBe('inactive');
    expect(parsePoolState(fixture('virsh-pool-info-running.txt'))).toBe('running');
  });
});

describe('which VirtualBox each Vagrant accepts', () => {
  it("matches Vagrant's own list: 2.3.4 prints 4.0 … 7.0 when it refuses 7.1", () => {
    expect(acceptedVirtualBox('2.3.4')).toEqual(['4.0', '4.1', '4.2', '4.3', '5.0', '5.1', '5.2', '6.0', '6.1', '7.0']);
    expect(acceptedVirtualBox('2.4.7').at(-1)).toBe('7.1');
    expect(acceptedVirtualBox('2.4.9').at(-1)).toBe('7.2');
  });

  it('refuses what Vagrant refuses, saying which Vagrant adds it', () => {
    expect(virtualBoxSupport('2.3.4', '7.1.4')).toEqual({
      verdict: 'fail',
      seen: 'Vagrant 2.3.4 accepts VirtualBox 4.0 to 7.0, not 7.1.4: `vagrant up` would stop with "not supported by this version of Vagrant"',
      fix: 'install Vagrant 2.4.2 or newer, or VirtualBox 7.0',
    });
    expect(virtualBoxSupport('2.4.7', '7.2.0')).toMatchObject({ verdict: 'fail', fix: 'install Vagrant 2.4.9 or newer, or VirtualBox 7.1' });
    // No Vagrant up to the newest this table knows accepts 7.3.
    expect(virtualBoxSupport('2.4.9', '7.3.0')).toMatchObject({ verdict: 'fail', fix: 'install Vagrant newer than 2.4.9, or VirtualBox 7.2' });
  });

  it('accepts what it accepts; warns where the table cannot know', () => {
    expect(virtualBoxSupport('2.3.4', '7.0.20').verdict).toBe('ok');
    expect(virtualBoxSupport('2.4.2', '7.1.4').verdict).toBe('ok');
    expect(virtualBoxSupport('2.4.9', '7.2.4').verdict).toBe('ok');
    expect(virtualBoxSupport('2.5.0', '7.3.0').verdict).toBe('warn');
    expect(virtualBoxSupport('2.2.6', '6.0.14').verdict).toBe('warn');
  });
});

describe('generic host checks', () => {
  const plan = testPlan({ provider: 'libvirt' });

  it('vagrant: its version, or missing with the way to install it', () => {
    expect(evaluate(vagrantCheck, context(plan), { 'vagrant --version': ok(fixture('vagrant-version.txt')) })).toEqual({ verdict: 'ok', seen: 'Vagrant 2.3.4' });
    expect(evaluate(vagrantCheck, context(plan), { 'vagrant --version': missing('vagrant') })).toMatchObject({ verdict: 'fail', seen: 'vagrant is not installed (not found on PATH)', fix: expect.stringMatching(/apt-get install vagrant/) });
  });

  it("box for the host's architecture", () => {
    expect(evaluate(boxArchCheck, context(testPlan({})), {})).toEqual({ verdict: 'ok', seen: "amd64 host: the catalog's box for ubuntu-24.04 is kubeadm-vagrant/ubuntu-24.04, built from the distro's amd64 image" });
    // An own box where the catalog has none for arm64: said, with what to make sure of.
    const arm = testPlan({ provider: 'libvirt', box: 'my/ubuntu-arm' }, { arch: 'arm64' });
    const catalog = structuredClone(loadCatalog());
    delete catalog.distros['ubuntu-24.04']!.images.arm64;
    expect(evaluate(boxArchCheck, context(arm, { arch: 'arm64', catalog }), {})).toEqual({
      verdict: 'warn',
      seen: 'arm64 host: box my/ubuntu-arm is set in the config, and the catalog has no arm64 image of ubuntu-24.04',
      fix: 'make sure my/ubuntu-arm is built for arm64 and libvirt',
    });
    expect(evaluate(boxArchCheck, context(arm, { arch: 'arm64' }), {}).verdict).toBe('ok');
  });

  it('memory: the new machines against MemAvailable, with the hypervisor and a reserve for the host', () => {
    const meminfo = (availableMiB: number) => ({ 'read /proc/meminfo': ok(`MemTotal:       24683620 kB\nMemAvailable:   ${availableMiB * 1024} kB\n`) });
    // 2048 + 2 x 1536 = 5120 MiB, + 3 x 256 for the hypervisor = 5888.
    expect(evaluate(memoryCheck, context(plan), meminfo(8000))).toEqual({ verdict: 'ok', seen: '3 new machines need 5120 MiB (+768 MiB for the hypervisor); 8000 MiB available (MemAvailable)' });
    expect(evaluate(memoryCheck, context(plan), meminfo(6400)).verdict).toBe('warn');
    expect(evaluate(memoryCheck, context(plan), meminfo(5000))).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/SETUP_NODES=false/) });
    // Machines this directory created already do not count; the control plane alone needs less.
    expect(evaluate(memoryCheck, context(plan, { machineIds: { master: 'x', 'worker-1': 'y' } }), meminfo(2000)).seen).toMatch(/^1 new machine needs 1536 MiB/);
    expect(evaluate(memoryCheck, context(plan, { machines: [plan.controlPlane] }), meminfo(5000)).verdict).toBe('ok');
    expect(evaluate(memoryCheck, context(plan), { 'read /proc/meminfo': ok(fixture('proc-meminfo.txt')) }).verdict).toBe('ok');
  });

  it('cpus: overcommitting warns only far beyond the host', () => {
    expect(evaluate(cpuCheck, context(plan), { nproc: ok('2\n') })).toEqual({ verdict: 'ok', seen: '4 vCPUs planned on 2 host CPUs' });
    expect(evaluate(cpuCheck, context(testPlan({ workers: { count: 6 } })), { nproc: ok('2\n') }).verdict).toBe('warn');
    expect(evaluate(cpuCheck, context(testPlan({ controlPlane: { cpus: 4 } })), { nproc: ok('2\n') })).toMatchObject({ verdict: 'warn', seen: 'master has 4 vCPUs, the host 2' });
  });

  const libvirtProbes = (routes: string, addrs: string): Record<string, ProbeResult> => ({
    'ip -o -4 route show': ok(routes),
    'ip -o -4 addr show': ok(addrs),
    'virsh -c qemu:///system net-list --all --name': ok(fixture('virsh-net-list-name.txt')),
    'virsh -c qemu:///system net-dumpxml vagrant-libvirt': ok(fixture('virsh-net-dumpxml-vagrant-libvirt.xml')),
    'virsh -c qemu:///system net-dumpxml kv-private': ok(fixture('virsh-net-dumpxml-private.xml')),
  });

  it("node network: a libvirt network's bridge on it is reused; another interface on it, or a node's address on the host, is a clash", () => {
    const net = nodeNetworkCheck(providerHost('libvirt'));
    expect(evaluate(net, context(plan), libvirtProbes(fixture('ip-route-libvirt.txt'), fixture('ip-addr-libvirt.txt')))).toEqual({
      verdict: 'ok',
      seen: 'the node network 192.168.56.0/24 is on virbr2 (libvirt network kv-private), which Vagrant reuses',
    });
    expect(evaluate(net, context(plan), libvirtProbes(fixture('ip-route-host.txt'), ''))).toEqual({ verdict: 'ok', seen: 'no route or address of this host is in 192.168.56.0/24' });
    const lan = `${fixture('ip-route-libvirt.txt')}192.168.56.0/25 dev kvtest0 proto kernel scope link src 192.168.56.100\n`;
    expect(evaluate(net, context(plan), libvirtProbes(lan, ''))).toMatchObject({
      verdict: 'fail',
      seen: 'the node network 192.168.56.0/24 is in use on this host: route 192.168.56.0/25 on kvtest0',
      fix: expect.stringMatching(/--master-ip or MASTER_IP, e\.g\. 192\.168\.57\.10/),
    });
    // A less specific route (a LAN's /16) loses to the /24 of the nodes: no clash.
    expect(evaluate(net, context(plan), libvirtProbes('192.168.0.0/16 dev eth0 proto kernel scope link src 192.168.1.5\n', '')).verdict).toBe('ok');
    // The master on the .1 that the host's own bridge has.
    const onBridge = testPlan({ provider: 'libvirt', network: { masterIP: '192.168.56.1' } });
    expect(evaluate(net, context(onBridge), libvirtProbes(fixture('ip-route-libvirt.txt'), fixture('ip-addr-libvirt.txt'))).seen).toContain("192.168.56.1, master's planned address, is this host's address on virbr2");
    // On VirtualBox, a bridge of libvirt's is someone else's.
    const vbox = nodeNetworkCheck(providerHost('virtualbox'));
    expect(evaluate(vbox, context(testPlan({})), { 'ip -o -4 route show': ok(fixture('ip-route-libvirt.txt')), 'ip -o -4 addr show': ok('') }).verdict).toBe('fail');
    expect(evaluate(vbox, context(testPlan({})), { 'ip -o -4 route show': ok('192.168.56.0/24 dev vboxnet0 proto kernel scope link src 192.168.56.1\n'), 'ip -o -4 addr show': ok('') }).verdict).toBe('ok');
  });
});

describe('VirtualBox host checks', () => {
  const plan = testPlan({});
  const versions = (vbox: ProbeResult, vagrant = fixture('vagrant-version.txt')) => ({ 'VBoxManage --version': vbox, 'vagrant --version': ok(vagrant) });

  it('VirtualBox missing, or its kernel module not loaded', () => {
    expect(evaluate(check('virtualbox', 'virtualbox'), context(plan), versions(missing('VBoxManage')))).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/^install VirtualBox 7\.0 /) });
    expect(evaluate(check('virtualbox', 'virtualbox'), context(plan), versions(ok(fixture('vboxmanage-version-no-vboxdrv.txt'))))).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/vboxconfig/) });
    expect(evaluate(check('virtualbox', 'virtualbox'), context(plan), versions(ok(fixture('vboxmanage-version-7.1.txt'))))).toEqual({ verdict: 'ok', seen: 'VirtualBox 7.1.4' });
  });

  it('Vagrant 2.3.4 refuses VirtualBox 7.1', () => {
    expect(evaluate(check('virtualbox', 'virtualbox-vagrant'), context(plan), versions(ok(fixture('vboxmanage-version-7.1.txt'))))).toMatchObject({ verdict: 'fail', fix: 'install Vagrant 2.4.2 or newer, or VirtualBox 7.0' });
    expect(evaluate(check('virtualbox', 'virtualbox-vagrant'), context(plan), versions(ok('7.1.4r165100\n'), 'Vagrant 2.4.2\n')).verdict).toBe('ok');
  });

  it('host-only range: the default 192.168.56.0/21, or what networks.conf allows', () => {
    const range = check('virtualbox', 'virtualbox-hostonly-range');
    const far = testPlan({ network: { masterIP: '10.10.0.10' } });
    const probes = (conf: ProbeResult, vbox = '7.0.20r163906\n') => ({ 'VBoxManage --version': ok(vbox), 'read /etc/vbox/networks.conf': conf });
    const noFile: ProbeResult = { status: 'missing', message: '/etc/vbox/networks.conf does not exist' };
    expect(evaluate(range, context(plan), probes(noFile)).verdict).toBe('ok');
    expect(evaluate(range, context(far), probes(noFile))).toMatchObject({
      verdict: 'fail',
      seen: expect.stringMatching(/^10\.10\.0\.10 \(master\), 10\.10\.0\.11 \(worker-1\), 10\.10\.0\.12 \(worker-2\) outside the host-only ranges \(no \/etc\/vbox\/networks\.conf, so only 192\.168\.56\.0\/21\)/),
      fix: 'add the line "* 10.10.0.0/24" to /etc/vbox/networks.conf (as root), or use a masterIP in 192.168.56.0/21 (e.g. 192.168.56.10)',
    });
    expect(evaluate(range, context(far), probes(ok(fixture('vbox-networks.conf')))).verdict).toBe('ok');
    expect(evaluate(range, context(testPlan({ network: { masterIP: '172.20.0.10' } })), probes(ok(fixture('vbox-networks.conf')))).verdict).toBe('fail');
    // Before 6.1.28 VirtualBox restricted nothing.
    expect(evaluate(range, context(far), probes(noFile, '6.1.26r145957\n')).verdict).toBe('ok');
  });

  it("a machine of another directory with one of these names is a clash; this directory's own is not", () => {
    const machines = check('virtualbox', 'virtualbox-machines');
    const vms = { 'VBoxManage list vms': ok(fixture('vboxmanage-list-vms.txt')) };
    expect(evaluate(machines, context(plan), vms)).toMatchObject({ verdict: 'fail', seen: expect.stringContaining('demo-master {0b6c7a2e-5f0e-4c2b-9d7c-1a2b3c4d5e6f}') });
    expect(evaluate(machines, context(plan, { machineIds: { master: '0b6c7a2e-5f0e-4c2b-9d7c-1a2b3c4d5e6f' } }), vms).verdict).toBe('ok');
  });
});

describe('libvirt host checks', () => {
  const plan = testPlan({ provider: 'libvirt' });
  const qemu = testPlan({ provider: 'libvirt', libvirt: { driver: 'qemu' } });
  const up = { 'virsh -c qemu:///system version': ok(fixture('virsh-version.txt')) };

  it('the vagrant-libvirt plugin', () => {
    const plugin = check('libvirt', 'vagrant-libvirt');
    const v = { 'vagrant --version': ok(fixture('vagrant-version.txt')) };
    expect(evaluate(plugin, context(plan), { ...v, 'vagrant plugin list': ok(fixture('vagrant-plugin-list.txt')) })).toEqual({ verdict: 'ok', seen: 'vagrant-libvirt 0.11.2 (system)' });
    expect(evaluate(plugin, context(plan), { ...v, 'vagrant plugin list': ok('No plugins installed.\n') })).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/vagrant plugin install vagrant-libvirt/) });
  });

  it('libvirtd: answering, not running, or not allowed', () => {
    const libvirtd = check('libvirt', 'libvirtd');
    expect(evaluate(libvirtd, context(plan), up)).toEqual({ verdict: 'ok', seen: 'libvirt 9.0.0 at qemu:///system, hypervisor QEMU 7.2.22' });
    const down = evaluate(libvirtd, context(plan), { 'virsh -c qemu:///system version': ok('', 1, fixture('virsh-version-no-libvirtd.stderr.txt')) });
    expect(down).toMatchObject({ verdict: 'fail', seen: expect.stringMatching(/No such file or directory$/), fix: expect.stringMatching(/^start libvirtd/) });
    const denied = "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied\n";
    expect(evaluate(libvirtd, context(plan), { 'virsh -c qemu:///system version': ok('', 1, denied) }).fix).toMatch(/libvirt group/);
    expect(evaluate(libvirtd, context(plan), { 'virsh -c qemu:///system version': missing('virsh') }).fix).toMatch(/apt-get install libvirt-daemon-system/);
  });

  it('KVM: driver kvm needs /dev/kvm to open; driver qemu does not', () => {
    const kvm = check('libvirt', 'kvm');
    const none: ProbeResult = { status: 'missing', message: '/dev/kvm does not exist' };
    const denied: ProbeResult = { status: 'error', message: 'cannot open /dev/kvm read-write (EACCES)', errno: 'EACCES' };
    expect(evaluate(kvm, context(plan), { 'open /dev/kvm': none })).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/^set `libvirt: \{driver: qemu\}`/) });
    expect(evaluate(kvm, context(plan), { 'open /dev/kvm': denied }).fix).toMatch(/kvm group/);
    expect(evaluate(kvm, context(plan), { 'open /dev/kvm': ok('') }).verdict).toBe('ok');
    expect(evaluate(kvm, context(qemu), { 'open /dev/kvm': none })).toEqual({ verdict: 'ok', seen: 'driver qemu: software emulation, no KVM needed' });
  });

  const networks = (list: string, xmls: Record<string, string>) => ({
    ...up,
    'virsh -c qemu:///system net-list --all --name': ok(list),
    ...Object.fromEntries(Object.entries(xmls).map(([n, x]) => [`virsh -c qemu:///system net-dumpxml ${n}`, ok(x)])),
    'ip -o -4 route show': ok(fixture('ip-route-host.txt')),
    'ip -o -4 addr show': ok(''),
  });

  it('the management network: absent (made at the first up), right, on the wrong network, or its network taken', () => {
    const mgmt = check('libvirt', 'libvirt-management-network');
    expect(evaluate(mgmt, context(plan), networks('\n', {})).verdict).toBe('ok');
    expect(evaluate(mgmt, context(plan), networks(fixture('virsh-net-list-name.txt'), { 'vagrant-libvirt': fixture('virsh-net-dumpxml-vagrant-libvirt.xml'), 'kv-private': fixture('virsh-net-dumpxml-private.xml') }))).toEqual({
      verdict: 'ok',
      seen: 'libvirt network vagrant-libvirt exists on 192.168.121.0/24 (bridge virbr1)',
    });
    const moved = fixture('virsh-net-dumpxml-vagrant-libvirt.xml').replaceAll('192.168.121.', '192.168.122.');
    expect(evaluate(mgmt, context(plan), networks('vagrant-libvirt\n', { 'vagrant-libvirt': moved }))).toMatchObject({ verdict: 'fail', fix: expect.stringMatching(/virsh net-destroy vagrant-libvirt; virsh net-undefine vagrant-libvirt/) });
    const other = fixture('virsh-net-dumpxml-vagrant-libvirt.xml').replace('<name>vagrant-libvirt</name>', '<name>default</name>');
    expect(evaluate(mgmt, context(plan), networks('default\n', { default: other })).seen).toBe('libvirt network default holds 192.168.121.0/24, where vagrant-libvirt makes its network vagrant-libvirt');
    const taken = { ...networks('\n', {}), 'ip -o -4 route show': ok('192.168.121.0/24 dev tun0 scope link\n') };
    expect(evaluate(mgmt, context(plan), taken)).toMatchObject({ verdict: 'fail', seen: expect.stringContaining('route 192.168.121.0/24 on tun0') });
  });

  it('the storage pool: absent (made at the first up), running, or defined and stopped', () => {
    const pool = check('libvirt', 'libvirt-storage-pool');
    const info = (r: ProbeResult) => ({ ...up, 'virsh -c qemu:///system pool-info default': r });
    expect(evaluate(pool, context(plan), info(ok('', 1, fixture('virsh-pool-info-not-found.stderr.txt')))).verdict).toBe('ok');
    expect(evaluate(pool, context(plan), info(ok(fixture('virsh-pool-info-running.txt')))).verdict).toBe('ok');
    expect(evaluate(pool, context(plan), info(ok(fixture('virsh-pool-info-inactive.txt'))))).toMatchObject({ verdict: 'fail', fix: '`virsh pool-start default; virsh pool-autostart default`' });
  });

  it("a domain of another directory with one of these names is a clash; this directory's own is not", () => {
    const domains = check('libvirt', 'libvirt-machines');
    const list = { ...up, 'virsh -c qemu:///system list --all --uuid --name': ok(fixture('virsh-list-uuid-name.txt')) };
    expect(evaluate(domains, context(plan), list)).toMatchObject({ verdict: 'fail', seen: expect.stringContaining('demo-master'), fix: expect.stringMatching(/virsh undefine demo-master --remove-all-storage/) });
    expect(evaluate(domains, context(plan, { machineIds: { master: '6ed422da-acf0-4009-8e66-1c49db56adc4' } }), list).verdict).toBe('ok');
    // Another cluster's name: no clash.
    expect(evaluate(domains, context(testPlan({ provider: 'libvirt', name: 'other' })), list).verdict).toBe('ok');
  });

  it('with libvirtd down, the checks that ask it say so once', () => {
    const down = { 'virsh -c qemu:///system version': ok('', 1, fixture('virsh-version-no-libvirtd.stderr.txt')), 'virsh -c qemu:///system pool-info default': ok('', 1, fixture('virsh-version-no-libvirtd.stderr.txt')) };
    expect(evaluate(check('libvirt', 'libvirt-storage-pool'), context(plan), down)).toEqual({ verdict: 'warn', seen: 'not checked: libvirtd does not answer (see libvirtd)' });
  });
});

describe('the checks as a table', () => {
  it('each provider: Vagrant, its own checks, then the generic ones; up runs all but the CPU count', () => {
    expect(hostChecksFor(providerHost('virtualbox')).map((c) => `${c.id}${c.fatal ? '' : ' (not fatal)'}`)).toEqual([
      'vagrant', 'virtualbox', 'virtualbox-vagrant', 'virtualbox-hostonly-range', 'virtualbox-machines', 'box-arch', 'memory', 'cpus (not fatal)', 'node-network',
    ]);
    expect(hostChecksFor(providerHost('libvirt')).map((c) => c.id)).toEqual([
      'vagrant', 'vagrant-libvirt', 'libvirtd', 'kvm', 'libvirt-management-network', 'libvirt-storage-pool', 'libvirt-machines', 'box-arch', 'memory', 'cpus', 'node-network',
    ]);
  });
});
