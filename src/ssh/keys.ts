import { createHash, createPrivateKey, generateKeyPair, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { NEW_SSH_KEY_KIND, SSH_KEY_KINDS, type SshKeyKind } from '../layout.js';

/**
 * The cluster's SSH key pair and CA, made with Node's native crypto (a few milliseconds, where
 * RSA in node-forge took about a second). Both are ECDSA P-256 in PEM: OpenSSH, ssh2 and the
 * Net::SSH that Vagrant uses all read an `EC PRIVATE KEY`, and kubeadm accepts an ECDSA CA.
 */

const generateKeyPairAsync = promisify(generateKeyPair);

export interface SshKeyPair {
  kind: SshKeyKind;
  /** SEC1 PEM (`EC PRIVATE KEY`) for a new key; PKCS#1 (`RSA PRIVATE KEY`) for an existing RSA one. */
  privateKeyPem: string;
  /** One `ecdsa-sha2-nistp256 AAAA... comment` line for authorized_keys. */
  publicKeyOpenSsh: string;
}

export interface ClusterCa {
  certPem: string;
  keyPem: string;
  /** kubeadm's pin: `sha256:` + hex SHA-256 of the certificate's SubjectPublicKeyInfo (DER). */
  certHash: string;
}

/** SSH wire format: a uint32 length, then the bytes. */
function sshString(bytes: Buffer | string): Buffer {
  const body = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

/** SSH's mpint: big-endian, no leading zeros, a zero byte first when the top bit is set. */
function sshMpint(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return sshString(trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** The OpenSSH public key line of a private key (RSA of an existing cluster, or ECDSA P-256). */
function publicLineOf(key: KeyObject, comment: string): { kind: SshKeyKind; line: string } {
  const jwk = key.export({ format: 'jwk' });
  const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64url');
  if (key.asymmetricKeyType === 'ec' && jwk.crv === 'P-256') {
    const type = SSH_KEY_KINDS.ecdsa.sshType;
    const blob = Buffer.concat([sshString(type), sshString('nistp256'), sshString(Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]))]);
    return { kind: 'ecdsa', line: `${type} ${blob.toString('base64')} ${comment}` };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const type = SSH_KEY_KINDS.rsa.sshType;
    const blob = Buffer.concat([sshString(type), sshMpint(b64(jwk.e)), sshMpint(b64(jwk.n))]);
    return { kind: 'rsa', line: `${type} ${blob.toString('base64')} ${comment}` };
  }
  throw new Error(`it is a ${key.asymmetricKeyType}${jwk.crv ? ` ${jwk.crv}` : ''} key; the cluster key is ECDSA P-256 (or RSA for a cluster made before)`);
}

/** Reads a PEM private key; throws with a short reason when it is not one. */
export function parsePrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new Error('it is not a PEM private key');
  }
}

/** The OpenSSH public key line (`type base64 comment`) of a PEM private key: how a lost .pub is made again. */
export function publicKeyFromPrivate(privateKeyPem: string, comment: string): string {
  return publicLineOf(parsePrivateKey(privateKeyPem), comment).line;
}

/** The kind of a PEM private key (ecdsa or rsa). */
export function privateKeyKind(privateKeyPem: string): SshKeyKind {
  return publicLineOf(parsePrivateKey(privateKeyPem), '').kind;
}

/** A key pair that belongs to one cluster; Vagrant's published insecure key is replaced by it. */
export async function generateSshKeyPair(comment: string): Promise<SshKeyPair> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return { kind: NEW_SSH_KEY_KIND, privateKeyPem: privateKey.export({ type: 'sec1', format: 'pem' }).toString(), publicKeyOpenSsh: publicLineOf(privateKey, comment).line };
}

/** Reads a PEM certificate; throws with a short reason when it is not one. */
function certificateOf(certPem: string): X509Certificate {
  try {
    return new X509Certificate(certPem);
  } catch {
    throw new Error('it is not a PEM certificate');
  }
}

/** The pin kubeadm checks on join (`caCertHashes`), computed from a PEM certificate. */
export function caCertHash(certPem: string): string {
  const spki = certificateOf(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(spki).digest('hex');
}

/** Whether a PEM certificate and a PEM private key belong together. */
export function certMatchesKey(certPem: string, keyPem: string): boolean {
  return certificateOf(certPem).checkPrivateKey(parsePrivateKey(keyPem));
}

// DER, as much of it as a CA certificate needs (X.690).
function tlv(tag: number, body: Buffer): Buffer {
  if (body.length < 0x80) return Buffer.concat([Buffer.from([tag, body.length]), body]);
  const length: number[] = [];
  for (let n = body.length; n > 0; n = Math.floor(n / 256)) length.unshift(n % 256);
  return Buffer.concat([Buffer.from([tag, 0x80 | length.length, ...length]), body]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const octets = (body: Buffer) => tlv(0x04, body);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const explicit = (n: number, body: Buffer) => tlv(0xa0 | n, body);
const bits = (body: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), body]));
/** A non-negative INTEGER from big-endian bytes (a zero byte first when the top bit is set). */
const int = (bytes: Buffer) => tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const out = [first! * 40 + second!];
  for (const v of rest) {
    const base128 = [v % 128];
    for (let n = Math.floor(v / 128); n > 0; n = Math.floor(n / 128)) base128.unshift(0x80 | (n % 128));
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}
/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]|\.\d+/g, '');
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}
const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  subjectKeyIdentifier: '2.5.29.14',
};
/** digitalSignature (bit 0), keyEncipherment (2), keyCertSign (5): the key usage kubeadm gives its CA. */
const CA_KEY_USAGE = bits(Buffer.from([0b1010_0100]), 2);
/** kubeadm's CA lives ten years; `now` less five minutes allows for a guest clock slightly behind. */
const CA_LIFETIME_MS = 10 * 365 * 24 * 3600_000;
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * The cluster CA, made before any machine boots so workers can pin its hash. kubeadm init uses a
 * CA already at /etc/kubernetes/pki/ca.{crt,key}; the certificate has the fields and extensions
 * kubeadm gives its own CA (self-signed, CA:TRUE, key usage, subject key identifier).
 */
export async function generateClusterCa(commonName = 'kubernetes', now = new Date()): Promise<ClusterCa> {
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  const name = seq(set(seq(oid(OID.commonName), utf8(commonName))));
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, 16 bytes long
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))), // v3
    int(serial),
    algorithm,
    name,
    seq(time(new Date(now.getTime() - CLOCK_SKEW_MS)), time(new Date(now.getTime() + CA_LIFETIME_MS))),
    name,
    spki,
    explicit(
      3,
      seq(
        seq(oid(OID.keyUsage), bool(true), octets(CA_KEY_USAGE)),
        seq(oid(OID.basicConstraints), bool(true), octets(seq(bool(true)))),
        // RFC 5280's method 1: SHA-1 of the public key bits (what Go, and so kubeadm, uses too).
        seq(oid(OID.subjectKeyIdentifier), octets(octets(createHash('sha1').update(point).digest()))),
      ),
    ),
  );
  const der = seq(tbs, algorithm, bits(sign('sha256', tbs, privateKey)));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  return { certPem, keyPem: privateKey.export({ type: 'sec1', format: 'pem' }).toString(), certHash: caCertHash(certPem) };
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` + unpadded base64. */
export function sshFingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}
