import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OperationError } from '../../src/errors.js';
import { lockDirectory, lockPaths, withDirectoryLock, type LockHolder } from '../../src/download/lock.js';
import { mapBounded } from '../../src/download/pool.js';
import { rejectionOf } from '../helpers/rejection.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Another process holding the lock the way lockDirectory takes it (proper-lockfile on the same
 * paths, an owner file naming it): holds for `holdMs`, or until killed when negative.
 */
const HOLDER = `
const lockfile = require('proper-lockfile');
const fs = require('node:fs');
const [dir, lock, owner, holdMs, ownerDelayMs] = process.argv.slice(1);
lockfile.lock(dir, { lockfilePath: lock, realpath: false, stale: 2000, retries: 0 }).then(async () => {
  if (Number(ownerDelayMs) > 0) {
    process.stdout.write('locked\\n');
    await new Promise((r) => setTimeout(r, Number(ownerDelayMs)));
  }
  fs.writeFileSync(owner, JSON.stringify({ pid: process.pid, hostname: require('node:os').hostname(), since: new Date().toISOString(), command: 'artifacts fetch' }));
  process.stdout.write('locked\\n');
  if (Number(holdMs) >= 0) setTimeout(() => process.exit(0), Number(holdMs));
  else setInterval(() => undefined, 1000);
});`;

let dir: string;
const children: ChildProcess[] = [];

async function holder(holdMs: number, ownerDelayMs = 0): Promise<ChildProcess> {
  const { lock, owner } = lockPaths(dir);
  const child = spawn(process.execPath, ['-e', HOLDER, dir, lock, owner, String(holdMs), String(ownerDelayMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`the holder exited (${code}) before locking`)));
  });
  return child;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kv-lock-'));
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('lockDirectory', () => {
  it('serializes two lockers in one process', async () => {
    const events: string[] = [];
    const critical = (name: string) => async () => {
      events.push(`enter ${name}`);
      await sleep(150);
      events.push(`exit ${name}`);
    };
    await Promise.all([withDirectoryLock(dir, critical('a'), { pollMs: 20 }), withDirectoryLock(dir, critical('b'), { pollMs: 20 })]);
    expect([
      ['enter a', 'exit a', 'enter b', 'exit b'],
      ['enter b', 'exit b', 'enter a', 'exit a'],
    ]).toContainEqual(events);
    expect(existsSync(lockPaths(dir).lock)).toBe(false);
  });

  it('waits for another process, telling who holds it, and gets the lock when it exits', async () => {
    const child = await holder(600);
    const seen: (LockHolder | undefined)[] = [];
    const started = Date.now();
    const held = await lockDirectory(dir, { pollMs: 50, onWait: (h) => seen.push(h) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ pid: child.pid, command: 'artifacts fetch' });
    await held.release();
  });

  it('tells who holds it even when it looks before the holder has written its name', async () => {
    const child = await holder(1500, 400); // "locked" is printed before the owner file is written
    const seen: (LockHolder | undefined)[] = [];
    const held = await lockDirectory(dir, { pollMs: 50, onWait: (h) => seen.push(h) });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ pid: child.pid, command: 'artifacts fetch' });
    await held.release();
  });

  it('still says it waited, once, when the holder lets go before it could be named', async () => {
    await holder(0, 300); // named only just before it exits, well inside the waiter's grace
    const seen: (LockHolder | undefined)[] = [];
    const held = await lockDirectory(dir, { pollMs: 500, onWait: (h) => seen.push(h) });
    expect(seen).toHaveLength(1);
    await held.release();
  });

  it('tells exactly one of two lockers in one process that it waited (CI, 2026-12-06)', async () => {
    const waits: string[] = [];
    const quick = async () => sleep(30);
    await Promise.all(['a', 'b'].map((who) => withDirectoryLock(dir, quick, { onWait: () => waits.push(who) })));
    expect(waits).toHaveLength(1);
  });

  it('gives up after waitMs with a message naming the directory and the holder', async () => {
    const child = await holder(-1);
    const err = await rejectionOf(lockDirectory(dir, { waitMs: 300, pollMs: 50 }), OperationError);
    expect(err.message).toMatch(new RegExp(`^${dir} is locked by another kubeadm-vagrant \\(pid ${child.pid}, since .*: artifacts fetch\\); waited 0 s\\. Let it finish`));
  });

  it('takes over the lock of a process that died holding it', async () => {
    const child = await holder(-1);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const started = Date.now();
    const seen: (LockHolder | undefined)[] = [];
    const held = await lockDirectory(dir, { staleMs: 2000, pollMs: 100, waitMs: 10_000, onWait: (h) => seen.push(h) });
    expect(seen[0]?.pid).toBe(child.pid); // it was found held by the dead process ...
    expect(Date.now() - started).toBeLessThan(5000); // ... and taken over once stale, well before waitMs
    await held.release();
  });
});

describe('mapBounded', () => {
  it('runs at most `limit` at once and keeps the order of the results', async () => {
    let running = 0;
    let most = 0;
    const results = await mapBounded([50, 10, 30, 20, 40, 5], 2, async (ms, i) => {
      most = Math.max(most, ++running);
      await sleep(ms);
      running--;
      return i;
    });
    expect(results).toEqual([0, 1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  it('starts nothing new after a failure, lets the running ones finish, then throws the first error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = mapBounded([0, 1, 2, 3], 2, async (i) => {
      started.push(i);
      if (i === 0) throw new Error('HTTP 404');
      await sleep(50);
      finished.push(i);
      return i;
    });
    expect((await rejectionOf(run, Error)).message).toBe('HTTP 404');
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([1]);
  });
});
