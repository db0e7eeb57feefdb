import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { errorMessage, OperationError } from '../errors.js';
import { fileSystemError } from '../write.js';
import { readRecordFile, writeRecordFile } from './record-file.js';

/** Who holds a cache directory's lock, as its owner file says. */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  since: string;
  command?: string;
}

/** A held lock; release it in a finally. */
export interface DirectoryLock {
  readonly dir: string;
  /** Releases the lock; throws if another process took it over while held (we stalled past the stale time). */
  release(): Promise<void>;
}

/** How long and how often lockDirectory waits, and when a lock is stale. */
export interface LockOptions {
  /** How long to wait for another holder before giving up (default 10 minutes: another fetch may be downloading). */
  waitMs?: number;
  /** How often to try again while waiting. */
  pollMs?: number;
  /** A lock not refreshed for this long belongs to a dead process and is taken over (proper-lockfile; at least 2 s). */
  staleMs?: number;
  /**
   * Told exactly once when the lock is found held, e.g. to print "waiting for pid 123": as soon as
   * the holder can be named, after a short grace without a name, or, if the holder let go sooner,
   * when the lock is taken.
   */
  onWait?: (holder: LockHolder | undefined) => void;
  signal?: AbortSignal;
}

/** lockDirectory's default bound on waiting for another holder. */
export const DEFAULT_LOCK_WAIT_MS = 10 * 60_000;
const DEFAULT_POLL_MS = 500;
const DEFAULT_STALE_MS = 10_000;
/**
 * How long a waiter gives a new holder to write its owner file before telling onWait without a
 * name: the holder writes it right after taking the lock, so a waiter that looks in between would
 * otherwise say "another kubeadm-vagrant" where a moment later it could say which (CI, 2026-12-06).
 */
const OWNER_GRACE_MS = 2000;
const OWNER_POLL_MS = 25;

/** The lock (a directory proper-lockfile makes and refreshes) and the file naming its holder. */
export function lockPaths(dir: string): { lock: string; owner: string } {
  return { lock: join(dir, '.kubeadm-vagrant.lock'), owner: join(dir, '.kubeadm-vagrant.lock.json') };
}

async function writeHolder(owner: string): Promise<void> {
  const me: LockHolder = { pid: process.pid, hostname: hostname(), since: new Date().toISOString(), command: process.argv.slice(2).join(' ') || undefined };
  await writeRecordFile(owner, me);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** The holder in words, for messages. */
export function describeHolder(h: LockHolder | undefined): string {
  if (!h) return 'another kubeadm-vagrant';
  const here = h.hostname === hostname();
  const where = here ? (isRunning(h.pid) ? '' : ', no longer running') : ` on ${h.hostname}`;
  return `another kubeadm-vagrant (pid ${h.pid}${where}, since ${h.since}${h.command ? `: ${h.command}` : ''})`;
}

/**
 * Takes the cross-process lock on a cache directory (made if missing): waits up to `waitMs` for
 * another holder, then fails with an OperationError naming the directory and the holder. A lock
 * left by a dead process goes stale (it is refreshed only while its holder lives) and is taken over.
 */
export async function lockDirectory(dir: string, opts: LockOptions = {}): Promise<DirectoryLock> {
  const { default: lockfile } = await import('proper-lockfile');
  const { lock, owner } = lockPaths(dir);
  const waitMs = opts.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const staleMs = Math.max(opts.staleMs ?? DEFAULT_STALE_MS, 2000);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw fileSystemError(err, 'create', dir);
  }
  let compromised: Error | undefined;
  const started = Date.now();
  let told = false;
  let waitedAtAll = false;
  for (;;) {
    try {
      const unlock = await lockfile.lock(dir, {
        lockfilePath: lock,
        realpath: false,
        stale: staleMs,
        retries: 0,
        onCompromised: (err) => void (compromised ??= err),
      });
      try {
        await writeHolder(owner);
      } catch (err) {
        await unlock().catch(() => undefined);
        throw err;
      }
      // Found it held, but the holder let go within the grace before it could be named: still say we waited, once.
      if (waitedAtAll && !told) opts.onWait?.(undefined);
      return {
        dir,
        async release() {
          await rm(owner, { force: true });
          await unlock().catch(() => undefined);
          if (compromised) throw new OperationError(`the lock on ${dir} was taken over by another process while this one held it (${compromised.message}); re-run to check the cache`);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw fileSystemError(err, 'lock', dir) as Error;
    }
    waitedAtAll = true;
    const holder = await readRecordFile<LockHolder>(owner, (h) => typeof h.pid === 'number');
    if (!told && (holder || Date.now() - started >= OWNER_GRACE_MS)) {
      told = true;
      opts.onWait?.(holder);
    }
    const waited = Date.now() - started;
    if (waited >= waitMs) {
      throw new OperationError(
        `${dir} is locked by ${describeHolder(holder)}; waited ${Math.round(waited / 1000)} s. Let it finish and run this again (a lock whose process died is taken over after ${staleMs / 1000} s)`,
      );
    }
    try {
      // Until the holder is named, look again soon: its owner file follows the lock by milliseconds.
      const poll = told ? (opts.pollMs ?? DEFAULT_POLL_MS) : Math.min(opts.pollMs ?? DEFAULT_POLL_MS, OWNER_POLL_MS);
      await sleepFor(Math.min(poll, waitMs - waited), undefined, { signal: opts.signal });
    } catch (err) {
      throw new OperationError(`stopped waiting for the lock on ${dir} (${errorMessage(err)})`);
    }
  }
}

/** Runs `fn` while holding the lock on `dir`. */
export async function withDirectoryLock<T>(dir: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const held = await lockDirectory(dir, opts);
  try {
    return await fn();
  } finally {
    await held.release();
  }
}
