import { readFile, rename, writeFile } from 'node:fs/promises';

/** A small JSON record beside a download or a lock; unreadable, torn or of the wrong shape reads as undefined. */
export async function readRecordFile<T>(path: string, isValid: (value: Partial<T>) => boolean): Promise<T | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<T> | null;
    return value !== null && typeof value === 'object' && isValid(value) ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a record through a temporary name and a rename, so a reader sees the old one or the new one. */
export async function writeRecordFile(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value) + '\n', { mode: 0o644 });
  await rename(tmp, path);
}
