/**
 * `kubeadm-vagrant doctor` and the checks `up` runs first, against the real Vagrant 2.3.4 and
 * vagrant-libvirt of this machine, and a real libvirtd started in a network namespace of the
 * test's own (test/e2e/harness.ts): the host's own libvirt and networking are never touched.
 * VirtualBox cannot be installed here: its VBoxManage is a stand-in script, named as such, that
 * answers the questions Vagrant and doctor ask with the version a test gives it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedVirtualBox } from '../../src/providers/virtualbox-host.js';
import { E2eEnvironment } from '../e2e/harness.js';
import { CLI } from '../helpers/cli.js';
import { testCache } from '../helpers/artifacts.js';
import { needTool, toolPath } from '../helpers/tools.js';

const MINUTE = 60_000;

interface Check {
  id: string;
  verdict: 'ok' | 'warn' | 'fail';
  seen: string;
  fix?: string;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kv-doctor-${label}-`));
  dirs.push(dir);
  return dir;
}

function clusterDir(yaml: string): string {
  const dir = tempDir('cluster');
  writeFileSync(join(dir, 'cluster.yaml'), `apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: kvdoc\n${yaml}`);
  return dir;
}

function run(args: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: cwd, VAGRANT_CHECKPOINT_DISABLE: '1', CI: 'true', KUBEADM_VAGRANT_CACHE: testCache(), ...env } as NodeJS.ProcessEnv, input: '', timeout: 5 * MINUTE });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function checksOf(stdout: string): Record<string, Check> {
  const report = JSON.parse(stdout) as { checks: Check[] };
  return Object.fromEntries(report.checks.map((c) => [c.id, c]));
}

/**
 * A stand-in for VirtualBox's VBoxManage, which cannot be installed here: `--version` prints
 * $STANDIN_VBOX_VERSION (several lines allowed), `list vms` prints $STANDIN_VBOX_VMS.
 */
function virtualBoxStandIn(): string {
  const dir = tempDir('virtualbox-stand-in');
  writeFileSync(
    join(dir, 'VBoxManage'),
    '#!/bin/sh\n# STAND-IN for VirtualBox\'s VBoxManage (VirtualBox is not installable on this machine).\ncase "$1" in\n  --version) printf \'%s\\n\' "$STANDIN_VBOX_VERSION" ;;\n  list) [ "$2" = vms ] && printf \'%s\' "${STANDIN_VBOX_VMS:-}" ;;\nesac\nexit 0\n',
    { mode: 0o755 },
  );
  return dir;
}

/** A PATH holding node and the given tools only (no vagrant). */
function pathWithout(tools: string[]): string {
  const dir = tempDir('path');
  for (const t of tools) {
    const found = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(found, join(dir, t));
  }
  return dir;
}

describe('doctor on VirtualBox: real Vagrant 2.3.4, a stand-in VBoxManage', () => {
  let standIn: string;
  beforeAll(() => {
    standIn = virtualBoxStandIn();
  });
  const withVBox = (version: string, extra: Record<string, string> = {}) => ({ PATH: `${standIn}:${process.env.PATH}`, STANDIN_VBOX_VERSION: version, ...extra });

  it('Vagrant 2.3.4 refuses VirtualBox 7.1 (7.1.4r165100): doctor says so, with the fix, and Vagrant itself agrees', (ctx) => {
    needTool(ctx, 'vagrant');
    const dir = clusterDir('provider: virtualbox\n');
    const r = run(['doctor', '--json'], dir, withVBox('7.1.4r165100'));
    expect(r.code, r.stderr).toBe(1);
    const checks = checksOf(r.stdout);
    expect(checks.vagrant).toMatchObject({ verdict: 'ok', seen: 'Vagrant 2.3.4' });
    expect(checks.virtualbox).toMatchObject({ verdict: 'ok', seen: 'VirtualBox 7.1.4' });
    expect(checks['virtualbox-vagrant']).toEqual({
      id: 'virtualbox-vagrant',
      title: 'this Vagrant supports this VirtualBox',
      fatal: true,
      verdict: 'fail',
      seen: 'Vagrant 2.3.4 accepts VirtualBox 4.0 to 7.0, not 7.1.4: `vagrant up` would stop with "not supported by this version of Vagrant"',
      fix: 'install Vagrant 2.4.2 or newer, or VirtualBox 7.0',
    });

    // The real Vagrant with the same VBoxManage: refused, and the list it prints is the table's.
    expect(run(['generate'], dir).code).toBe(0);
    const refused = spawnSync('vagrant', ['validate'], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...withVBox('7.1.4r165100'), VAGRANT_DEFAULT_PROVIDER: 'virtualbox', VAGRANT_CHECKPOINT_DISABLE: '1' } });
    expect(refused.status).not.toBe(0);
    const said = `${refused.stdout}${refused.stderr}`;
    expect(said).toContain('not supported by this version of Vagrant');
    const list = /Vagrant:\s*\n\s*\n(.+)\n/.exec(said)?.[1]?.trim().split(', ');
    expect(list).toEqual(acceptedVirtualBox('2.3.4'));
  });

  it('VirtualBox 7.0 passes doctor and Vagrant alike', (ctx) => {
    needTool(ctx, 'vagrant');
    const dir = clusterDir('provider: virtualbox\n');
    const checks = checksOf(run(['doctor', '--json'], dir, withVBox('7.0.20r163906')).stdout);
    expect(checks['virtualbox-vagrant']).toMatchObject({ verdict: 'ok', seen: 'Vagrant 2.3.4 accepts VirtualBox 7.0 (it accepts 4.0 to 7.0)' });
    expect(run(['generate'], dir).code).toBe(0);
    const accepted = spawnSync('vagrant', ['validate'], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...withVBox('7.0.20r163906'), VAGRANT_DEFAULT_PROVIDER: 'virtualbox', VAGRANT_CHECKPOINT_DISABLE: '1' } });
    expect(`${accepted.stdout}${accepted.stderr}`).toContain('Vagrantfile validated successfully');
  });

  it('the kernel module not loaded, a machine of the same name elsewhere, an address outside the host-only range', (ctx) => {
    needTool(ctx, 'vagrant');
    const dir = clusterDir('provider: virtualbox\n');
    const noModule = checksOf(run(['doctor', '--json'], dir, withVBox('WARNING: The vboxdrv kernel module is not loaded. Either there is no module\n         available for the current kernel (6.1.0-57-amd64) or it failed to\n         load. Please recompile the kernel module and install it by\n\n           sudo /sbin/vboxconfig\n\n         You will not be able to start VMs until this problem is fixed.\n7.0.20r163906')).stdout);
    expect(noModule.virtualbox).toMatchObject({ verdict: 'fail', fix: expect.stringContaining('sudo /sbin/vboxconfig') });

    const uuid = '0b6c7a2e-5f0e-4c2b-9d7c-1a2b3c4d5e6f';
    const vms = { STANDIN_VBOX_VMS: `"kvdoc-master" {${uuid}}\n` };
    const clash = run(['doctor', '--json'], dir, withVBox('7.0.20r163906', vms));
    expect(clash.code).toBe(1);
    expect(checksOf(clash.stdout)['virtualbox-machines']).toMatchObject({ verdict: 'fail', seen: expect.stringContaining(`kvdoc-master {${uuid}}`) });
    // The same machine, once it is this directory's own (Vagrant's id file), is no clash.
    mkdirSync(join(dir, '.vagrant', 'machines', 'master', 'virtualbox'), { recursive: true });
    writeFileSync(join(dir, '.vagrant', 'machines', 'master', 'virtualbox', 'id'), uuid);
    const own = run(['doctor', '--json'], dir, withVBox('7.0.20r163906', vms));
    expect(checksOf(own.stdout)['virtualbox-machines']?.verdict).toBe('ok');

    const far = checksOf(run(['doctor', '--json', '--master-ip', '10.10.0.10'], dir, withVBox('7.0.20r163906')).stdout)['virtualbox-hostonly-range']!;
    if (existsSync('/etc/vbox/networks.conf')) expect(far.seen).toContain('/etc/vbox/networks.conf allows');
    else expect(far).toMatchObject({ verdict: 'fail', fix: 'add the line "* 10.10.0.0/24" to /etc/vbox/networks.conf (as root), or use a masterIP in 192.168.56.0/21 (e.g. 192.168.56.10)' });
  });
});

describe('Vagrant missing, VirtualBox missing: said clearly', () => {
  it('doctor and up say Vagrant is not installed; up stops before anything is generated', () => {
    const dir = clusterDir('provider: libvirt\nlibvirt: {driver: qemu}\n');
    const PATH = pathWithout(['sh']);
    const doctor = run(['doctor'], dir, { PATH });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/^FAIL vagrant: vagrant is not installed \(not found on PATH\)\n {7}fix: install Vagrant: `sudo apt-get install vagrant`/m);
    const up = run(['up'], dir, { PATH });
    expect(up.code).toBe(1);
    expect(up.stderr).toContain('error: this host cannot run the cluster yet; nothing was generated or started:\n  FAIL vagrant: vagrant is not installed (not found on PATH)');
    expect(up.stderr).not.toMatch(/exit code|# exit/);
    expect(readdirSync(dir)).toEqual(['cluster.yaml']);
  });

  it('status without vagrant, and without VirtualBox: Vagrant\'s own error, readable', (ctx) => {
    needTool(ctx, 'vagrant');
    const dir = clusterDir('provider: virtualbox\n');
    expect(run(['generate'], dir).code).toBe(0);
    const noVagrant = run(['status'], dir, { PATH: pathWithout(['sh']) });
    expect(noVagrant.code).toBe(1);
    expect(noVagrant.stderr).toMatch(/^error: vagrant is not installed \(not found on PATH\), so `vagrant status --machine-readable` cannot run/);
    const noVBox = run(['status'], dir);
    expect(noVBox.code).toBe(1);
    expect(noVBox.stderr).toMatch(/^error: vagrant status --machine-readable failed with exit code 1: Vagrant could not detect VirtualBox! Make sure VirtualBox is properly installed\./);
    expect(noVBox.stderr).toContain("    'master' is reporting that it isn't usable on this system. The\n");
    expect(noVBox.stderr).not.toMatch(/VAGRANT_COMMA|,error-exit,|\d{10},/);
  });

  it('a config error is exit 2; up --dry-run names the checks it would run first', () => {
    const dir = clusterDir('provider: libvirt\n');
    const bad = run(['doctor', '--workers', 'many'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('workers.count (from --workers): "many" is not a whole number');
    const dry = run(['up', '--dry-run', '--until', 'machines'], dir);
    expect(dry.stdout.split('\n')[0]).toBe(
      'would check the host first, as `kubeadm-vagrant doctor` does: vagrant, vagrant-libvirt, libvirtd, kvm, libvirt-management-network, libvirt-storage-pool, libvirt-machines, box-arch, memory, node-network',
    );
  });
});

describe('doctor on libvirt, with a real libvirtd in a network namespace of its own', () => {
  const env = new E2eEnvironment();
  let dir: string;
  const doctor = async (args: string[] = [], extraEnv: Record<string, string> = {}) => {
    const r = await env.exec(process.execPath, [CLI, 'doctor', '--json', ...args], { cwd: dir, reject: false, timeoutMs: 5 * MINUTE, env: extraEnv });
    return { code: r.exitCode, checks: checksOf(r.stdout), stderr: r.stderr };
  };
  /** Whether this machine's /dev/kvm opens read-write: what the kvm check must find. */
  const kvmUsable = (() => {
    try {
      closeSync(openSync('/dev/kvm', 'r+'));
      return true;
    } catch {
      return false;
    }
  })();

  const TOOLS = ['vagrant', 'virsh', 'libvirtd', 'virtlogd', 'ip', 'nsenter'];
  const absent = TOOLS.filter((t) => !toolPath(t));
  /** With CI=true a missing tool fails the test (.ci/run installs them all); elsewhere it is skipped. */
  const needAll = (ctx: { skip: (note: string) => void }) => {
    if (absent.length === 0) return;
    if (process.env.CI === 'true') throw new Error(`these tests need ${absent.join(', ')}, which is not installed; .ci/run installs it`);
    ctx.skip(`${absent.join(', ')} not installed`);
  };

  beforeAll(async () => {
    if (absent.length > 0) return;
    await env.start();
    dir = await env.projectDir('doctor');
    writeFileSync(join(dir, 'cluster.yaml'), 'apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: kvdoc\nprovider: libvirt\ndistro: debian-12\nworkers: {count: 1}\n');
  }, 5 * MINUTE);
  afterAll(async () => {
    const report = await env.stop();
    expect(report.errors).toEqual([]);
  }, 5 * MINUTE);

  it('a fresh host: Vagrant, the plugin and libvirtd answer; the management network and pool come at the first up', async (ctx) => {
    needAll(ctx);
    const r = await doctor();
    expect(r.checks.vagrant).toMatchObject({ verdict: 'ok', seen: 'Vagrant 2.3.4' });
    expect(r.checks['vagrant-libvirt']).toMatchObject({ verdict: 'ok', seen: expect.stringMatching(/^vagrant-libvirt 0\.\d+\.\d+/) });
    expect(r.checks.libvirtd).toMatchObject({ verdict: 'ok', seen: expect.stringMatching(/^libvirt \d+\.\d+\.\d+ at qemu:\/\/\/system, hypervisor QEMU /) });
    expect(r.checks['libvirt-management-network']).toMatchObject({ verdict: 'ok', seen: expect.stringMatching(/^no libvirt network vagrant-libvirt yet/) });
    expect(r.checks['libvirt-storage-pool']).toMatchObject({ verdict: 'ok', seen: expect.stringMatching(/^no pool default yet/) });
    expect(r.checks['libvirt-machines']?.verdict).toBe('ok');
    expect(r.checks['node-network']).toMatchObject({ verdict: 'ok', seen: 'no route or address of this host is in 192.168.56.0/24' });
    // driver kvm (the default): usable only where /dev/kvm opens.
    expect(r.checks.kvm?.verdict).toBe(kvmUsable ? 'ok' : 'fail');
    if (!kvmUsable) expect(r.checks.kvm?.fix).toMatch(/^set `libvirt: \{driver: qemu\}` in cluster\.yaml/);
    expect(r.code).toBe(kvmUsable ? 0 : 1);
  });

  it('driver qemu needs no KVM', async (ctx) => {
    needAll(ctx);
    writeFileSync(join(dir, 'cluster.yaml'), 'apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: kvdoc\nprovider: libvirt\ndistro: debian-12\nworkers: {count: 1}\nlibvirt: {driver: qemu}\n');
    const r = await doctor();
    expect(r.checks.kvm?.verdict).toBe('ok');
    expect(r.code, JSON.stringify(r.checks)).toBe(0);
  });

  it('clashes: a management network elsewhere, a stopped pool, a domain of the same name, the node network on another interface; up stops before anything', async (ctx) => {
    needAll(ctx);
    const w = env.workDir;
    writeFileSync(join(w, 'mgmt.xml'), "<network><name>vagrant-libvirt</name><forward mode='nat'/><bridge name='virbr7'/><ip address='192.168.122.1' netmask='255.255.255.0'/></network>");
    writeFileSync(join(w, 'dom.xml'), "<domain type='qemu'><name>kvdoc-master</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>");
    mkdirSync(join(w, 'pool'), { recursive: true });
    for (const [cmd, ...args] of [
      ['virsh', 'net-define', join(w, 'mgmt.xml')],
      ['virsh', 'net-start', 'vagrant-libvirt'],
      ['virsh', 'pool-define-as', 'default', 'dir', '--target', join(w, 'pool')],
      ['virsh', 'define', join(w, 'dom.xml')],
      ['ip', 'link', 'add', 'kvtest0', 'type', 'veth', 'peer', 'name', 'kvtest1'],
      ['ip', 'addr', 'add', '192.168.56.5/24', 'dev', 'kvtest0'],
      ['ip', 'link', 'set', 'kvtest0', 'up'],
    ] as string[][]) {
      await env.exec(cmd!, args, { timeoutMs: MINUTE });
    }
    const r = await doctor();
    expect(r.code).toBe(1);
    expect(r.checks['libvirt-management-network']).toMatchObject({ verdict: 'fail', seen: expect.stringContaining('libvirt network vagrant-libvirt is on 192.168.122.0/24, not 192.168.121.0/24') });
    expect(r.checks['libvirt-storage-pool']).toMatchObject({ verdict: 'fail', fix: '`virsh pool-start default; virsh pool-autostart default`' });
    expect(r.checks['libvirt-machines']).toMatchObject({ verdict: 'fail', seen: expect.stringContaining('kvdoc-master') });
    expect(r.checks['node-network']).toMatchObject({ verdict: 'fail', seen: 'the node network 192.168.56.0/24 is in use on this host: route 192.168.56.0/24 on kvtest0' });

    const before = await env.inventory();
    // The cache has the artifacts: nothing is fetched before the host checks.
    const up = await env.exec(process.execPath, [CLI, 'up'], { cwd: dir, reject: false, timeoutMs: 5 * MINUTE, env: { CI: 'true', KUBEADM_VAGRANT_CACHE: testCache() } });
    expect(up.exitCode).toBe(1);
    expect(up.stderr).toMatch(/this host cannot run the cluster yet; nothing was generated or started:\n {2}FAIL libvirt-management-network: /);
    expect(up.stderr).toContain('FAIL libvirt-machines: ');
    expect(readdirSync(dir)).toEqual(['cluster.yaml']);
    expect(await env.inventory()).toEqual(before);

    // The domain, once it is this directory's own machine (Vagrant's id file), is no clash.
    const uuid = (await env.exec('virsh', ['domuuid', 'kvdoc-master'])).stdout.trim();
    mkdirSync(join(dir, '.vagrant', 'machines', 'master', 'libvirt'), { recursive: true });
    writeFileSync(join(dir, '.vagrant', 'machines', 'master', 'libvirt', 'id'), uuid);
    expect((await doctor()).checks['libvirt-machines']?.verdict).toBe('ok');
    rmSync(join(dir, '.vagrant'), { recursive: true });
  });

  it('libvirtd not answering: said, with how to start it', async (ctx) => {
    needAll(ctx);
    const r = await doctor([], { LIBVIRT_DEFAULT_URI: 'qemu:///system?socket=/nonexistent/libvirt-sock' });
    expect(r.checks.libvirtd).toMatchObject({
      verdict: 'fail',
      seen: "libvirtd does not answer at qemu:///system?socket=/nonexistent/libvirt-sock: Failed to connect socket to '/nonexistent/libvirt-sock': No such file or directory",
      fix: expect.stringMatching(/^start libvirtd/),
    });
    expect(r.checks['libvirt-storage-pool']).toMatchObject({ verdict: 'warn', seen: 'not checked: libvirtd does not answer (see libvirtd)' });
  });
});
