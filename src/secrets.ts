import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './errors.js';
import { HOST, NEW_SSH_KEY_KIND, SSH_KEY_KINDS, type SshKeyKind } from './layout.js';
import type { PlanSecrets } from './plan/plan.js';
import { caCertHash, certMatchesKey, generateClusterCa, generateSshKeyPair, parsePrivateKey, privateKeyKind, publicKeyFromPrivate } from './ssh/keys.js';
import { generateToken, TOKEN_PATTERN } from './token.js';
import { ensureStateDir, fileSystemError, writeFileAtomic, type FileToWrite } from './write.js';

/** Stand-in secrets for planning before any exist (a dry run): the kind of key a new cluster gets. */
export const PLACEHOLDER_SECRETS: PlanSecrets = { token: 'aaaaaa.aaaaaaaaaaaaaaaa', caCertHash: 'sha256:' + '0'.repeat(64), sshPublicKey: `${SSH_KEY_KINDS[NEW_SSH_KEY_KIND].sshType} AAAA placeholder` };

/** What `--rotate-secrets` breaks, said wherever it is offered. */
export const ROTATION_BREAKS =
  "the cluster's machines then no longer accept its SSH key, and the CA hash pinned in every join config changes: destroy the machines and run `up` again";

export interface SecretPaths {
  token: string;
  sshPrivateKey: string;
  sshPublicKey: string;
  caCert: string;
  caKey: string;
}

/** The kind of SSH key a cluster directory holds: its files say it; a directory without one gets a new ECDSA key. */
export function clusterSshKeyKind(clusterDir: string): SshKeyKind {
  const kinds = (Object.keys(SSH_KEY_KINDS) as SshKeyKind[]).filter((k) => existsSync(join(clusterDir, SSH_KEY_KINDS[k].privateKey)) || existsSync(join(clusterDir, SSH_KEY_KINDS[k].publicKey)));
  if (kinds.length > 1) {
    throw new UsageError(`${join(clusterDir, HOST.sshDir)} holds ${kinds.map((k) => SSH_KEY_KINDS[k].privateKey.split('/').pop()).join(' and ')}: keep the key pair the cluster's machines accept and move the other away`);
  }
  return kinds[0] ?? NEW_SSH_KEY_KIND;
}

export function secretPaths(clusterDir: string, kind: SshKeyKind = clusterSshKeyKind(clusterDir)): SecretPaths {
  return {
    token: join(clusterDir, HOST.token),
    sshPrivateKey: join(clusterDir, SSH_KEY_KINDS[kind].privateKey),
    sshPublicKey: join(clusterDir, SSH_KEY_KINDS[kind].publicKey),
    caCert: join(clusterDir, HOST.caCert),
    caKey: join(clusterDir, HOST.caKey),
  };
}

export function readStoredToken(clusterDir: string): string | undefined {
  const file = join(clusterDir, HOST.token);
  if (!existsSync(file)) return undefined;
  const token = readSecretFile(file).trim();
  return TOKEN_PATTERN.test(token) ? token : undefined;
}

export function storeToken(clusterDir: string, token: string): void {
  ensureStateDir(clusterDir);
  writeFileAtomic(join(clusterDir, HOST.token), token + '\n', 0o600);
}

function readSecretFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw fileSystemError(err, 'read', file);
  }
}

/** A secret that is missing or broken: refused, naming the file and the two ways out. */
function secretProblem(file: string, what: string): UsageError {
  return new UsageError(`${file}: ${what}. Restore it from a backup, or run \`kubeadm-vagrant generate --rotate-secrets\` to make new secrets (${ROTATION_BREAKS})`);
}

/** Reads a secret and checks it with `parse`; a file that does not parse is refused with the reason. */
function readChecked<T>(file: string, parse: (text: string) => T): { text: string; value: T } {
  const text = readSecretFile(file);
  try {
    return { text, value: parse(text) };
  } catch (err) {
    throw secretProblem(file, `unusable: ${(err as Error).message}`);
  }
}

/**
 * The plan's secrets as the state directory keeps them (a token given in the config wins over
 * the stored one); `missing` stands in for any that has not been made yet (a dry run).
 */
export function readPlanSecrets(clusterDir: string, configToken: string, missing: PlanSecrets = PLACEHOLDER_SECRETS): PlanSecrets {
  const p = secretPaths(clusterDir);
  return {
    token: configToken || readStoredToken(clusterDir) || missing.token,
    caCertHash: existsSync(p.caCert) ? readChecked(p.caCert, caCertHash).value : missing.caCertHash,
    sshPublicKey: existsSync(p.sshPublicKey) ? readSecretFile(p.sshPublicKey).trim() : missing.sshPublicKey,
  };
}

export interface PreparedSecrets {
  /** What the plan needs. */
  values: PlanSecrets;
  /** Every secret file with its content (kept or new), mode 0600: written, or their modes put back. */
  files: FileToWrite[];
  /** Files to remove: the old key pair after a rotation changed its kind. */
  removals: string[];
  /** Said to the user: what was made again, or rotated. */
  notes: string[];
}

/**
 * The secrets of a cluster directory, made when none exist yet and kept ever after: a lost public
 * key is derived again from the private key; a missing or broken private key, CA key or CA
 * certificate is refused (making new ones silently would lock the machines out and change every
 * pin) unless `rotate` asks for new ones. Writes nothing: the caller writes `files` with the rest.
 */
export async function prepareSecrets(clusterDir: string, clusterName: string, configToken: string, opts: { rotate?: boolean } = {}): Promise<PreparedSecrets> {
  const comment = `kubeadm-vagrant-${clusterName}`;
  const kind = clusterSshKeyKind(clusterDir);
  const p = secretPaths(clusterDir, kind);
  const rel = (abs: string) => abs.slice(clusterDir.length + 1);
  const secret = (abs: string, content: string): FileToWrite => ({ path: rel(abs), content, mode: 0o600 });
  const notes: string[] = [];
  const made = [p.sshPrivateKey, p.sshPublicKey, p.caCert, p.caKey].some((f) => existsSync(f));
  const files: FileToWrite[] = [];
  const removals: string[] = [];

  const storedToken = opts.rotate ? undefined : readStoredToken(clusterDir);
  const token = configToken || storedToken || generateToken();
  if (!configToken) files.push(secret(p.token, token + '\n'));
  else if (existsSync(p.token)) files.push(secret(p.token, readSecretFile(p.token)));

  if (!made || opts.rotate) {
    // Both key generations run in Node's thread pool: made together, the first generate waits once.
    const [pair, ca] = await Promise.all([generateSshKeyPair(comment), generateClusterCa()]);
    const fresh = secretPaths(clusterDir, pair.kind);
    if (opts.rotate && pair.kind !== kind) removals.push(rel(p.sshPrivateKey), rel(p.sshPublicKey));
    files.push(secret(fresh.sshPrivateKey, pair.privateKeyPem), secret(fresh.sshPublicKey, pair.publicKeyOpenSsh + '\n'));
    files.push(secret(fresh.caKey, ca.keyPem), secret(fresh.caCert, ca.certPem));
    if (opts.rotate && made) notes.push(`made new secrets (SSH key pair, CA${configToken ? '' : ', token'}) in ${join(clusterDir, HOST.stateDir)}: ${ROTATION_BREAKS}`);
    return { values: { token, caCertHash: ca.certHash, sshPublicKey: pair.publicKeyOpenSsh }, files, removals, notes };
  }

  // The SSH key: the private key is the truth; its public key is derived from it when lost or wrong.
  if (!existsSync(p.sshPrivateKey)) throw secretProblem(p.sshPrivateKey, `the cluster's SSH private key is missing, and the machines accept only this key`);
  const privateKey = readChecked(p.sshPrivateKey, (text) => {
    if (privateKeyKind(text) !== kind) throw new Error(`it is not the ${kind.toUpperCase()} key its name says`);
    return text;
  });
  const derived = publicKeyFromPrivate(privateKey.text, comment);
  const storedPublic = existsSync(p.sshPublicKey) ? readSecretFile(p.sshPublicKey) : undefined;
  const sameKey = (line: string | undefined) => line !== undefined && line.trim().split(/\s+/).slice(0, 2).join(' ') === derived.split(' ').slice(0, 2).join(' ');
  const publicLine = sameKey(storedPublic) ? storedPublic! : derived + '\n';
  if (storedPublic === undefined) notes.push(`made ${p.sshPublicKey} again from ${p.sshPrivateKey}`);
  else if (publicLine !== storedPublic) notes.push(`${p.sshPublicKey} did not match ${p.sshPrivateKey}: made it again from the private key`);
  files.push(secret(p.sshPrivateKey, privateKey.text), secret(p.sshPublicKey, publicLine));

  // The CA: both halves must be there, readable, and belong together.
  for (const f of [p.caKey, p.caCert]) if (!existsSync(f)) throw secretProblem(f, `the cluster CA's ${f === p.caKey ? 'key' : 'certificate'} is missing; its hash is pinned in every join config`);
  const caKey = readChecked(p.caKey, parsePrivateKey);
  const caCert = readChecked(p.caCert, caCertHash);
  if (!certMatchesKey(caCert.text, caKey.text)) throw secretProblem(p.caCert, `the certificate does not belong to ${p.caKey}`);
  files.push(secret(p.caKey, caKey.text), secret(p.caCert, caCert.text));
  return { values: { token, caCertHash: caCert.value, sshPublicKey: publicLine.trim() }, files, removals, notes };
}
