import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { ARCHES, type Arch } from '../boxes/catalog.js';
import { errorMessage, OperationError } from '../errors.js';
import { ARTIFACTS, readSums } from '../offline/artifacts.js';
import { cacheWriteError, writeFileAtomic } from '../write.js';

/**
 * The host-side artifacts cache (src/cache.ts artifactsCacheDir(): where every cluster installs
 * from unless offline.dir names a directory of its own): `v<patch>/<arch>/` in the layout of
 * src/offline/artifacts.ts, each with SHA256SUMS and `kubeadm-vagrant-lock.json` (where every file
 * came from, the upstream checksum and ours); beside them `downloads/<host>/<path>`, the release
 * downloads as fetched (archives are extracted from there again, not downloaded again), and `blobs/`,
 * image blobs while their archives are written.
 */

export const CACHE = {
  lockFile: 'kubeadm-vagrant-lock.json',
  downloads: 'downloads',
  blobs: 'blobs',
} as const;

/** `<root>/v<patch>/<arch>`. */
export function archDir(root: string, patch: string, arch: Arch): string {
  return join(root, `v${patch}`, arch);
}

/** Where the original of a release download is kept: `<root>/downloads/<host>/<path>`, by its upstream URL. */
export function downloadPath(root: string, url: string): string {
  const u = new URL(url);
  const segments = u.pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  if (segments.some((s) => s === '..' || s === '.' || s.includes('/'))) throw new OperationError(`${url}: a path this cache cannot hold`);
  return join(root, CACHE.downloads, u.host, ...segments);
}

/** Where an image blob waits while its archive is written: `<root>/blobs/sha256/<hex>`. */
export function blobPath(root: string, digest: string): string {
  return join(root, CACHE.blobs, ...digest.split(':'));
}

const SHA256_HEX = z.string().regex(/^[0-9a-f]{64}$/);
const DIGEST = z.string().regex(/^sha256:[0-9a-f]{64}$/);
/** An upstream checksum may be sha512 where a project publishes that. */
const UPSTREAM_DIGEST = z.string().regex(/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/);

/** How the upstream checksum was known. */
const publishedBy = z.discriminatedUnion('kind', [
  /** A checksum file published beside the download. */
  z.object({ kind: z.literal('checksum-file'), url: z.string() }),
  /** A digest pinned in this project (or supplied by the user), and where it was read. */
  z.object({ kind: z.literal('pinned'), pinnedFrom: z.string() }),
  /** The registry: the manifest's digest (by tag: its Docker-Content-Digest; through an index: the index's entry). */
  z.object({ kind: z.literal('registry'), url: z.string(), indexDigest: DIGEST.optional() }),
]);

/** One file of the layout, as the lock file records it. */
const lockEntry = z.object({
  /** Ours: the sha256 of the file as it is in the layout (what SHA256SUMS lists). */
  sha256: SHA256_HEX,
  bytes: z.number().int().nonnegative(),
  /** The upstream URL of the download it came from, or the image reference. */
  source: z.string(),
  /** The URL actually fetched, when a mirror served it. */
  fetchedFrom: z.string().optional(),
  /** The archive member it was extracted from. */
  member: z.string().optional(),
  /** An image's platform (`linux/amd64`). */
  platform: z.string().optional(),
  upstream: z.object({
    /** The upstream checksum: of the file itself, of the archive it came from, or the image's manifest digest. */
    digest: UPSTREAM_DIGEST,
    of: z.enum(['file', 'archive', 'manifest']),
    publishedBy,
  }),
});

export const LOCK_VERSION = 1;

const lockFileSchema = z.object({
  lockVersion: z.literal(LOCK_VERSION),
  kubernetes: z.string(),
  arch: z.enum(ARCHES),
  /** What the fetches into this directory were for (a union): `verify --fix` fetches it again. */
  needs: z.object({ cnis: z.array(z.string()), dashboard: z.boolean(), containerd: z.boolean(), files: z.array(z.string()) }),
  /** By path relative to the directory. */
  files: z.record(z.string(), lockEntry),
});

export type LockEntry = z.infer<typeof lockEntry>;
export type LockFile = z.infer<typeof lockFileSchema>;
export type LockNeeds = LockFile['needs'];

/** The lock file of a directory: undefined when absent; `problem` when unreadable or not ours (the directory is then fetched again). */
export function readLockFile(dir: string): { lock?: LockFile; problem?: string } {
  const path = join(dir, CACHE.lockFile);
  if (!existsSync(path)) return {};
  try {
    const parsed = lockFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (parsed.success) return { lock: parsed.data };
    const issue = parsed.error.issues[0]!;
    return { problem: `${path}: ${issue.path.join('.') || '(top level)'}: ${issue.message}` };
  } catch (err) {
    return { problem: `${path}: ${errorMessage(err)}` };
  }
}

/** An empty lock for a directory. */
export function emptyLock(patch: string, arch: Arch): LockFile {
  return { lockVersion: LOCK_VERSION, kubernetes: patch, arch, needs: { cnis: [], dashboard: false, containerd: false, files: [] }, files: {} };
}

/** Whether a lock entry's file is in the directory as recorded (its size; `verify` re-hashes). */
export function entryPresent(dir: string, rel: string, entry: LockEntry): boolean {
  try {
    const st = statSync(join(dir, rel));
    return st.isFile() && st.size === entry.bytes;
  } catch {
    return false;
  }
}

/** SHA256SUMS's text over the entries given (sorted, `sha256sum` format). */
export function sumsText(files: Readonly<Record<string, LockEntry>>): string {
  return Object.keys(files)
    .sort()
    .map((rel) => `${files[rel]!.sha256}  ${rel}\n`)
    .join('');
}

/**
 * Writes the lock file, then SHA256SUMS (last), each through a temporary name and a rename; both list
 * only the entries whose file is present as recorded.
 */
export function writeLockAndSums(dir: string, lock: LockFile): LockFile {
  const files = Object.fromEntries(Object.entries(lock.files).filter(([rel, e]) => entryPresent(dir, rel, e)).sort(([a], [b]) => a.localeCompare(b)));
  const kept: LockFile = { ...lock, files };
  for (const [name, text] of [
    [CACHE.lockFile, `${JSON.stringify(kept, null, 2)}\n`],
    [ARTIFACTS.sums, sumsText(files)],
  ] as const) {
    try {
      writeFileAtomic(join(dir, name), text, 0o644);
    } catch (err) {
      throw cacheWriteError(err, join(dir, name));
    }
  }
  return kept;
}

/** A `v<patch>/<arch>` directory of the cache. */
export interface CachedDir {
  patch: string;
  arch: Arch;
  dir: string;
}

/** Every `v<patch>/<arch>` directory under the root, newest patch first. */
export function cachedDirs(root: string): CachedDir[] {
  if (!existsSync(root)) return [];
  const out: CachedDir[] = [];
  for (const name of readdirSync(root)) {
    const m = /^v(\d+\.\d+\.\d+)$/.exec(name);
    if (!m) continue;
    for (const arch of ARCHES) if (existsSync(join(root, name, arch))) out.push({ patch: m[1]!, arch, dir: join(root, name, arch) });
  }
  const key = (p: string) => p.split('.').map(Number);
  return out.sort((a, b) => {
    const [x, y] = [key(a.patch), key(b.patch)];
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return y[i]! - x[i]!;
    return a.arch.localeCompare(b.arch);
  });
}

/** SHA256SUMS of a directory, or an empty map when it has none. */
export function sumsOf(dir: string): Map<string, string> {
  return existsSync(join(dir, ARTIFACTS.sums)) ? readSums(dir) : new Map();
}
