import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBoxName } from '../../src/box-name.js';
import { envNearMisses, OVERRIDES, optionKey } from '../../src/config/flags.js';
import { parseConfigText, readConfig, validateRaw, type LoadOptions } from '../../src/config/load.js';
import { API_VERSION, KIND } from '../../src/config/schema.js';
import { versionWarning } from '../../src/config/validate.js';
import { loadCatalog } from '../../src/distros.js';
import { ConfigError, describeError, type ConfigProblem } from '../../src/errors.js';
import { cidrRange, intToIp, SPECIAL_RANGES } from '../../src/net.js';
import { generateToken, tokenWeakness } from '../../src/token.js';
import { MINORS } from '../../src/versions.js';

/** The classes of issue 18's "what users hit" (items 2, 3, 4, 6): each bad input one clear error or warning. */

const base = { apiVersion: API_VERSION, kind: KIND };
const FILE = `apiVersion: ${API_VERSION}\nkind: ${KIND}\nname: lab\n`;
const lines = (problems: ConfigProblem[]) => problems.map((p) => `${p.path}: ${p.message}`);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Loads a cluster.yaml with env and flags: the errors (thrown) or the warnings. */
function load(yaml: string, opts: Omit<LoadOptions, 'cwd'> = {}): { errors: ConfigProblem[]; warnings: ConfigProblem[]; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kv-edges-'));
  dirs.push(dir);
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, yaml);
  try {
    return { errors: [], warnings: readConfig({ cwd: dir, env: {}, ...opts }).warnings, file };
  } catch (e) {
    if (e instanceof ConfigError) return { errors: e.problems, warnings: [], file };
    throw e;
  }
}

describe('pod and service subnets get the refusals node addresses get (item 2)', () => {
  /** A subnet inside (or around) each special range: a /16 at its start, or the range itself when smaller. */
  const inside = (cidr: string) => {
    const r = cidrRange(cidr)!;
    return `${intToIp(r.first)}/${Math.max(r.prefix, 16)}`;
  };

  it.each(SPECIAL_RANGES.map((r) => [r.cidr, inside(r.cidr)]))('a subnet in %s is refused as pod subnet (POD_NW_CIDR) and as service subnet, once, naming the field and its source', (range, subnet) => {
    const pod = load(FILE, { env: { POD_NW_CIDR: subnet } }).errors;
    expect(lines(pod)).toEqual([expect.stringMatching(new RegExp(`^kubernetes\\.podSubnet \\(from POD_NW_CIDR\\): ${subnet.replace(/\./g, '\\.')} overlaps .*\\(${range.replace(/\./g, '\\.')}[,)]`))]);
    const svc = validateRaw({ ...base, kubernetes: { serviceSubnet: subnet.replace(/\/16$/, '/16') } }).errors;
    expect(lines(svc)).toEqual([expect.stringMatching(/^kubernetes\.serviceSubnet: .* overlaps /)]);
  });

  it('a pod subnet whose node mask (/24) is more than 16 bits longer than its prefix is refused before kubeadm init would', () => {
    const { errors } = load(FILE, { flags: { podCidr: '172.0.0.0/7' } });
    expect(lines(errors)).toEqual(['kubernetes.podSubnet (from --pod-cidr): 172.0.0.0/7: /7 is too large: kubeadm init refuses a pod subnet whose node mask (/24) is more than 16 bits longer than its prefix']);
    expect(errors[0]!.hint).toMatch(/\/8 or smaller/);
    expect(validateRaw({ ...base, provider: 'libvirt', kubernetes: { podSubnet: '44.0.0.0/8' } }).errors).toEqual([]);
  });

  it('a private or public unicast subnet is fine', () => {
    for (const podSubnet of ['10.244.0.0/16', '172.16.0.0/12', '100.64.0.0/16', '44.1.0.0/16']) expect(validateRaw({ ...base, kubernetes: { podSubnet } }).errors, podSubnet).toEqual([]);
  });
});

describe('a box that names another distro than `distro:` gets a warning saying how to set it (item 3)', () => {
  const catalog = loadCatalog();
  const warned = (box: string | { name: string }, distro: string) => validateRaw({ ...base, box, distro }).warnings.filter((w) => w.path === 'box');

  it('reads what box names say', () => {
    expect(readBoxName('generic/rocky9')).toMatchObject({ distro: 'rocky', release: '9' });
    expect(readBoxName('generic/ubuntu2204')).toMatchObject({ distro: 'ubuntu', release: '22.04' });
    expect(readBoxName('ubuntu/jammy64')).toMatchObject({ distro: 'ubuntu', release: '22.04' });
    expect(readBoxName('debian/bookworm64')).toMatchObject({ distro: 'debian', release: '12' });
    expect(readBoxName('almalinux/9')).toMatchObject({ distro: 'almalinux', release: '9' });
    expect(readBoxName('bento/rockylinux-9')).toMatchObject({ distro: 'rocky', release: '9' });
    expect(readBoxName('example/ubuntu-noble')).toMatchObject({ distro: 'ubuntu', release: '24.04' });
    expect(readBoxName('kubeadm-vagrant/debian-12')).toMatchObject({ distro: 'debian', release: '12' });
    expect(readBoxName('centos/stream9')).toMatchObject({ distro: 'centos' });
    expect(readBoxName('example/my-box')).toBeUndefined();
  });

  it('another family, distro or release: warned, with the distro to set', () => {
    const [rocky] = warned('generic/rocky9', 'ubuntu-24.04');
    expect(rocky!.message).toBe('"generic/rocky9" names Rocky Linux 9, and distro is ubuntu-24.04: another family: apt scripts would be rendered for a dnf system');
    expect(rocky!.hint).toMatch(/^set distro: rocky-9 in cluster\.yaml \(or --distro rocky-9\)/);
    expect(warned('almalinux/9', 'rocky-9')[0]!.message).toMatch(/another distro of the same family/);
    expect(warned('bento/ubuntu-22.04', 'ubuntu-24.04')[0]!.message).toMatch(/names Ubuntu 22\.04, and distro is ubuntu-24\.04: another release/);
    expect(warned('bento/ubuntu-22.04', 'ubuntu-24.04')[0]!.hint).toMatch(/^set distro: ubuntu-22\.04/);
    expect(warned({ name: 'debian/bookworm64' }, 'debian-13')[0]!.message).toMatch(/names Debian 12/);
    expect(warned('opensuse/Leap-15.5.x86_64', 'debian-12')[0]!.message).toMatch(/no scripts for/);
    expect(load(FILE, { env: { BOX_IMAGE: 'generic/rocky9' } }).warnings.map((w) => w.path)).toEqual(['box (from BOX_IMAGE)']);
  });

  it("matching names are not warned: our own kubeadm-vagrant/<distro-id> boxes, the names of the Vagrant Cloud boxes the catalog used to name, names that say nothing", () => {
    for (const [box, distro] of [['bento/ubuntu-24.04', 'ubuntu-24.04'], ['cloud-image/debian-13', 'debian-13'], ['rockylinux/9', 'rocky-9'], ['almalinux/10', 'almalinux-10'], ['bento/rockylinux-9', 'rocky-9']] as const) expect(warned(box, distro), `${box} ${distro}`).toEqual([]);
    for (const distro of Object.keys(catalog.distros)) {
      expect(warned(`kubeadm-vagrant/${distro}`, distro), distro).toEqual([]);
    }
    expect(warned('kubeadm-vagrant/debian12', 'debian-12')).toEqual([]);
    expect(warned('example/ubuntu-noble', 'ubuntu-24.04')).toEqual([]);
    expect(warned('example/my-box', 'rocky-9')).toEqual([]);
  });
});

describe('a patch newer than any known release warns, naming the newest known (item 4)', () => {
  const now = new Date('2026-12-01');
  it.each(MINORS.map((m) => [m.minor, m.newestPatch]))('%s: .%d is known, one more is not', (minor, patch) => {
    const known = versionWarning(`${minor}.${patch}`, now);
    expect(known?.message ?? '').not.toMatch(/newer than the newest/);
    const next = versionWarning(`${minor}.${patch + 1}`, now);
    expect(next?.message).toMatch(new RegExp(`newer than the newest ${minor.replace('.', '\\.')} patch this tool knows \\(${minor.replace('.', '\\.')}\\.${patch},`));
  });

  it('1.37.99 from a flag: a warning naming the flag and 1.37.2', () => {
    const { warnings, errors } = load(FILE, { flags: { k8sVersion: '1.37.99' } });
    expect(errors).toEqual([]);
    expect(warnings.map((w) => `${w.path}: ${w.hint}`)).toEqual(['kubernetes.version (from --k8s-version): use "1.37.2", or the minor "1.37" for the newest patch this tool knows']);
  });
});

describe('the smaller ones (item 6)', () => {
  it('a YAML alias bomb is a config error naming the file (exit 2), not an internal error', () => {
    const bomb = `${FILE}a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n`;
    expect(parseConfigText(bomb).problems).toEqual([expect.objectContaining({ path: 'yaml', message: expect.stringMatching(/^cannot be read: .*alias/i) })]);
    const dir = mkdtempSync(join(tmpdir(), 'kv-edges-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'cluster.yaml'), bomb);
    let thrown: unknown;
    try {
      readConfig({ cwd: dir, env: {} });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(describeError(thrown, false)).toEqual({ exitCode: 2, text: expect.stringMatching(new RegExp(`^error: ${join(dir, 'cluster.yaml').replace(/\./g, '\\.')}: 1 problem\\n {2}yaml: cannot be read`)) });
  });

  it('one huge number gives one error, from a variable, a flag or the file', () => {
    expect(lines(load(FILE, { env: { NODE_COUNT: '12345678901234567890123' } }).errors)).toEqual([expect.stringMatching(/^workers\.count \(from NODE_COUNT\): must be at most 252/)]);
    expect(lines(load(`${FILE}workers: {count: 1e30}\n`).errors)).toEqual([expect.stringMatching(/^workers\.count: must be at most 252/)]);
    expect(lines(load(`${FILE}controlPlane: {memory: 99999999999999999999}\n`).errors)).toHaveLength(1);
  });

  it('a master address that fails its own check gives no follow-on error about the workers', () => {
    for (const ip of ['192.168.56.255', '192.168.56.0']) expect(lines(load(FILE, { env: { MASTER_IP: ip } }).errors), ip).toEqual([expect.stringMatching(new RegExp(`^network\\.masterIP \\(from MASTER_IP\\): ${ip.replace(/\./g, '\\.')} is the`))]);
  });

  it('hints for a value from a flag or variable say nothing of YAML', () => {
    const bad: Record<string, string> = { workers: 'many', podCidr: 'ten', token: 'secret', box: '', provider: 'xen ', distro: 'gentoo', k8sVersion: 'v1.37', cni: 'weave', masterIp: '1.2.3', setupMaster: 'maybe', setupNodes: 'maybe', filesMirror: 'ftp://x', registryMirror: 'registry.k8s.io' };
    for (const o of OVERRIDES.filter((d) => d.flag)) {
      const key = optionKey(o.flag!);
      expect(bad[key], `a bad value for ${o.flag}`).toBeDefined();
      const problems = load(FILE, { flags: { [key]: bad[key]! } }).errors.filter((p) => p.path.startsWith(o.path.join('.')));
      for (const p of problems) expect(p.hint ?? '', `${o.flag} ${bad[key]}: ${p.hint}`).not.toMatch(/YAML|quote it|cluster\.yaml|leave (it|box) empty|^set \w+:/);
    }
    expect(load(FILE, { flags: { k8sVersion: 'v1.37' } }).errors.map((p) => p.message)).toEqual(['"v1.37" is not a Kubernetes version: drop the "v" (1.37)']);
    // The file's own value keeps the YAML hint.
    expect(load(`${FILE}kubernetes: {version: 1.30}\n`).errors[0]!.hint).toMatch(/^quote it/);
  });

  it('the offending value is quoted in the message: a trailing space shows', () => {
    const cases: [Record<string, string>, string][] = [
      [{ provider: 'libvirt ' }, 'provider'],
      [{ cni: 'flannel ' }, 'kubernetes.cni'],
      [{ distro: 'ubuntu-24.04 ' }, 'distro'],
      [{ masterIp: '192.168.56.10 ' }, 'network.masterIP'],
      [{ podCidr: '10.244.0.0/16 ' }, 'kubernetes.podSubnet'],
      [{ k8sVersion: '1.37 ' }, 'kubernetes.version'],
    ];
    for (const [flags, path] of cases) {
      const value = Object.values(flags)[0]!;
      const [p] = load(FILE, { flags }).errors;
      expect(p?.path, path).toMatch(new RegExp(`^${path.replace('.', '\\.')} \\(from --`));
      expect(p?.message, path).toContain(JSON.stringify(value));
    }
    const [yaml] = load(`${FILE}kubernetes: {proxyMode: "ipvs "}\n`).errors;
    expect(yaml!.message).toContain('"ipvs "');
  });

  it('a malformed token is never shown, not even quoted', () => {
    const [p] = load(FILE, { env: { KUBETOKEN: 'my-cluster-secret' } }).errors;
    expect(p!.message).not.toContain('my-cluster-secret');
    expect(p!.message).toMatch(/a token of 17 characters \(not shown\)/);
  });

  it('near misses of the classic variables warn with the right name; other variables are left alone', () => {
    const env = { NODE_COUNTS: '3', MASTERIP: '192.168.56.20', POD_CIDR: '10.0.0.0/8', node_count: '2', KUBE_TOKEN: 'x', SETUP_NODE: 'false', K8S_DASHBOARD_ENABLED: 'yes', BOX_IMAGES: 'a/b' };
    expect(envNearMisses(env).map((p) => `${p.path} → ${p.hint}`)).toEqual([
      'NODE_COUNTS → did you mean NODE_COUNT (workers.count)?',
      'MASTERIP → did you mean MASTER_IP (network.masterIP)?',
      'POD_CIDR → did you mean POD_NW_CIDR (kubernetes.podSubnet)?',
      'node_count → did you mean NODE_COUNT (workers.count)?',
      'KUBE_TOKEN → did you mean KUBETOKEN (kubernetes.token)?',
      'SETUP_NODE → did you mean SETUP_NODES (setup.workers)?',
      'K8S_DASHBOARD_ENABLED → did you mean K8S_DASHBOARD (addons.dashboard)?',
      'BOX_IMAGES → did you mean BOX_IMAGE (box)?',
    ]);
    const ordinary = ['PATH', 'HOME', 'USER', 'SHELL', 'TERM', 'LANG', 'PWD', 'NODE_ENV', 'NODE_OPTIONS', 'NODE_PATH', 'KUBECONFIG', 'VAGRANT_DEFAULT_PROVIDER', 'VAGRANT_HOME', 'LIBVIRT_DEFAULT_URI', 'CI', 'KUBEADM_VAGRANT_E2E_DISTRO', 'EDITOR', 'MASTER_IP', 'NODE_COUNT', 'KUBETOKEN'];
    expect(envNearMisses(Object.fromEntries(ordinary.map((n) => [n, 'x'])))).toEqual([]);
    expect(envNearMisses({ NODE_COUNTS: '' })).toEqual([]);
    expect(load(FILE, { env: { NODE_COUNTS: '3' } }).warnings.map((w) => w.path)).toEqual(['NODE_COUNTS']);
  });

  it('a public master address warns that it shadows its /24 on the host; private ones do not', () => {
    const warned = (masterIP: string) => validateRaw({ ...base, provider: 'libvirt', network: { masterIP } }).warnings.filter((w) => w.path === 'network.masterIP');
    expect(warned('8.8.8.8')[0]!.message).toMatch(/^8\.8\.8\.8 is a public address: the host-only network routes 8\.8\.8\.0\/24 to the machines/);
    for (const ip of ['192.168.56.10', '10.1.2.10', '172.20.0.10', '100.64.0.10']) expect(warned(ip), ip).toEqual([]);
  });

  it('a token with no randomness in it warns, without showing its secret; drawn ones do not', () => {
    for (const token of ['000000.0000000000000000', 'aaaaaa.aaaaaaaaaaaaaaaa', 'abcdef.0123456789abcdef', 'abcdef.abababababababab', 'x1y2z3.zyxwvutsrqponmlk']) {
      const [w] = validateRaw({ ...base, kubernetes: { token } }).warnings.filter((p) => p.path === 'kubernetes.token');
      expect(w?.message, token).toMatch(/no randomness in it/);
      expect(w!.message).not.toContain(token.split('.')[1]);
    }
    for (let i = 0; i < 500; i++) {
      const token = generateToken();
      expect(tokenWeakness(token), token).toBeUndefined();
    }
  });
});
