import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST } from './layout.js';
import type { PlanSecrets } from './plan/plan.js';
import { caCertHash, generateClusterCa, generateSshKeyPair } from './ssh/keys.js';
import { generateToken, TOKEN_PATTERN } from './token.js';
import { ensureStateDir, writeFileAtomic } from './write.js';

/** Stand-in secrets for planning before any exist (a first pass that catches plan errors, a dry run). */
export const PLACEHOLDER_SECRETS: PlanSecrets = { token: 'aaaaaa.aaaaaaaaaaaaaaaa', caCertHash: 'sha256:' + '0'.repeat(64), sshPublicKey: 'ssh-rsa AAAA placeholder' };

export interface SecretPaths {
  token: string;
  sshPrivateKey: string;
  sshPublicKey: string;
  caCert: string;
  caKey: string;
}

export function secretPaths(clusterDir: string): SecretPaths {
  return {
    token: join(clusterDir, HOST.token),
    sshPrivateKey: join(clusterDir, HOST.sshPrivateKey),
    sshPublicKey: join(clusterDir, HOST.sshPublicKey),
    caCert: join(clusterDir, HOST.caCert),
    caKey: join(clusterDir, HOST.caKey),
  };
}

export function readStoredToken(clusterDir: string): string | undefined {
  const file = secretPaths(clusterDir).token;
  if (!existsSync(file)) return undefined;
  const token = readFileSync(file, 'utf8').trim();
  return TOKEN_PATTERN.test(token) ? token : undefined;
}

export function storeToken(clusterDir: string, token: string): void {
  ensureStateDir(clusterDir);
  writeFileAtomic(secretPaths(clusterDir).token, token + '\n', 0o600);
}

/**
 * The plan's secrets as the state directory keeps them (a token given in the config wins over
 * the stored one); `missing` stands in for any that has not been made yet.
 */
export function readPlanSecrets(clusterDir: string, configToken: string, missing: PlanSecrets = PLACEHOLDER_SECRETS): PlanSecrets {
  const p = secretPaths(clusterDir);
  return {
    token: configToken || readStoredToken(clusterDir) || missing.token,
    caCertHash: existsSync(p.caCert) ? caCertHash(readFileSync(p.caCert, 'utf8')) : missing.caCertHash,
    sshPublicKey: existsSync(p.sshPublicKey) ? readFileSync(p.sshPublicKey, 'utf8').trim() : missing.sshPublicKey,
  };
}

/**
 * Makes whatever secret is missing (token, the cluster's SSH key pair, the CA) in the state
 * directory with mode 0600, keeps what exists, and returns the values the plan needs.
 * A token given in the config wins over the stored one.
 */
export async function ensureSecrets(clusterDir: string, clusterName: string, configToken: string): Promise<PlanSecrets> {
  ensureStateDir(clusterDir);
  const p = secretPaths(clusterDir);
  if (configToken === '' && readStoredToken(clusterDir) === undefined) storeToken(clusterDir, generateToken());
  // Both key generations run in Node's thread pool: made together, the first generate waits once.
  const needSsh = !existsSync(p.sshPrivateKey) || !existsSync(p.sshPublicKey);
  const needCa = !existsSync(p.caCert) || !existsSync(p.caKey);
  const [pair, ca] = await Promise.all([
    needSsh ? generateSshKeyPair(`kubeadm-vagrant-${clusterName}`) : undefined,
    needCa ? generateClusterCa() : undefined,
  ]);
  if (pair) {
    writeFileAtomic(p.sshPrivateKey, pair.privateKeyPem, 0o600);
    writeFileAtomic(p.sshPublicKey, pair.publicKeyOpenSsh + '\n', 0o600);
  }
  if (ca) {
    writeFileAtomic(p.caKey, ca.keyPem, 0o600);
    writeFileAtomic(p.caCert, ca.certPem, 0o600);
  }
  return readPlanSecrets(clusterDir, configToken);
}
