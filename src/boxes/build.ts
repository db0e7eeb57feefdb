import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { CACHE } from '../cache.js';
import { HOST } from '../layout.js';
import { CommandError, OperationError, UsageError } from '../errors.js';
import { formatDigest } from '../download/digest.js';
import type { RequestOptions } from '../download/fetch-file.js';
import type { TransferProgress } from '../download/progress.js';
import { addBox, boxesNamed, BOX_RECORD_FILE, listBoxes, vagrantVersion, type BakeRecord, type BoxRecord, type StoredBox } from '../vagrant/boxes.js';
import { imageSource, type Arch, type Catalog } from './catalog.js';

export { bakedBoxName } from './catalog.js';
import { boxMetadata, boxVagrantfile, BOX_LAYOUTS, ovfDescriptor, virtualBoxMac, type BoxProvider } from './formats.js';
import { verifiedImage, type VerifiedImage } from './image.js';
import { convertDisk, diskInfo, QEMU_IMG, writeBoxArchive, type BoxArchiveFile } from './package.js';

/** The disk a box's machines get: cloud images are 2-4 GiB; cloud-init's growpart grows the root file system into this at first boot. */
export const BOX_DISK_GIB = 20;

/** The providers `box build` makes boxes for. */
export const BOX_PROVIDERS: readonly BoxProvider[] = ['libvirt', 'virtualbox'];

export interface BuildBoxOptions {
  distro: string;
  provider: BoxProvider;
  arch: Arch;
  catalog: Catalog;
  /** The cache root (src/cache.ts). */
  cache: string;
  /** Build and add again even when the same image's box is added already. */
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  info: (line: string) => void;
  progress?: TransferProgress;
  request?: RequestOptions;
  /** libvirt arm64: the host's UEFI firmware and an emulated CPU model (src/boxes/formats.ts). */
  uefiLoader?: string;
  cpuModel?: string;
}

export interface BuiltBox {
  name: string;
  record: BoxRecord;
  /** False when the box was there already, built from the same verified image. */
  built: boolean;
}

/** Where hosts keep the UEFI firmware an arm64 guest boots with (Debian/Ubuntu qemu-efi-aarch64 and AAVMF, Fedora edk2, Homebrew's qemu). */
export const AARCH64_FIRMWARE = [
  '/usr/share/AAVMF/AAVMF_CODE.fd',
  '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd',
  '/usr/share/edk2/aarch64/QEMU_EFI.fd',
  '/opt/homebrew/share/qemu/edk2-aarch64-code.fd',
  '/usr/local/share/qemu/edk2-aarch64-code.fd',
] as const;

/**
 * What a libvirt arm64 box's own Vagrantfile needs on this host: its UEFI firmware, and, when the
 * host is not arm64 (qemu emulates the CPU), a CPU model. Nothing for other boxes.
 */
export function arm64Settings(provider: BoxProvider, arch: Arch, given?: string, host: NodeJS.Architecture = process.arch, exists: (p: string) => boolean = existsSync): { uefiLoader?: string; cpuModel?: string } {
  if (provider !== 'libvirt' || arch !== 'arm64') return {};
  const uefiLoader = given ?? [...AARCH64_FIRMWARE].find((f) => exists(f));
  if (!uefiLoader) {
    throw new UsageError(`an arm64 box for libvirt boots with UEFI firmware, and none was found (looked at ${AARCH64_FIRMWARE.join(', ')}): install it (Debian/Ubuntu: apt-get install qemu-efi-aarch64; Fedora: dnf install edk2-aarch64)`);
  }
  return { uefiLoader, ...(host === 'arm64' ? {} : { cpuModel: 'cortex-a72' }) };
}

/** A box of this name and provider that kubeadm-vagrant did not build: never replaced. */
function foreignBox(boxes: readonly StoredBox[], name: string, provider: string): StoredBox | undefined {
  return boxesNamed(boxes, name, provider).find((b) => !b.record);
}

export function notOursError(box: StoredBox): UsageError {
  return new UsageError(
    `Vagrant already has a box named ${box.name} (${box.provider}, version ${box.version}) that kubeadm-vagrant did not build` +
      `${box.recordProblem ? ` (${box.recordProblem})` : box.dir ? ` (no ${BOX_RECORD_FILE} in ${box.dir})` : ''}; it is never replaced: ` +
      `remove it yourself with \`vagrant box remove ${box.name} --provider ${box.provider}\` if it is not needed, or set \`box:\` in cluster.yaml to use it as it is`,
  );
}

async function qemuImg(args: string[], doing: string): Promise<void> {
  const r = await execa(QEMU_IMG, args, { reject: false, stdin: 'ignore', all: true, timeout: 60 * 60_000 });
  if ((r as { code?: string }).code === 'ENOENT') throw new OperationError(`${QEMU_IMG} is not installed (not found on PATH), and ${doing} needs it (Debian/Ubuntu: apt-get install qemu-utils)`);
  if (r.exitCode !== 0) throw new CommandError(`${QEMU_IMG} failed ${doing}`, { command: `${QEMU_IMG} ${args.join(' ')}`, output: String(r.all ?? '').trim().split('\n').slice(-10).join('\n') });
}

/**
 * The box's disk from the verified image: copied (the cached image is never modified), grown to
 * BOX_DISK_GIB (sparse: the size costs nothing until used), converted to the provider's format.
 */
async function boxDisk(image: VerifiedImage, work: string, provider: BoxProvider): Promise<{ path: string; virtualSizeBytes: number }> {
  const source = await diskInfo(image.path);
  if (source.backingFile ?? source.dataFile) throw new OperationError(`${image.path} reads from another file (${source.backingFile ?? source.dataFile}); an official image never does: remove it from the cache and build again`);
  const grown = join(work, 'grown.qcow2');
  await qemuImg(['convert', '-f', source.format, '-O', 'qcow2', image.path, grown], `copying ${image.path}`);
  if (source.virtualSizeBytes < BOX_DISK_GIB * 1024 ** 3) await qemuImg(['resize', '-f', 'qcow2', grown, `${BOX_DISK_GIB}G`], `growing ${grown} to ${BOX_DISK_GIB} GiB`);
  const layout = BOX_LAYOUTS[provider];
  const disk = join(work, layout.disk);
  const info = await convertDisk(grown, disk, layout.diskFormat);
  await rm(grown, { force: true });
  return { path: disk, virtualSizeBytes: info.virtualSizeBytes };
}

/** The files of a box besides its disk, in BOX_LAYOUTS order, and our record last. */
export function boxFiles(input: { provider: BoxProvider; arch: Arch; name: string; disk: { path: string; virtualSizeBytes: number }; vagrantVersion: string; record: BoxRecord; uefiLoader?: string; cpuModel?: string }): BoxArchiveFile[] {
  const { provider, arch, name, disk } = input;
  const layout = BOX_LAYOUTS[provider];
  const small: Record<string, string> = {
    'metadata.json': `${JSON.stringify(boxMetadata({ provider, arch, virtualSizeBytes: disk.virtualSizeBytes, vagrantVersion: input.vagrantVersion }))}\n`,
    [HOST.vagrantfile]: boxVagrantfile({
      provider,
      arch,
      ...(provider === 'virtualbox' ? { baseMac: virtualBoxMac(name) } : {}),
      ...(input.uefiLoader ? { uefiLoader: input.uefiLoader } : {}),
      ...(input.cpuModel ? { cpuModel: input.cpuModel } : {}),
    }),
    ...(provider === 'virtualbox'
      ? { 'box.ovf': ovfDescriptor({ name: name.replaceAll('/', '-'), osType: input.record.distro.startsWith('ubuntu') ? 'Ubuntu_64' : input.record.distro.startsWith('debian') ? 'Debian_64' : 'RedHat_64', cpus: 2, memoryMiB: 2048, disk: { file: layout.disk, capacityBytes: disk.virtualSizeBytes }, arch }) }
      : {}),
  };
  return [
    ...layout.files.map((f): BoxArchiveFile => (f === layout.disk ? { name: f, path: disk.path } : { name: f, data: small[f]! })),
    { name: BOX_RECORD_FILE, data: `${JSON.stringify(input.record, null, 2)}\n` },
  ];
}

/** Packs a box (its disk given), adds it to Vagrant under `name`, and removes the archive. */
export async function packAndAdd(input: { name: string; provider: BoxProvider; arch: Arch; disk: { path: string; virtualSizeBytes: number }; record: BoxRecord; work: string; env: NodeJS.ProcessEnv; force: boolean; uefiLoader?: string; cpuModel?: string }): Promise<void> {
  const vagrant = await vagrantVersion(input.env);
  const archive = join(input.work, 'package.box');
  await writeBoxArchive(archive, boxFiles({ ...input, vagrantVersion: vagrant }));
  await addBox(archive, input.name, { force: input.force }, input.env);
  await rm(archive, { force: true });
}

/**
 * `box build DISTRO`: the distro's official cloud image for this architecture, verified (signed
 * checksums, or the catalog's pinned digest), made into a box for the provider and added to
 * Vagrant as kubeadm-vagrant/<distro>. Its record says where it came from. An existing box of that
 * name that is not ours is never replaced; ours from the same image is kept unless `force`.
 */
export async function buildBox(opts: BuildBoxOptions): Promise<BuiltBox> {
  const env = opts.env ?? process.env;
  const source = imageSource(opts.catalog, opts.distro, opts.arch);
  const boxes = await listBoxes(env);
  const foreign = foreignBox(boxes, source.box, opts.provider);
  if (foreign) throw notOursError(foreign);
  if (source.unverified) opts.info(`note: ${source.distro} ${source.arch}: ${source.unverified}`);
  const image = await verifiedImage(opts.catalog, source, opts.cache, { ...opts.request, ...(opts.progress ? { progress: opts.progress } : {}) });
  opts.info(`${image.cached ? 'cached' : 'downloaded'} ${source.url}: ${formatDigest(image.digest)}, trusted through ${image.verifiedBy}`);
  const same = boxesNamed(boxes, source.box, opts.provider).find((b) => b.record?.arch === opts.arch && b.record.source.sha256 === image.sha256 && !b.record.baked);
  if (same?.record && !opts.force) {
    opts.info(`${source.box} (${opts.provider}, ${opts.arch}) is built from this image already (${same.record.builtAt}); --force builds it again`);
    return { name: source.box, record: same.record, built: false };
  }
  const arm64 = { ...arm64Settings(opts.provider, opts.arch, opts.uefiLoader), ...(opts.cpuModel ? { cpuModel: opts.cpuModel } : {}) };
  const workRoot = join(opts.cache, CACHE.boxes);
  await mkdir(workRoot, { recursive: true });
  const work = await mkdtemp(join(workRoot, `.build-${opts.distro}-${opts.provider}-${opts.arch}-`));
  try {
    opts.info(`making the ${opts.provider} disk (${BOX_DISK_GIB} GiB, sparse)`);
    const disk = await boxDisk(image, work, opts.provider);
    const record: BoxRecord = {
      builtBy: 'kubeadm-vagrant',
      recordVersion: 1,
      name: source.box,
      distro: source.distro,
      provider: opts.provider,
      arch: opts.arch,
      builtAt: new Date().toISOString(),
      diskGiB: BOX_DISK_GIB,
      source: { url: source.url, file: source.fileName, digest: formatDigest(image.digest), sha256: image.sha256, verifiedBy: image.verifiedBy, catalog: source.catalogFile },
    };
    await packAndAdd({ name: source.box, provider: opts.provider, arch: opts.arch, disk, record, work, env, force: boxesNamed(boxes, source.box, opts.provider).length > 0, ...arm64 });
    opts.info(`added ${source.box} (${opts.provider}, ${opts.arch}) to Vagrant`);
    return { name: source.box, record, built: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}


export type { BakeRecord };
