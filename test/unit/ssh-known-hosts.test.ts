import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  forgetHost,
  HostKeyChangedError,
  hostKeyAlgorithms,
  keyTypeOf,
  knownHostsPattern,
  parseKnownHosts,
  pinHostKey,
  pinnedKeys,
} from '../../src/ssh/known-hosts.js';
import { sshFingerprint } from '../../src/ssh/keys.js';

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** A fresh ssh-ed25519 public key blob, as a server presents it. */
function ed25519Blob(): Buffer {
  const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  return Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(Buffer.from(jwk.x!, 'base64url'))]);
}

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kv-kh-'));
  file = join(dir, 'state', 'known_hosts');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('known_hosts format', () => {
  it('names hosts the way OpenSSH does', () => {
    expect(knownHostsPattern('192.168.56.10', 22)).toBe('192.168.56.10');
    expect(knownHostsPattern('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  it('reads the key type out of a key blob', () => {
    expect(keyTypeOf(ed25519Blob())).toBe('ssh-ed25519');
    expect(() => keyTypeOf(Buffer.from([0, 0, 0, 99, 1]))).toThrow();
  });

  it('parses comments, markers and host lists', () => {
    const entries = parseKnownHosts('# comment\n\nhost1,host2 ssh-ed25519 AAAA c\n@revoked host3 ssh-rsa BBBB\nbroken-line\n');
    expect(entries).toEqual([
      { line: 2, hosts: ['host1', 'host2'], keyType: 'ssh-ed25519', keyBase64: 'AAAA' },
      { line: 3, marker: '@revoked', hosts: ['host3'], keyType: 'ssh-rsa', keyBase64: 'BBBB' },
    ]);
  });
});

describe('pinHostKey', () => {
  it('pins on first contact in OpenSSH format with mode 0600, then matches', async () => {
    const key = ed25519Blob();
    await expect(pinHostKey({ file, node: 'master', host: '127.0.0.1', port: 2222, key })).resolves.toBe('pinned');
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(`[127.0.0.1]:2222 ssh-ed25519 ${key.toString('base64')} master\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await expect(pinHostKey({ file, node: 'master', host: '127.0.0.1', port: 2222, key })).resolves.toBe('matched');
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('refuses a changed key, naming node, address, both fingerprints and how to re-pin; file unchanged', async () => {
    const old = ed25519Blob();
    const next = ed25519Blob();
    await pinHostKey({ file, node: 'worker-1', host: '192.168.56.21', port: 22, key: old });
    const before = readFileSync(file, 'utf8');
    const err = await pinHostKey({ file, node: 'worker-1', host: '192.168.56.21', port: 22, key: next }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyChangedError);
    const msg = (err as Error).message;
    expect(msg).toContain('worker-1');
    expect(msg).toContain('192.168.56.21:22');
    expect(msg).toContain(sshFingerprint(old));
    expect(msg).toContain(sshFingerprint(next));
    expect(msg).toContain('kubeadm-vagrant verify --repin worker-1');
    expect(msg).toContain(file);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('keeps hosts apart by port and keeps foreign lines', async () => {
    await pinHostKey({ file, node: 'a', host: '127.0.0.1', port: 2201, key: ed25519Blob() });
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, `# mine\nexample.org ssh-ed25519 ${ed25519Blob().toString('base64')}\n${text}`);
    await expect(pinHostKey({ file, node: 'b', host: '127.0.0.1', port: 2202, key: ed25519Blob() })).resolves.toBe('pinned');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('# mine');
  });

  it('matches OpenSSH hashed host names', async () => {
    const key = ed25519Blob();
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[10.0.0.5]:2200').digest('base64');
    const hashed = join(dir, 'hashed');
    writeFileSync(hashed, `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${key.toString('base64')}\n`);
    await expect(pinHostKey({ file: hashed, node: 'x', host: '10.0.0.5', port: 2200, key })).resolves.toBe('matched');
    await expect(pinHostKey({ file: hashed, node: 'x', host: '10.0.0.5', port: 2200, key: ed25519Blob() })).rejects.toBeInstanceOf(HostKeyChangedError);
  });

  it('loses no entry when many hosts are pinned at once', async () => {
    const keys = Array.from({ length: 60 }, () => ed25519Blob());
    const outcomes = await Promise.all(keys.map((key, i) => pinHostKey({ file, node: `n${i}`, host: '127.0.0.1', port: 3000 + i, key })));
    expect(outcomes.every((o) => o === 'pinned')).toBe(true);
    for (let i = 0; i < keys.length; i++) expect(pinnedKeys(file, '127.0.0.1', 3000 + i).map((p) => p.blob.equals(keys[i]!))).toEqual([true]);
  });

  it('first one wins when the same host is contacted twice at once with different keys', async () => {
    const [a, b] = [ed25519Blob(), ed25519Blob()];
    const results = await Promise.allSettled([a, b].map((key) => pinHostKey({ file, node: 'm', host: 'h', port: 22, key })));
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'pinned' });
    expect(results[1]!.status).toBe('rejected');
    expect(pinnedKeys(file, 'h', 22)).toHaveLength(1);
  });
});

describe('forgetHost', () => {
  it('removes only that host:port so the next contact pins again', async () => {
    await pinHostKey({ file, node: 'a', host: '127.0.0.1', port: 2201, key: ed25519Blob() });
    await pinHostKey({ file, node: 'b', host: '127.0.0.1', port: 2202, key: ed25519Blob() });
    await expect(forgetHost(file, '127.0.0.1', 2201)).resolves.toBe(1);
    await expect(forgetHost(file, '127.0.0.1', 2201)).resolves.toBe(0);
    expect(pinnedKeys(file, '127.0.0.1', 2201)).toEqual([]);
    expect(pinnedKeys(file, '127.0.0.1', 2202)).toHaveLength(1);
    await expect(pinHostKey({ file, node: 'a', host: '127.0.0.1', port: 2201, key: ed25519Blob() })).resolves.toBe('pinned');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is harmless on a missing file', async () => {
    await expect(forgetHost(join(dir, 'none'), 'h', 22)).resolves.toBe(0);
  });
});

describe('hostKeyAlgorithms', () => {
  it('puts the pinned type first, RSA with its SHA-2 signatures', () => {
    expect(hostKeyAlgorithms([])[0]).toBe('ssh-ed25519');
    expect(hostKeyAlgorithms(['ecdsa-sha2-nistp256']).slice(0, 2)).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(hostKeyAlgorithms(['ssh-rsa']).slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    const all = hostKeyAlgorithms(['ssh-rsa']);
    expect(new Set(all).size).toBe(all.length);
  });
});
