/**
 * Long-lived child processes for tests (servers, daemons): started with an argument vector (never a
 * shell string), ready when their first output line (or a line matching a pattern) arrives, bounded in
 * time, logged to a file, and ended by their own PID only: TERM, then KILL. A process this Node process
 * started and did not stop is killed by PID when it exits.
 *
 * Also where tests run things "somewhere": on this host, or inside a network namespace (the e2e's
 * E2eEnvironment, or one a test makes with `ip netns add`), through the same two calls.
 *
 * No vitest import: test/e2e/harness.ts and scripts use it too.
 */
import { type ChildProcess, spawn as spawnChild } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

export interface SpawnOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Which stream announces readiness. Default stdout. */
  readyStream?: 'stdout' | 'stderr';
  /** The line that announces readiness. Default: the first line of readyStream. */
  readyLine?: RegExp;
  /** Bound for the ready line; past it the process is stopped and `ready` rejects. Default 30 s. */
  readyTimeoutMs?: number;
  /** stdout and stderr are appended to this file as they come. */
  logFile?: string;
}

export interface LongLived {
  readonly pid: number;
  /** The ready line (without its newline); rejects when the process exits or times out first. */
  readonly ready: Promise<string>;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Ends it by its PID (TERM, KILL after graceMs, default 5 s); resolves once it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of its stdout and stderr. */
  output(): string;
}

/** One-shot commands: the subset of E2eEnvironment.exec that helpers use. */
export interface RunOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Throw when the command fails or times out. Default true. */
  reject?: boolean;
  input?: string;
}
export interface RunResult {
  command: string;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  failed: boolean;
}

/** Where helpers start servers and run clients: this host, or inside network namespaces (E2eEnvironment is one). */
export interface ProcessHost {
  spawn(cmd: string, args?: readonly string[], opts?: SpawnOptions): LongLived;
  exec(cmd: string, args?: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

const OUTPUT_TAIL = 64 * 1024;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts argv[0] with argv[1..]; see LongLived. */
export function spawnLongLived(argv: readonly [string, ...string[]], opts: SpawnOptions = {}): LongLived {
  const [cmd, ...args] = argv;
  const child = spawnChild(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT and the like as an 'error' event later; the PID is missing at once.
    child.once('error', () => {});
    throw new Error(`could not start ${argv.join(' ')}: no such command, or not executable`);
  }
  const pid = child.pid;
  live.add(child);
  installExitHook();

  let tail = '';
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      tail += `\n${err.message}`;
      live.delete(child);
      resolve('error');
    });
  });

  const readyStream = opts.readyStream ?? 'stdout';
  const ready = new Promise<string>((resolve, reject) => {
    const buffers: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void stop(0).then(() => reject(new Error(`${argv.join(' ')} (pid ${pid}) was not ready within ${opts.readyTimeoutMs ?? 30_000} ms:\n${lastLines(tail)}`)));
    }, opts.readyTimeoutMs ?? 30_000);
    timer.unref();
    const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-OUTPUT_TAIL);
      if (opts.logFile) appendFileSync(opts.logFile, text);
      if (done || stream !== readyStream) return;
      buffers[stream] += text;
      const lines = buffers[stream].split('\n');
      buffers[stream] = lines.pop() ?? '';
      const line = lines.find((l) => (opts.readyLine ? opts.readyLine.test(l) : true));
      if (line !== undefined) {
        done = true;
        clearTimeout(timer);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData('stdout'));
    child.stderr?.on('data', onData('stderr'));
    void exited.then((how) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} (pid ${pid}) ended (${how}) before it was ready:\n${lastLines(tail)}`));
    });
  });
  // A caller that never awaits `ready` must not see an unhandled rejection.
  ready.catch(() => {});

  let stopping: Promise<void> | undefined;
  function stop(graceMs = 5_000): Promise<void> {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        safeKill(pid, 'SIGTERM');
        const gone = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
        if (!gone) safeKill(pid, 'SIGKILL');
      }
      await Promise.race([exited, sleep(5_000)]);
    })();
    return stopping;
  }

  return { pid, ready, exited, stop, output: () => lastLines(tail) };
}

/** This host: servers as plain child processes, commands through execa. */
export const localHost: ProcessHost = {
  spawn: (cmd, args = [], opts = {}) => spawnLongLived([cmd, ...args], opts),
  exec: (cmd, args = [], opts = {}) => runCommand([cmd, ...args], [cmd, ...args], opts),
};

/**
 * Inside the network namespace `name` (made by the caller with `ip netns add`): `ip netns exec` enters
 * it and execs the command in place, so the PID is the command's own.
 */
export function netnsHost(name: string): ProcessHost {
  const enter = (cmd: string, args: readonly string[]) => ['ip', 'netns', 'exec', name, cmd, ...args] as [string, ...string[]];
  return {
    spawn: (cmd, args = [], opts = {}) => spawnLongLived(enter(cmd, args), opts),
    exec: (cmd, args = [], opts = {}) => runCommand(enter(cmd, args), [cmd, ...args], opts),
  };
}

async function runCommand(argv: readonly [string, ...string[]], shown: readonly string[], opts: RunOptions): Promise<RunResult> {
  const [cmd, ...args] = argv;
  const r = await execa(cmd, args, {
    env: opts.env,
    timeout: opts.timeoutMs ?? 10 * 60_000,
    forceKillAfterDelay: 5_000,
    reject: false,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
  });
  const result: RunResult = {
    command: shown.join(' '),
    exitCode: r.exitCode,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    timedOut: r.timedOut === true,
    failed: r.failed === true,
  };
  if (result.failed && opts.reject !== false) {
    throw new Error(`${result.timedOut ? 'timed out' : `failed (exit ${result.exitCode ?? '?'})`}: ${result.command}\n${lastLines(`${result.stdout}\n${result.stderr}`)}`);
  }
  return result;
}

/** Whether a PID is a live process (a zombie is not: it has exited, only its parent's wait is missing). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export function safeKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** TERM, wait up to graceMs, then KILL and wait up to 5 s more. True when the process had been alive. */
export async function terminate(pid: number, graceMs: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  safeKill(pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < until) await sleep(100);
  if (isAlive(pid)) {
    safeKill(pid, 'SIGKILL');
    const killUntil = Date.now() + 5_000;
    while (isAlive(pid) && Date.now() < killUntil) await sleep(100);
  }
  return true;
}

function lastLines(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) if (child.pid !== undefined) safeKill(child.pid, 'SIGKILL');
  });
}
