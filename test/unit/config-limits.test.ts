import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig, validateRaw, type LoadOptions } from '../../src/config/load.js';
import { API_VERSION, KIND } from '../../src/config/schema.js';
import { ConfigError, type ConfigProblem } from '../../src/errors.js';

/** The limits of a config, and how its errors read: one per bad value, each naming its source. */

const base = { apiVersion: API_VERSION, kind: KIND };
const errorsOf = (change: Record<string, unknown>) => validateRaw({ ...base, ...change }).errors;
const lines = (problems: ConfigProblem[]) => problems.map((p) => `${p.path}: ${p.message}`);

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function loadProblems(yaml: string, opts: Omit<LoadOptions, 'cwd'> = {}, state?: object): ConfigProblem[] {
  const dir = mkdtempSync(join(tmpdir(), 'kv-limits-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'cluster.yaml'), yaml);
  if (state) {
    mkdirSync(join(dir, '.kubeadm-vagrant'), { mode: 0o700 });
    writeFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), JSON.stringify(state));
  }
  try {
    readConfig({ cwd: dir, env: {}, ...opts });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}
const FILE = `apiVersion: ${API_VERSION}\nkind: ${KIND}\nname: lab\n`;

describe('node addresses must be usable on a host-only network', () => {
  const refused: [string, string, RegExp][] = [
    ['loopback', '127.0.0.10', /loopback/],
    ['multicast', '224.0.0.10', /multicast/],
    ['link-local', '169.254.1.10', /link-local/],
    ['reserved', '240.0.0.10', /reserved/],
    ['unspecified', '0.0.0.10', /unspecified/],
    ['documentation (TEST-NET-1)', '192.0.2.10', /reserved/],
  ];
  it.each(refused)('%s master address %s is refused', (_kind, ip, kind) => {
    const found = errorsOf({ network: { masterIP: ip } }).filter((p) => p.path === 'network.masterIP');
    expect(found, lines(errorsOf({ network: { masterIP: ip } })).join('\n')).toHaveLength(1);
    expect(found[0]!.message).toMatch(kind);
    expect(found[0]!.message).toContain(ip);
  });

  it('a link-local workerIPStart is refused too, and private and public unicast addresses are not', () => {
    const found = errorsOf({ network: { masterIP: '169.254.7.10', workerIPStart: '169.254.7.20' } });
    expect(found.map((p) => p.path).sort()).toEqual(['network.masterIP', 'network.workerIPStart']);
    for (const ip of ['10.1.2.10', '172.28.10.10', '192.168.56.10', '100.64.0.10', '8.8.8.10']) expect(lines(errorsOf({ provider: 'libvirt', network: { masterIP: ip } })), ip).toEqual([]);
  });
});

describe('the name makes hostnames <name>-worker-N of at most 63 characters', () => {
  it('the limit comes from the longest hostname the plan makes', () => {
    // 2 workers: the longest is <name>-worker-2, 9 characters more than the name.
    expect(lines(errorsOf({ name: 'a'.repeat(54), workers: { count: 2 } }))).toEqual([]);
    const two = errorsOf({ name: 'a'.repeat(55), workers: { count: 2 } });
    expect(lines(two)).toEqual([expect.stringMatching(/^name: .*-worker-2 would be 64 characters long/)]);
    expect(two[0]!.hint).toMatch(/at most 54 characters/);
    // 10 workers: <name>-worker-10 is 10 more.
    expect(lines(errorsOf({ name: 'a'.repeat(54), workers: { count: 10 } }))).toEqual([expect.stringMatching(/-worker-10 would be 64 characters/)]);
    // No workers: <name>-master is 7 more.
    expect(lines(errorsOf({ name: 'a'.repeat(56), workers: { count: 0 } }))).toEqual([]);
    expect(lines(errorsOf({ name: 'a'.repeat(57), workers: { count: 0 } }))).toEqual([expect.stringMatching(/-master would be 64 characters/)]);
  });
});

describe('config validate and generate decide alike', () => {
  it('a cluster directory whose worker-1 was removed: validate sees the worker indices generate uses', () => {
    // After `node remove worker-1`, one worker is worker-2: with the master at .253 it would be .255.
    const problems = loadProblems(FILE, { flags: { masterIp: '192.168.56.253', workers: '1' } }, { workers: [2] });
    expect(lines(problems)).toEqual([expect.stringMatching(/192\.168\.56\.255 do not all fit/)]);
  });
});

describe('errors read well', () => {
  it('a scalar where a section belongs gets a hint, not raw validator text', () => {
    const [p, ...rest] = errorsOf({ workers: 3 });
    expect(rest).toEqual([]);
    expect(p!.path).toBe('workers');
    expect(p!.message).not.toMatch(/expected object/);
    expect(p!.message).toMatch(/section/);
    expect(p!.hint).toMatch(/workers:\n +count: 3/);
  });

  it('two-field errors name the variable or flag each value came from', () => {
    const problems = loadProblems(FILE, { env: { POD_NW_CIDR: '192.168.0.0/16' }, flags: { masterIp: '192.168.56.20' } });
    expect(lines(problems)).toEqual([expect.stringMatching(/^kubernetes\.podSubnet \(from POD_NW_CIDR\): the pod subnet 192\.168\.0\.0\/16 overlaps the node network 192\.168\.56\.0\/24 \(network\.masterIP from --master-ip\)/)]);
    const fit = loadProblems(FILE, { env: { NODE_COUNT: '9' }, flags: { masterIp: '192.168.56.250' } });
    expect(lines(fit)).toEqual([expect.stringMatching(/^workers\.count \(from NODE_COUNT\): .*network\.masterIP 192\.168\.56\.250 from --master-ip/)]);
  });

  it('one huge or broken value gives one error, not follow-on errors about other fields', () => {
    expect(lines(loadProblems(FILE, { flags: { workers: '100000' } }))).toEqual([expect.stringMatching(/^workers\.count \(from --workers\): must be at most/)]);
    // Its own check first (a special range): then nothing about the networks it would also overlap.
    expect(lines(errorsOf({ kubernetes: { podSubnet: '0.0.0.0/0' } }))).toEqual(['kubernetes.podSubnet: 0.0.0.0/0 overlaps the unspecified range (0.0.0.0/8) and 10 other special-purpose ranges: a host-only network cannot carry such addresses']);
    expect(lines(errorsOf({ kubernetes: { podSubnet: '10.0.0.0/8', serviceSubnet: '10.96.0.0/12' } }))).toEqual([expect.stringMatching(/^kubernetes\.podSubnet: the pod subnet 10\.0\.0\.0\/8 overlaps the service subnet 10\.96\.0\.0\/12 and VirtualBox's NAT network 10\.0\.2\.0\/24/)]);
    const huge = errorsOf({ name: 'x'.repeat(100_000) });
    expect(huge).toHaveLength(1);
    expect(`${huge[0]!.message} ${huge[0]!.hint}`.length).toBeLessThan(400);
    const hugeFlag = loadProblems(FILE, { flags: { workers: '9'.repeat(100_000) } });
    expect(hugeFlag).toHaveLength(1);
    expect(lines(hugeFlag)[0]!.length).toBeLessThan(400);
  });
});
