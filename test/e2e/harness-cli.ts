/**
 * Command-line use of the e2e harness, for scripts and for trying things by hand.
 *
 *   harness-cli smoke [--box PATH] [--keep]   one machine from the box: up, ssh checks, destroy,
 *                                              assert nothing is left in libvirt, stop
 *   harness-cli keys  [--box PATH] [--keep]   insert_key=false with private_key_path=[insecure, cluster]
 *                                              and an "ssh-key" provisioner that swaps authorized_keys
 *   harness-cli reap                           clean up environments whose owning process died
 *
 * Compile and run (tsconfig.json does not include test/e2e):
 *   npx tsc --outDir .e2e-work/harness-build --rootDir . --module nodenext --moduleResolution nodenext \
 *     --target es2022 --strict --skipLibCheck --types node test/e2e/harness-cli.ts
 *   node .e2e-work/harness-build/test/e2e/harness-cli.js smoke
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E2eEnvironment, type ExecResult } from './harness.js';

const BOX_NAME = 'kubeadm-vagrant/debian12';
const DEFAULT_BOX = join(process.env.KUBEADM_VAGRANT_BOX_CACHE ?? '/var/cache/kubeadm-vagrant/boxes', 'kubeadm-vagrant-debian12.box');
const INSECURE_KEY_GLOB_DIR = '/usr/share/rubygems-integration/all/gems';

const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function insecureKey(): Promise<string> {
  const { stdout } = await execa('sh', ['-c', `ls ${INSECURE_KEY_GLOB_DIR}/vagrant-*/keys/vagrant | head -n1`]);
  if (!stdout.trim()) throw new Error('Vagrant insecure private key not found');
  return stdout.trim();
}

function check(ok: boolean, what: string): void {
  log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
  if (!ok) process.exitCode = 1;
}

function show(r: ExecResult): void {
  for (const line of r.all.trimEnd().split('\n')) console.log(`    | ${line}`);
}

async function withEnv(fn: (env: E2eEnvironment, timings: Record<string, number>) => Promise<void>): Promise<void> {
  const env = new E2eEnvironment({ log, keepWorkDir: process.argv.includes('--keep') });
  const timings: Record<string, number> = {};
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping the environment`);
    void env.stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let t = Date.now();
    await env.start();
    timings.start = Date.now() - t;
    const box = flag('--box') ?? DEFAULT_BOX;
    if (!existsSync(box)) throw new Error(`no box at ${box}: run boxes/build-libvirt-box.sh first`);
    t = Date.now();
    await env.addBox(box, BOX_NAME);
    timings.boxAdd = Date.now() - t;
    await fn(env, timings);
  } catch (err) {
    process.exitCode = 1;
    log(`ERROR ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    stopping = true;
    const t = Date.now();
    const report = await env.stop();
    timings.stop = Date.now() - t;
    check(report.errors.length === 0, `stop() without problems ${report.errors.length ? JSON.stringify(report.errors) : ''}`);
    log(`timings: ${Object.entries(timings).map(([k, v]) => `${k} ${seconds(v)}`).join(', ')}`);
  }
}

const vagrantfile = (extra: string) => `Vagrant.configure("2") do |config|
  config.vm.box = "${BOX_NAME}"
  config.vm.synced_folder ".", "/vagrant", disabled: true
${extra}  config.vm.network "private_network", ip: "192.168.56.10"
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "qemu"
    libvirt.memory = 1024
    libvirt.cpus = 1
  end
end
`;

async function upAndDestroy(
  env: E2eEnvironment,
  timings: Record<string, number>,
  label: string,
  extraConfig: string,
  checks: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await env.projectDir(label);
  await writeFile(join(dir, 'Vagrantfile'), vagrantfile(extraConfig));
  const upLog = join(env.logDir, `${label}-vagrant-up.log`);
  log(`vagrant up in ${dir} (log ${upLog})`);
  let t = Date.now();
  const up = await env.vagrant(['up', '--provider=libvirt'], { cwd: dir, timeoutMs: 15 * 60_000, logFile: upLog, reject: false });
  timings.up = Date.now() - t;
  if (up.failed) {
    show(up);
    throw new Error(`vagrant up failed after ${seconds(timings.up)}`);
  }
  log(`vagrant up took ${seconds(timings.up)}`);
  try {
    await checks(dir);
  } finally {
    log(`inventory before destroy: ${JSON.stringify(await env.inventory())}`);
    t = Date.now();
    const destroy = await env.vagrant(['destroy', '-f'], { cwd: dir, timeoutMs: 5 * 60_000, reject: false });
    timings.destroy = Date.now() - t;
    check(!destroy.failed, `vagrant destroy -f (${seconds(timings.destroy)})`);
    const inv = await env.inventory();
    log(`inventory after destroy: ${JSON.stringify(inv)}`);
    check(inv.domains.length === 0, 'no libvirt domain left');
    check(inv.networks.length === 0, 'no libvirt network left');
    const nonBox = inv.volumes.filter((v) => !v.name.includes('_vagrant_box_image_'));
    check(nonBox.length === 0, `no machine volume left (box image volumes kept by vagrant-libvirt: ${inv.volumes.length - nonBox.length})`);
  }
}

async function smoke(): Promise<void> {
  await withEnv(async (env, timings) => {
    await upAndDestroy(env, timings, 'smoke', '', async (dir) => {
      const t = Date.now();
      const r = await env.vagrant(['ssh', '-c', 'ip -4 addr; cat /proc/swaps; containerd --version; sudo containerd config default | head'], {
        cwd: dir,
        timeoutMs: 2 * 60_000,
      });
      timings.ssh = Date.now() - t;
      show(r);
      check(/inet 192\.168\.56\.10\/24 .*\beth1\b/.test(r.stdout), 'eth1 has 192.168.56.10/24');
      check(/\/swapfile\s+file/.test(r.stdout), '/swapfile is active swap');
      check(/containerd .*1\.6\./.test(r.stdout), 'containerd 1.6 installed');
      check(/version = 2/.test(r.stdout), '`containerd config default` works');
    });
  });
}

async function keys(): Promise<void> {
  await withEnv(async (env, timings) => {
    const insecure = await insecureKey();
    const clusterKey = join(env.workDir, 'cluster_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kubeadm-vagrant-cluster', '-f', clusterKey]);
    const extra = `  config.ssh.insert_key = false
  config.ssh.private_key_path = ["${insecure}", "${clusterKey}"]
  config.vm.provision "ssh-key", type: "shell", inline: <<-SHELL
    set -eu
    install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
    printf '%s\\n' '${(await execa('cat', [`${clusterKey}.pub`])).stdout.trim()}' > /home/vagrant/.ssh/authorized_keys.new
    chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys.new
    chmod 0600 /home/vagrant/.ssh/authorized_keys.new
    mv /home/vagrant/.ssh/authorized_keys.new /home/vagrant/.ssh/authorized_keys
  SHELL
`;
    await upAndDestroy(env, timings, 'keys', extra, async (dir) => {
      const r = await env.vagrant(['ssh', '-c', 'cat ~/.ssh/authorized_keys'], { cwd: dir, timeoutMs: 2 * 60_000, reject: false });
      show(r);
      check(!r.failed && r.stdout.includes('kubeadm-vagrant-cluster') && !r.stdout.includes('vagrant insecure public key'), 'vagrant ssh logs in after authorized_keys holds only the cluster key');
      const p = await env.vagrant(['provision'], { cwd: dir, timeoutMs: 5 * 60_000, reject: false });
      check(!p.failed, 'vagrant provision (re-runs "ssh-key") still logs in');
      const cfg = await env.vagrant(['ssh-config'], { cwd: dir, timeoutMs: 60_000 });
      show(cfg);
      const host = /HostName\s+(\S+)/.exec(cfg.stdout)?.[1];
      const port = /Port\s+(\d+)/.exec(cfg.stdout)?.[1] ?? '22';
      if (!host) throw new Error('no HostName in vagrant ssh-config');
      const sshWith = (key: string) =>
        env.exec('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=20', '-i', key, '-p', port, `vagrant@${host}`, 'true'], { timeoutMs: 60_000, reject: false });
      check((await sshWith(clusterKey)).exitCode === 0, 'plain ssh with the cluster key works');
      check((await sshWith(insecure)).exitCode !== 0, 'plain ssh with the insecure key is refused (authorized_keys replaced)');
    });
  });
}

async function main(): Promise<void> {
  const cmd = process.argv[2];
  if (cmd === 'smoke') await smoke();
  else if (cmd === 'keys') await keys();
  else if (cmd === 'reap') log(`reaped: ${(await E2eEnvironment.reapStale(process.env.KUBEADM_VAGRANT_E2E_DIR ?? tmpdir(), log)).join(' ') || 'none'}`);
  else {
    console.error('usage: harness-cli smoke|keys [--box PATH] [--keep] | reap');
    process.exitCode = 2;
  }
}

await main();
