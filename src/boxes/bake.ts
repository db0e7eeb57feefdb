import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { CACHE } from '../cache.js';
import { readConfig, type LoadOptions } from '../config/load.js';
import { API_VERSION, KIND } from '../config/schema.js';
import { CommandError, ConfigError, OperationError, UsageError } from '../errors.js';
import { FAMILIES } from '../families.js';
import { GUEST } from '../layout.js';
import { offlineNeeds } from '../offline/needs.js';
import { PHASES } from '../phases.js';
import { providerDef, providerOptionsFrom, slowdownOf } from '../providers/index.js';
import { connect } from '../ssh/client.js';
import { ensureArtifacts, type FetchFn } from '../steps/artifacts.js';
import { DEFAULT_SSH_LIMITS, openCluster, sshOptions, sshTarget } from '../steps/cluster.js';
import { destroy } from '../steps/destroy.js';
import type { Progress } from '../steps/progress.js';
import { up } from '../steps/up.js';
import { boxDirectory, boxesNamed, listBoxes, vagrantHome, VAGRANT_ENV, type BakeRecord, type BoxRecord } from '../vagrant/boxes.js';
import { bakedBoxName, buildBox, notOursError, packAndAdd, type BuildBoxOptions, type BuiltBox } from './build.js';
import { BOX_LAYOUTS } from './formats.js';
import { diskInfo, QEMU_IMG } from './package.js';

/** The bake machine's private address: in VirtualBox's default host-only range, away from the README's 192.168.56.x clusters. */
export const BAKE_MASTER_IP = '192.168.63.10';

export interface BakeBoxOptions extends Omit<BuildBoxOptions, 'force'> {
  /** The cluster config whose Kubernetes, CNI, add-ons, runtime and artifacts are baked in. */
  load: LoadOptions;
  progress?: BuildBoxOptions['progress'];
  /** Up's progress for the bake machine's phases. */
  steps: Progress;
  force?: boolean;
  /** What fetches the artifacts the cache lacks (tests inject their own). */
  fetch?: FetchFn;
}

/** The phases a bake runs on its one machine: up to the last the table marks bakeable. */
const BAKE_UNTIL = [...PHASES].reverse().find((p) => p.bakeable)!.id;

async function run(command: string, args: string[], doing: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const r = await execa(command, args, { reject: false, stdin: 'ignore', all: true, timeout: 60 * 60_000, env });
  if ((r as { code?: string }).code === 'ENOENT') throw new OperationError(`${command} is not installed (not found on PATH), and ${doing} needs it`);
  if (r.exitCode !== 0) throw new CommandError(`${command} failed ${doing}`, { command: `${command} ${args.join(' ')}`, output: String(r.all ?? '').trim().split('\n').slice(-10).join('\n') });
  return String(r.stdout ?? '');
}

/**
 * What the bake machine does last, as root: leave what it installed, and nothing of itself — the
 * bake record (for `up`'s checks), no node address, no uploaded artifacts but the manifests the
 * control plane applies, no cloud-init state (each machine made from the box is a first boot),
 * no machine id, no host keys, no login user; the free blocks trimmed; then it powers off.
 */
export function finishScript(record: BakeRecord, family: keyof typeof FAMILIES): string {
  const a = GUEST.artifactsDir;
  const args = record.kernelArgs ?? [];
  return `set -euo pipefail
${args.length > 0 ? kernelArgsScript(args) : ''}
install -d -m 0755 "$(dirname ${GUEST.bakedRecord})"
cat >${GUEST.bakedRecord} <<'KUBEADM_VAGRANT_BAKED'
${JSON.stringify(record, null, 2)}
KUBEADM_VAGRANT_BAKED
chmod 0644 ${GUEST.bakedRecord}
systemctl stop kubelet 2>/dev/null || true
rm -f ${FAMILIES[family].kubeletDefaults}
rm -rf ${a}/bin ${a}/cni ${a}/containerd ${a}/images ${GUEST.uploadDir}
cloud-init clean --logs --seed --machine-id 2>/dev/null || cloud-init clean --logs --seed
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_* /etc/sudoers.d/90-cloud-init-users
rm -rf /var/lib/dhcp/*.leases /tmp/* /var/tmp/*
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
${FAMILIES[family].packageManager === 'apt' ? 'apt-get clean' : 'dnf clean all >/dev/null 2>&1 || true'}
sync
fstrim -av >/dev/null 2>&1 || true
# After this session has ended: the login user the bake's seed made, then power off.
systemd-run --on-active=3 --unit=kubeadm-vagrant-bake-end /bin/sh -c 'userdel -f -r ${GUEST.loginUser} || true; sync; systemctl poweroff' >/dev/null
`;
}

/**
 * Under software emulation (qemu's TCG) the kernel's Spectre-class mitigations guard nothing (the
 * guest's code is translated, not run as written) and make every system call dearer, and the
 * kernel distrusts the TSC and reads the emulated HPET for the time (README "Slow hosts"): a box
 * baked for emulation boots with these arguments. Never a box for KVM.
 */
export const EMULATION_KERNEL_ARGS = ['mitigations=off', 'tsc=reliable'] as const;

/** Adds kernel arguments to the boot loader's entries (extlinux, grubby, or GRUB's grub.d and update-grub/grub2-mkconfig), for the next boot. */
export function kernelArgsScript(args: readonly string[]): string {
  const list = args.join(' ');
  return `# The kernel arguments of a box for software emulation: ${list}
kv_args='${list}'
if [ -f /boot/extlinux/extlinux.conf ]; then
  for arg in $kv_args; do
    awk -v arg="$arg" '/^[[:space:]]*APPEND[[:space:]]/ && index(" " $0 " ", " " arg " ") == 0 { $0 = $0 " " arg } { print }' /boot/extlinux/extlinux.conf >/boot/extlinux/extlinux.conf.new
    mv /boot/extlinux/extlinux.conf.new /boot/extlinux/extlinux.conf
  done
elif command -v grubby >/dev/null 2>&1; then
  grubby --update-kernel=ALL --args="$kv_args"
elif command -v update-grub >/dev/null 2>&1; then
  install -d -m 0755 /etc/default/grub.d
  # grub-mkconfig reads the drop-ins of /etc/default/grub.d after /etc/default/grub (Debian, Ubuntu).
  echo "GRUB_CMDLINE_LINUX=\\"\\\${GRUB_CMDLINE_LINUX} $kv_args\\"" >/etc/default/grub.d/90-kubeadm-vagrant-emulation.cfg
  update-grub >/dev/null 2>&1
else
  echo "no boot loader found to give the kernel $kv_args (extlinux.conf, grubby, update-grub)" >&2
  exit 1
fi
`;
}

/** The libvirt domain's disk, flattened onto the plain box's image it was made from, as a box disk. */
async function libvirtBakedDisk(input: { dir: string; machine: string; domain: string; plainBoxDisk: string; work: string; env: NodeJS.ProcessEnv }): Promise<{ path: string; virtualSizeBytes: number }> {
  const uri = input.env.LIBVIRT_DEFAULT_URI || 'qemu:///system';
  const virsh = (args: string[], doing: string) => run('virsh', ['-c', uri, ...args], doing, input.env);
  for (let waited = 0; ; waited += 5) {
    const state = (await virsh(['domstate', input.domain], `reading the state of ${input.domain}`)).trim();
    if (state === 'shut off') break;
    if (waited > 600) throw new OperationError(`the bake machine ${input.domain} did not power off within 10 minutes (state: ${state})`);
    await new Promise((r) => setTimeout(r, 5_000));
  }
  // The domain's own volume (vagrant-libvirt names it <domain>.img) holds only what the bake
  // changed, over the box's image: read through libvirt (its files may be root's), then put onto
  // our copy of that same image, and flattened into one compressed qcow2.
  const overlay = join(input.work, 'overlay.qcow2');
  await virsh(['vol-download', '--pool', 'default', `${input.domain}.img`, overlay], `downloading the bake machine's disk`);
  await run(QEMU_IMG, ['rebase', '-u', '-f', 'qcow2', '-b', input.plainBoxDisk, '-F', 'qcow2', overlay], 'putting the bake onto the plain box image');
  const disk = join(input.work, BOX_LAYOUTS.libvirt.disk);
  await run(QEMU_IMG, ['convert', '-f', 'qcow2', '-O', 'qcow2', '-c', overlay, disk], 'flattening the baked disk');
  await rm(overlay, { force: true });
  return { path: disk, virtualSizeBytes: (await diskInfo(disk)).virtualSizeBytes };
}

/**
 * `box build DISTRO --bake`: the plain box (built first when missing), booted once by the
 * provider itself with a seed of its own, taken through the phases `up` would run on every
 * machine (artifacts, prerequisites, packages: everything from the config's artifacts,
 * verified as `up` verifies them), cleaned and packaged as kubeadm-vagrant/<distro>-k8s-<patch>,
 * whose record says exactly which files are baked in (`up` installs nothing on it when they are
 * the plan's).
 */
export async function bakeBox(opts: BakeBoxOptions): Promise<BuiltBox> {
  const env = opts.env ?? process.env;
  if (opts.provider !== 'libvirt') {
    throw new UsageError(`--bake boots the box with the provider and reads its disk back, which kubeadm-vagrant does for libvirt; for ${opts.provider} build the plain box (\`kubeadm-vagrant box build ${opts.distro} --provider ${opts.provider}\`): up installs on it from the artifacts`);
  }
  // What is baked in: the config's artifacts, fetched into the cache first when it lacks them.
  const read = readConfig(opts.load);
  const { config } = read;
  const ensured = await ensureArtifacts(read, { dryRun: false, say: opts.info, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  if (!ensured.artifacts?.bake) throw new ConfigError(ensured.problems, read.file);
  const artifacts = ensured.artifacts;
  const plain = await buildBox({ ...opts, force: false });
  const emulation = slowdownOf(opts.provider, providerOptionsFrom(config)) > 1;
  const name = bakedBoxName(opts.distro, artifacts.patch, { emulation });
  const boxes = await listBoxes(env);
  const foreign = boxesNamed(boxes, name, opts.provider).find((b) => !b.record);
  if (foreign) throw notOursError(foreign);
  const bake = artifacts.bake!;
  const same = boxesNamed(boxes, name, opts.provider).find((b) => b.record?.baked?.bakeHash === bake.bakeHash && b.record.baked.base === plain.record.source.sha256 && b.record.arch === opts.arch && (b.record.baked.kernelArgs ?? []).length === (emulation ? EMULATION_KERNEL_ARGS.length : 0));
  if (same?.record && !opts.force) {
    opts.info(`${name} (${opts.provider}, ${opts.arch}) has exactly these artifacts baked in already (${same.record.builtAt}); --force bakes it again`);
    return { name, record: same.record, built: false };
  }
  const plainDir = boxDirectory(vagrantHome(env), { name: plain.name, provider: opts.provider, version: '0', architecture: opts.arch });
  if (!plainDir) throw new OperationError(`Vagrant has no directory for ${plain.name} (${opts.provider}) in ${vagrantHome(env)}`);

  const workRoot = join(opts.cache, CACHE.boxes);
  await mkdir(workRoot, { recursive: true });
  const work = await mkdtemp(join(workRoot, `.bake-${opts.distro}-${artifacts.patch}-`));
  const project = join(work, 'project');
  await mkdir(project);
  const clusterName = `kvbake-${opts.distro.replace(/[^a-z0-9-]/g, '-')}`;
  const bakeConfig = {
    apiVersion: API_VERSION,
    kind: KIND,
    name: clusterName,
    provider: opts.provider,
    distro: opts.distro,
    box: plain.name,
    kubernetes: { version: artifacts.patch, cni: config.kubernetes.cni },
    runtime: config.runtime,
    offline: { dir: artifacts.root },
    addons: config.addons,
    network: { masterIP: BAKE_MASTER_IP },
    controlPlane: { cpus: 2, memory: 2048 },
    workers: { count: 0 },
    ...(providerDef(opts.provider).options ? { [opts.provider]: (config as Record<string, unknown>)[opts.provider] } : {}),
  };
  const file = join(project, 'cluster.yaml');
  await writeFile(file, `# kubeadm-vagrant box build --bake: one machine, taken through ${BAKE_UNTIL}\n${stringify(bakeConfig)}`);
  const load: LoadOptions = { file, cwd: project, env: { ...env, ...VAGRANT_ENV }, flags: {} };
  let destroyed = false;
  try {
    opts.info(`baking Kubernetes ${artifacts.patch} (${config.kubernetes.cni}${config.addons.dashboard ? ', Headlamp' : ''}) into ${plain.name}: one machine through ${BAKE_UNTIL}${emulation ? `; for software emulation, the kernel boots with ${EMULATION_KERNEL_ARGS.join(' ')}` : ''}`);
    await up({ load, until: BAKE_UNTIL, dryRun: false, progress: opts.steps, print: opts.info, logName: 'bake' });
    const cluster = openCluster(load);
    const record: BakeRecord = {
      kubernetes: artifacts.patch,
      files: bake.files,
      bakeHash: bake.bakeHash,
      containerd: cluster.plan.containerd === 'distro' ? 'distro' : 'artifacts',
      cni: config.kubernetes.cni,
      images: [...offlineNeeds(config, artifacts.patch).images].sort(),
      base: plain.record.source.sha256,
      ...(emulation ? { kernelArgs: [...EMULATION_KERNEL_ARGS] } : {}),
    };
    const session = await connect(sshTarget(cluster.plan.controlPlane), sshOptions(cluster, DEFAULT_SSH_LIMITS));
    try {
      const r = await session.exec('bash -s', { sudo: true, stdin: finishScript(record, cluster.plan.distro.family), label: 'the bake\'s last step (clean and power off)', timeoutMs: 10 * 60_000 * cluster.plan.slowdown });
      if (r.code !== 0) throw new CommandError('the bake machine could not be cleaned', { output: `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-10).join('\n') });
    } finally {
      await session.close();
    }
    opts.info('the bake machine is cleaned and powers off; packaging its disk');
    const disk = await libvirtBakedDisk({ dir: project, machine: cluster.plan.controlPlane.name, domain: `${clusterName}-${cluster.plan.controlPlane.name}`, plainBoxDisk: join(plainDir, BOX_LAYOUTS.libvirt.disk), work, env });
    const boxRecord: BoxRecord = { ...plain.record, name, builtAt: new Date().toISOString(), baked: record };
    await destroy({ load, dryRun: false, print: () => {} });
    destroyed = true;
    await packAndAdd({ name, provider: opts.provider, arch: opts.arch, disk, record: boxRecord, work, env, force: boxesNamed(boxes, name, opts.provider).length > 0, ...(opts.uefiLoader ? { uefiLoader: opts.uefiLoader } : {}), ...(opts.cpuModel ? { cpuModel: opts.cpuModel } : {}) });
    opts.info(`added ${name} (${opts.provider}, ${opts.arch}) to Vagrant: Kubernetes ${artifacts.patch} baked in (bake ${bake.bakeHash.slice(0, 12)}...)`);
    return { name, record: boxRecord, built: true };
  } finally {
    if (!destroyed) await destroy({ load, dryRun: false, print: () => {} }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

