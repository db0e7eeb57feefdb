import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { testCache } from '../helpers/artifacts.js';

/** Issue 18's smaller edges, as a user meets them: the CLI as a process. */

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const CONFIG = 'apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: edges\nprovider: libvirt\nworkers: {count: 1}\n';
function clusterDir(yaml = CONFIG): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-edges-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'cluster.yaml'), yaml);
  return dir;
}
function run(args: string[], cwd: string, env: Record<string, string> = {}) {
  // The cache holds a default cluster's artifacts (testCache) unless the test gives another.
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: cwd, KUBEADM_VAGRANT_CACHE: testCache(), ...env }, input: '' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const STACK = /^\s+at /m;

describe('output that cannot be written', () => {
  it('a full stdout (> /dev/full): one line on stderr, exit 1, no stack trace', () => {
    const dir = clusterDir();
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [CLI, 'config', 'print'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir }, stdio: ['ignore', full, 'pipe'] });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe('error: cannot write to standard output: ENOSPC: no space left on device, write\n');
    } finally {
      closeSync(full);
    }
  });

  it('a reader that stops early (| head -1): no error, no stack trace', () => {
    const dir = clusterDir();
    for (const args of ['config print', 'up --dry-run']) {
      const r = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" ${args} | head -1; echo "cli exit \${PIPESTATUS[0]}" >&2`], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: dir } });
      expect(r.stdout.split('\n').filter(Boolean), args).toHaveLength(1);
      expect(r.stderr, args).not.toMatch(STACK);
      expect(r.stderr, args).toMatch(/cli exit 0\n$/);
    }
  });
});

describe('config errors stay config errors', () => {
  it('a YAML alias bomb: exit 2, naming the file, no internal error', () => {
    const bomb = `${CONFIG}a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
    const dir = clusterDir(bomb);
    const r = run(['config', 'validate'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error: ${join(dir, 'cluster.yaml').replace(/\./g, '\\.')}: 1 problem\\n {2}yaml: cannot be read: `));
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it('doctor --json prints JSON on a config error too (and says it on stderr), exit 2', () => {
    const dir = clusterDir(CONFIG.replace('count: 1', 'count: -1'));
    const r = run(['doctor', '--json'], dir);
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: unknown[]; error: { kind: string; exitCode: number; problems: { path: string }[]; file: string } };
    expect(report).toMatchObject({ ok: false, checks: [], error: { kind: 'config', exitCode: 2, file: join(dir, 'cluster.yaml') } });
    expect(report.error.problems.map((p) => p.path)).toEqual(['workers.count']);
    expect(r.stderr).toMatch(/^error: .*1 problem\n {2}workers\.count: must be at least 0/);
    // A bad flag value is a config error as well.
    expect(JSON.parse(run(['doctor', '--json', '--setup-nodes', 'maybe'], dir).stdout)).toMatchObject({ error: { kind: 'config' } });
  });

  it('SETUP_MASTER=false SETUP_NODES=false is refused by up and config validate only', () => {
    const dir = clusterDir();
    const both = { SETUP_MASTER: 'false', SETUP_NODES: 'false' };
    for (const cmd of [['up', '--dry-run'], ['config', 'validate']]) {
      const r = run(cmd, dir, both);
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr, cmd.join(' ')).toMatch(/setup \(setup\.controlPlane from SETUP_MASTER, setup\.workers from SETUP_NODES\): .*nothing to set up/);
    }
    expect(readdirSync(dir)).toEqual(['cluster.yaml']);
    for (const cmd of [['config', 'print'], ['generate'], ['status', '--dry-run'], ['destroy', '--dry-run']]) {
      const r = run(cmd, dir, both);
      expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });

  it('a near miss of a classic variable is a warning naming the right one', () => {
    const r = run(['config', 'validate'], clusterDir(), { NODE_COUNTS: '3' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('config: 1 warning\n  NODE_COUNTS: is not a variable kubeadm-vagrant reads, so its value is ignored\n      hint: did you mean NODE_COUNT (workers.count)?\n');
  });
});

describe('an unknown command suggests the one meant', () => {
  const cases: [string[], string][] = [
    [['validate'], "unknown command 'validate'; did you mean `kubeadm-vagrant config validate`?"],
    [['verfy'], "unknown command 'verfy'; did you mean `kubeadm-vagrant verify` or `kubeadm-vagrant artifacts verify`?"],
    [['add'], "unknown command 'add'; did you mean `kubeadm-vagrant node add`?"],
    [['node', 'delete', 'worker-1'], "unknown command 'node delete'; did you mean `kubeadm-vagrant node remove`?"],
    [['config', 'check'], "unknown command 'config check'; did you mean `kubeadm-vagrant config validate`?"],
    [['token', 'lsit'], "unknown command 'token lsit'; did you mean `kubeadm-vagrant token list`?"],
  ];
  it.each(cases)('%j', (args, message) => {
    const dir = clusterDir();
    const r = run(args, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: ${message}\n`);
    expect(existsSync(join(dir, '.kubeadm-vagrant'))).toBe(false);
  });

  it('nothing close: the commands there are', () => {
    expect(run(['frobnicate'], clusterDir()).stderr).toMatch(/^error: unknown command 'frobnicate'; the commands are init, config validate, config print, generate, .*node remove, .*artifacts prune \(`kubeadm-vagrant --help`\)\n$/);
  });
});
