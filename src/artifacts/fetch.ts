import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Arch } from '../boxes/catalog.js';
import { errorMessage, OperationError } from '../errors.js';
import { findChecksum, parseChecksumFile } from '../download/checksums.js';
import { fileDigests, formatDigest, parseDigest, type Digest } from '../download/digest.js';
import { DownloadError, fetchFile, fetchText } from '../download/fetch-file.js';
import { lockDirectory, type LockHolder } from '../download/lock.js';
import { DEFAULT_PARALLEL, mapBounded } from '../download/pool.js';
import type { FileTransfer, TransferProgress } from '../download/progress.js';
import type { Descriptor } from '../oci/manifest.js';
import { parseImageReference } from '../oci/reference.js';
import { RegistryClient, type RegistryRequestOptions, type ResolvedImage } from '../oci/registry.js';
import { writeImageArchive } from '../oci/archive.js';
import { archDir, blobPath, downloadPath, emptyLock, entryPresent, readLockFile, writeLockAndSums, CACHE, type LockEntry, type LockFile } from './cache.js';
import { artifactPlan, itemFiles, itemName, type FetchNeeds, type PlannedItem } from './plan.js';
import { mirroredUrl, type ReleaseDownload } from './sources.js';
import { cacheWriteError } from '../write.js';

/**
 * `artifacts fetch`: fills `v<patch>/<arch>/` of the cache with what a cluster needs and the cache
 * does not have yet. Under the cache's lock (two fetches at once share it: the second waits, then
 * finds what the first fetched); bounded in parallel; each file verified before it enters the layout
 * by a rename; the lock file and SHA256SUMS written last, listing only complete files.
 *
 * What a second fetch asks the network: nothing, when everything is there. Every file is pinned
 * (release downloads by a versioned URL and their published checksum, the CNI manifests by a digest
 * in this project, the images by the manifest digest the lock file recorded when they were fetched),
 * and was verified when it entered; the lock file records that. A fetch that asked again would fail
 * offline, which is when a cache is needed most. `artifacts verify` re-hashes everything locally.
 */

/** `mirrors:` of the config. */
export interface Mirrors {
  /** Base URL of a mirror of the release downloads (`<base>/<host><path>`). */
  files?: string;
  /** Registry host → mirror base URL. */
  registries?: Readonly<Record<string, string>>;
}

export interface FetchArtifactsOptions extends FetchNeeds {
  /** A patch (`1.37.2`): see fetchPatch() for a minor. */
  patch: string;
  arches: readonly Arch[];
  mirrors?: Mirrors;
  /** sha256 of CNI manifests this project does not pin, by file name (--trust-manifest, mirrors.manifests). */
  pins?: Readonly<Record<string, string>>;
  cacheRoot: string;
  progress?: TransferProgress;
  signal?: AbortSignal;
  /** How many downloads at once (default 4). */
  parallel?: number;
  /** Timeouts, retries and an injected fetch (tests). */
  request?: RegistryRequestOptions;
  /** How long to wait for another fetch holding the cache (default 30 minutes). */
  lockWaitMs?: number;
  onLockWait?: (holder: LockHolder | undefined) => void;
}

/** What a fetch did, per directory. */
export interface FetchReport {
  dirs: { patch: string; arch: Arch; dir: string; fetched: string[]; cached: string[] }[];
  /** Bytes downloaded (originals and blobs; not those reused from downloads/). */
  downloadedBytes: number;
}

/** A fetch waits this long for another one holding the cache: it may be downloading hundreds of MB. */
const DEFAULT_LOCK_WAIT_MS = 30 * 60_000;

interface Task {
  item: PlannedItem;
  arch: Arch;
  dir: string;
  /** The item's layout files that are missing. */
  missing: readonly string[];
  /** What the lock file already says of the download's upstream checksum (another member of the same archive). */
  known: LockEntry['upstream'] | undefined;
}

/** The context every task shares. */
interface Run {
  opts: FetchArtifactsOptions;
  client: RegistryClient;
  /** Blob downloads in flight, by digest: two images sharing a layer fetch it once. */
  blobs: Map<string, Promise<void>>;
  downloaded: number;
}

/** The upstream checksum of a release download, and who published it: from the lock file when it has it (no request), else from upstream. */
async function expectedDigest(run: Run, d: ReleaseDownload, known: Task['known']): Promise<{ digest: Digest; publishedBy: LockEntry['upstream']['publishedBy'] }> {
  if (known) return { digest: parseDigest(known.digest), publishedBy: known.publishedBy };
  if (d.checksum.kind === 'pinned') return { digest: parseDigest(d.checksum.digest), publishedBy: { kind: 'pinned', pinnedFrom: d.checksum.pinnedFrom } };
  const url = mirroredUrl(d.checksum.url, run.opts.mirrors?.files);
  let text: string;
  try {
    text = await fetchText(url, { ...run.opts.request, ...(run.opts.signal ? { signal: run.opts.signal } : {}) });
  } catch (err) {
    if (err instanceof DownloadError && err.status === 404 && d.notFound) throw new OperationError(`${d.notFound}: ${err.message}`);
    throw err;
  }
  const name = d.checksum.entry ?? basename(new URL(d.url).pathname);
  const entry = findChecksum(parseChecksumFile(text, `the checksum file ${url}`), name);
  if (!entry) throw new OperationError(`the checksum file ${url} lists no checksum of ${name}`);
  return { digest: entry, publishedBy: { kind: 'checksum-file', url: d.checksum.url } };
}

/** The original of a download in downloads/: reused when its bytes are the expected ones, else fetched. */
async function ensureOriginal(run: Run, d: ReleaseDownload, expected: Digest, transfer: FileTransfer | undefined): Promise<{ path: string; sha256: string; bytes: number; reused: boolean; from: string }> {
  const path = downloadPath(run.opts.cacheRoot, d.url);
  const from = mirroredUrl(d.url, run.opts.mirrors?.files);
  const mode = 'to' in d.install ? d.install.mode : 0o644;
  if (existsSync(path)) {
    const got = await fileDigests(path, ['sha256', expected.algorithm]);
    if (got[expected.algorithm] === expected.hex) return { path, sha256: got.sha256, bytes: statSync(path).size, reused: true, from };
    await rm(path, { force: true });
  }
  const fetched = await fetchFile({
    ...run.opts.request,
    url: from,
    dest: path,
    expected,
    mode,
    ...(run.opts.signal ? { signal: run.opts.signal } : {}),
    ...(transfer ? { onProgress: (e) => transfer.onProgress(e) } : {}),
  });
  run.downloaded += fetched.bytes - fetched.resumedFrom;
  return { path, sha256: fetched.sha256, bytes: fetched.bytes, reused: false, from };
}

/** Puts a verified original at `dest` (a hard link: the same bytes take no more space; a copy where links fail), through a partial name. */
async function placeFile(original: string, dest: string, mode: number): Promise<void> {
  const partial = `${dest}.partial`;
  try {
    await mkdir(dirname(dest), { recursive: true });
    await rm(partial, { force: true });
    try {
      await link(original, partial);
    } catch {
      await copyFile(original, partial);
    }
    await chmod(partial, mode);
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true });
    throw cacheWriteError(err, dest);
  }
}

async function fetchDownload(run: Run, task: Task, d: ReleaseDownload, transfer: FileTransfer | undefined): Promise<Record<string, LockEntry>> {
  const { digest, publishedBy } = await expectedDigest(run, d, task.known);
  const original = await ensureOriginal(run, d, digest, transfer);
  const base = { source: d.url, ...(original.from !== d.url ? { fetchedFrom: original.from } : {}) };
  const entries: Record<string, LockEntry> = {};
  if ('to' in d.install) {
    await placeFile(original.path, join(task.dir, d.install.to), d.install.mode);
    entries[d.install.to] = { sha256: original.sha256, bytes: original.bytes, ...base, upstream: { digest: formatDigest(digest), of: 'file', publishedBy } };
  } else {
    const { extractMembers } = await import('./extract.js');
    const members = d.install.members.filter((m) => task.missing.includes(m.to));
    const got = await extractMembers(original.path, members.map((m) => ({ member: m.member, dest: join(task.dir, m.to), mode: m.mode })));
    for (const m of members) {
      const r = got.get(m.member)!;
      entries[m.to] = { sha256: r.sha256, bytes: r.bytes, ...base, member: m.member, upstream: { digest: formatDigest(digest), of: 'archive', publishedBy } };
    }
  }
  transfer?.done({ bytes: original.bytes, ...(original.reused ? { note: 'from downloads/' } : {}) });
  return entries;
}

/**
 * A blob into blobs/, verified, once per digest per run: one an earlier, failed run left there is
 * re-hashed (and fetched again when it is not its digest); one downloaded now was checked while it streamed.
 */
async function ensureBlob(run: Run, image: ResolvedImage, blob: Descriptor, onBytes: (n: number) => void): Promise<string> {
  const path = blobPath(run.opts.cacheRoot, blob.digest);
  let pending = run.blobs.get(blob.digest);
  if (!pending) {
    pending = (async () => {
      if (existsSync(path) && statSync(path).size === blob.size && `sha256:${(await fileDigests(path, ['sha256'])).sha256}` === blob.digest) return;
      await rm(path, { force: true });
      const got = await run.client.fetchBlob(image, blob, path, (e) => onBytes(e.bytes));
      run.downloaded += got.bytes - got.resumedFrom;
    })();
    run.blobs.set(blob.digest, pending);
    pending.catch(() => run.blobs.delete(blob.digest));
  }
  await pending;
  return path;
}

async function fetchImage(run: Run, task: Task, ref: string, file: string, transfer: FileTransfer | undefined): Promise<Record<string, LockEntry>> {
  const image = await run.client.resolve(parseImageReference(ref), { os: 'linux', architecture: task.arch });
  const total = image.layers.reduce((n, l) => n + l.size, 0);
  let finished = 0;
  const layers: { digest: string; size: number; path: string; verified: boolean }[] = [];
  for (const layer of image.layers) {
    const path = await ensureBlob(run, image, layer, (n) => transfer?.onProgress({ url: ref, bytes: finished + n, total, resumedFrom: 0 }));
    finished += layer.size;
    layers.push({ digest: layer.digest, size: layer.size, path, verified: true });
  }
  const dest = join(task.dir, file);
  await mkdir(dirname(dest), { recursive: true }).catch((err: unknown) => {
    throw cacheWriteError(err, dest);
  });
  const written = await writeImageArchive(dest, {
    name: image.name,
    platform: image.platform,
    manifest: image.manifest,
    config: { digest: image.config.descriptor.digest, bytes: image.config.bytes },
    layers,
  }).catch((err: unknown) => {
    throw cacheWriteError(err, dest);
  });
  const fetchedFrom = image.endpoint.mirror ? `${image.endpoint.origin}/v2/${image.endpoint.repository}/manifests/${image.ref.tag ?? image.ref.digest}` : undefined;
  transfer?.done({ bytes: written.bytes });
  return {
    [file]: {
      sha256: written.sha256,
      bytes: written.bytes,
      source: image.name,
      ...(fetchedFrom ? { fetchedFrom } : {}),
      platform: `linux/${task.arch}`,
      upstream: {
        digest: image.manifest.digest,
        of: 'manifest',
        publishedBy: { kind: 'registry', url: image.upstreamUrl, ...(image.index ? { indexDigest: image.index.digest } : {}) },
      },
    },
  };
}

/** A task's failure as an OperationError naming the layout files and the directory (the cause names the source). */
function taskError(task: Task, err: unknown): OperationError {
  if (err instanceof OperationError && !(err instanceof DownloadError) && err.message.includes(task.dir)) return err;
  const e = new OperationError(`${task.missing.join(', ')} of ${task.dir}: ${errorMessage(err)}`);
  e.cause = err;
  return e;
}

/** Which of an item's files the directory lacks (absent, of another size, or not in the lock file). */
function missingFiles(dir: string, lock: LockFile, item: PlannedItem): string[] {
  return itemFiles(item).filter((rel) => {
    const entry = lock.files[rel];
    return !entry || !entryPresent(dir, rel, entry);
  });
}

/** What a fetch would fetch, per architecture: the names of the items the cache lacks, of how many; nothing is fetched (a dry run says it). */
export function pendingItems(opts: FetchArtifactsOptions): { arch: Arch; dir: string; items: string[]; of: number }[] {
  return opts.arches.map((arch) => {
    const items = artifactPlan(opts.patch, arch, opts, opts.pins ?? {});
    const dir = archDir(opts.cacheRoot, opts.patch, arch);
    const lock = readLockFile(dir).lock ?? emptyLock(opts.patch, arch);
    return { arch, dir, items: items.filter((item) => missingFiles(dir, lock, item).length > 0).map(itemName), of: items.length };
  });
}

/** Fetches what the needs call for and the cache lacks; see the module comment. */
export async function fetchArtifacts(opts: FetchArtifactsOptions): Promise<FetchReport> {
  // The plans first: an unknown minor or a manifest without a pin is refused before anything is touched.
  const plans = opts.arches.map((arch) => ({ arch, items: artifactPlan(opts.patch, arch, opts, opts.pins ?? {}) }));
  const held = await lockDirectory(opts.cacheRoot, {
    waitMs: opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS,
    ...(opts.onLockWait ? { onWait: opts.onLockWait } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const run: Run = { opts, client: new RegistryClient({ ...opts.request, ...(opts.signal ? { signal: opts.signal } : {}), mirrors: opts.mirrors?.registries ?? {} }), blobs: new Map(), downloaded: 0 };
  try {
    const dirs = plans.map(({ arch, items }) => {
      const dir = archDir(opts.cacheRoot, opts.patch, arch);
      const { lock } = readLockFile(dir);
      const current = lock ?? emptyLock(opts.patch, arch);
      const needs = {
        cnis: [...new Set([...current.needs.cnis, ...opts.cnis])].sort(),
        dashboard: current.needs.dashboard || opts.dashboard,
        containerd: current.needs.containerd || opts.containerd,
        files: [...new Set([...current.needs.files, ...items.flatMap(itemFiles)])].sort(),
      };
      const knownOf = (item: PlannedItem) => (item.kind === 'download' ? Object.values(current.files).find((e) => e.source === item.download.url)?.upstream : undefined);
      const tasks = items.map((item): Task => ({ item, arch, dir, missing: missingFiles(dir, current, item), known: knownOf(item) })).filter((t) => t.missing.length > 0);
      return { arch, dir, lock: { ...current, needs }, needsChanged: JSON.stringify(needs) !== JSON.stringify(current.needs) || !lock, tasks, items };
    });
    for (const d of dirs) {
      try {
        await mkdir(d.dir, { recursive: true });
      } catch (err) {
        throw cacheWriteError(err, d.dir);
      }
    }
    const tasks = dirs.flatMap((d) => d.tasks);
    const results = new Map<Task, Record<string, LockEntry>>();
    let failure: unknown;
    try {
      await mapBounded(tasks, opts.parallel ?? DEFAULT_PARALLEL, async (task) => {
        const transfer = opts.progress?.file(`${task.arch}/${itemName(task.item)}`);
        try {
          const entries = task.item.kind === 'download' ? await fetchDownload(run, task, task.item.download, transfer) : await fetchImage(run, task, task.item.ref, task.item.file, transfer);
          results.set(task, entries);
        } catch (err) {
          transfer?.fail(err);
          throw taskError(task, err);
        }
      });
    } catch (err) {
      failure = err;
    }
    // What completed enters the lock file and SHA256SUMS, also when another task failed (a re-run does not fetch it again).
    for (const d of dirs) {
      const added = d.tasks.filter((t) => results.has(t));
      // A failed run that added nothing leaves the directory's records as they were.
      if (added.length === 0 && (!d.needsChanged || failure !== undefined)) continue;
      for (const t of added) Object.assign(d.lock.files, results.get(t));
      writeLockAndSums(d.dir, d.lock);
    }
    if (failure !== undefined) throw failure;
    // Every archive is written: the blobs waiting for them are no longer needed.
    await rm(join(opts.cacheRoot, CACHE.blobs), { recursive: true, force: true });
    return {
      dirs: dirs.map((d) => {
        const fetched = d.tasks.flatMap((t) => t.missing);
        return { patch: opts.patch, arch: d.arch, dir: d.dir, fetched, cached: d.items.flatMap(itemFiles).filter((f) => !fetched.includes(f)) };
      }),
      downloadedBytes: run.downloaded,
    };
  } finally {
    await held.release();
  }
}
