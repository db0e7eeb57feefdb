import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  containerdActiveCheck,
  containerdCriCheck,
  hostnameCheck,
  modulesCheck,
  nodeCheckSpecs,
  MACHINE_CHECKS,
  PREREQUISITE_CHECKS,
  peerReachabilityCheck,
  privateIpCheck,
  probeCommand,
  swapCheck,
  sysctlCheck,
} from '../../src/verify/node-checks.js';
import {
  parseContainerdCgroup,
  parseContainerdSandboxImage,
  parseKubeadmPauseImage,
  parseIpv4Addrs,
  parseModules,
  parseProbeOutput,
  parseSwaps,
  parseSysctl,
  parseSystemctlActive,
  splitTomlKey,
} from '../../src/verify/node-parsers.js';
import type { PlannedNode } from '../../src/verify/types.js';
import { imagesImportedCheck, sandboxImageCheck } from '../../src/verify/package-checks.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');

const master: PlannedNode = { name: 'master', hostname: 'demo-master', ip: '192.168.56.10', role: 'control-plane' };
const w1: PlannedNode = { name: 'worker-1', hostname: 'demo-worker-1', ip: '192.168.56.21', role: 'worker' };
const w2: PlannedNode = { name: 'worker-2', hostname: 'demo-worker-2', ip: '192.168.56.22', role: 'worker' };

describe('ip -o -4 addr show', () => {
  it('reads every interface address, including the NAT one and CNI bridges', () => {
    const addrs = parseIpv4Addrs(fixture('ip-o-4-addr-show.txt'));
    expect(addrs.map((a) => `${a.ifname}=${a.address}/${a.prefix}`)).toEqual([
      'lo=127.0.0.1/8',
      'eth0=10.0.2.15/24',
      'eth1=192.168.56.10/24',
      'flannel.1=10.244.0.0/32',
      'cni0=10.244.0.1/24',
    ]);
  });

  it('strips the peer suffix of veth-style names', () => {
    expect(parseIpv4Addrs('7: eth0@if8    inet 10.1.2.3/16 scope global eth0\\')[0]?.ifname).toBe('eth0');
  });

  it('passes when the planned address is on any interface, and says where', () => {
    expect(privateIpCheck.parse(fixture('ip-o-4-addr-show.txt'), 0, master)).toEqual({ ok: true, seen: '192.168.56.10/24 on eth1' });
  });

  it('fails with the addresses it did find (the private network never came up)', () => {
    const out = privateIpCheck.parse(fixture('ip-o-4-addr-show.txt'), 0, w1);
    expect(out.ok).toBe(false);
    expect(out.seen).toContain('eth0 10.0.2.15/24');
    // a prefix of the planned address is no match
    expect(privateIpCheck.parse('3: eth1    inet 192.168.56.210/24 scope global eth1', 0, w1).ok).toBe(false);
  });
});

describe('/proc/swaps', () => {
  it('header only means swap off', () => {
    const text = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
    expect(parseSwaps(text)).toEqual([]);
    expect(swapCheck.parse(text, 0, master)).toEqual({ ok: true, seen: 'no active swap' });
  });

  it('an active swap file fails the check and is named', () => {
    expect(parseSwaps(fixture('proc-swaps-active.txt'))).toEqual([{ filename: '/swap.img', type: 'file', sizeKiB: 2097148 }]);
    const out = swapCheck.parse(fixture('proc-swaps-active.txt'), 0, master);
    expect(out).toEqual({ ok: false, seen: 'active: /swap.img (file, 2097148 KiB)' });
  });
});

describe('kernel modules', () => {
  it('reads /proc/modules and lsmod alike', () => {
    expect(parseModules(fixture('proc-modules.txt')).has('br_netfilter')).toBe(true);
    const lsmod = 'Module                  Size  Used by\noverlay               212992  0\n';
    expect([...parseModules(lsmod)]).toEqual(['overlay']);
  });

  it('passes with both modules and names the missing one otherwise', () => {
    expect(modulesCheck.parse(fixture('proc-modules.txt'), 0, master).ok).toBe(true);
    // `bridge` mentions br_netfilter in its used-by column; that is not br_netfilter loaded
    const without = fixture('proc-modules.txt').split('\n').filter((l) => !l.startsWith('br_netfilter')).join('\n');
    expect(modulesCheck.parse(without, 0, master)).toEqual({ ok: false, seen: 'not loaded: br_netfilter' });
  });
});

describe('sysctl', () => {
  it('reads `key = value` lines', () => {
    const values = parseSysctl('net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 0\n');
    expect(values.get('net.ipv4.ip_forward')).toBe('1');
    expect(values.get('net.bridge.bridge-nf-call-iptables')).toBe('0');
  });

  it('reads `sysctl -n` values by position', () => {
    expect([...parseSysctl('1\n0\n', ['a', 'b'])]).toEqual([
      ['a', '1'],
      ['b', '0'],
    ]);
  });

  it('fails on a value of 0 and on a key sysctl could not read', () => {
    expect(sysctlCheck.parse('net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n', 0, master).ok).toBe(true);
    expect(sysctlCheck.parse('net.ipv4.ip_forward = 0\nnet.bridge.bridge-nf-call-iptables = 1\n', 0, master)).toEqual({
      ok: false,
      seen: 'net.ipv4.ip_forward = 0, net.bridge.bridge-nf-call-iptables = 1',
    });
    // without br_netfilter, sysctl prints the first key, complains on stderr and exits 255
    const out = sysctlCheck.parse('net.ipv4.ip_forward = 1\n', 255, master);
    expect(out).toEqual({ ok: false, seen: 'net.ipv4.ip_forward = 1, net.bridge.bridge-nf-call-iptables = missing' });
  });
});

describe('systemctl is-active', () => {
  it('is active only with exit 0 and the word active', () => {
    expect(parseSystemctlActive('active\n', 0)).toEqual({ active: true, state: 'active' });
    expect(parseSystemctlActive('activating\n', 3).active).toBe(false);
    expect(containerdActiveCheck.parse('failed\n', 3, master)).toEqual({ ok: false, seen: 'failed' });
    expect(containerdActiveCheck.parse('', 127, master)).toEqual({ ok: false, seen: 'unknown' });
  });
});

describe('containerd config dump', () => {
  const v2 = fixture('containerd-config-dump-v2.toml');
  const v3 = fixture('containerd-config-dump-v3.toml');

  it('splits quoted TOML keys of both quote styles', () => {
    expect(splitTomlKey(`plugins."io.containerd.grpc.v1.cri".containerd`)).toEqual(['plugins', 'io.containerd.grpc.v1.cri', 'containerd']);
    expect(splitTomlKey(`plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options`)).toEqual([
      'plugins',
      'io.containerd.cri.v1.runtime',
      'containerd',
      'runtimes',
      'runc',
      'options',
    ]);
  });

  it('containerd 1.x (version = 2): reads SystemdCgroup under the grpc.v1.cri runc options, not the legacy systemd_cgroup', () => {
    expect(parseContainerdCgroup(v2)).toEqual({
      configVersion: 2,
      runtimePlugin: 'io.containerd.grpc.v1.cri',
      runtime: 'runc',
      runtimeType: 'io.containerd.runc.v2',
      systemdCgroup: true,
      cniBinDirs: ['/opt/cni/bin'],
      criDisabled: false,
    });
    expect(containerdCriCheck.parse(v2, 0, master)).toEqual({ ok: true, seen: 'runc (io.containerd.runc.v2), SystemdCgroup = true, CNI in /opt/cni/bin (config version 2, runtime runc)' });
  });

  it("fails on Debian 12's packaged config edited the old way: runc lost its runtime_type, the CNI plugins are looked for in /usr/lib/cni", () => {
    // `containerd config dump` by Debian 12's own containerd 1.6.20 of its packaged config.toml with
    // the runc options table appended (what the prerequisites phase used to do).
    const debian = fixture('containerd-config-dump-debian12-edited.toml');
    expect(parseContainerdCgroup(debian)).toMatchObject({ runtimeType: '', systemdCgroup: true, cniBinDirs: ['/usr/lib/cni'] });
    expect(containerdCriCheck.parse(debian, 0, master)).toEqual({ ok: false, seen: 'runtime_type ""; CNI bin dirs /usr/lib/cni (config version 2, runtime runc)' });
  });

  it('containerd 2.x (version = 3): reads it under cri.v1.runtime', () => {
    expect(parseContainerdCgroup(v3)).toMatchObject({ configVersion: 3, runtimePlugin: 'io.containerd.cri.v1.runtime', systemdCgroup: true, runtimeType: 'io.containerd.runc.v2', cniBinDirs: ['/opt/cni/bin'] });
    expect(containerdCriCheck.parse(v3, 0, master).ok).toBe(true);
    expect(containerdCriCheck.parse(v3.replace("bin_dirs = ['/opt/cni/bin']", "bin_dirs = ['/usr/lib/cni', '/opt/cni/bin']"), 0, master)).toMatchObject({ ok: false, seen: expect.stringContaining('CNI bin dirs /usr/lib/cni, /opt/cni/bin') });
  });

  it('fails when set to false, and when absent (containerd 2.x omits the default false)', () => {
    expect(containerdCriCheck.parse(v2.replace('SystemdCgroup = true', 'SystemdCgroup = false'), 0, master)).toEqual({
      ok: false,
      seen: 'SystemdCgroup = false (config version 2, runtime runc)',
    });
    const absent = containerdCriCheck.parse(v3.replace(/\n\s*SystemdCgroup = true/, ''), 0, master);
    expect(absent).toEqual({ ok: false, seen: 'SystemdCgroup not set, so cgroupfs (config version 3, runtime runc)' });
  });

  it("reads the sandbox image of either version, and compares it with kubeadm's pause image", () => {
    expect(parseContainerdSandboxImage(v2)).toBe('registry.k8s.io/pause:3.10');
    expect(parseContainerdSandboxImage(v3)).toBe('registry.k8s.io/pause:3.10');
    expect(parseContainerdSandboxImage(v3.replace(/\n\s*sandbox = .*/, ''))).toBeUndefined();
    const images = fixture('kubeadm-config-images-list.txt');
    expect(parseKubeadmPauseImage(images)).toBe('registry.k8s.io/pause:3.10');
    const out = (dump: string, list: string) => `${dump}\n--- kubeadm config images list ---\n${list}`;
    expect(sandboxImageCheck.parse(out(v2, images), 0, master)).toEqual({ ok: true, seen: 'registry.k8s.io/pause:3.10' });
    expect(sandboxImageCheck.parse(out(v2.replace('pause:3.10', 'pause:3.8'), images), 0, master)).toEqual({
      ok: false,
      seen: 'containerd registry.k8s.io/pause:3.8, kubeadm registry.k8s.io/pause:3.10',
    });
    expect(sandboxImageCheck.parse(out(v3, ''), 0, master)).toEqual({ ok: false, seen: 'kubeadm names no pause image; containerd has registry.k8s.io/pause:3.10' });
  });

  it('offline: a control plane needs every image kubeadm names, a worker all but the control plane\'s', () => {
    const named = ['registry.k8s.io/kube-apiserver:v1.37.2', 'registry.k8s.io/kube-proxy:v1.37.2', 'registry.k8s.io/pause:3.10.2', 'registry.k8s.io/etcd:3.7.0-0'];
    const out = (present: string[]) => `${named.join('\n')}\n--- ctr images ---\n${present.join('\n')}\n`;
    const workerImages = ['registry.k8s.io/kube-proxy:v1.37.2', 'registry.k8s.io/pause:3.10.2'];
    expect(imagesImportedCheck.parse(out(workerImages), 0, w1)).toEqual({ ok: true, seen: 'all 2 present' });
    expect(imagesImportedCheck.parse(out(workerImages), 0, master)).toEqual({ ok: false, seen: 'missing: registry.k8s.io/kube-apiserver:v1.37.2, registry.k8s.io/etcd:3.7.0-0' });
    expect(imagesImportedCheck.parse(out(named), 0, master)).toEqual({ ok: true, seen: 'all 4 present' });
    expect(imagesImportedCheck.parse(out(['registry.k8s.io/pause:3.10.2']), 0, w1)).toEqual({ ok: false, seen: 'missing: registry.k8s.io/kube-proxy:v1.37.2' });
    expect(imagesImportedCheck.expected(w1)).toContain("but the control plane's");
  });

  it('does not take a v2-style table in a version 3 dump for the real one', () => {
    const mixed = v3.replace(/\n\s*SystemdCgroup = true/, '') + '\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n';
    expect(containerdCriCheck.parse(mixed, 0, master).ok).toBe(false);
  });

  it('follows default_runtime_name to the runtime the CRI actually uses', () => {
    const text = v2.replace('default_runtime_name = "runc"', 'default_runtime_name = "crun"');
    expect(parseContainerdCgroup(text)).toMatchObject({ runtime: 'crun', systemdCgroup: undefined });
    expect(containerdCriCheck.parse(text, 0, master).ok).toBe(false);
  });

  it('reports a disabled CRI plugin (Debian packaging) even if the table says true', () => {
    const text = v2.replace('disabled_plugins = []', 'disabled_plugins = ["cri"]');
    expect(containerdCriCheck.parse(text, 0, master)).toMatchObject({ ok: false, seen: expect.stringContaining('CRI plugin is disabled') });
  });

  it('reads dotted keys and trailing comments', () => {
    const text = `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\nruntimes.runc.options.SystemdCgroup = true # set by us\n`;
    expect(parseContainerdCgroup(text).systemdCgroup).toBe(true);
  });

  it('a missing containerd is no config at all', () => {
    expect(containerdCriCheck.parse('', 127, master)).toEqual({ ok: false, seen: 'no config dump' });
  });
});

describe('hostname', () => {
  it('compares case-insensitively and shows what it saw', () => {
    expect(hostnameCheck.parse('Demo-Master\n', 0, master).ok).toBe(true);
    expect(hostnameCheck.parse('ubuntu-noble\n', 0, master)).toEqual({ ok: false, seen: 'ubuntu-noble' });
    expect(hostnameCheck.parse('', 0, master)).toEqual({ ok: false, seen: '(empty)' });
  });
});

describe('peer reachability', () => {
  it('builds one bounded probe per distinct peer address, run in parallel', () => {
    const cmd = probeCommand(['192.168.56.21', '192.168.56.22'], 22);
    expect(cmd).toContain('for h in 192.168.56.21 192.168.56.22; do');
    expect(cmd).toContain('timeout 3 bash -c "exec 3<>/dev/tcp/$h/22"');
    expect(cmd).toMatch(/& done; wait$/);
  });

  it('refuses anything that is not an address, since it goes into a shell command', () => {
    expect(() => probeCommand(['192.168.56.21; rm -rf /'], 22)).toThrow(/not an IPv4 address/);
    expect(() => probeCommand(['192.168.56.21'], 70000)).toThrow(/not a TCP port/);
  });

  it('reads the probe lines and names the unreachable peer', () => {
    expect(parseProbeOutput('192.168.56.21 ok\n192.168.56.22 fail\n')).toEqual([
      { address: '192.168.56.21', reachable: true },
      { address: '192.168.56.22', reachable: false },
    ]);
    const check = peerReachabilityCheck([w1, w2]);
    expect(check.parse('192.168.56.22 ok\n192.168.56.21 ok\n', 0, master)).toEqual({ ok: true, seen: 'reached 2 peer addresses' });
    expect(check.parse('192.168.56.21 ok\n192.168.56.22 fail\n', 0, master)).toEqual({ ok: false, seen: 'cannot reach worker-2 (192.168.56.22:22)' });
    // a peer with no output line at all (probe killed) counts as unreachable
    expect(check.parse('192.168.56.21 ok\n', 0, master).ok).toBe(false);
  });

  it('each node probes every other node, not itself', () => {
    const specs = nodeCheckSpecs(w1, [master, w1, w2]);
    expect(specs.map((s) => s.id)).toEqual([...MACHINE_CHECKS, ...PREREQUISITE_CHECKS].map((s) => s.id).concat('peers-reachable'));
    const probe = specs.at(-1)!;
    expect(probe.command).toContain('192.168.56.10 192.168.56.22;');
    expect(probe.command).not.toContain('192.168.56.21');
    expect(nodeCheckSpecs(master, [master])[MACHINE_CHECKS.length + PREREQUISITE_CHECKS.length]!.parse('', 0, master)).toEqual({ ok: true, seen: 'no peers' });
  });

  it('every check id is unique and every check expects something', () => {
    const specs = nodeCheckSpecs(master, [master, w1]);
    expect(new Set(specs.map((s) => s.id)).size).toBe(specs.length);
    for (const s of specs) expect(s.expected(master)).not.toBe('');
  });
});
