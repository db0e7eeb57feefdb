import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileDigests } from '../download/digest.js';
import { withDirectoryLock } from '../download/lock.js';
import { mapBounded } from '../download/pool.js';
import { ARTIFACTS } from '../offline/artifacts.js';
import { cachedDirs, CACHE, downloadPath, entryPresent, readLockFile, sumsOf, sumsText, writeLockAndSums, type CachedDir } from './cache.js';

/**
 * `artifacts list`, `verify` and `prune`: what the cache holds, whether every file is still what
 * the lock file and SHA256SUMS say (re-hashed; image archives read through, blob by blob), and
 * removing what no config in use needs.
 */

/** Every regular file below `dir` (relative paths); without the lock file and SHA256SUMS at the top unless `all`. */
function filesBelow(dir: string, all = false, rel = ''): string[] {
  if (!existsSync(join(dir, rel))) return [];
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return filesBelow(dir, all, p);
    return e.isFile() && (all || (p !== CACHE.lockFile && p !== ARTIFACTS.sums)) ? [p] : [];
  });
}

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** A cache directory in `artifacts list`. */
export interface CachedDirState extends CachedDir {
  files: number;
  bytes: number;
  /** Every file the lock file records is there as recorded, SHA256SUMS lists exactly them, and no download is half done. */
  complete: boolean;
  /** Why not, in short phrases. */
  problems: string[];
}

/** The state of one directory, from the lock file, SHA256SUMS and file sizes (no hashing: `verify` does that). */
export function dirState(d: CachedDir): CachedDirState {
  const files = filesBelow(d.dir);
  const bytes = files.reduce((n, f) => n + sizeOf(join(d.dir, f)), 0);
  const problems: string[] = [];
  const { lock, problem } = readLockFile(d.dir);
  if (problem) problems.push(`unreadable lock file (${problem})`);
  else if (!lock) problems.push(`no ${CACHE.lockFile} (not fetched by kubeadm-vagrant)`);
  if (lock) {
    const missing = [...new Set([...lock.needs.files, ...Object.keys(lock.files)])].sort().filter((rel) => !lock.files[rel] || !entryPresent(d.dir, rel, lock.files[rel]));
    if (missing.length) problems.push(`${missing.length} missing or changed: ${missing.join(', ')}`);
    const sums = existsSync(join(d.dir, ARTIFACTS.sums)) ? readFileSync(join(d.dir, ARTIFACTS.sums), 'utf8') : undefined;
    if (sums === undefined) problems.push(`no ${ARTIFACTS.sums}`);
    else if (sums !== sumsText(lock.files)) problems.push(`${ARTIFACTS.sums} does not list what the lock file records`);
  }
  const partial = files.filter((f) => /\.partial(\.json)?$/.test(f));
  if (partial.length) problems.push(`unfinished: ${partial.join(', ')}`);
  return { ...d, files: files.filter((f) => !partial.includes(f)).length, bytes, complete: problems.length === 0, problems };
}

/** Every directory of the cache, and the size of the kept downloads. */
export function listCache(root: string): { dirs: CachedDirState[]; downloadsBytes: number } {
  const downloads = join(root, CACHE.downloads);
  return { dirs: cachedDirs(root).map(dirState), downloadsBytes: filesBelow(downloads).reduce((n, f) => n + sizeOf(join(downloads, f)), 0) };
}

/** One file that is not what it should be. */
export interface VerifyProblem {
  /** Relative to the directory. */
  file: string;
  problem: string;
}

export interface VerifiedDir extends CachedDir {
  checked: number;
  problems: VerifyProblem[];
}

/**
 * Re-hashes every file SHA256SUMS or the lock file names against both, and reads every image archive
 * through (each blob against its digest, the image's platform against the directory's architecture,
 * its manifest digest against the lock file's).
 */
export async function verifyDir(d: CachedDir): Promise<VerifiedDir> {
  const { checkImageArchive } = await import('../oci/archive.js');
  const problems: VerifyProblem[] = [];
  const { lock, problem } = readLockFile(d.dir);
  if (problem) problems.push({ file: CACHE.lockFile, problem: `unreadable: ${problem}` });
  else if (!lock) problems.push({ file: CACHE.lockFile, problem: 'missing: where the files came from is not recorded' });
  const sums = sumsOf(d.dir);
  if (!existsSync(join(d.dir, ARTIFACTS.sums))) problems.push({ file: ARTIFACTS.sums, problem: 'missing' });
  const files = [...new Set([...sums.keys(), ...Object.keys(lock?.files ?? {})])].sort();
  await mapBounded(files, 2, async (rel) => {
    const path = join(d.dir, rel);
    const entry = lock?.files[rel];
    if (!existsSync(path)) return void problems.push({ file: rel, problem: 'missing' });
    const { sha256 } = await fileDigests(path, ['sha256']);
    if (!sums.has(rel)) problems.push({ file: rel, problem: `not listed in ${ARTIFACTS.sums}` });
    else if (sums.get(rel) !== sha256) problems.push({ file: rel, problem: `sha256 ${sha256}, ${ARTIFACTS.sums} says ${sums.get(rel)}` });
    if (lock && !entry) problems.push({ file: rel, problem: `not recorded in ${CACHE.lockFile}` });
    else if (entry && entry.sha256 !== sha256 && sums.get(rel) === sha256) problems.push({ file: rel, problem: `sha256 ${sha256}, ${CACHE.lockFile} says ${entry.sha256}` });
    if (rel.startsWith(`${ARTIFACTS.imagesDir}/`) && rel.endsWith('.tar')) {
      const check = await checkImageArchive(path, { os: 'linux', architecture: d.arch });
      for (const p of check.problems) problems.push({ file: rel, problem: p.replace(`${path}: `, '') });
      if (entry && check.problems.length === 0 && !check.images.some((i) => i.digest === entry.upstream.digest)) {
        problems.push({ file: rel, problem: `holds ${check.images.map((i) => i.digest).join(', ')}, not the manifest ${entry.upstream.digest} the lock file records for ${entry.source}` });
      }
    }
  });
  return { ...d, checked: files.length, problems: problems.sort((a, b) => a.file.localeCompare(b.file)) };
}

/**
 * Takes the files `verify` found wrong out of the directory and out of its lock file and SHA256SUMS
 * (a fetch then brings them again). Returns the needs the lock file records, for that fetch.
 */
export async function dropBadFiles(d: VerifiedDir): Promise<ReturnType<typeof readLockFile>['lock']> {
  const { lock } = readLockFile(d.dir);
  const bad = new Set(d.problems.map((p) => p.file));
  for (const rel of bad) {
    if (rel === CACHE.lockFile || rel === ARTIFACTS.sums) continue;
    await rm(join(d.dir, rel), { force: true });
    if (lock) delete lock.files[rel];
  }
  if (lock) writeLockAndSums(d.dir, lock);
  return lock;
}

/** What `prune` removes and keeps. */
export interface PruneResult {
  kept: string[];
  removed: string[];
  freedBytes: number;
}

/** The bytes below a path (a file or a directory). */
function bytesBelow(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  return st.isDirectory() ? filesBelow(path, true).reduce((n, f) => n + sizeOf(join(path, f)), 0) : st.size;
}

/** Removes the empty directories below `dir` (not `dir` itself). */
function removeEmptyDirs(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    removeEmptyDirs(join(dir, e.name));
    if (readdirSync(join(dir, e.name)).length === 0) rmdirSync(join(dir, e.name));
  }
}

/**
 * Under the cache's lock: removes every `v<patch>/` directory except the patches in `keep` and the
 * `keepNewest` newest, then the downloads no kept lock file names, and the blob staging area.
 */
export async function pruneCache(root: string, opts: { keep: ReadonlySet<string>; keepNewest: number; dryRun?: boolean }): Promise<PruneResult> {
  return withDirectoryLock(root, async () => {
    const patches = [...new Set(cachedDirs(root).map((d) => d.patch))];
    const keptPatches = new Set([...patches.slice(0, Math.max(0, opts.keepNewest)), ...patches.filter((p) => opts.keep.has(p))]);
    const result: PruneResult = { kept: [], removed: [], freedBytes: 0 };
    const remove = async (path: string) => {
      result.removed.push(path);
      result.freedBytes += bytesBelow(path);
      if (!opts.dryRun) await rm(path, { recursive: true, force: true });
    };
    for (const patch of patches) {
      if (keptPatches.has(patch)) result.kept.push(join(root, `v${patch}`));
      else await remove(join(root, `v${patch}`));
    }
    const referenced = new Set<string>();
    for (const d of cachedDirs(root)) {
      if (!keptPatches.has(d.patch)) continue;
      for (const e of Object.values(readLockFile(d.dir).lock?.files ?? {})) if (/^https?:\/\//.test(e.source)) referenced.add(downloadPath(root, e.source));
    }
    const downloads = join(root, CACHE.downloads);
    for (const f of filesBelow(downloads)) {
      const path = join(downloads, f);
      if (!referenced.has(path.replace(/\.partial(\.json)?$/, ''))) await remove(path);
    }
    if (existsSync(join(root, CACHE.blobs))) await remove(join(root, CACHE.blobs));
    if (!opts.dryRun) removeEmptyDirs(downloads);
    result.removed = result.removed.map((p) => relative(root, p) || p);
    return result;
  });
}


