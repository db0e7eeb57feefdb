import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { caCertHash, generateClusterCa, generateSshKeyPair, publicKeyFromPrivate } from '../../src/ssh/keys.js';
import { needTool } from '../helpers/tools.js';

/** The cluster's SSH key and CA, checked with the real ssh-keygen and openssl. */

const dir = mkdtempSync(join(tmpdir(), 'kv-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string): string {
  const f = join(dir, `f${++n}`);
  writeFileSync(f, content, { mode: 0o600 });
  return f;
}
const tool = (cmd: string, args: string[], input?: string | Buffer) => execFileSync(cmd, args, { ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
/** `type base64` of an OpenSSH public key line, without its comment. */
const blobOf = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ');
/** A date as `openssl x509 -text` prints it: `Dec  1 04:50:00 2026 GMT`. */
const opensslDate = (d: Date) => {
  const [, month, day, year, time] = /^\w+ (\w+) (\d+) (\d+) (\S+)/.exec(d.toUTCString().replace(/^(\w+), (\d+) (\w+)/, '$1 $3 $2'))!;
  return `${month} ${day!.replace(/^0/, '').padStart(2)} ${time} ${year} GMT`;
};
/** kubeadm's documented way to compute the CA pin: the DER SubjectPublicKeyInfo of the certificate, hashed. */
const opensslPin = (certFile: string) => {
  const pub = tool('openssl', ['x509', '-pubkey', '-noout', '-in', certFile]);
  return 'sha256:' + createHash('sha256').update(tool('openssl', ['pkey', '-pubin', '-outform', 'der'], pub)).digest('hex');
};

describe('the cluster SSH key: ECDSA P-256 from native crypto', () => {
  it('is an EC key in PEM whose public line ssh-keygen derives the same', async (ctx) => {
    needTool(ctx, 'ssh-keygen');
    const pair = await generateSshKeyPair('kubeadm-vagrant-lab');
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    expect(pair.publicKeyOpenSsh).toMatch(/^ecdsa-sha2-nistp256 AAAA\S+ kubeadm-vagrant-lab$/);
    expect(blobOf(tool('ssh-keygen', ['-y', '-f', file(pair.privateKeyPem)]).toString())).toBe(blobOf(pair.publicKeyOpenSsh));
  });

  it('a public key is derived from an RSA (an existing cluster) or an EC private key as ssh-keygen does', (ctx) => {
    needTool(ctx, 'openssl');
    needTool(ctx, 'ssh-keygen');
    for (const args of [['genrsa', '-traditional', '3072'], ['ecparam', '-name', 'prime256v1', '-genkey', '-noout']]) {
      const pem = tool('openssl', args).toString();
      const line = publicKeyFromPrivate(pem, 'kubeadm-vagrant-lab');
      expect(line.endsWith(' kubeadm-vagrant-lab')).toBe(true);
      expect(blobOf(line)).toBe(blobOf(tool('ssh-keygen', ['-y', '-f', file(pem)]).toString()));
    }
  });

  it('garbage is refused with a reason', () => {
    expect(() => publicKeyFromPrivate('garbage\n', 'x')).toThrow();
  });
});

describe('the cluster CA: an ECDSA P-256 key from native crypto, a certificate like the one kubeadm makes', () => {
  it('openssl accepts it as a strict self-signed CA, signs a node certificate with it, and computes the same pin', async (ctx) => {
    needTool(ctx, 'openssl');
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const ca = await generateClusterCa('kubernetes', now);
    const crt = file(ca.certPem);
    const key = file(ca.keyPem);
    expect(ca.keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    const text = tool('openssl', ['x509', '-noout', '-text', '-in', crt]).toString();
    expect(text).toMatch(/Version: 3 \(0x2\)/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/Subject: CN ?= ?kubernetes/);
    expect(text).toMatch(/Issuer: CN ?= ?kubernetes/);
    // Valid from five minutes ago (a guest clock may lag) for ten years, as kubeadm's CA.
    expect(text).toContain(`Not Before: ${opensslDate(new Date(now.getTime() - 5 * 60_000))}`);
    expect(text).toContain(`Not After : ${opensslDate(new Date(now.getTime() + 3650 * 86_400_000))}`);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment, Certificate Sign/);
    expect(text).toMatch(/X509v3 Subject Key Identifier/);
    expect(tool('openssl', ['verify', '-x509_strict', '-check_ss_sig', '-CAfile', crt, crt]).toString()).toMatch(/: OK/);
    // The key belongs to the certificate.
    expect(tool('openssl', ['pkey', '-in', key, '-pubout']).toString()).toBe(tool('openssl', ['x509', '-pubkey', '-noout', '-in', crt]).toString());
    // A node certificate signed with it verifies against it.
    const leafKey = file(tool('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout']).toString());
    const csr = file(tool('openssl', ['req', '-new', '-key', leafKey, '-subj', '/CN=kube-apiserver']).toString());
    const leaf = file(tool('openssl', ['x509', '-req', '-in', csr, '-CA', crt, '-CAkey', key, '-CAcreateserial', '-days', '30', '-sha256']).toString());
    expect(tool('openssl', ['verify', '-x509_strict', '-CAfile', crt, leaf]).toString()).toMatch(/: OK/);
    expect(ca.certHash).toBe(opensslPin(crt));
    expect(caCertHash(ca.certPem)).toBe(ca.certHash);
  });

  it("an existing cluster's RSA CA gets the pin openssl computes", (ctx) => {
    needTool(ctx, 'openssl');
    const key = file(tool('openssl', ['genrsa', '-traditional', '2048']).toString());
    const crt = file(tool('openssl', ['req', '-x509', '-new', '-key', key, '-subj', '/CN=kubernetes', '-days', '3650']).toString());
    expect(caCertHash(tool('cat', [crt]).toString())).toBe(opensslPin(crt));
  });

  it('a garbage certificate is refused with a reason', () => {
    expect(() => caCertHash('garbage\n')).toThrow();
  });
});

describe('speed', () => {
  it('the key pair and the CA together take well under 100 ms of CPU (RSA took about a second)', async () => {
    await Promise.all([generateSshKeyPair('warm-up'), generateClusterCa()]);
    const before = process.cpuUsage();
    await Promise.all([generateSshKeyPair('kubeadm-vagrant-lab'), generateClusterCa()]);
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeLessThan(50);
  });
});
