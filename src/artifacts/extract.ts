import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { errorMessage, OperationError } from '../errors.js';
import { loadTarStream } from '../offline/tar.js';
import { cacheWriteError } from '../write.js';

/** One member to take out of a release archive. */
export interface MemberToExtract {
  /** Its name in the archive (a leading `./` is ignored on both sides). */
  member: string;
  /** Where it lands (through `<dest>.partial`, renamed once the whole archive has been read). */
  dest: string;
  mode: number;
}

const normal = (name: string): string => name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    return head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Extracts `members` of a tar or tar.gz archive (tar-stream, loaded lazily), each hashed as it is
 * written, with its mode; only regular files are taken. All land, or none: a member missing from the
 * archive, or one that is not a regular file, fails naming the archive and the member, and removes
 * what was written. Returns each member's sha256 and size.
 */
export async function extractMembers(archive: string, members: readonly MemberToExtract[]): Promise<Map<string, { sha256: string; bytes: number }>> {
  const { extract } = await loadTarStream();
  const wanted = new Map(members.map((m) => [normal(m.member), m]));
  const done = new Map<string, { sha256: string; bytes: number }>();
  const partials: string[] = [];
  try {
    const ex = extract();
    const source: Readable = (await isGzip(archive)) ? createReadStream(archive, { highWaterMark: 1 << 20 }).pipe(createGunzip({ chunkSize: 1 << 20 })) : createReadStream(archive, { highWaterMark: 1 << 20 });
    const reading = pipeline(source, ex);
    // Awaited after the entries; a failure while reading them (a full disk) ends the pipeline early, which must not go unhandled.
    reading.catch(() => undefined);
    for await (const entry of ex) {
      const m = wanted.get(normal(entry.header.name));
      if (!m || done.has(normal(m.member))) {
        entry.resume();
        continue;
      }
      if (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file') {
        throw new OperationError(`${archive}: the member ${m.member} is a ${entry.header.type}, not a regular file`);
      }
      const partial = `${m.dest}.partial`;
      partials.push(partial);
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        await mkdir(dirname(m.dest), { recursive: true });
        const fh = await open(partial, 'w', m.mode);
        try {
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            hash.update(chunk);
            bytes += chunk.length;
            for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        await chmod(partial, m.mode);
      } catch (err) {
        throw cacheWriteError(err, m.dest);
      }
      done.set(normal(m.member), { sha256: hash.digest('hex'), bytes });
    }
    await reading;
    const missing = members.filter((m) => !done.has(normal(m.member)));
    if (missing.length > 0) throw new OperationError(`${archive} has no member ${missing.map((m) => m.member).join(', ')}`);
    for (const m of members) await rename(`${m.dest}.partial`, m.dest);
    return new Map(members.map((m) => [m.member, done.get(normal(m.member))!]));
  } catch (err) {
    await Promise.all(partials.map((p) => rm(p, { force: true })));
    if (err instanceof OperationError) throw err;
    throw new OperationError(`extracting ${archive}: ${errorMessage(err)}`);
  }
}
