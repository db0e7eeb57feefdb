/**
 * The end-to-end test on real VMs: vagrant-libvirt with qemu software emulation, inside a network
 * namespace with its own libvirtd (test/e2e/harness.ts). It runs the product through every phase
 * that can run here (machines, prerequisites) and `node add`, checks the result independently
 * over OpenSSH, and destroys everything. kubeadm, kubelet and Kubernetes images cannot be had on
 * these machines, so the packages, control-plane and worker phases are not run (see README).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eEnvironment, type ExecResult } from './harness.js';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const BOX_NAME = 'kubeadm-vagrant/debian12';
const BOX_CACHE = process.env.KUBEADM_VAGRANT_BOX_CACHE ?? '/var/cache/kubeadm-vagrant/boxes';
const BOX_FILE = join(BOX_CACHE, 'kubeadm-vagrant-debian12.box');
const MINUTE = 60_000;

const REQUIRED_TOOLS = ['vagrant', 'virsh', 'libvirtd', 'qemu-system-x86_64', 'debootstrap', 'ssh', 'nsenter', 'ip'];

const started = Date.now();
const stamp = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s`;
const log = (line: string) => process.stdout.write(`[e2e ${stamp()}] ${line}\n`);

const missingTools = REQUIRED_TOOLS.filter((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const canRun = missingTools.length === 0 && process.getuid?.() === 0;
if (!canRun && process.env.CI === 'true') {
  throw new Error(`the end-to-end test needs root and ${REQUIRED_TOOLS.join(', ')}; missing: ${missingTools.join(', ') || '(root)'} — .ci/run installs them`);
}

const steps: { name: string; ms: number }[] = [];
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  log(`${name} ...`);
  try {
    return await fn();
  } finally {
    steps.push({ name, ms: Date.now() - t0 });
    log(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

describe.skipIf(!canRun)('a cluster on real VMs (libvirt, qemu), up to prerequisites, then node add and destroy', () => {
  const env = new E2eEnvironment({ log });
  let dir = '';
  let insecureKey = '';

  /** The CLI, run inside the test's namespaces. */
  const cli = (args: string[], timeoutMs = 40 * MINUTE): Promise<ExecResult> =>
    env.exec(process.execPath, [CLI, ...args], { cwd: dir, timeoutMs, reject: false, env: { CI: 'true' } });

  /** OpenSSH, not the product's client: the independent check. */
  const ssh = (ip: string, key: string, command: string): Promise<ExecResult> =>
    env.exec(
      'ssh',
      ['-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=15', '-o', 'LogLevel=ERROR', `vagrant@${ip}`, command],
      { reject: false, timeoutMs: 2 * MINUTE },
    );

  /** What a user would have seen: the CLI's progress and result lines. */
  const show = (r: ExecResult) => {
    for (const line of r.all.trimEnd().split('\n')) log(`  | ${line}`);
  };

  const expectOk = (r: ExecResult, what: string) => {
    if (r.exitCode !== 0) log(`${what} failed (exit ${r.exitCode}):\n${r.all.slice(-4000)}`);
    expect(r.exitCode, `${what}\n${r.all.slice(-4000)}`).toBe(0);
  };

  beforeAll(async () => {
    await step('build or reuse the offline box', async () => {
      execFileSync('bash', [join(ROOT, 'boxes', 'build-libvirt-box.sh'), BOX_CACHE], { stdio: 'inherit', timeout: 30 * MINUTE });
      expect(existsSync(BOX_FILE)).toBe(true);
    });
    await step('start the namespace and its libvirtd', () => env.start());
    await step('add the box', () => env.addBox(BOX_FILE, BOX_NAME));
    dir = await env.projectDir('cluster');
    insecureKey = execFileSync('sh', ['-c', 'ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant | head -n1'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(dir, 'cluster.yaml'),
      `# e2e: one control plane and one worker from the offline box
apiVersion: kubeadm-vagrant/v1alpha1
kind: Cluster
name: e2e
provider: libvirt
distro: debian-12
box: ${BOX_NAME}
network:
  masterIP: 192.168.56.10
controlPlane: {cpus: 2, memory: 1792}
workers: {count: 1, cpus: 1, memory: 768}
libvirt:
  driver: qemu              # software emulation: hardware acceleration does not work here
`,
    );
  }, 45 * MINUTE);

  afterAll(async () => {
    const report = await env.stop();
    const total = (Date.now() - started) / 1000;
    log(`stopped the environment: ${JSON.stringify({ killed: report.killedPids.length, errors: report.errors })}`);
    for (const s of steps) log(`  ${s.name.padEnd(48)} ${(s.ms / 1000).toFixed(1).padStart(7)} s`);
    log(`  total ${total.toFixed(0)} s`);
    expect(report.errors).toEqual([]);
  }, 10 * MINUTE);

  it('up --until prerequisites brings both machines up and prepares them', async () => {
    const r = await step('kubeadm-vagrant up --until prerequisites', () => cli(['up', '--until', 'prerequisites']));
    show(r);
    expectOk(r, 'up --until prerequisites');
    expect(r.all).toMatch(/reached phase prerequisites/);
    // No secret in the log or the progress output.
    const token = readFileSync(join(dir, '.kubeadm-vagrant', 'token'), 'utf8').trim();
    expect(r.all).not.toContain(token.split('.')[1]);
    const logs = execFileSync('sh', ['-c', `cat ${join(dir, '.kubeadm-vagrant', 'logs')}/*.log`], { encoding: 'utf8' });
    expect(logs).not.toContain(token.split('.')[1]);
    expect(logs).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
  });

  it('verify passes every node-level check', async () => {
    const r = await step('kubeadm-vagrant verify --json', () => cli(['verify', '--json'], 10 * MINUTE));
    expectOk(r, 'verify');
    const report = JSON.parse(r.stdout) as { ok: boolean; nodes: { name: string; checks: { check: string; ok: boolean }[] }[] };
    expect(report.ok).toBe(true);
    expect(report.nodes.map((n) => n.name)).toEqual(['master', 'worker-1']);
    for (const n of report.nodes) {
      expect(n.checks.map((c) => c.check)).toEqual(expect.arrayContaining(['ssh', 'hostname', 'private-ip', 'swap-off', 'kernel-modules', 'sysctl', 'containerd-active', 'containerd-systemd-cgroup', 'peers-reachable', 'insecure-key-refused']));
    }
  });

  it('ssh runs a command on a node with the cluster key and the pinned host key', async () => {
    const r = await step('kubeadm-vagrant ssh worker-1 -- hostname', () => cli(['ssh', 'worker-1', '--', 'hostname'], 2 * MINUTE));
    expectOk(r, 'ssh worker-1 -- hostname');
    expect(r.stdout.trim()).toBe('e2e-worker-1');
    const k = await cli(['kubeconfig'], 2 * MINUTE);
    expect(k.exitCode).toBe(2);
    expect(k.stderr).toMatch(/kubeconfig needs a running control plane/);
  });

  it('independently over OpenSSH: the nodes really are prepared, only the cluster key opens them', async () => {
    const key = join(dir, '.kubeadm-vagrant', 'ssh', 'id_rsa');
    await step('independent checks over OpenSSH', async () => {
      for (const [name, ip] of [['e2e-master', '192.168.56.10'], ['e2e-worker-1', '192.168.56.11']] as const) {
        const r = await ssh(ip, key, [
          'hostname',
          'cat /proc/swaps | tail -n +2 | wc -l',
          'grep -c "^[^#].*swap" /etc/fstab || true',
          '/usr/sbin/sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables',
          'grep -wc -e ^overlay -e ^br_netfilter /proc/modules',
          'systemctl is-active containerd',
          'sudo containerd config dump | grep -c "SystemdCgroup = true"',
          '/usr/sbin/ip -o -4 addr show',
        ].join('; echo "--"; '));
        expectOk(r, `ssh ${name}`);
        const [host, swaps, fstabSwap, sysctls, modules, containerd, cgroup, addrs] = r.stdout.split('--\n').map((s) => s.trim());
        expect(host).toBe(name);
        expect(swaps).toBe('0');
        expect(fstabSwap).toBe('0');
        expect(sysctls!.split('\n')).toEqual(['1', '1']);
        expect(modules).toBe('2');
        expect(containerd).toBe('active');
        expect(Number(cgroup)).toBeGreaterThanOrEqual(1);
        expect(addrs).toContain(`inet ${ip}/24`);
        const insecure = await ssh(ip, insecureKey, 'true');
        expect(insecure.exitCode, `Vagrant's insecure key must not open ${name}`).toBe(255);
        expect(insecure.all).toMatch(/Permission denied/);
      }
    });
  });

  it('node add brings a third machine to the same phase, and verify passes again', async () => {
    const r = await step('kubeadm-vagrant node add', () => cli(['node', 'add']));
    show(r);
    expectOk(r, 'node add');
    expect(r.all).toMatch(/added worker-2; it reached phase prerequisites/);
    expect(readFileSync(join(dir, 'cluster.yaml'), 'utf8')).toMatch(/workers: \{count: 2, cpus: 1, memory: 768\}/);
    expect(readFileSync(join(dir, 'cluster.yaml'), 'utf8')).toMatch(/^# e2e: one control plane and one worker/);
    const v = await step('kubeadm-vagrant verify (3 nodes)', () => cli(['verify', '--json'], 10 * MINUTE));
    expectOk(v, 'verify after node add');
    const report = JSON.parse(v.stdout) as { ok: boolean; nodes: { name: string; ip: string }[] };
    expect(report.nodes.map((n) => `${n.name}=${n.ip}`)).toEqual(['master=192.168.56.10', 'worker-1=192.168.56.11', 'worker-2=192.168.56.12']);
  });

  it('node remove destroys one worker; the others keep their names and addresses', async () => {
    // No control plane here (up stopped at prerequisites), so there is nothing to drain.
    const r = await step('kubeadm-vagrant node remove worker-1', () => cli(['node', 'remove', 'worker-1'], 10 * MINUTE));
    show(r);
    expectOk(r, 'node remove');
    expect(r.stdout).toMatch(/removed worker-1: the cluster has no control plane yet, so there was nothing to drain; its machine is destroyed/);
    expect((await env.inventory()).domains).toEqual(['e2e-master', 'e2e-worker-2']);
    expect(readFileSync(join(dir, 'cluster.yaml'), 'utf8')).toMatch(/workers: \{count: 1, cpus: 1, memory: 768\}/);
    expect(readFileSync(join(dir, 'Vagrantfile'), 'utf8')).not.toContain('"worker-1"');
    const v = await step('kubeadm-vagrant verify (after remove)', () => cli(['verify', '--json'], 10 * MINUTE));
    expectOk(v, 'verify after node remove');
    const report = JSON.parse(v.stdout) as { nodes: { name: string; ip: string }[] };
    expect(report.nodes.map((n) => `${n.name}=${n.ip}`)).toEqual(['master=192.168.56.10', 'worker-2=192.168.56.12']);
    const s = await step('kubeadm-vagrant status', () => cli(['status'], 5 * MINUTE));
    show(s);
    expectOk(s, 'status');
    expect(s.stdout).toMatch(/^master\s+e2e-master\s+192\.168\.56\.10\s+running\s+pass$/m);
    expect(s.stdout).toMatch(/^worker-2\s+e2e-worker-2\s+192\.168\.56\.12\s+running\s+pass$/m);
    expect(s.stdout).toMatch(/phase reached: prerequisites/);
  });

  it('destroy -f leaves no machine, volume or network behind', async () => {
    const before = await env.inventory();
    expect(before.domains).toEqual(['e2e-master', 'e2e-worker-2']);
    const r = await step('kubeadm-vagrant destroy -f', () => cli(['destroy', '-f'], 10 * MINUTE));
    show(r);
    expectOk(r, 'destroy');
    const after = await env.inventory();
    expect(after.domains).toEqual([]);
    expect(after.networks).toEqual([]);
    // vagrant-libvirt keeps the box's base image as a cache; nothing of the machines may stay.
    expect(after.volumes.filter((v) => !v.name.includes('_vagrant_box_image_'))).toEqual([]);
    expect(existsSync(join(dir, 'cluster.yaml'))).toBe(true);
    expect(existsSync(join(dir, '.kubeadm-vagrant', 'known_hosts'))).toBe(false);
  });
});
