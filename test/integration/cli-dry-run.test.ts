import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram, commandPaths } from '../../src/commands/program.js';
import { CLI } from '../helpers/cli.js';
import { testCache } from '../helpers/artifacts.js';


function run(args: string[], cwd: string, env: Record<string, string> = {}) {
  // The cache holds a default cluster's artifacts (testCache) unless the test gives another.
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: cwd, KUBEADM_VAGRANT_CACHE: testCache(), ...env }, input: '' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function clusterDir(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-dry-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'cluster.yaml'), yaml);
  return dir;
}

const LIBVIRT = `apiVersion: kubeadm-vagrant/v1alpha1
kind: Cluster
name: dry
provider: libvirt
distro: debian-12
workers: {count: 2}
`;

describe('--dry-run prints every external command and runs none', () => {
  /** The machines and the check ids one `would verify` line names. */
  const verifyLines = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith('would verify over ssh: '))
      .map((l) => /\((\S+)\) with \.kubeadm-vagrant\/ssh\/id_ecdsa: (.*)$/.exec(l)!)
      .map((m) => ({ node: m[1]!, checks: m[2]!.split(', ') }));

  it('up on libvirt: parallel vagrant per phase, then SSH verification with the real check names', () => {
    const dir = clusterDir(LIBVIRT);
    const r = run(['up', '--dry-run'], dir);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const group = (phase: string, machines: string[]) => machines.map((m) => `would run: vagrant provision ${m} --provision-with=${phase}${machines.length > 1 ? ' (at the same time as the others of its group)' : ''}`);
    expect(lines.filter((l) => l.startsWith('would run: '))).toEqual([
      'would run: vagrant up --provider=libvirt --parallel --no-provision',
      ...group('ssh-key', ['master', 'worker-1', 'worker-2']),
      ...group('artifacts-files,artifacts', ['master', 'worker-1', 'worker-2']),
      ...group('prerequisites', ['master', 'worker-1', 'worker-2']),
      ...group('packages', ['master', 'worker-1', 'worker-2']),
      ...group('control-plane-files,control-plane-ca-cert,control-plane-ca-key,control-plane', ['master']),
      ...group('worker-files,worker', ['worker-1', 'worker-2']),
    ]);
    expect(lines).toContain('would check over ssh on master that the join token stays valid (kubeadm token list), and create a fresh one if not');
    expect(lines.at(-1)).toBe('would fetch the admin kubeconfig over ssh from master into .kubeadm-vagrant/kubeconfig');
    const verified = verifyLines(r.stdout);
    const all = ['master', 'worker-1', 'worker-2'];
    // machines, artifacts, prerequisites, packages on all; control-plane on the master; workers; verified on all.
    expect(verified.map((v) => v.node)).toEqual([...all, ...all, ...all, ...all, 'master', 'worker-1', 'worker-2', ...all]);
    expect(verified[0]!.checks).toEqual(['ssh', 'hostname', 'private-ip', 'insecure-key-refused']);
    expect(verified[3]!.checks).toEqual(['ssh', 'hostname', 'private-ip', 'artifacts-verified', 'insecure-key-refused']);
    const node = ['ssh', 'hostname', 'private-ip', 'artifacts-verified', 'swap-off', 'kernel-modules', 'sysctl', 'containerd-active', 'containerd-cri', 'peers-reachable'];
    expect(verified[6]!.checks).toEqual([...node, 'insecure-key-refused']);
    const tools = ['kube-tools', 'sandbox-image', 'images-imported'];
    expect(verified[9]!.checks).toEqual([...node, ...tools, 'insecure-key-refused']);
    // The cluster-level ids of the real checks (src/verify/kube.ts), never names of their own.
    const cluster = ['node-ready', 'node-internal-ip', 'pod-kube-proxy', 'pod-cni', 'kubelet-version'];
    const controlPlane = ['pod-kube-apiserver', 'pod-kube-controller-manager', 'pod-kube-scheduler', 'pod-etcd', 'pod-coredns', 'control-plane-version'];
    expect(verified[12]).toEqual({ node: 'master', checks: [...node, ...tools, ...cluster, ...controlPlane, 'insecure-key-refused'] });
    expect(verified[13]).toEqual({ node: 'worker-1', checks: [...node, ...tools, ...cluster, 'insecure-key-refused'] });
    expect(r.stdout).not.toMatch(/node-registered-ready|kube-system-pods|(?<!node-)internal-ip/);
    // nothing was written: no secrets, no Vagrantfile, no logs
    expect(readdirSync(dir)).toEqual(['cluster.yaml']);
  });

  it('up --until prerequisites stops there', () => {
    const r = run(['up', '--dry-run', '--until', 'prerequisites'], clusterDir(LIBVIRT));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('would run: ')).map((l) => l.replace(' (at the same time as the others of its group)', ''))).toEqual([
      'would run: vagrant up --provider=libvirt --parallel --no-provision',
      'would run: vagrant provision master --provision-with=ssh-key',
      'would run: vagrant provision worker-1 --provision-with=ssh-key',
      'would run: vagrant provision worker-2 --provision-with=ssh-key',
      'would run: vagrant provision master --provision-with=artifacts-files,artifacts',
      'would run: vagrant provision worker-1 --provision-with=artifacts-files,artifacts',
      'would run: vagrant provision worker-2 --provision-with=artifacts-files,artifacts',
      'would run: vagrant provision master --provision-with=prerequisites',
      'would run: vagrant provision worker-1 --provision-with=prerequisites',
      'would run: vagrant provision worker-2 --provision-with=prerequisites',
    ]);
    expect(verifyLines(r.stdout)).toHaveLength(9);
    expect(r.stdout).not.toMatch(/packages|control-plane|worker-files|kubeconfig/);
  });

  it('up on VirtualBox: no parallel machines', () => {
    const r = run(['up', '--dry-run', '--until', 'machines'], clusterDir(LIBVIRT.replace('libvirt', 'virtualbox')));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('would run: vagrant up --provider=virtualbox --no-parallel --no-provision\nwould run: vagrant provision master --provision-with=ssh-key\n');
  });

  it('destroy and status', () => {
    const dir = clusterDir(LIBVIRT);
    const d = run(['destroy', '--dry-run'], dir);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe('would run: vagrant destroy --force\n');
    writeFileSync(join(dir, 'Vagrantfile'), '# placeholder so status asks vagrant\n');
    const s = run(['status', '--dry-run'], dir);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toBe('would run: vagrant status --machine-readable\n');
  });
});

describe('SETUP_MASTER and SETUP_NODES: the two-step flow of the original project', () => {
  const runLines = (out: string) => out.split('\n').filter((l) => l.startsWith('would run: '));
  const touched = (out: string) => [...new Set(out.split('\n').flatMap((l) => [...l.matchAll(/\((master|worker-\d+)\)/g)].map((m) => m[1]!)))];

  it('control plane first, then only the workers, in dry run', () => {
    const dir = clusterDir(LIBVIRT);
    const first = run(['up', '--dry-run'], dir, { SETUP_MASTER: 'true', SETUP_NODES: 'false' });
    expect(first.code, first.stderr).toBe(0);
    expect(runLines(first.stdout)).toEqual([
      'would run: vagrant up --provider=libvirt --parallel --no-provision master',
      'would run: vagrant provision master --provision-with=ssh-key',
      'would run: vagrant provision master --provision-with=artifacts-files,artifacts',
      'would run: vagrant provision master --provision-with=prerequisites',
      'would run: vagrant provision master --provision-with=packages',
      'would run: vagrant provision master --provision-with=control-plane-files,control-plane-ca-cert,control-plane-ca-key,control-plane',
    ]);
    expect(touched(first.stdout)).toEqual(['master']);
    expect(first.stdout).not.toMatch(/worker|join token/);

    // What the first step records once it passed (up writes it after each verified phase).
    mkdirSync(join(dir, '.kubeadm-vagrant'), { recursive: true });
    writeFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), JSON.stringify({ phase: 'verified', nodePhases: { master: 'verified' } }));
    const second = run(['up', '--dry-run', '--setup-master', 'false'], dir, { SETUP_NODES: 'yes' });
    expect(second.code, second.stderr).toBe(0);
    const lines = second.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^would check the host first, as `kubeadm-vagrant doctor` does: /);
    expect(lines[1]).toMatch(/^would check over ssh that the control plane is up: vagrant@192\.168\.56\.10:22 \(master\)/);
    expect(lines[2]).toBe('would check over ssh on master that the join token stays valid (kubeadm token list), and create a fresh one if not');
    const together = ' (at the same time as the others of its group)';
    expect(runLines(second.stdout)).toEqual([
      'would run: vagrant up --provider=libvirt --parallel --no-provision worker-1 worker-2',
      ...['ssh-key', 'artifacts-files,artifacts', 'prerequisites', 'packages', 'worker-files,worker'].flatMap((p) => [
        `would run: vagrant provision worker-1 --provision-with=${p}${together}`,
        `would run: vagrant provision worker-2 --provision-with=${p}${together}`,
      ]),
    ]);
    // Only the control plane's check touches the master; every vagrant and verify step is a worker's.
    expect(touched(lines.slice(2).join('\n'))).toEqual(['worker-1', 'worker-2']);
  });

  it('config print shows them; a bad boolean and both false are config errors', () => {
    const dir = clusterDir(LIBVIRT);
    expect(run(['config', 'print', '--setup-nodes', 'No'], dir).stdout).toMatch(/^setup:\n {2}controlPlane: true\n {2}workers: false # from --setup-nodes$/m);
    const bad = run(['up', '--dry-run'], dir, { SETUP_NODES: 'off' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('setup.workers (from SETUP_NODES): "off" is not a boolean');
    const both = run(['up', '--dry-run', '--setup-master', 'false', '--setup-nodes', '0'], dir);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('nothing to set up');
    expect(run(['generate', '--setup-nodes', 'false'], dir).stderr).toMatch(/unknown option '--setup-nodes'/);
  });

  it('workers only on a cluster with no control plane is refused before anything is touched', () => {
    const dir = clusterDir(LIBVIRT);
    const r = run(['up'], dir, { SETUP_MASTER: 'false' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: setup\.controlPlane is false .* cluster dry has none: its control plane master has not been set up\. Set it up first with `SETUP_MASTER=true SETUP_NODES=false kubeadm-vagrant up`; nothing was changed\n$/);
    expect(readdirSync(dir)).toEqual(['cluster.yaml']);
  });
});

describe('CLI contract', () => {
  it('an invalid config exits 2 and writes nothing', () => {
    const dir = clusterDir(LIBVIRT.replace('count: 2', 'count: -1'));
    for (const cmd of [['generate'], ['up', '--dry-run'], ['config', 'validate']]) {
      const r = run(cmd, dir);
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/workers\.count: must be at least 0/);
    }
    expect(readdirSync(dir)).toEqual(['cluster.yaml']);
  });

  it('destroy without a terminal and without -f refuses instead of waiting', () => {
    const r = run(['destroy'], clusterDir(LIBVIRT));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no terminal to ask on; pass -f/);
  });

  it('an unknown --until phase is refused', () => {
    const r = run(['up', '--until', 'kubelet', '--dry-run'], clusterDir(LIBVIRT));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--until/);
  });

  it('a bad number for a verify bound is a usage error that names the option', () => {
    for (const [flag, value] of [['--retries', 'x'], ['--connect-timeout', '-1'], ['--backoff', '3600001']]) {
      const r = run(['verify', flag!, value!], clusterDir(LIBVIRT));
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toContain(`${flag} takes a whole number from 0 to 3600000 (got "${value}")`);
    }
  });

  it('commands that need a generated cluster say so', () => {
    for (const cmd of [['verify'], ['kubeconfig'], ['ssh', 'master'], ['token', 'list'], ['node', 'add']]) {
      const r = run(cmd, clusterDir(LIBVIRT));
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr, cmd.join(' ')).toMatch(/no generated cluster.*run `kubeadm-vagrant up`/);
    }
  });

  it('--help on every command the program has (built from its commands, groups included), and --version', () => {
    const dir = clusterDir(LIBVIRT);
    expect(run(['--version'], dir).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const leaves = commandPaths(buildProgram());
    const groups = [...new Set(leaves.filter((p) => p.length > 1).map((p) => p[0]!))].map((g) => [g]);
    // The list is the program's own: a command added later is in it (doctor was missing from a hand-written one).
    expect(leaves.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['doctor', 'up', 'config validate', 'token generate', 'node remove']));
    expect(leaves.length).toBeGreaterThanOrEqual(17);
    for (const c of [[], ...groups, ...leaves]) {
      const r = run([...c, '--help'], dir);
      expect(r.code, c.join(' ')).toBe(0);
      expect(r.stdout, c.join(' ')).toMatch(new RegExp(`^Usage: kubeadm-vagrant${c.length > 0 ? ` ${c.join(' ')}` : ''} `));
      // Every command takes -c; the groups (config, token, node) only hold commands.
      if (leaves.includes(c)) expect(r.stdout, c.join(' ')).toMatch(/-c, --config <file>/);
    }
  });

  it('a VirtualBox address outside 192.168.56.0/21 is valid, with a warning about networks.conf', () => {
    const r = run(['config', 'validate', '--provider', 'virtualbox', '--master-ip', '172.20.0.10'], clusterDir(LIBVIRT));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ok\n');
    expect(r.stderr).toMatch(/^config: 1 warning\n {2}network\.masterIP \(from --master-ip\): 172\.20\.0\.10 is outside 192\.168\.56\.0\/21/);
    expect(r.stderr).toMatch(/\/etc\/vbox\/networks\.conf/);
  });

  it('config print redacts the token unless asked', () => {
    const dir = clusterDir(LIBVIRT);
    const token = 'abcdef.0123456789abcdef';
    expect(run(['config', 'print', '--token', token], dir).stdout).toMatch(/token: abcdef\.<redacted>/);
    expect(run(['config', 'print', '--token', token, '--show-secrets'], dir).stdout).toContain(`token: ${token}`);
  });

  it('init writes the commented defaults and never overwrites without --force', () => {
    const dir = clusterDir(LIBVIRT);
    const refused = run(['init'], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already exists; use --force/);
    expect(run(['init', '--force'], dir).code).toBe(0);
    expect(run(['config', 'validate'], dir).stdout).toBe('ok\n');
    expect(run(['init', '--dir', join(dir, 'sub')], dir).code).toBe(0);
    expect(existsSync(join(dir, 'sub', 'cluster.yaml'))).toBe(true);
  });

  it('token generate prints one valid token', () => {
    const r = run(['token', 'generate'], clusterDir(LIBVIRT));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}\n$/);
  });
});
