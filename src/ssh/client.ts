import { posix } from 'node:path';
import { Client, type ClientChannel, type ServerHostKeyAlgorithm, type SFTPWrapper } from 'ssh2';
import { errorMessage, OperationError } from '../errors.js';
import { redactTokens } from '../redact.js';
import { shellQuote } from '../shell.js';
import { endpointOf, HostKeyChangedError, hostKeyAlgorithms, pinHostKey, pinnedKeys } from './known-hosts.js';
import { withRetry } from './retry.js';

export { HostKeyChangedError } from './known-hosts.js';

export interface SshTarget {
  /** Vagrant machine name, used in messages. */
  name: string;
  host: string;
  port: number;
  username: string;
}

export interface SshOptions {
  privateKey: string | Buffer;
  knownHostsFile: string;
  /** Bounds TCP connect, handshake and authentication of one attempt. */
  connectTimeoutMs: number;
  /** Default bound for one command; ExecOptions.timeoutMs overrides it. */
  commandTimeoutMs: number;
  /** Further connection attempts after a refused, reset or timed-out connection. */
  retries: number;
  /** The first wait between attempts; it doubles up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs?: number;
  onRetry?: (target: SshTarget, err: unknown, attempt: number, delayMs: number) => void;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** Run as root through `sudo -n` (skipped when already logged in as root). Commands run in `sh -c`. */
  sudo?: boolean;
  stdin?: string;
  /** Shown in errors instead of the command, e.g. when the command carries a secret. */
  label?: string;
}

/** One file an upload sends: from a local file (its size known) or from memory. */
export type UploadFile = { remote: string; mode: number } & ({ local: string; size: number } | { data: Buffer });

export interface UploadOptions {
  /** The bound of one file's transfer, from its size. */
  timeoutMs: (bytes: number) => number;
  /** Told after each file: sent, or skipped because the remote file has its size already. */
  onFile?: (file: UploadFile, sent: boolean) => void;
}

export interface UploadResult {
  sent: number;
  skipped: number;
  /** Bytes sent. */
  bytes: number;
}

export interface ExecResult {
  /** The exit status; 255 when the command died of a signal (see `signal`). */
  code: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

const KEEPALIVE_MS = 5_000;
/** Slack past ssh2's own readyTimeout before our guard gives up on a silent connect. */
const CONNECT_GUARD_MS = 1_000;
const CLOSE_WAIT_MS = 2_000;

/** Base of the SSH failures: names the node and its address. Never carries key material. */
export class SshError extends OperationError {
  readonly node: string;
  readonly endpoint: string;
  constructor(target: SshTarget, detail: string, command?: string) {
    const endpoint = endpointOf(target.host, target.port);
    super(`node ${target.name} (${endpoint}): ${detail}`, command === undefined ? {} : { command });
    this.node = target.name;
    this.endpoint = endpoint;
  }
}

/** The server refused the key, or the key cannot be used. Never retried. */
export class AuthError extends SshError {}
/** Refused, reset, unreachable: worth a retry while a machine boots. */
export class ConnectError extends SshError {}
/** A connect or a command outlived its bound. */
export class SshTimeoutError extends SshError {}

/** Connection failures that may heal by themselves; auth failures and changed host keys never do. */
export function isRetryableConnectError(err: unknown): boolean {
  return err instanceof ConnectError || err instanceof SshTimeoutError;
}

/** How a command appears in errors: bootstrap token secrets hidden, long commands cut. */
export function describeCommand(command: string): string {
  const redacted = redactTokens(command).replace(/\s+/g, ' ').trim();
  return redacted.length > 160 ? `${redacted.slice(0, 157)}...` : redacted;
}

type Ssh2Error = Error & { level?: string; code?: string };

function classifyConnectError(err: Ssh2Error, target: SshTarget, opts: SshOptions): SshError {
  switch (err.level) {
    case 'client-authentication':
      return new AuthError(target, `authentication failed for user ${target.username}: the server did not accept the key`);
    case 'client-timeout':
      return new SshTimeoutError(target, `no SSH handshake within ${opts.connectTimeoutMs} ms`);
    case 'client-socket':
      return new ConnectError(target, err.code ? `cannot connect (${err.code})` : `cannot connect: ${err.message}`);
    default:
      return new ConnectError(target, `SSH handshake failed: ${err.message}`);
  }
}

function connectOnce(target: SshTarget, opts: SshOptions): Promise<SshSession> {
  const { host, port } = target;
  const pinnedTypes = pinnedKeys(opts.knownHostsFile, host, port).map((p) => p.keyType);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let hostKeyError: Error | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      if (err === undefined) return resolve(new SshSession(client, target, opts));
      client.destroy();
      reject(err);
    };
    const guard = setTimeout(
      () => finish(new SshTimeoutError(target, `no SSH session within ${opts.connectTimeoutMs} ms`)),
      opts.connectTimeoutMs + CONNECT_GUARD_MS,
    );
    client.on('ready', () => finish());
    client.on('error', (err: Ssh2Error) => finish(hostKeyError ?? classifyConnectError(err, target, opts)));
    client.on('close', () => finish(hostKeyError ?? new ConnectError(target, 'connection closed during the SSH handshake')));
    const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
      pinHostKey({ file: opts.knownHostsFile, node: target.name, host, port, key }).then(
        () => verify(true),
        (err: unknown) => {
          hostKeyError = err instanceof HostKeyChangedError ? err : new AuthError(target, `cannot check the host key: ${errorMessage(err)}`);
          verify(false);
        },
      );
    };
    try {
      client.connect({
        host,
        port,
        username: target.username,
        privateKey: opts.privateKey,
        readyTimeout: opts.connectTimeoutMs,
        keepaliveInterval: KEEPALIVE_MS,
        keepaliveCountMax: 3,
        tryKeyboard: false,
        algorithms: { serverHostKey: hostKeyAlgorithms(pinnedTypes) as ServerHostKeyAlgorithm[] },
        hostVerifier,
      });
      // Commands are small request/response exchanges: Nagle plus delayed ACKs would add ~40 ms to each.
      client.setNoDelay(true);
    } catch (err) {
      // ssh2 rejects unreadable keys here; its message names the format problem, never the key.
      finish(new AuthError(target, `cannot use the private key (${errorMessage(err)}); ssh2 reads OpenSSH and PKCS#1 PEM keys, not PKCS#8`));
    }
  });
}

/**
 * Opens an SSH session, pinning the host key on first contact. Refused or timed-out connections
 * are retried with backoff; an auth failure or a changed host key fails at once.
 */
export function connect(target: SshTarget, opts: SshOptions): Promise<SshSession> {
  return withRetry(() => connectOnce(target, opts), {
    retries: opts.retries,
    initialDelayMs: opts.backoffMs,
    maxDelayMs: opts.maxBackoffMs ?? opts.backoffMs * 8,
    shouldRetry: isRetryableConnectError,
    ...(opts.onRetry ? { onRetry: (err: unknown, attempt: number, delay: number) => opts.onRetry?.(target, err, attempt, delay) } : {}),
  });
}

export class SshSession {
  private closed = false;
  private sftpChannel: Promise<SFTPWrapper> | undefined;

  constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly opts: Pick<SshOptions, 'commandTimeoutMs'>,
  ) {
    // A lost connection surfaces through the channels' close; this keeps 'error' from throwing.
    client.on('error', () => undefined);
    client.on('close', () => {
      this.closed = true;
    });
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const label = describeCommand(options.label ?? command);
    const timeoutMs = options.timeoutMs ?? this.opts.commandTimeoutMs;
    const remote = remoteCommand(command, { sudo: !!options.sudo && this.target.username !== 'root', timeoutMs });
    if (this.closed) return Promise.reject(new ConnectError(this.target, `connection closed; cannot run \`${label}\``, label));
    return new Promise((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let done = false;
      const settle = (fn: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(() => {
        settle(() => reject(new SshTimeoutError(this.target, `\`${label}\` did not finish within ${timeoutMs} ms`, label)));
        if (channel) abandon(channel);
      }, timeoutMs);
      this.client.exec(remote, (err, ch) => {
        if (err) return settle(() => reject(new ConnectError(this.target, `cannot start \`${label}\`: ${err.message}`, label)));
        channel = ch;
        if (done) return abandon(ch);
        collect(ch, options.stdin).then(
          (result) => settle(() => resolve(result)),
          () => settle(() => reject(new ConnectError(this.target, `connection lost while running \`${label}\``, label))),
        );
      });
    });
  }

  /**
   * Uploads files over SFTP as the session's user (the guest's sshd subsystem; nothing is installed).
   * Each file goes to `<remote>.partial` and is renamed into place, so a cut upload never looks
   * complete; a local file whose remote copy already has its size is skipped, so an upload cut short
   * carries on where it stopped (what is on the node is checked against its checksums there, not
   * here). Missing directories are made (0700). Each file's transfer is bounded.
   */
  async upload(files: readonly UploadFile[], opts: UploadOptions): Promise<UploadResult> {
    const dirs = [...new Set(files.map((f) => posix.dirname(f.remote)))].sort();
    if (dirs.length > 0) {
      const made = await this.exec(`umask 077 && mkdir -p -- ${dirs.map(shellQuote).join(' ')}`, { label: 'mkdir for the upload' });
      if (made.code !== 0) throw new SshError(this.target, `cannot make the upload directories: ${made.stderr.trim()}`);
    }
    const sftp = await this.sftp();
    const result: UploadResult = { sent: 0, skipped: 0, bytes: 0 };
    for (const file of files) {
      const size = 'data' in file ? file.data.length : file.size;
      if ('local' in file && (await sftpCall<{ size?: number } | undefined>((cb) => sftp.stat(file.remote, (err, st) => cb(undefined, err ? undefined : st))))?.size === size) {
        result.skipped += 1;
        opts.onFile?.(file, false);
        continue;
      }
      const partial = `${file.remote}.partial`;
      const limit = opts.timeoutMs(size);
      await this.bounded(`uploading ${file.remote} (${size} bytes)`, limit, sftpCall<void>((cb) => ('data' in file ? sftp.writeFile(partial, file.data, { mode: file.mode }, (err) => cb(err)) : sftp.fastPut(file.local, partial, { mode: file.mode, concurrency: 16 }, (err) => cb(err)))));
      await this.bounded(`renaming ${partial}`, 60_000, sftpCall<void>((cb) => sftp.ext_openssh_rename(partial, file.remote, (err) => cb(err))));
      result.sent += 1;
      result.bytes += size;
      opts.onFile?.(file, true);
    }
    return result;
  }

  private sftp(): Promise<SFTPWrapper> {
    if (this.closed) return Promise.reject(new ConnectError(this.target, 'connection closed; cannot open SFTP'));
    this.sftpChannel ??= new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => (err ? reject(new SshError(this.target, `cannot open SFTP (is sshd's sftp subsystem there?): ${err.message}`)) : resolve(sftp)));
    });
    return this.sftpChannel;
  }

  /** A transfer with a bound: past it the SFTP channel is closed and the upload fails. */
  private async bounded<T>(what: string, timeoutMs: number, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.sftpChannel?.then((sftp) => sftp.end());
        this.sftpChannel = undefined;
        reject(new SshTimeoutError(this.target, `${what} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } catch (err) {
      if (err instanceof SshError) throw err;
      throw new ConnectError(this.target, `${what} failed: ${errorMessage(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the session; waits a bounded time for the server to close it. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      this.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.end();
    });
  }
}

/** An SFTP call as a promise; an SFTP error (permission denied, no such file) rejects with it. */
function sftpCall<T>(start: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
}

function abandon(ch: ClientChannel): void {
  try {
    ch.close();
  } catch {
    // the channel is already gone
  }
}

/** Seconds past the local timeout before the node kills a command itself (the local error comes first). */
const REMOTE_GRACE_S = 2;

/**
 * The command as sent: POSIX `sh -c` under coreutils `timeout`, inside sudo when asked. Closing
 * the channel does not stop a remote process, ssh2 cannot signal once stdin is closed, and sshd
 * could not signal a process sudo started anyway; so the node enforces the bound itself.
 */
export function remoteCommand(command: string, { sudo, timeoutMs }: { sudo: boolean; timeoutMs: number }): string {
  const seconds = Math.ceil(timeoutMs / 1000) + REMOTE_GRACE_S;
  const bounded = `timeout -k 5 ${seconds} sh -c ${shellQuote(command)}`;
  return sudo ? `sudo -n -- ${bounded}` : bounded;
}

/** Gathers a channel's output; rejects when it closes without an exit status (connection lost). */
function collect(ch: ClientChannel, stdin: string | undefined): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let exit: { code: number | null; signal?: string } | undefined;
    ch.on('data', (d: Buffer) => out.push(d));
    ch.stderr.on('data', (d: Buffer) => err.push(d));
    ch.on('exit', (code: number | null, signal?: string) => {
      exit = { code, ...(signal ? { signal } : {}) };
    });
    ch.on('close', () => {
      if (!exit) return reject(new Error('channel closed without exit status'));
      resolve({
        code: exit.code ?? 255,
        ...(exit.signal ? { signal: exit.signal } : {}),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // Always send EOF, so a command that reads stdin cannot wait for input forever.
    ch.end(stdin);
  });
}

export type NodeOutcome<T> =
  | { target: SshTarget; ok: true; value: T; ms: number }
  | { target: SshTarget; ok: false; error: Error; ms: number };

/** Maps with at most `limit` calls in flight; results keep the input order. */
export async function mapConcurrent<I, O>(items: readonly I[], limit: number, fn: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const results = new Array<O>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Connects to every target (at most `concurrency` at once), runs `fn`, closes; never rejects. */
export function runAll<T>(
  targets: readonly SshTarget[],
  opts: SshOptions,
  fn: (session: SshSession, target: SshTarget) => Promise<T>,
  { concurrency = 16 }: { concurrency?: number } = {},
): Promise<NodeOutcome<T>[]> {
  return mapConcurrent(targets, concurrency, async (target): Promise<NodeOutcome<T>> => {
    const start = performance.now();
    const elapsed = (): number => Math.round(performance.now() - start);
    let session: SshSession | undefined;
    try {
      session = await connect(target, opts);
      const value = await fn(session, target);
      return { target, ok: true, value, ms: elapsed() };
    } catch (err) {
      return { target, ok: false, error: err instanceof Error ? err : new Error(String(err)), ms: elapsed() };
    } finally {
      await session?.close();
    }
  });
}

export interface SshArgsOptions {
  identityFile: string;
  knownHostsFile: string;
  /** An interactive session: no BatchMode, and a terminal when there is no command. */
  interactive?: boolean;
  connectTimeoutS?: number;
  /** The remote command and its arguments, if any. */
  command?: string[];
}

// ssh expands %-tokens in both paths, and splits an unquoted -o value on spaces.
const escapeTokens = (path: string): string => path.replace(/%/g, '%%');
function sshOptionPath(path: string): string {
  const escaped = escapeTokens(path);
  return /\s/.test(escaped) ? `"${escaped}"` : escaped;
}

/** The argv for the system `ssh` that trusts only the pinned host keys and uses only the cluster key. */
export function sshArgs(target: SshTarget, options: SshArgsOptions): string[] {
  const args = [
    '-i', escapeTokens(options.identityFile),
    '-p', String(target.port),
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${sshOptionPath(options.knownHostsFile)}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'PasswordAuthentication=no',
    '-o', `ConnectTimeout=${options.connectTimeoutS ?? 10}`,
    '-o', 'LogLevel=ERROR',
  ];
  if (!options.interactive) args.push('-o', 'BatchMode=yes');
  if (options.interactive && !options.command?.length) args.push('-t');
  args.push('-l', target.username, target.host);
  return options.command?.length ? [...args, '--', ...options.command] : args;
}
