import { once } from 'node:events';
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { pack as tarPack } from 'tar-stream';
import * as z from 'zod';
import { CommandError, OperationError } from '../errors.js';
import { fileSystemError } from '../write.js';
import { REPRODUCIBLE_DATE, type DiskFormat } from './formats.js';

/**
 * The effects of packaging a box: disk conversion and reading with qemu-img (the one external
 * tool `box build` needs; doctor checks for it) and writing the box archive.
 *
 * The archive is a plain (uncompressed) tar: its big member is already compressed (a qcow2 made
 * with `-c` holds zlib-compressed clusters, a stream-optimized vmdk deflate-compressed grains),
 * so gzip would gain little and cost a single-threaded pass over the whole disk twice, when the
 * box is built and when `vagrant box add` unpacks it. Vagrant unpacks boxes with bsdtar, which
 * reads plain and compressed tars alike (lib/vagrant/box_collection.rb).
 */

export const QEMU_IMG = 'qemu-img';
const QEMU_IMG_INSTALL = 'install QEMU\'s disk image tool (Debian/Ubuntu: apt-get install qemu-utils; Fedora: dnf install qemu-img; macOS: brew install qemu)';
const INFO_TIMEOUT_MS = 60_000;
/** A conversion reads and writes the whole disk (a few GiB): minutes on a slow disk. */
const CONVERT_TIMEOUT_MS = 60 * 60_000;
const OUTPUT_TAIL_LINES = 15;

/** What qemu-img makes for each target format. */
const CONVERSIONS: Record<DiskFormat, { format: string; options: string[] }> = {
  'qcow2-compressed': { format: 'qcow2', options: ['-c'] },
  'vmdk-stream': { format: 'vmdk', options: ['-o', 'subformat=streamOptimized'] },
};

export interface DiskInfo {
  /** qemu-img's format name: qcow2, raw, vmdk, ... */
  format: string;
  virtualSizeBytes: number;
  /** Bytes the file takes on disk, when qemu-img knows. */
  actualSizeBytes?: number;
  /** Another file the image reads from: a downloaded image must have none. */
  backingFile?: string;
  /** qcow2's external data file: likewise. */
  dataFile?: string;
  /** vmdk: its subformat (`streamOptimized`, `monolithicSparse`, ...). */
  vmdkCreateType?: string;
}

const QemuImgInfo = z.object({
  format: z.string(),
  'virtual-size': z.number().int().nonnegative(),
  'actual-size': z.number().int().nonnegative().optional(),
  'backing-filename': z.string().optional(),
  'full-backing-filename': z.string().optional(),
  'format-specific': z
    .object({
      type: z.string(),
      data: z.object({ 'create-type': z.string().optional(), 'data-file': z.string().optional() }).loose().optional(),
    })
    .loose()
    .optional(),
});

/** `qemu-img info --output=json` of one image (not --backing-chain), read. Throws naming the file when it is not that. */
export function parseQemuImgInfo(json: string, file: string): DiskInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new OperationError(`${QEMU_IMG} info ${file} printed no JSON`, { output: json.slice(0, 500) });
  }
  const parsed = QemuImgInfo.safeParse(raw);
  if (!parsed.success) throw new OperationError(`${QEMU_IMG} info ${file}: unexpected answer (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
  const info = parsed.data;
  const specific = info['format-specific'];
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  const dataFile = specific?.data?.['data-file'];
  const createType = specific?.type === 'vmdk' ? specific.data?.['create-type'] : undefined;
  return {
    format: info.format,
    virtualSizeBytes: info['virtual-size'],
    ...(info['actual-size'] !== undefined ? { actualSizeBytes: info['actual-size'] } : {}),
    ...(backing !== undefined ? { backingFile: backing } : {}),
    ...(dataFile !== undefined ? { dataFile } : {}),
    ...(createType !== undefined ? { vmdkCreateType: createType } : {}),
  };
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-OUTPUT_TAIL_LINES).join('\n');
}

/** Runs qemu-img; a missing tool, a timeout or a failure is an error naming qemu-img and what it was doing. */
async function qemuImg(args: string[], doing: string, timeoutMs: number): Promise<string> {
  const title = `${QEMU_IMG} ${args.join(' ')}`;
  const r = await execa(QEMU_IMG, args, { reject: false, stdin: 'ignore', timeout: timeoutMs, forceKillAfterDelay: 5_000, env: { ...process.env, LC_ALL: 'C' } });
  if ((r as { code?: string }).code === 'ENOENT') throw new OperationError(`${QEMU_IMG} is not installed (not found on PATH), and ${doing} needs it: ${QEMU_IMG_INSTALL}`, { command: title });
  if (r.timedOut) throw new CommandError(`${QEMU_IMG} did not finish ${doing} within ${Math.round(timeoutMs / 60_000)} min`, { command: title });
  if (r.exitCode !== 0) {
    const how = r.exitCode === undefined ? `was killed by ${r.signal ?? 'a signal'}` : `failed with exit code ${r.exitCode}`;
    const said = tail(String(r.stderr ?? '')).split('\n').at(-1) ?? '';
    throw new CommandError(`${QEMU_IMG} ${how} ${doing}${said ? `: ${said}` : ''}`, { command: title, output: tail(`${r.stdout ?? ''}\n${r.stderr ?? ''}`) });
  }
  return String(r.stdout ?? '');
}

/** The image's format and sizes, from `qemu-img info --output=json`. */
export async function diskInfo(path: string): Promise<DiskInfo> {
  const file = resolve(path); // absolute: qemu-img would read `name:rest` as a protocol
  return parseQemuImgInfo(await qemuImg(['info', '--output=json', file], `reading ${file}`, INFO_TIMEOUT_MS), file);
}

/**
 * Converts a disk image for a box: a compressed qcow2 (libvirt) or a stream-optimized vmdk
 * (VirtualBox). The source's format is read first and given to qemu-img explicitly, and a source
 * that refers to other files (a backing file, a qcow2 data file) is refused: its conversion would
 * copy whatever file it names on this host into the box. Written as `<dest>.partial`, renamed
 * when complete; returns what qemu-img reads in the result.
 */
export async function convertDisk(src: string, dest: string, format: DiskFormat): Promise<DiskInfo> {
  const from = resolve(src);
  const to = resolve(dest);
  const source = await diskInfo(from);
  const refers = source.backingFile ?? source.dataFile;
  if (refers !== undefined) throw new OperationError(`${from} reads from another file (${refers}); a box's disk must be a self-contained image`);
  const partial = `${to}.partial`;
  const target = CONVERSIONS[format];
  try {
    await rm(partial, { force: true });
    await qemuImg(['convert', '-f', source.format, '-O', target.format, ...target.options, from, partial], `converting ${from} to ${format}`, CONVERT_TIMEOUT_MS);
    await rename(partial, to);
  } catch (err) {
    await rm(partial, { force: true });
    throw fileSystemError(err, 'write', to);
  }
  return diskInfo(to);
}

export type BoxArchiveFile = { name: string; path: string } | { name: string; data: Buffer | string };

const MEMBER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

function checkMembers(out: string, files: readonly BoxArchiveFile[]): void {
  if (files.length === 0) throw new Error(`writeBoxArchive ${out}: no files`);
  const seen = new Set<string>();
  for (const f of files) {
    if (!MEMBER_NAME.test(f.name)) throw new Error(`writeBoxArchive ${out}: member name ${JSON.stringify(f.name)} is not a plain file name`);
    if (seen.has(f.name)) throw new Error(`writeBoxArchive ${out}: ${f.name} given twice`);
    seen.add(f.name);
  }
}

/**
 * Writes a box: a tar of the given files at the top level (mode 0644, owner 0, the fixed date), in
 * the order given. Written as `<out>.partial` and renamed only when whole and synced, so a cut
 * build never leaves something that looks like a box; the partial is removed on failure.
 */
export async function writeBoxArchive(out: string, files: readonly BoxArchiveFile[]): Promise<{ path: string; bytes: number }> {
  checkMembers(out, files);
  const path = resolve(out);
  const partial = `${path}.partial`;
  const archive = tarPack();
  // Its errors reach us through the pipeline below; one it re-emits after the pipeline ended must not crash the process.
  archive.on('error', () => undefined);
  let reading: ReadStream | undefined;
  let output: WriteStream | undefined;
  try {
    await rm(partial, { force: true });
    output = createWriteStream(partial, { mode: 0o644 });
    const written = pipeline(archive, output);
    // A write error (a full disk) ends the pipeline at once: no entry may wait for it.
    const broken = new Promise<never>((_, reject) => void written.catch(reject));
    broken.catch(() => undefined);
    const add = (entry: Promise<void>) => Promise.race([entry, broken]);
    for (const f of files) {
      const header = { name: f.name, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: REPRODUCIBLE_DATE, type: 'file' as const };
      if ('data' in f) {
        const data = Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data, 'utf8');
        await add(new Promise<void>((done, fail) => archive.entry({ ...header, size: data.length }, data, (err) => (err ? fail(err) : done()))));
        continue;
      }
      const source = f.path;
      const size = await stat(source).then(
        (s) => s.size,
        (err: unknown) => Promise.reject(fileSystemError(err, 'read', source)),
      );
      await add(new Promise<void>((done, fail) => {
        const entry = archive.entry({ ...header, size }, (err) => (err ? fail(err) : done()));
        entry.on('error', () => undefined); // reported to the callback above; pipe() would re-throw it
        const input = (reading = createReadStream(source));
        input.on('error', (err) => {
          entry.destroy(err);
          fail(fileSystemError(err, 'read', source));
        });
        input.pipe(entry);
      }));
    }
    archive.finalize();
    await written;
    const handle = await open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, path);
    return { path, bytes: (await stat(path)).size };
  } catch (err) {
    reading?.destroy();
    archive.destroy();
    // The output opens its file asynchronously: removing it before the stream has closed could let it be created after.
    if (output && !output.closed) {
      const closed = once(output, 'close').catch(() => undefined);
      output.destroy();
      await closed;
    }
    await rm(partial, { force: true });
    throw fileSystemError(err, 'write the box', path);
  }
}
