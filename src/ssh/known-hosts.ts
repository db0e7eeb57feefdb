import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OperationError } from '../errors.js';
import { writeFileAtomic } from '../write.js';
import { sshFingerprint } from './keys.js';

/**
 * Host key pinning in an OpenSSH known_hosts file, so `ssh -o UserKnownHostsFile=FILE` trusts
 * exactly the keys this tool pinned: `[host]:port keytype base64 comment`, or `host ...` on port 22.
 */

export interface KnownHostEntry {
  /** 0-based line number in the file. */
  line: number;
  /** `@revoked` / `@cert-authority` when present; such lines never pin a key here. */
  marker?: string;
  hosts: string[];
  keyType: string;
  keyBase64: string;
}

export interface PinnedKey {
  keyType: string;
  blob: Buffer;
  fingerprint: string;
}

export interface PinRequest {
  file: string;
  /** Vagrant machine name, for messages. */
  node: string;
  host: string;
  port: number;
  /** The raw public key blob the server offered. */
  key: Buffer;
}

export type PinOutcome = 'pinned' | 'matched';

/** The host's key differs from the pinned one: maybe a recreated machine, maybe someone else. */
export class HostKeyChangedError extends OperationError {
  readonly endpoint: string;
  constructor(
    readonly node: string,
    readonly host: string,
    readonly port: number,
    readonly pinned: string[],
    readonly offered: string,
    readonly file: string,
  ) {
    super(hostKeyChangedMessage(node, host, port, pinned, offered, file), { command: `ssh ${endpointOf(host, port)}` });
    this.endpoint = endpointOf(host, port);
  }
}

function hostKeyChangedMessage(node: string, host: string, port: number, pinned: string[], offered: string, file: string): string {
  return [
    `host key for node ${node} (${endpointOf(host, port)}) has changed; refusing to connect`,
    `  pinned:  ${pinned.join(', ')} in ${file}`,
    `  offered: ${offered}`,
    `If the machine was deliberately recreated, re-pin it with \`kubeadm-vagrant verify --repin ${node}\``,
    `or delete the line for ${knownHostsPattern(host, port)} from ${file}; otherwise something else answers at that address.`,
  ].join('\n');
}

/** How OpenSSH names a host in known_hosts: bare on port 22, `[host]:port` otherwise. */
export function knownHostsPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function endpointOf(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The key type a public key blob declares: its first SSH string (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('public key blob too short');
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) throw new Error('public key blob has no valid key type');
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, line) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return;
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64) return;
    entries.push({ line, ...(marker ? { marker } : {}), hosts: hosts.split(','), keyType, keyBase64 });
  });
  return entries;
}

/** Exact names and OpenSSH's hashed names (`|1|salt|hmac`); wildcard patterns are not matched. */
function nameMatches(name: string, pattern: string): boolean {
  if (!name.startsWith('|1|')) return name === pattern;
  const [, , salt, hash] = name.split('|');
  if (!salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(pattern).digest('base64') === hash;
}

function entriesFor(text: string, host: string, port: number): KnownHostEntry[] {
  const pattern = knownHostsPattern(host, port);
  return parseKnownHosts(text).filter((e) => e.marker === undefined && e.hosts.some((h) => nameMatches(h, pattern)));
}

function readText(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function toPinned(e: KnownHostEntry): PinnedKey {
  const blob = Buffer.from(e.keyBase64, 'base64');
  return { keyType: e.keyType, blob, fingerprint: `${sshFingerprint(blob)} (${e.keyType})` };
}

/** The keys pinned for host:port, in file order. */
export function pinnedKeys(file: string, host: string, port: number): PinnedKey[] {
  return entriesFor(readText(file), host, port).map(toPinned);
}

// Every read-check-write of one file runs in turn, so concurrent first contacts never lose a line.
const queues = new Map<string, Promise<void>>();

function serialized<T>(file: string, task: () => T): Promise<T> {
  const key = resolve(file);
  const run = (queues.get(key) ?? Promise.resolve()).then(task);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

function knownHostsLine(req: PinRequest, keyType: string): string {
  const comment = req.node.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${knownHostsPattern(req.host, req.port)} ${keyType} ${req.key.toString('base64')} ${comment}`;
}

function pinNow(req: PinRequest): PinOutcome {
  const text = readText(req.file);
  const pinned = entriesFor(text, req.host, req.port).map(toPinned);
  if (pinned.some((p) => p.blob.equals(req.key))) return 'matched';
  const keyType = keyTypeOf(req.key);
  if (pinned.length > 0) {
    const offered = `${sshFingerprint(req.key)} (${keyType})`;
    throw new HostKeyChangedError(req.node, req.host, req.port, pinned.map((p) => p.fingerprint), offered, req.file);
  }
  const head = text === '' || text.endsWith('\n') ? text : text + '\n';
  writeFileAtomic(req.file, head + knownHostsLine(req, keyType) + '\n', 0o600);
  return 'pinned';
}

/**
 * Trust on first contact: pins an unknown host's key, accepts the pinned key, and throws
 * HostKeyChangedError for any other key (a different key type counts as a change too).
 */
export function pinHostKey(req: PinRequest): Promise<PinOutcome> {
  return serialized(req.file, () => pinNow(req));
}

/** Removes host:port from the file (for a deliberately recreated machine); returns the lines dropped. */
export function forgetHost(file: string, host: string, port: number): Promise<number> {
  return serialized(file, () => {
    const text = readText(file);
    const drop = new Set(entriesFor(text, host, port).map((e) => e.line));
    if (drop.size === 0) return 0;
    const kept = text.split('\n').filter((_, i) => !drop.has(i));
    writeFileAtomic(file, kept.join('\n'), 0o600);
    return drop.size;
  });
}

const RSA_ALGORITHMS = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
export const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  ...RSA_ALGORITHMS,
];

/**
 * Host key algorithms with the pinned key types first, as OpenSSH orders them, so a server with
 * several host keys shows the one that was pinned rather than tripping a false "changed".
 */
export function hostKeyAlgorithms(pinnedTypes: readonly string[]): string[] {
  const first = pinnedTypes.flatMap((t) => (t === 'ssh-rsa' ? RSA_ALGORITHMS : [t]));
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}
