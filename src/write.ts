import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage, OperationError, UsageError } from './errors.js';
import { STATE_DIR } from './layout.js';

export interface FileToWrite {
  /** Relative to the directory written into. */
  path: string;
  /** Text, or bytes (a seed image). */
  content: string | Uint8Array;
  mode: number;
}

/** What the operating system's error codes mean for a user, in words. */
const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'something is already there',
  ENOENT: 'it does not exist',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
};

/** A file-system error's meaning in words (`no space left on the device`), or undefined for anything else. */
export function fileSystemReason(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code ? FS_REASONS[code] : undefined;
}

/** A failed file-system call on a user's path, as a user error naming the path; anything else unchanged. */
export function fileSystemError(err: unknown, action: string, path: string): unknown {
  const reason = fileSystemReason(err);
  return reason ? new UsageError(`cannot ${action} ${path}: ${reason}`) : err;
}

/** A failed write into a cache or download (not a user's path): an OperationError naming the path and, for a full disk, saying so. */
export function cacheWriteError(err: unknown, path: string): OperationError {
  return err instanceof OperationError ? err : new OperationError(`cannot write ${path}: ${fileSystemReason(err) ?? errorMessage(err)}`);
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode); // the umask may have narrowed the mode given to writeFileSync
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fileSystemError(err, 'write', path);
  }
}

/** The state directory holds secrets: 0700, whoever created it first. */
export function ensureStateDir(clusterDir: string): string {
  const dir = join(clusterDir, STATE_DIR);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } catch (err) {
    throw fileSystemError(err, 'create', dir);
  }
  return dir;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileSystemError(err, 'read', path);
  }
}

/** The directories from `base` down to `dir` (both included), shallowest first. */
function dirsDownTo(base: string, dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; d.length >= base.length; d = dirname(d)) {
    out.unshift(d);
    if (d === base || dirname(d) === d) break;
  }
  return out;
}

/** One step done, and how to undo it. */
type Undo = { kind: 'mkdir'; path: string } | { kind: 'chmod'; path: string; mode: number } | { kind: 'replace'; path: string; before?: { content: Buffer; mode: number } };

export interface WriteSet {
  /** Directories to create or keep, with the mode put back on every run. */
  dirs: readonly { path: string; mode: number }[];
  files: readonly FileToWrite[];
  /** Files to remove when they exist (outputs no longer needed). */
  removals: readonly string[];
}

/**
 * Checks every path of a write set before writing any: a directory where a file goes, a file
 * where a directory goes and a directory it cannot write into are user errors naming the path.
 */
function preflight(baseDir: string, set: WriteSet): void {
  const wantDirs = new Set<string>([baseDir]);
  for (const d of set.dirs) for (const x of dirsDownTo(baseDir, join(baseDir, d.path))) wantDirs.add(x);
  for (const f of set.files) for (const x of dirsDownTo(baseDir, dirname(join(baseDir, f.path)))) wantDirs.add(x);
  // Above the base directory: the nearest existing one must be a directory we can create it in.
  let top = baseDir;
  while (!existsSync(top) && dirname(top) !== top) top = dirname(top);
  const writable = new Set<string>();
  for (const d of [top, ...[...wantDirs].sort()]) {
    const st = statOrUndefined(d);
    if (!st) {
      writable.add(dirname(d));
      continue;
    }
    if (!st.isDirectory()) {
      throw new UsageError(`${d} is a file where kubeadm-vagrant needs a directory; move it away, or generate into another directory (-o DIR)`);
    }
  }
  for (const f of set.files) {
    const target = join(baseDir, f.path);
    const st = statOrUndefined(target);
    if (st && !st.isFile()) {
      throw new UsageError(`${target} is a ${st.isDirectory() ? 'directory' : 'special file'} where kubeadm-vagrant writes a file; move it away, or generate into another directory (-o DIR)`);
    }
    writable.add(dirname(target));
  }
  for (const d of writable) {
    if (!existsSync(d)) continue;
    try {
      accessSync(d, constants.W_OK | constants.X_OK);
    } catch (err) {
      throw fileSystemError(err, 'write into', d);
    }
  }
}

/** Puts back what the steps changed, newest first; best effort, since the first failure is what the user needs to see. */
function rollback(done: Undo[]): void {
  for (const step of done.reverse()) {
    try {
      if (step.kind === 'mkdir') rmdirSync(step.path);
      else if (step.kind === 'chmod') chmodSync(step.path, step.mode);
      else if (step.before) {
        writeFileSync(step.path, step.before.content, { mode: step.before.mode });
        chmodSync(step.path, step.before.mode);
      } else unlinkSync(step.path);
    } catch {
      // keep putting back the rest
    }
  }
}

/**
 * Writes a set of files under a directory all or nothing: every path is checked first, files
 * whose content and mode already match are left alone (a wrong mode alone gets a chmod), and a
 * failure on the way puts back everything as it was. Returns the relative paths changed or removed.
 */
export function writeAllOrNothing(baseDir: string, set: WriteSet): string[] {
  preflight(baseDir, set);
  const done: Undo[] = [];
  const changed: string[] = [];
  let current = baseDir;
  // Directories are made from the nearest one that exists (-o may name a path several levels deep).
  let root = baseDir;
  while (!existsSync(root) && dirname(root) !== root) root = dirname(root);
  try {
    const ensureDir = (dir: string, mode?: number) => {
      for (const d of dirsDownTo(root, dir)) {
        current = d;
        if (!existsSync(d)) {
          mkdirSync(d, { mode: mode ?? 0o755 });
          done.push({ kind: 'mkdir', path: d });
        }
      }
      const st = statSync(dir);
      if (mode !== undefined && (st.mode & 0o777) !== mode) {
        chmodSync(dir, mode);
        done.push({ kind: 'chmod', path: dir, mode: st.mode & 0o777 });
      }
    };
    ensureDir(baseDir);
    for (const d of set.dirs) ensureDir(join(baseDir, d.path), d.mode);
    for (const f of set.files) {
      const target = join(baseDir, f.path);
      ensureDir(dirname(target));
      current = target;
      const st = statOrUndefined(target);
      const before = st ? { content: readFileSync(target), mode: st.mode & 0o777 } : undefined;
      if (before && before.content.equals(Buffer.from(f.content))) {
        if (before.mode === f.mode) continue;
        chmodSync(target, f.mode);
        done.push({ kind: 'chmod', path: target, mode: before.mode });
      } else {
        done.push({ kind: 'replace', path: target, ...(before ? { before } : {}) });
        writeFileAtomic(target, f.content, f.mode);
      }
      changed.push(f.path);
    }
    for (const rel of set.removals) {
      const target = join(baseDir, rel);
      current = target;
      const st = statOrUndefined(target);
      if (!st?.isFile()) continue;
      done.push({ kind: 'replace', path: target, before: { content: readFileSync(target), mode: st.mode & 0o777 } });
      unlinkSync(target);
      changed.push(rel);
    }
  } catch (err) {
    rollback(done);
    throw fileSystemError(err, 'write', current);
  }
  return changed;
}
