import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { testCache } from '../helpers/artifacts.js';

const dirs: string[] = [];

function run(args: string[], cwd: string, env: Record<string, string> = {}) {
  // The cache holds a default cluster's artifacts (testCache) unless the test gives another.
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: cwd, KUBEADM_VAGRANT_CACHE: testCache(), ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CONFIG = `# my lab — comments must survive
apiVersion: kubeadm-vagrant/v1alpha1
kind: Cluster
name: lab
provider: libvirt
network:
  masterIP: 192.168.56.250   # near the top of the /24 on purpose
workers:
  count: 2   # two for now
`;

/** A generated cluster whose machines got to a phase (as `up` records it), without VMs. */
function generated(phase?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-nodes-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'cluster.yaml'), CONFIG);
  expect(run(['generate'], dir).code).toBe(0);
  if (phase) {
    const nodePhases = { master: phase, 'worker-1': phase, 'worker-2': phase };
    writeFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), JSON.stringify({ phase, nodePhases }));
  }
  return dir;
}

function snapshot(dir: string) {
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined);
  return { config: read('cluster.yaml'), vagrantfile: read('Vagrantfile'), state: read('.kubeadm-vagrant/state.json'), token: read('.kubeadm-vagrant/token') };
}

afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('node and token commands: bad input gets a clear error and changes nothing', () => {
  it('node add --count 0', () => {
    const dir = generated('prerequisites');
    const before = snapshot(dir);
    const r = run(['node', 'add', '--count', '0'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--count must be a whole number, at least 1/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('node add past the /24', () => {
    const dir = generated('prerequisites');
    const before = snapshot(dir);
    const r = run(['node', 'add', '--count', '3'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/workers\.count \(with --count 3\): workers 192\.168\.56\.251\.\.192\.168\.56\.255 do not all fit in 192\.168\.56\.0\/24/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('node add while NODE_COUNT overrides the file', () => {
    const dir = generated('prerequisites');
    const before = snapshot(dir);
    const r = run(['node', 'add'], dir, { NODE_COUNT: '2' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NODE_COUNT or --workers overrides it/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('node add on a cluster that was never brought up', () => {
    const dir = generated();
    const before = snapshot(dir);
    const r = run(['node', 'add'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not up; run `kubeadm-vagrant up` first/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('node remove on a cluster that was never brought up is refused, like ssh and verify, unless forced', () => {
    const dir = generated();
    const before = snapshot(dir);
    // No vagrant at all on PATH: had it been run, the error would be another one.
    const r = run(['node', 'remove', 'worker-1'], dir, { PATH: process.env.PATH!.split(':').filter((d) => !existsSync(join(d, 'vagrant'))).join(':') });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: node remove: cluster lab was never brought up, .*run `kubeadm-vagrant up` first; nothing was changed \(--force destroys worker-1's machine anyway, if Vagrant made one\)\n$/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('node remove of a node that does not exist, and of the control plane', () => {
    const dir = generated('prerequisites');
    const before = snapshot(dir);
    const missing = run(['node', 'remove', 'worker-7'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no node named worker-7; the nodes are master, worker-1, worker-2/);
    const cp = run(['node', 'remove', 'master'], dir);
    expect(cp.code).toBe(2);
    expect(cp.stderr).toMatch(/master is the control plane; it cannot be removed/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('token commands on a cluster whose control plane is not up', () => {
    const dir = generated('prerequisites');
    const before = snapshot(dir);
    for (const cmd of [['token', 'create'], ['token', 'list'], ['token', 'delete', 'abcdef'], ['kubeconfig']]) {
      const r = run(cmd, dir);
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr, cmd.join(' ')).toMatch(/needs a running control plane.*run `kubeadm-vagrant up` first/);
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it('token create --ttl 0 is refused', () => {
    const dir = generated('verified');
    const r = run(['token', 'create', '--ttl', '0'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/never expires/);
  });

  it('token commands against an unreachable control plane say so', () => {
    const dir = generated('verified');
    // In a network namespace of its own with no interface up: the connection fails at once, and
    // no packet leaves this machine.
    const r = runCli(['token', 'list'], { cwd: dir, isolatedNetwork: true });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/control plane master \(192\.168\.56\.250\) is not reachable/);
  });
});
