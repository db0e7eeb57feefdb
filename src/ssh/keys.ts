import { createHash } from 'node:crypto';
import forge from 'node-forge';

export interface SshKeyPair {
  /** PKCS#1 PEM (`RSA PRIVATE KEY`): both ssh2 and OpenSSH read it. */
  privateKeyPem: string;
  /** One `ssh-rsa AAAA... comment` line for authorized_keys. */
  publicKeyOpenSsh: string;
}

export interface ClusterCa {
  certPem: string;
  keyPem: string;
  /** kubeadm's pin: `sha256:` + hex SHA-256 of the certificate's SubjectPublicKeyInfo (DER). */
  certHash: string;
}

function rsaKeyPair(bits: number): Promise<forge.pki.rsa.KeyPair> {
  // forge uses Node's native key generation when it can (well under a second); pure JS takes seconds.
  return new Promise((resolve, reject) =>
    forge.pki.rsa.generateKeyPair({ bits, workers: -1 }, (err, pair) => (err ? reject(err) : resolve(pair))),
  );
}

/** A key pair that belongs to one cluster; Vagrant's published insecure key is replaced by it. */
export async function generateSshKeyPair(comment: string): Promise<SshKeyPair> {
  const pair = await rsaKeyPair(3072);
  return {
    privateKeyPem: forge.ssh.privateKeyToOpenSSH(pair.privateKey),
    publicKeyOpenSsh: forge.ssh.publicKeyToOpenSSH(pair.publicKey, comment).trim(),
  };
}

/** The pin kubeadm checks on join (`caCertHashes`), computed from a PEM certificate. */
export function caCertHash(certPem: string): string {
  const cert = forge.pki.certificateFromPem(certPem);
  const spki = forge.asn1.toDer(forge.pki.publicKeyToAsn1(cert.publicKey)).getBytes();
  return 'sha256:' + createHash('sha256').update(Buffer.from(spki, 'binary')).digest('hex');
}

/**
 * The cluster CA, made before any machine boots so workers can pin its hash. kubeadm init uses a
 * CA already at /etc/kubernetes/pki/ca.{crt,key}; these are the extensions kubeadm gives its own.
 */
export async function generateClusterCa(commonName = 'kubernetes', now = new Date()): Promise<ClusterCa> {
  const pair = await rsaKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = pair.publicKey;
  cert.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(15));
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + 10 * 365 * 24 * 3600_000);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(pair.privateKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  return { certPem, keyPem: forge.pki.privateKeyToPem(pair.privateKey), certHash: caCertHash(certPem) };
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` + unpadded base64. */
export function sshFingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}
