import { stringify } from 'yaml';
import { UsageError } from '../errors.js';
import { iso9660Image } from './iso9660.js';

/**
 * The cloud-init NoCloud seed of a machine's first boot: meta-data (which instance this is, its
 * host name) and user-data (a #cloud-config that creates the login user with the cluster's key).
 * The box carries no user and no key; this seed is how the first login is made possible, and the
 * only way: no password, root login off, password authentication off, nothing installed, nothing
 * fetched.
 *
 * NoCloud reads these from a file system labelled `cidata` (cloud-init's DataSourceNoCloud looks
 * for LABEL=cidata or LABEL=CIDATA with blkid, TYPE iso9660 or vfat); seedImage writes it as ISO 9660.
 */

export const SEED_LABEL = 'cidata';

export interface SeedInput {
  /** Changes whenever cloud-init should treat the boot as a new instance (a new machine). */
  instanceId: string;
  /** The machine's host name (meta-data local-hostname). */
  hostname: string;
  /** The login user to create, e.g. `vagrant`. */
  user: string;
  /** OpenSSH public key lines (`ssh-ed25519 AAAA... comment`): the only keys that log in. */
  authorizedKeys: readonly string[];
  /** An IANA time zone, e.g. `UTC` or `Europe/Berlin`; unset, the image's own. */
  timezone?: string;
}

export interface SeedDocuments {
  'meta-data': string;
  'user-data': string;
}

/** The key types OpenSSH's authorized_keys takes (ssh-keygen -t, and FIDO keys). */
const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
];
/**
 * One key line: type, base64 blob, optional comment; no options prefix, and no character that
 * anything would read as a line end (a second key): control characters, and the ones Python's
 * splitlines() also breaks at (cloud-init reads authorized_keys back with it).
 */
const KEY_LINE = new RegExp(`^(${KEY_TYPES.map((t) => t.replace(/[.]/g, '\\.')).join('|')}) [A-Za-z0-9+/]+={0,3}( [^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*)?$`);
/** useradd's portable names (shadow-utils NAME_REGEX, as Debian and Fedora default). */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
/** A host name: dot-separated RFC 1123 labels, at most 253 characters. */
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TIME_ZONE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9][A-Za-z0-9_+-]*)*$/;
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Users cloud-init must never be asked to create with our key: they exist in every image. */
const RESERVED_USERS = new Set(['root', 'daemon', 'bin', 'sys', 'nobody']);

function checkInput(input: SeedInput): void {
  const problems: string[] = [];
  if (!INSTANCE_ID.test(input.instanceId)) problems.push(`instanceId ${JSON.stringify(input.instanceId)}: letters, digits and . _ : - only, at most 128`);
  if (input.hostname.length > 253 || !input.hostname.split('.').every((l) => HOST_LABEL.test(l))) problems.push(`hostname ${JSON.stringify(input.hostname)}: not a host name (RFC 1123 labels)`);
  if (!USER_NAME.test(input.user) || RESERVED_USERS.has(input.user)) problems.push(`user ${JSON.stringify(input.user)}: a login name of lower-case letters, digits, _ and - (not a system user)`);
  if (input.authorizedKeys.length === 0) problems.push('authorizedKeys: at least one key is needed, or nobody can log in');
  input.authorizedKeys.forEach((key, i) => {
    if (!KEY_LINE.test(key)) problems.push(`authorizedKeys[${i}]: not one OpenSSH public key line (type, key, optional comment; no newline or control character)`);
  });
  if (input.timezone !== undefined && !TIME_ZONE.test(input.timezone)) problems.push(`timezone ${JSON.stringify(input.timezone)}: not a time zone name such as UTC or Europe/Berlin`);
  if (problems.length > 0) throw new UsageError(`cloud-init seed: ${problems.join('; ')}`);
}

/** YAML with every string double-quoted: no value, whatever it holds, can start a key, a comment or a document. */
function yaml(value: unknown): string {
  return stringify(value, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 });
}

/** The seed's two documents. Deterministic: the same input gives the same text. */
export function seedDocuments(input: SeedInput): SeedDocuments {
  checkInput(input);
  const user = {
    name: input.user,
    shell: '/bin/bash',
    sudo: 'ALL=(ALL) NOPASSWD:ALL',
    lock_passwd: true,
    ssh_authorized_keys: [...input.authorizedKeys],
  };
  const config = {
    // Only this user: without `default` in the list, the image's own default user is not made.
    users: [user],
    ssh_pwauth: false,
    disable_root: true,
    package_update: false,
    package_upgrade: false,
    ...(input.timezone !== undefined ? { timezone: input.timezone } : {}),
  };
  return {
    'meta-data': yaml({ 'instance-id': input.instanceId, 'local-hostname': input.hostname }),
    'user-data': `#cloud-config\n${yaml(config)}`,
  };
}

/** The seed volume: an ISO 9660 image labelled cidata holding meta-data and user-data. */
export function seedImage(input: SeedInput): Buffer {
  const docs = seedDocuments(input);
  return iso9660Image({
    volumeId: SEED_LABEL,
    files: Object.entries(docs).map(([name, data]) => ({ name, data })),
  });
}
