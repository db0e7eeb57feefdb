import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText, readConfig, validateRaw, type LoadOptions } from '../../src/config/load.js';
import { API_VERSION, KIND, defaultConfig } from '../../src/config/schema.js';
import { parseDuration } from '../../src/config/duration.js';
import { versionWarning } from '../../src/config/validate.js';
import { ConfigError } from '../../src/errors.js';

const base = { apiVersion: API_VERSION, kind: KIND };

/** Validates base + a change; returns the problems' paths and messages. */
function problems(change: Record<string, unknown>): string[] {
  return validateRaw({ ...base, ...change }).errors.map((p) => `${p.path}: ${p.message}`);
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function load(yamlText: string | undefined, env: Record<string, string> = {}, flags = {}, more: Partial<LoadOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kv-config-'));
  dirs.push(dir);
  if (yamlText !== undefined) writeFileSync(join(dir, 'cluster.yaml'), yamlText);
  return readConfig({ cwd: dir, env, flags, ...more });
}

function loadProblems(yamlText: string | undefined, env: Record<string, string> = {}, flags = {}, more: Partial<LoadOptions> = {}): string[] {
  try {
    load(yamlText, env, flags, more);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
}

describe('config defaults', () => {
  it('the defaults are valid and as documented', () => {
    const c = defaultConfig();
    expect(c).toMatchObject({
      name: 'demo',
      provider: 'virtualbox',
      distro: 'ubuntu-24.04',
      kubernetes: { version: '1.37', cni: 'flannel', podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', token: '', tokenTTL: '24h', proxyMode: 'iptables' },
      runtime: { containerd: 'release' },
      offline: { dir: '' },
      network: { masterIP: '192.168.56.10', workerIPStart: '' },
      controlPlane: { cpus: 2, memory: 2048 },
      workers: { count: 2, cpus: 1, memory: 1536 },
      addons: { dashboard: false },
      libvirt: { driver: 'kvm' },
    });
    expect(validateRaw(base).errors).toEqual([]);
  });

  it('with no file at all, defaults + environment + flags work', () => {
    const { config, file } = load(undefined, { NODE_COUNT: '3' }, { provider: 'libvirt' });
    expect(file).toBeUndefined();
    expect(config.workers.count).toBe(3);
    expect(config.provider).toBe('libvirt');
  });
});

describe('every rule has a failing case', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['wrong apiVersion', { apiVersion: 'v1' }, /^apiVersion: must be kubeadm-vagrant\/v1alpha1/],
    ['wrong kind', { kind: 'Pod' }, /^kind: must be Cluster/],
    ['unknown top-level field', { nodes: 3 }, /^nodes: unknown field/],
    ['unknown nested field', { workers: { count: 1, disk: 10 } }, /^workers\.disk: unknown field/],
    ['name not a DNS label', { name: 'My_Cluster' }, /^name: must be a DNS label/],
    ['provider', { provider: 'vmware' }, /^provider: must be one of virtualbox, libvirt/],
    ['distro', { distro: 'arch' }, /^distro: must be one of/],
    ['box type', { box: 42 }, /^box: must be a box name/],
    ['box object unknown key', { box: { name: 'x', url: 'y' } }, /^box\.url: unknown field/],
    ['k8s version format', { kubernetes: { version: 'latest' } }, /^kubernetes\.version: "latest" is not a Kubernetes version: give a minor such as "1\.37"/],
    ['k8s version too old', { kubernetes: { version: '1.30' } }, /^kubernetes\.version: 1\.30 is not supported: kubeadm-vagrant needs 1\.31 or newer/],
    ['k8s minor that does not exist', { kubernetes: { version: '1.333' } }, /^kubernetes\.version: 1\.333 is not a Kubernetes release: the newest known minor is 1\.37$/],
    ['k8s patch with leading zeros', { kubernetes: { version: '1.33.0000' } }, /^kubernetes\.version: "1\.33\.0000" has a leading zero \(0000\); write 1\.33\.0$/],
    ['k8s major 2', { kubernetes: { version: '2.0' } }, /^kubernetes\.version: Kubernetes 2\.x does not exist; every release is 1\.x/],
    ['k8s patch of three digits', { kubernetes: { version: '1.37.100' } }, /^kubernetes\.version: "1\.37\.100": patch releases are numbered 0 to 99/],
    ['kube-proxy mode', { kubernetes: { proxyMode: 'ipvs' } }, /^kubernetes\.proxyMode: must be one of iptables, nftables/],
    ['containerd source', { runtime: { containerd: 'docker' } }, /^runtime\.containerd: must be one of release, distro/],
    ['k8s version unquoted number', { kubernetes: { version: 1.33 } }, /^kubernetes\.version: must be a quoted string/],
    ['cni', { kubernetes: { cni: 'weave' } }, /^kubernetes\.cni: must be one of flannel, calico/],
    ['pod subnet format', { kubernetes: { podSubnet: '10.244.0.0' } }, /^kubernetes\.podSubnet: must be an IPv4 CIDR/],
    ['pod subnet host bits', { kubernetes: { podSubnet: '10.244.1.0/16' } }, /^kubernetes\.podSubnet: 10\.244\.1\.0\/16 has host bits set/],
    ['pod subnet smaller than a /24', { kubernetes: { podSubnet: '10.244.0.0/25' } }, /^kubernetes\.podSubnet: 10\.244\.0\.0\/25: \/25 is smaller than the \/24/],
    ['pod subnet too small for the nodes', { kubernetes: { podSubnet: '10.244.0.0/23' }, workers: { count: 2 } }, /^kubernetes\.podSubnet: 10\.244\.0\.0\/23 holds 2 \/24 blocks but the cluster has 3 nodes/],
    ['service subnet larger than /12', { kubernetes: { serviceSubnet: '10.0.0.0/8' } }, /^kubernetes\.serviceSubnet: 10\.0\.0\.0\/8: \/8 is larger than \/12/],
    ['service subnet format', { kubernetes: { serviceSubnet: '10.96.0.0/40' } }, /^kubernetes\.serviceSubnet: must be an IPv4 CIDR/],
    ['pod overlaps service', { kubernetes: { podSubnet: '10.96.0.0/16' } }, /^kubernetes\.podSubnet: the pod subnet 10\.96\.0\.0\/16 overlaps the service subnet/],
    ['pod overlaps node network', { kubernetes: { podSubnet: '192.168.0.0/16' } }, /^kubernetes\.podSubnet: the pod subnet 192\.168\.0\.0\/16 overlaps the node network 192\.168\.56\.0\/24/],
    ['service overlaps node network', { kubernetes: { serviceSubnet: '192.168.0.0/16' } }, /^kubernetes\.serviceSubnet: the service subnet 192\.168\.0\.0\/16 overlaps the node network/],
    ['pod overlaps VirtualBox NAT', { kubernetes: { podSubnet: '10.0.0.0/16' } }, /overlaps VirtualBox's NAT network 10\.0\.2\.0\/24/],
    ['node network on libvirt management network', { provider: 'libvirt', network: { masterIP: '192.168.121.10' } }, /^network\.masterIP: the node network 192\.168\.121\.0\/24 overlaps vagrant-libvirt's management network/],
    ['calico default pool on libvirt', { provider: 'libvirt', kubernetes: { podSubnet: '192.168.0.0/16' } }, /overlaps .*vagrant-libvirt's management network/],
    ['token format', { kubernetes: { token: 'ABCDEF.0123456789abcdef' } }, /^kubernetes\.token: must match/],
    ['token TTL 0', { kubernetes: { tokenTTL: '0' } }, /^kubernetes\.tokenTTL: a TTL of 0 means the token never expires/],
    ['token TTL 0s', { kubernetes: { tokenTTL: '0s' } }, /^kubernetes\.tokenTTL: a TTL of 0/],
    ['token TTL format', { kubernetes: { tokenTTL: '1 day' } }, /^kubernetes\.tokenTTL: must be a duration/],
    ['token TTL as the YAML number 0', { kubernetes: { tokenTTL: 0 } }, /^kubernetes\.tokenTTL: a TTL of 0 means the token never expires/],
    ['token TTL as a number without unit', { kubernetes: { tokenTTL: 24 } }, /^kubernetes\.tokenTTL: must be a duration with a unit/],
    ['token TTL shorter than a join takes', { kubernetes: { tokenTTL: '9m59s' } }, /^kubernetes\.tokenTTL: must be at least 10m/],
    ['master IP format', { network: { masterIP: '192.168.56' } }, /^network\.masterIP: must be an IPv4 address/],
    ['master IP octet range', { network: { masterIP: '192.168.56.300' } }, /^network\.masterIP: must be an IPv4 address/],
    ['master IP is .0', { network: { masterIP: '192.168.56.0' } }, /^network\.masterIP: 192\.168\.56\.0 is the network address/],
    ['master IP is .255', { network: { masterIP: '192.168.56.255' } }, /^network\.masterIP: 192\.168\.56\.255 is the broadcast address/],
    ['workers past the /24', { network: { masterIP: '192.168.56.250' }, workers: { count: 5 } }, /^workers\.count: workers 192\.168\.56\.251\.\.192\.168\.56\.255 do not all fit in 192\.168\.56\.0\/24/],
    ['workers land on .255', { network: { masterIP: '192.168.56.10', workerIPStart: '192.168.56.254' }, workers: { count: 2 } }, /^network\.workerIPStart: workers .* do not all fit/],
    ['worker start in another /24', { network: { workerIPStart: '192.168.57.11' } }, /^network\.workerIPStart: workers 192\.168\.57\.11\.\.192\.168\.57\.12 do not all fit in 192\.168\.56\.0\/24/],
    ['worker range covers the master', { network: { workerIPStart: '192.168.56.9' } }, /^network\.workerIPStart: the worker range .* includes the master's address/],
    ['worker start format', { network: { workerIPStart: 'next' } }, /^network\.workerIPStart: must be an IPv4 address/],
    ['control plane CPUs', { controlPlane: { cpus: 1 } }, /^controlPlane\.cpus: must be at least 2/],
    ['control plane memory', { controlPlane: { memory: 1024 } }, /^controlPlane\.memory: must be at least 2048/],
    ['control plane memory kubeadm measures below 1700 MB', { controlPlane: { memory: 1700 } }, /^controlPlane\.memory: must be at least 2048/],
    ['worker count fraction', { workers: { count: 1.5 } }, /^workers\.count: must be a whole number, not a fraction/],
    ['worker count negative', { workers: { count: -1 } }, /^workers\.count: must be at least 0/],
    ['worker count string', { workers: { count: 'two' } }, /^workers\.count: must be a whole number/],
    ['worker cpus', { workers: { cpus: 0 } }, /^workers\.cpus: must be at least 1/],
    ['worker memory', { workers: { memory: 256 } }, /^workers\.memory: must be at least 512/],
    ['dashboard type', { addons: { dashboard: 'maybe' } }, /^addons\.dashboard: must be one of true, false, yes, no, 1, 0 \(any case\); got "maybe"$/],
    ['libvirt driver', { libvirt: { driver: 'xen' } }, /^libvirt\.driver: must be one of kvm, qemu/],
  ];
  it.each(cases)('%s', (_name, change, expected) => {
    const found = problems(change);
    expect(found.some((p) => expected.test(p)), `expected ${expected} among:\n${found.join('\n')}`).toBe(true);
  });

  it('a nonsense version gives exactly one error, and only about the version', () => {
    for (const version of ['1.333', '1.33.0000', '2.0', 'latest', '1.30']) {
      const found = problems({ kubernetes: { version } });
      expect(found, version).toHaveLength(1);
      expect(found[0], version).toMatch(/^kubernetes\.version: /);
    }
  });

  it('accepts every known minor, a patch, and two minors ahead', () => {
    for (const version of ['1.31', '1.35', '1.36.2', '1.37', '1.37.2', '1.38', '1.39']) expect(problems({ kubernetes: { version } }), version).toEqual([]);
    expect(problems({ kubernetes: { version: '1.40' } })).toEqual(['kubernetes.version: 1.40 is not a Kubernetes release: the newest known minor is 1.37']);
  });

  it('warns about a minor past its end of life, naming the date, and about one newer than known', () => {
    const now = new Date('2026-12-01T00:00:00Z');
    expect(versionWarning('1.33', now)).toEqual({
      path: 'kubernetes.version',
      message: '1.33 reached its end of life on 2026-06-28: no more fixes upstream',
      hint: 'the maintained minors are 1.35, 1.36, 1.37',
    });
    expect(versionWarning('1.34.2', now)?.message).toBe('1.34 reached its end of life on 2026-10-27: no more fixes upstream');
    expect(versionWarning('1.35', now)).toBeUndefined();
    expect(versionWarning('1.37', now)).toBeUndefined();
    expect(versionWarning('1.38', now)?.message).toBe('1.38 is newer than the newest minor this tool knows (1.37): its kubeadm config and images are untested');
    // A year on, 1.35 has ended too.
    expect(versionWarning('1.35', new Date('2027-03-01T00:00:00Z'))?.message).toBe('1.35 reached its end of life on 2027-02-28: no more fixes upstream');
  });

  it('reports every problem at once, not just the first', () => {
    const found = problems({ provider: 'x', workers: { count: -1, cpus: 0 }, kubernetes: { tokenTTL: '0', podSubnet: '10.96.0.0/16' }, name: 'A' });
    expect(found.length).toBeGreaterThanOrEqual(6);
  });

  it('a bad field does not hide cross-field problems elsewhere', () => {
    const found = problems({ name: 'Bad Name', kubernetes: { podSubnet: '10.96.0.0/16' } });
    expect(found.some((p) => p.startsWith('name:'))).toBe(true);
    expect(found.some((p) => p.includes('overlaps the service subnet'))).toBe(true);
  });

  it('every problem has a hint', () => {
    const all = validateRaw({ ...base, provider: 'x', name: 'A', workers: { count: 1.5 }, bogus: 1, kubernetes: { podSubnet: '10.96.0.0/16' } }).errors;
    for (const p of all) expect(p.hint, p.path).toBeTruthy();
  });
});

describe('YAML and files', () => {
  it('a syntax error gives line and column', () => {
    const { problems: found } = parseConfigText('name: demo\nworkers: [1,\ncount: 2\n');
    expect(found[0]!.path).toMatch(/^line \d+, column \d+$/);
    expect(found[0]!.message).toMatch(/YAML syntax error/);
  });

  it('duplicate keys are an error', () => {
    expect(parseConfigText('name: a\nname: b\n').problems[0]!.message).toMatch(/unique/);
  });

  it('a top level that is not a mapping is an error', () => {
    expect(parseConfigText('- a\n- b\n').problems[0]!.message).toMatch(/mapping/);
  });

  it('a file without apiVersion is refused', () => {
    expect(loadProblems('name: demo\n')).toEqual(expect.arrayContaining([expect.stringMatching(/^apiVersion: must be/)]));
  });

  it('a missing -c file is an error naming the flag', () => {
    expect(() => readConfig({ file: '/nonexistent/cluster.yaml' })).toThrow(/does not exist/);
  });

  it('VirtualBox addresses outside 192.168.56.0/21 get a warning about networks.conf', () => {
    const r = validateRaw({ ...base, network: { masterIP: '172.28.10.10' } });
    expect(r.errors).toEqual([]);
    expect(r.warnings[0]!.hint).toMatch(/\/etc\/vbox\/networks\.conf/);
    expect(validateRaw({ ...base, provider: 'libvirt', network: { masterIP: '172.28.10.10' } }).warnings).toEqual([]);
    expect(validateRaw({ ...base, network: { masterIP: '192.168.60.10' } }).warnings).toEqual([]);
  });
});

describe('sources: file, then classic environment variables, then flags', () => {
  const file = `apiVersion: ${API_VERSION}\nkind: Cluster\nworkers:\n  count: 1\nnetwork:\n  masterIP: 192.168.56.20\n`;

  it('environment overrides the file', () => {
    const { config } = load(file, {
      MASTER_IP: '192.168.56.30',
      NODE_COUNT: '4',
      POD_NW_CIDR: '10.200.0.0/16',
      KUBETOKEN: 'abcdef.0123456789abcdef',
      BOX_IMAGE: 'my/box',
      K8S_DASHBOARD: 'true',
    });
    expect(config.network.masterIP).toBe('192.168.56.30');
    expect(config.workers.count).toBe(4);
    expect(config.kubernetes.podSubnet).toBe('10.200.0.0/16');
    expect(config.kubernetes.token).toBe('abcdef.0123456789abcdef');
    expect(config.box).toBe('my/box');
    expect(config.addons.dashboard).toBe(true);
  });

  it('NODE_IP_NW is a prefix; workers start at .11', () => {
    const { config } = load(undefined, { NODE_IP_NW: '192.168.56.' });
    expect(config.network.workerIPStart).toBe('192.168.56.11');
    expect(loadProblems(undefined, { NODE_IP_NW: '192.168.56' })[0]).toMatch(/NODE_IP_NW.*not a network prefix/);
  });

  it('flags override the environment', () => {
    const { config } = load(file, { NODE_COUNT: '4', MASTER_IP: '192.168.56.30' }, { workers: '3', masterIp: '192.168.56.40', cni: 'calico', k8sVersion: '1.36', distro: 'rocky-9', provider: 'libvirt', box: 'x/y', podCidr: '10.250.0.0/16', token: 'zzzzzz.0123456789abcdef' });
    expect(config).toMatchObject({ provider: 'libvirt', distro: 'rocky-9', box: 'x/y', workers: { count: 3 }, network: { masterIP: '192.168.56.40' }, kubernetes: { cni: 'calico', version: '1.36', podSubnet: '10.250.0.0/16', token: 'zzzzzz.0123456789abcdef' } });
  });

  it('bad values name their source', () => {
    expect(loadProblems(file, { NODE_COUNT: 'many' })[0]).toMatch(/^workers\.count \(from NODE_COUNT\): "many" is not a whole number/);
    expect(loadProblems(file, { K8S_DASHBOARD: 'maybe' })[0]).toMatch(/^addons\.dashboard \(from K8S_DASHBOARD\)/);
    expect(loadProblems(file, { MASTER_IP: '1.2.3' })[0]).toMatch(/^network\.masterIP \(from MASTER_IP\): must be an IPv4 address/);
    expect(loadProblems(file, {}, { provider: 'hyperv' })[0]).toMatch(/^provider \(from --provider\)/);
    expect(loadProblems(file, {}, { workers: 'x' })[0]).toMatch(/^workers\.count \(from --workers\)/);
  });
});

describe('booleans: SETUP_MASTER, SETUP_NODES, K8S_DASHBOARD and their flags', () => {
  const file = `apiVersion: ${API_VERSION}\nkind: Cluster\n`;
  const BOOLEANS = [
    { env: 'K8S_DASHBOARD', path: 'addons.dashboard' },
    { env: 'SETUP_MASTER', flag: 'setupMaster', flagName: '--setup-master', path: 'setup.controlPlane' },
    { env: 'SETUP_NODES', flag: 'setupNodes', flagName: '--setup-nodes', path: 'setup.workers' },
  ] as const;
  const get = (config: Record<string, any>, path: string) => path.split('.').reduce((o, k) => o[k], config);

  it('default: set up both, no dashboard', () => {
    expect(load(file).config).toMatchObject({ setup: { controlPlane: true, workers: true }, addons: { dashboard: false } });
  });

  it('take true/false/yes/no/1/0 in any case, from the environment and from the flags', () => {
    const words: [string, boolean][] = [['true', true], ['TRUE', true], ['Yes', true], ['1', true], ['false', false], ['False', false], ['NO', false], ['0', false], [' yes ', true]];
    for (const b of BOOLEANS) {
      // The other one stays true: both false is an error of its own.
      for (const [word, value] of words) {
        expect(get(load(file, { [b.env]: word }).config, b.path), `${b.env}=${word}`).toBe(value);
        if ('flag' in b) expect(get(load(file, {}, { [b.flag]: word }).config, b.path), `${b.flagName} ${word}`).toBe(value);
      }
    }
  });

  it('refuse anything else, naming the variable or flag and the accepted values (on, off and "" included)', () => {
    for (const b of BOOLEANS) {
      for (const bad of ['on', 'off', 'maybe', 'truee', '2', 'y']) {
        const envProblem = loadProblems(file, { [b.env]: bad });
        expect(envProblem, `${b.env}=${bad}`).toEqual([`${b.path} (from ${b.env}): "${bad}" is not a boolean`]);
        if ('flag' in b) expect(loadProblems(file, {}, { [b.flag]: bad }), `${b.flagName} ${bad}`).toEqual([`${b.path} (from ${b.flagName}): "${bad}" is not a boolean`]);
      }
      if ('flag' in b) expect(loadProblems(file, {}, { [b.flag]: '' })).toEqual([`${b.path} (from ${b.flagName}): "" is not a boolean`]);
    }
    const hint = (() => {
      try {
        load(file, { SETUP_NODES: 'on' });
      } catch (e) {
        return (e as ConfigError).problems[0]!.hint;
      }
    })();
    expect(hint).toBe('set SETUP_NODES to one of true, false, yes, no, 1, 0 (any case)');
  });

  it('an empty variable counts as unset, as for every classic variable', () => {
    expect(load(file, { SETUP_MASTER: '', K8S_DASHBOARD: '' }).config).toMatchObject({ setup: { controlPlane: true }, addons: { dashboard: false } });
  });

  it('both false is an error for up (and config validate, which checks a config for up): nothing to set up', () => {
    const both = 'setup.controlPlane (SETUP_MASTER) and setup.workers (SETUP_NODES) are both false: nothing to set up';
    const forUp = (yaml: string, env: Record<string, string> = {}, flags = {}) => loadProblems(yaml, env, flags, { forUp: true });
    expect(forUp(file, { SETUP_MASTER: 'false', SETUP_NODES: 'no' })).toEqual([`setup (setup.controlPlane from SETUP_MASTER, setup.workers from SETUP_NODES): ${both}`]);
    expect(forUp(file, {}, { setupMaster: '0', setupNodes: 'FALSE' })).toEqual([`setup (setup.controlPlane from --setup-master, setup.workers from --setup-nodes): ${both}`]);
    expect(forUp(`${file}setup: {controlPlane: false, workers: false}\n`)).toEqual([`setup: ${both}`]);
    // strongest last: the flag makes it valid again
    expect(load(file, { SETUP_MASTER: 'false', SETUP_NODES: 'false' }, { setupNodes: 'true' }, { forUp: true }).config.setup).toEqual({ controlPlane: false, workers: true });
  });

  it('both false is nothing to the commands that do not set anything up (generate, status, destroy read the config too)', () => {
    expect(loadProblems(file, { SETUP_MASTER: 'false', SETUP_NODES: 'no' })).toEqual([]);
    expect(load(`${file}setup: {controlPlane: false, workers: false}\n`).config.setup).toEqual({ controlPlane: false, workers: false });
  });

  it('one rule everywhere: cluster.yaml takes the words the variables take, and refuses what they refuse', () => {
    for (const [word, value] of [['yes', true], ['No', false], ['"1"', true], ['0', false], ['TRUE', true], ['true', true]] as const) {
      expect(load(`${file}addons: {dashboard: ${word}}\n`).config.addons.dashboard, word).toBe(value);
    }
    for (const bad of ['on', 'off', 'maybe', '2']) {
      expect(loadProblems(`${file}addons: {dashboard: ${bad}}\n`), bad).toEqual([`addons.dashboard: must be one of true, false, yes, no, 1, 0 (any case); got ${/^\d+$/.test(bad) ? bad : `"${bad}"`}`]);
    }
  });
});

describe('durations', () => {
  it('parses Go durations', () => {
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('1d')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
});
