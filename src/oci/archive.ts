import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Pack } from 'tar-stream';
import { errorMessage, OperationError } from '../errors.js';
import { loadTarStream } from '../offline/tar.js';
import { cacheWriteError } from '../write.js';
import { formatPlatform, MEDIA_TYPES, parseManifest, configPlatform, platformMatches, type Platform } from './manifest.js';

/**
 * OCI image-layout archives (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), the form that
 * `ctr images import` reads and src/offline/tar.ts `imageRefsOf` names: written from a resolved
 * image (the manifest's bytes as the registry served them, so the digest is the registry's), and
 * read back with every blob checked against its digest. tar-stream is loaded lazily.
 */

/** The annotations that name an image in index.json: containerd's, and OCI's (a full reference, as ctr reads it). */
export const IMAGE_NAME_ANNOTATIONS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name'] as const;

const OCI_LAYOUT = Buffer.from(`${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
/** Every entry gets the same time and owner: the same image gives the same archive. */
const ENTRY = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };

/** What an archive holds: one image of one platform. */
export interface ImageArchiveInput {
  /** The full reference the guest imports it as: `registry.k8s.io/pause:3.10.2`. */
  name: string;
  platform: Platform;
  manifest: { bytes: Uint8Array; digest: string; mediaType: string };
  config: { digest: string; bytes: Uint8Array };
  /**
   * Each layer's blob file. Its digest is checked again while it is packed, unless `verified` (just
   * downloaded with its digest checked while streaming: hashing it twice would find nothing new).
   */
  layers: readonly { digest: string; size: number; path: string; verified?: boolean }[];
}

/** The index.json of an archive holding one image. */
export function imageIndexJson(input: Pick<ImageArchiveInput, 'name' | 'platform' | 'manifest'>): Buffer {
  const annotations = Object.fromEntries(IMAGE_NAME_ANNOTATIONS.map((a) => [a, input.name]));
  const platform = { architecture: input.platform.architecture, os: input.platform.os, ...(input.platform.variant ? { variant: input.platform.variant } : {}) };
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [{ mediaType: input.manifest.mediaType, digest: input.manifest.digest, size: input.manifest.bytes.byteLength, annotations, platform }],
  };
  return Buffer.from(`${JSON.stringify(index)}\n`);
}

const blobPath = (digest: string): string => `blobs/${digest.replace(':', '/')}`;

async function addBuffer(pack: Pack, name: string, data: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => pack.entry({ ...ENTRY, name, mode: 0o644, size: data.byteLength }, Buffer.from(data), (err) => (err ? reject(err) : resolve())));
}

/** Packs a blob file, hashing it on the way: a blob that is not what its name says fails the archive. */
async function addBlobFile(pack: Pack, layer: ImageArchiveInput['layers'][number], what: string, stop: AbortSignal): Promise<void> {
  const hash = createHash('sha256');
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ ...ENTRY, name: blobPath(layer.digest), mode: 0o644, size: layer.size }, (err) => (err ? reject(err) : resolve()));
    (async () => {
      for await (const chunk of createReadStream(layer.path, { highWaterMark: 1 << 20 })) {
        if (!layer.verified) hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        if (bytes > layer.size) throw new OperationError(`${what}: the blob ${layer.digest} (${layer.path}) is larger than its ${layer.size} bytes`);
        if (!entry.write(chunk as Buffer)) await once(entry, 'drain', { signal: stop });
      }
      const got = layer.verified ? layer.digest : `sha256:${hash.digest('hex')}`;
      if (bytes !== layer.size || got !== layer.digest) throw new OperationError(`${what}: the blob ${layer.path} is ${got} (${bytes} bytes), not ${layer.digest} (${layer.size} bytes)`);
      entry.end(undefined);
    })().catch(reject); // the caller destroys the pack, and with it this entry
  });
}

/**
 * Writes the archive at `dest` through `<dest>.partial`, renamed into place once complete; returns
 * its sha256 and size (hashed as written). A failure removes the partial and leaves `dest` as it was.
 */
export async function writeImageArchive(dest: string, input: ImageArchiveInput): Promise<{ sha256: string; bytes: number }> {
  const { pack: makePack } = await loadTarStream();
  const partial = `${dest}.partial`;
  const what = `writing ${dest} (${input.name})`;
  const pack = makePack();
  const hash = createHash('sha256');
  let bytes = 0;
  const fh = await open(partial, 'w', 0o644);
  try {
    // The writer failing (a full disk) stops the producer, which may be waiting for the pack to drain.
    const stop = new AbortController();
    const stopped = new Promise<never>((_, reject) => stop.signal.addEventListener('abort', () => reject(stop.signal.reason as Error), { once: true }));
    stopped.catch(() => undefined);
    const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, stopped]);
    const written = (async () => {
      for await (const chunk of pack as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        for (let done = 0; done < chunk.length; ) done += (await fh.write(chunk, done)).bytesWritten;
      }
    })().catch((err: unknown) => {
      stop.abort(cacheWriteError(err, dest));
      throw stop.signal.reason;
    });
    const produced = (async () => {
      await guard(addBuffer(pack, 'oci-layout', OCI_LAYOUT));
      await guard(addBuffer(pack, 'index.json', imageIndexJson(input)));
      for (const dir of ['blobs/', 'blobs/sha256/']) await guard(new Promise<void>((resolve, reject) => pack.entry({ ...ENTRY, name: dir, type: 'directory', mode: 0o755 }, (err) => (err ? reject(err) : resolve()))));
      await guard(addBuffer(pack, blobPath(input.manifest.digest), input.manifest.bytes));
      await guard(addBuffer(pack, blobPath(input.config.digest), input.config.bytes));
      const packed = new Set([input.manifest.digest, input.config.digest]);
      for (const layer of input.layers) {
        if (packed.has(layer.digest)) continue; // a layer listed twice is stored once
        packed.add(layer.digest);
        await guard(addBlobFile(pack, layer, what, stop.signal));
      }
      pack.finalize();
    })().catch((err: unknown) => {
      pack.destroy(); // ends the writer's loop
      throw err;
    });
    const [p, w] = await Promise.allSettled([produced, written]);
    if (w.status === 'rejected') throw w.reason;
    if (p.status === 'rejected') throw p.reason;
    await fh.sync();
    await fh.close();
    await rename(partial, dest);
    return { sha256: hash.digest('hex'), bytes };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw err instanceof OperationError ? err : new OperationError(`${what}: ${errorMessage(err)}`);
  }
}

/** What reading an archive back found. */
export interface ArchiveCheck {
  /** The image names index.json gives. */
  names: string[];
  /** Each manifest's digest and platform. */
  images: { digest: string; platform: string }[];
  /** Everything wrong, each naming the archive and the blob. */
  problems: string[];
}

/** Small blobs are kept in memory while reading (manifests, configs, index.json); layers are only hashed. */
const KEEP_BELOW = 4 * 1024 * 1024;

/**
 * Reads an image archive through: every `blobs/sha256/<hex>` hashed against its name, index.json's
 * manifests, their configs and layers present with their sizes, and each image's platform (`platform`,
 * when given, must match). Problems are returned, not thrown (a tar that cannot be read is one).
 */
export async function checkImageArchive(file: string, platform?: Platform): Promise<ArchiveCheck> {
  const { extract } = await loadTarStream();
  const problems: string[] = [];
  const blobs = new Map<string, { size: number; ok: boolean; data?: Buffer }>();
  let indexJson: Buffer | undefined;
  try {
    const ex = extract();
    const reading = pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), ex);
    // Awaited after the entries; a failure while reading them (a full disk) ends the pipeline early, which must not go unhandled.
    reading.catch(() => undefined);
    for await (const entry of ex) {
      const name = entry.header.name.replace(/^\.\//, '');
      const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let size = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        if ((m || name === 'index.json') && (entry.header.size ?? 0) < KEEP_BELOW) kept.push(chunk);
      }
      if (name === 'index.json') indexJson = Buffer.concat(kept);
      if (m) {
        const ok = hash.digest('hex') === m[1];
        if (!ok) problems.push(`${file}: the blob sha256:${m[1]} does not match its digest (its bytes hash to sha256:${createHash('sha256').update(Buffer.concat(kept)).digest('hex').slice(0, 12)}...)`);
        blobs.set(`sha256:${m[1]}`, { size, ok, ...(kept.length ? { data: Buffer.concat(kept) } : {}) });
      }
    }
    await reading;
  } catch (err) {
    return { names: [], images: [], problems: [`${file}: not a readable tar archive (${errorMessage(err)})`] };
  }
  if (!indexJson) return { names: [], images: [], problems: [...problems, `${file}: no index.json (not an OCI image layout)`] };
  const names: string[] = [];
  const images: ArchiveCheck['images'] = [];
  let index: { manifests?: { digest?: string; size?: number; annotations?: Record<string, string> }[] };
  try {
    index = JSON.parse(indexJson.toString('utf8')) as typeof index;
  } catch {
    return { names, images, problems: [...problems, `${file}: index.json is not JSON`] };
  }
  const blob = (digest: string, size: number | undefined, role: string): Buffer | undefined => {
    const b = blobs.get(digest);
    if (!b) problems.push(`${file}: the ${role} blob ${digest} is missing`);
    else if (size !== undefined && b.size !== size) problems.push(`${file}: the ${role} blob ${digest} has ${b.size} bytes, its descriptor says ${size}`);
    return b?.ok ? b.data : undefined;
  };
  for (const d of index.manifests ?? []) {
    for (const a of IMAGE_NAME_ANNOTATIONS) if (d.annotations?.[a] && !names.includes(d.annotations[a]!)) names.push(d.annotations[a]!);
    if (!d.digest) continue;
    const data = blob(d.digest, d.size, 'manifest');
    if (!data) continue;
    try {
      const doc = parseManifest(data, undefined, `${file}: manifest ${d.digest}`);
      if (doc.kind !== 'manifest') throw new OperationError(`${file}: ${d.digest} is an index; an archive here holds one platform's image`);
      doc.layers.forEach((l) => blob(l.digest, l.size, 'layer'));
      const config = blob(doc.config.digest, doc.config.size, 'config');
      if (!config) continue;
      const seen = configPlatform(config, `${file}: config ${doc.config.digest}`);
      images.push({ digest: d.digest, platform: formatPlatform(seen) });
      if (platform && !platformMatches(seen, platform)) problems.push(`${file}: the image is ${formatPlatform(seen)}, not ${formatPlatform(platform)}`);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  if (images.length === 0 && problems.length === 0) problems.push(`${file}: index.json names no image manifest`);
  return { names, images, problems };
}
