/**
 * Real OpenSSH servers on loopback for tests and benchmarks: each sshd runs as the current user
 * from its own temp dir (config, host key, authorized_keys, pid file) and is stopped by its own
 * PID only. No vitest here: test/bench imports this file and tsc compiles it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const LOOPBACK = '127.0.0.1';
/** OpenSSH's MAX_LISTEN_SOCKS: one sshd listens on at most this many addresses. */
export const MAX_PORTS_PER_SSHD = 16;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const LOG_LIMIT = 64 * 1024;

export interface Endpoint {
  host: string;
  port: number;
}

export type HostKeyType = 'ed25519' | 'ecdsa' | 'rsa';

export interface SshdOptions {
  /** How many loopback ports this sshd listens on (1..16). */
  ports?: number;
  /** authorized_keys lines, e.g. `ssh-rsa AAAA... comment`. */
  authorizedKeys: string[];
  hostKeyType?: HostKeyType;
  /**
   * A network namespace (`ip netns add NAME`) to run sshd in, listening on `host` there. Its
   * ports are taken from `basePort` up (a fresh namespace has every port free). Default: the
   * current namespace, on loopback, on ports the kernel hands out.
   */
  netns?: { name: string; host: string; basePort: number };
}

export interface Sshd {
  readonly dir: string;
  readonly endpoints: Endpoint[];
  readonly pid: number | undefined;
  readonly hostKeyFile: string;
  /** The `type base64 comment` line of the current host public key. */
  hostPublicKey(): string;
  /** Stops and starts again on the same ports, optionally with a freshly generated host key. */
  restart(options?: { newHostKey?: boolean }): Promise<void>;
  stop(): Promise<void>;
  /** What sshd wrote to stderr (the tail). */
  log(): string;
}

export function sshdPath(): string | undefined {
  const candidates = [process.env.SSHD_PATH, '/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd'];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

/** Whether this machine can run the helpers; the reason when it cannot. */
export function sshdAvailability(): { ok: true } | { ok: false; reason: string } {
  if (process.platform === 'win32') return { ok: false, reason: 'sshd tests need a Unix host' };
  if (!sshdPath()) return { ok: false, reason: 'no sshd binary (install openssh-server, or set SSHD_PATH)' };
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, reason: 'no ssh-keygen (install openssh-client)' };
  }
  return { ok: true };
}

export const currentUser = (): string => userInfo().username;

/** Ports the kernel hands out as free right now (another process may still take them). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<Server>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, LOOPBACK, () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function generateHostKey(file: string, type: HostKeyType): void {
  rmSync(file, { force: true });
  rmSync(`${file}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'kubeadm-vagrant-test-host', '-f', file], { stdio: 'ignore' });
}

function sshdConfig(dir: string, host: string, ports: number[]): string {
  return [
    ...ports.map((p) => `ListenAddress ${host}:${p}`),
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    // The default 10:30:100 drops concurrent unauthenticated connections at random past 10.
    'MaxStartups 500',
    'MaxSessions 64',
    'UseDNS no',
    // As Debian's sshd_config has it (upgrade uploads over SFTP).
    'Subsystem sftp internal-sftp',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'LogLevel INFO',
    // Debian's bash sources ~/.bashrc for sshd's commands unless nested; a heavy one (pyenv init)
    // would add a third of a second to every command and measure the developer's shell setup.
    'SetEnv SHLVL=2',
    '',
  ].join('\n');
}

/** sshd refuses to start as root without its privilege separation directory (systemd makes it). */
function ensurePrivsepDir(): void {
  if (process.getuid?.() !== 0 || existsSync('/run/sshd')) return;
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed test run must not leave its sshds behind; each is killed by its own PID.
  process.once('exit', () => {
    for (const c of running) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
  });
}

interface Launch {
  child: ChildProcess;
  log: () => string;
}

/** Starts sshd and waits until it reports listening on every port; rejects on a failed bind. */
function launch(dir: string, ports: number[], netns?: string): Promise<Launch> {
  const sshd = sshdPath();
  if (!sshd) return Promise.reject(new Error('no sshd binary'));
  const argv = [sshd, '-D', '-e', '-f', join(dir, 'sshd_config')];
  // `ip netns exec` execs sshd in place, so the child's PID is sshd's own.
  const [command, ...args] = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
  const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  let log = '';
  let settled = false;
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => fail(`exited (${code ?? signal})`);
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
      reject(new Error(`sshd did not start: ${why}\n${log.slice(-2000)}`));
    };
    const timer = setTimeout(() => fail(`not listening on all ports within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.once('error', (err) => fail(err.message));
    child.once('exit', onExit);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      log = (log + chunk).slice(-LOG_LIMIT);
      if (settled) return;
      if (/Bind to port \d+ on \S+ failed|Cannot bind any address/.test(log)) return fail('a port was taken');
      const listening = new Set([...log.matchAll(/Server listening on \S+ port (\d+)/g)].map((m) => Number(m[1])));
      if (!ports.every((p) => listening.has(p))) return;
      settled = true;
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      resolve({ child, log: () => log });
    });
  });
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, 'SIGTERM');
  if (await waitForExit(child, STOP_TIMEOUT_MS)) return;
  process.kill(child.pid, 'SIGKILL');
  await waitForExit(child, STOP_TIMEOUT_MS);
}

/** Starts one sshd on `ports` fresh ports (loopback, or its namespace); retries with other ports if one was taken. */
export async function startSshd(options: SshdOptions): Promise<Sshd> {
  const count = options.ports ?? 1;
  if (count < 1 || count > MAX_PORTS_PER_SSHD) throw new Error(`one sshd listens on 1..${MAX_PORTS_PER_SSHD} ports, not ${count}`);
  ensurePrivsepDir();
  const dir = mkdtempSync(join(tmpdir(), 'kv-sshd-'));
  const hostKeyFile = join(dir, 'host_key');
  writeFileSync(join(dir, 'authorized_keys'), options.authorizedKeys.join('\n') + '\n', { mode: 0o600 });
  generateHostKey(hostKeyFile, options.hostKeyType ?? 'ed25519');
  const host = options.netns?.host ?? LOOPBACK;
  let ports: number[] = [];
  let current: Launch | undefined;
  for (let attempt = 1; !current; attempt++) {
    ports = options.netns ? Array.from({ length: count }, (_, i) => options.netns!.basePort + i) : await freePorts(count);
    writeFileSync(join(dir, 'sshd_config'), sshdConfig(dir, host, ports));
    try {
      current = await launch(dir, ports, options.netns?.name);
    } catch (err) {
      if (attempt >= 3 || options.netns) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  return handle(dir, host, ports, hostKeyFile, options.hostKeyType ?? 'ed25519', current, options.netns?.name);
}

function handle(dir: string, host: string, ports: number[], hostKeyFile: string, keyType: HostKeyType, first: Launch, netns?: string): Sshd {
  let current: Launch | undefined = first;
  let lastLog = '';
  return {
    dir,
    endpoints: ports.map((port) => ({ host, port })),
    get pid() {
      return current?.child.pid;
    },
    hostKeyFile,
    hostPublicKey: () => readFileSync(`${hostKeyFile}.pub`, 'utf8').trim(),
    async restart({ newHostKey = false } = {}) {
      if (current) await stopChild(current.child);
      current = undefined;
      if (newHostKey) generateHostKey(hostKeyFile, keyType);
      current = await launch(dir, ports, netns);
    },
    async stop() {
      if (current) {
        lastLog = current.log();
        await stopChild(current.child);
      }
      current = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => current?.log() ?? lastLog,
  };
}

export interface SshdFleet {
  endpoints: Endpoint[];
  servers: Sshd[];
  stop(): Promise<void>;
}

/** `count` distinct endpoints from as few sshd processes as OpenSSH allows, started in parallel. */
export async function startSshdFleet(count: number, options: Omit<SshdOptions, 'ports'>): Promise<SshdFleet> {
  const sizes: number[] = [];
  for (let left = count; left > 0; left -= MAX_PORTS_PER_SSHD) sizes.push(Math.min(left, MAX_PORTS_PER_SSHD));
  // In a namespace each sshd takes the next block of ports.
  const netnsOf = (i: number) => (options.netns ? { netns: { ...options.netns, basePort: options.netns.basePort + i * MAX_PORTS_PER_SSHD } } : {});
  const started = await Promise.allSettled(sizes.map((ports, i) => startSshd({ ...options, ports, ...netnsOf(i) })));
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { endpoints: servers.flatMap((s) => s.endpoints), servers, stop };
}

export interface SilentServer extends Endpoint {
  close(): Promise<void>;
}

/** A TCP server on loopback that accepts connections and never says a word (for timeouts). */
export function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        host: LOOPBACK,
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
