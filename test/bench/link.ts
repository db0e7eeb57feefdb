/**
 * A simulated network link for the verify benchmark: two network namespaces the benchmark
 * creates (client side and server side), joined by a link that delays every packet by a fixed
 * time in each direction. Nothing of it exists outside the two namespaces, and close() removes
 * them and ends every process it started, by PID, also after a failure.
 *
 * The link is a veth pair with `tc qdisc ... netem delay` on both ends where the kernel has
 * netem. Where it has not (CONFIG_NET_SCH_NETEM unset), a userspace delay line
 * (./delay-link.py, a stand-in for netem) copies the packets between a TUN device in each
 * namespace after the same delay. `kind` says which one was used.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/layout.js';
import type { SshOptions } from '../../src/ssh/client.js';

export interface SimulatedLink {
  clientNs: string;
  serverNs: string;
  clientIp: string;
  serverIp: string;
  oneWayDelayMs: number;
  kind: 'netem' | 'delay-line';
  /** PIDs of the link's own processes (the delay line), for CPU accounting. */
  pids: number[];
  close(): Promise<void>;
}

/** RFC 2544's benchmarking range: nothing on any real network uses it. */
const CLIENT_IP = '198.18.0.1';
const SERVER_IP = '198.18.0.2';
const STEP_TIMEOUT_MS = 10_000;
const DELAY_LINE = join(packageRoot, 'test', 'bench', 'delay-link.py');

function ip(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

function must(args: string[]): void {
  const r = ip(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.output}`);
}

/** The PIDs of the processes in a namespace (none once it is gone). */
function netnsPids(name: string): number[] {
  const r = ip(['netns', 'pids', name]);
  return r.ok ? r.output.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid) : [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

/** TERM, then KILL after a grace period; by PID only. */
async function terminate(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitGone(pid, 3_000)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  await waitGone(pid, 3_000);
}

/** Starts the delay line and waits for its "ready"; bounded. */
function startDelayLine(clientNs: string, serverNs: string, delayMs: number): Promise<ChildProcess> {
  const child = spawn('python3', [DELAY_LINE, clientNs, 'kvlink0', serverNs, 'kvlink0', String(delayMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
      reject(new Error(`the delay line did not start: ${why}${err ? `\n${err}` : ''}`));
    };
    const timer = setTimeout(() => fail(`no "ready" within ${STEP_TIMEOUT_MS} ms`), STEP_TIMEOUT_MS);
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal})`));
    child.stdout?.once('data', (c: Buffer) => {
      if (!c.toString().startsWith('ready')) return fail(`said ${JSON.stringify(c.toString())}`);
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve(child);
    });
  });
}

/** Whether `tc` can add netem here; false when the kernel lacks it. */
function netemAvailable(ns: string, dev: string, delayMs: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', `${delayMs}ms`], { encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  return r.status === 0;
}

/** Creates both namespaces and the link between them; on any failure removes what it made and rethrows. */
export async function createLink(opts: { oneWayDelayMs: number }): Promise<SimulatedLink> {
  const tag = `kvb-${process.pid}`;
  const clientNs = `${tag}-client`;
  const serverNs = `${tag}-server`;
  const made: string[] = [];
  let delayLine: ChildProcess | undefined;
  const close = async (): Promise<void> => {
    if (delayLine?.pid !== undefined) {
      delayLine.stdin?.end();
      await terminate(delayLine.pid);
    }
    for (const ns of made) for (const pid of netnsPids(ns)) await terminate(pid);
    for (const ns of made.splice(0)) ip(['netns', 'delete', ns]);
    process.removeListener('exit', onExit);
  };
  // A crash must not leave the namespaces or the delay line behind.
  const onExit = (): void => {
    if (delayLine?.pid !== undefined && alive(delayLine.pid)) process.kill(delayLine.pid, 'SIGKILL');
    for (const ns of made) {
      for (const pid of netnsPids(ns)) process.kill(pid, 'SIGKILL');
      ip(['netns', 'delete', ns]);
    }
  };
  process.on('exit', onExit);
  try {
    for (const ns of [clientNs, serverNs]) {
      if (existsSync(`/run/netns/${ns}`)) throw new Error(`network namespace ${ns} exists already`);
      must(['netns', 'add', ns]);
      made.push(ns);
      must(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    let kind: SimulatedLink['kind'] = 'netem';
    must(['link', 'add', 'kvlink0', 'netns', clientNs, 'type', 'veth', 'peer', 'name', 'kvlink0', 'netns', serverNs]);
    if (netemAvailable(clientNs, 'kvlink0', opts.oneWayDelayMs)) {
      if (!netemAvailable(serverNs, 'kvlink0', opts.oneWayDelayMs)) throw new Error('netem worked on one end of the veth pair and not on the other');
    } else {
      kind = 'delay-line';
      must(['-n', clientNs, 'link', 'delete', 'kvlink0']);
      delayLine = await startDelayLine(clientNs, serverNs, opts.oneWayDelayMs);
    }
    must(['-n', clientNs, 'addr', 'add', CLIENT_IP, 'peer', SERVER_IP, 'dev', 'kvlink0']);
    must(['-n', serverNs, 'addr', 'add', SERVER_IP, 'peer', CLIENT_IP, 'dev', 'kvlink0']);
    must(['-n', clientNs, 'link', 'set', 'kvlink0', 'up']);
    must(['-n', serverNs, 'link', 'set', 'kvlink0', 'up']);
    return {
      clientNs,
      serverNs,
      clientIp: CLIENT_IP,
      serverIp: SERVER_IP,
      oneWayDelayMs: opts.oneWayDelayMs,
      kind,
      pids: delayLine?.pid !== undefined ? [delayLine.pid] : [],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** CPU time (user + system, ms) of this process's finished children, from /proc (Linux); clock ticks of 10 ms. */
export function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10; // cutime and cstime, at 100 ticks a second
}

/** CPU time (user + system, including reaped children) a process has used so far, in ms. */
export function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime, stime, cutime, cstime: fields 14-17 of stat(5), in clock ticks (100 per second on Linux).
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * 10;
  } catch {
    return 0;
  }
}

/** The SSH bounds of every benchmark run: generous, no retries (a failed login is an error of the benchmark). */
export function benchSshOptions(privateKey: string, knownHostsFile: string): SshOptions {
  return { privateKey, knownHostsFile, connectTimeoutMs: 30_000, commandTimeoutMs: 30_000, retries: 0, backoffMs: 500 };
}
