import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { STATE_DIR } from './layout.js';

export interface FileToWrite {
  path: string;
  content: string;
  mode: number;
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode); // the umask may have narrowed the mode given to writeFileSync
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The state directory holds secrets: 0700, whoever created it first. */
export function ensureStateDir(clusterDir: string): string {
  const dir = join(clusterDir, STATE_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/**
 * Writes files under a directory, skipping those whose content and mode already match (so a
 * second generate touches nothing). Returns the paths written.
 */
export function writeFiles(baseDir: string, files: FileToWrite[]): string[] {
  const written: string[] = [];
  for (const f of files) {
    const target = join(baseDir, f.path);
    if (existsSync(target) && (statSync(target).mode & 0o777) === f.mode && readFileSync(target, 'utf8') === f.content) continue;
    if (f.path.startsWith(`${STATE_DIR}/`)) ensureStateDir(baseDir);
    mkdirSync(dirname(target), { recursive: true, mode: f.mode === 0o600 ? 0o700 : 0o755 });
    writeFileAtomic(target, f.content, f.mode);
    written.push(f.path);
  }
  return written;
}
