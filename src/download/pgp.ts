import type { Key, KeyID, Signature } from 'openpgp';
import { errorMessage, OperationError } from '../errors.js';

/** A signing key we trust: its full primary-key fingerprint, pinned, and the key itself (ASCII armor). */
export interface TrustedKey {
  fingerprint: string;
  armoredKey: string;
  /** For messages, e.g. "Ubuntu Cloud Image Builder (2018)". */
  name?: string;
}

/** Who made an accepted signature. */
export interface Signer {
  /** The pinned primary key's fingerprint (upper-case hex). */
  fingerprint: string;
  /** The key ID of the key that signed: the primary key's or one of its subkeys' (upper-case hex). */
  keyID: string;
  userIDs: string[];
  signedAt: Date;
}

/** Why a signature was refused. */
export type SignatureErrorKind = 'missing' | 'untrusted' | 'invalid' | 'key';

/** A document whose signature is missing, not by a pinned key, not valid, or made by a key no longer valid. */
export class SignatureError extends OperationError {
  constructor(
    message: string,
    readonly kind: SignatureErrorKind,
  ) {
    super(message);
  }
}

/** verifyDetached's input: the bytes, their detached signature, the pinned keys. */
export interface VerifyDetachedInput {
  /** The signed bytes (a checksum file, usually). */
  data: Uint8Array | string;
  /** The detached signature, armored or binary. */
  signature: Uint8Array | string | undefined;
  trusted: readonly TrustedKey[];
  /** Names the document in messages, e.g. "SHA256SUMS from https://…". */
  what?: string;
}

/** verifyClearsigned's input: the whole clearsigned text and the pinned keys. */
export interface VerifyClearsignedInput {
  text: string;
  trusted: readonly TrustedKey[];
  what?: string;
}

type OpenPGP = typeof import('openpgp');
/** openpgp is loaded only by the commands that verify something (it is the biggest of our dependencies). */
const loadOpenPGP = (): Promise<OpenPGP> => import('openpgp');

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

/** A fingerprint as written anywhere (spaces, `0x`, either case) → upper-case hex. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
}

/** `Name <mail> (…ABCD1234…)` for messages. */
function describeKey(key: Key): string {
  const uid = key.getUserIDs()[0];
  return `${normalizeFingerprint(key.getFingerprint())}${uid ? ` (${uid})` : ''}`;
}

/** The trusted keys, each checked against its pinned full fingerprint. */
async function loadTrusted(openpgp: OpenPGP, trusted: readonly TrustedKey[], what: string): Promise<Key[]> {
  if (trusted.length === 0) throw new SignatureError(`${what}: no trusted key is pinned, so no signature can be accepted`, 'key');
  return Promise.all(
    trusted.map(async (t) => {
      const pinned = normalizeFingerprint(t.fingerprint);
      const label = t.name ? `${t.name} (${pinned})` : pinned;
      if (!/^([0-9A-F]{40}|[0-9A-F]{64})$/.test(pinned)) {
        throw new SignatureError(`the pinned fingerprint of ${label} is not a full fingerprint (40 or 64 hex digits); key IDs are too short to pin`, 'key');
      }
      let keys: Key[];
      try {
        keys = await openpgp.readKeys({ armoredKeys: t.armoredKey });
      } catch (err) {
        throw new SignatureError(`the key pinned as ${label} cannot be read: ${errorMessage(err)}`, 'key');
      }
      const key = keys.find((k) => normalizeFingerprint(k.getFingerprint()) === pinned);
      if (!key) {
        throw new SignatureError(`the key file pinned as ${label} holds ${keys.map(describeKey).join(', ')}, not the pinned fingerprint ${pinned}`, 'key');
      }
      return key.isPrivate() ? key.toPublic() : key;
    }),
  );
}

function pinnedList(trusted: readonly Key[]): string {
  return trusted.map(describeKey).join(', ');
}

/** The verdict on each signature: accepted by a pinned key that is valid now, or why not. */
async function judge(
  results: { keyID: KeyID; verified: Promise<true>; signature: Promise<Signature> }[],
  trusted: Key[],
  what: string,
): Promise<Signer> {
  if (results.length === 0) throw new SignatureError(`${what}: no signature found (a signature is required)`, 'missing');
  const refusals: { kind: SignatureErrorKind; text: string }[] = [];
  for (const r of results) {
    const packet = (await r.signature).packets[0];
    const issuerFpr = packet?.issuerFingerprint ? hex(packet.issuerFingerprint) : undefined;
    const signerName = `key ${r.keyID.toHex().toUpperCase()}${issuerFpr ? ` (fingerprint ${issuerFpr})` : ''}`;
    const key = trusted.find((k) => k.getKeys(r.keyID).length > 0);
    if (!key) {
      refusals.push({ kind: 'untrusted', text: `signed by ${signerName}, which is not pinned; the pinned key is ${pinnedList(trusted)}` });
      continue;
    }
    try {
      // openpgp judges the key at the signature's time; a key expired or revoked since is refused too.
      await key.getSigningKey(r.keyID, new Date());
    } catch (err) {
      refusals.push({ kind: 'key', text: `signed by ${signerName} of pinned key ${describeKey(key)}, which is not valid now: ${errorMessage(err)}` });
      continue;
    }
    try {
      await r.verified;
    } catch (err) {
      refusals.push({ kind: 'invalid', text: `the signature by ${signerName} of pinned key ${describeKey(key)} does not verify: ${errorMessage(err)}` });
      continue;
    }
    return {
      fingerprint: normalizeFingerprint(key.getFingerprint()),
      keyID: r.keyID.toHex().toUpperCase(),
      userIDs: key.getUserIDs(),
      signedAt: packet?.created ?? new Date(0),
    };
  }
  const order: SignatureErrorKind[] = ['invalid', 'key', 'untrusted'];
  refusals.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  throw new SignatureError(`${what}: refused: ${refusals.map((r) => r.text).join('; ')}`, refusals[0]!.kind);
}

const ARMOR_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';

/** A detached signature as armor or binary packets (armor recognised in bytes too); undefined when empty. */
function signatureForm(signature: Uint8Array | string | undefined): { armored: string } | { binary: Uint8Array } | undefined {
  if (signature === undefined) return undefined;
  if (typeof signature === 'string') return signature.trim() ? { armored: signature } : undefined;
  if (signature.byteLength === 0) return undefined;
  const head = Buffer.from(signature.subarray(0, 64)).toString('latin1').trimStart();
  return head.startsWith('-----BEGIN') ? { armored: Buffer.from(signature).toString('utf8') } : { binary: signature };
}

async function readDetachedSignature(openpgp: OpenPGP, signature: Uint8Array | string | undefined, what: string): Promise<Signature> {
  const form = signatureForm(signature);
  if (!form) throw new SignatureError(`${what}: no signature (a detached signature is required)`, 'missing');
  try {
    if ('binary' in form) return await openpgp.readSignature({ binarySignature: form.binary });
    if (!form.armored.includes(ARMOR_SIGNATURE)) throw new Error(`no ${ARMOR_SIGNATURE} block`);
    return await openpgp.readSignature({ armoredSignature: form.armored });
  } catch (err) {
    throw new SignatureError(`${what}: the signature cannot be read as an OpenPGP signature: ${errorMessage(err)}`, 'invalid');
  }
}

/**
 * Verifies a detached signature (armored or binary) over `data`. Accepted only when a signature
 * verifies and was made by a trusted primary key (or one of its subkeys) whose full fingerprint is
 * pinned and that is valid now; otherwise a SignatureError naming the signing key and the pinned one.
 */
export async function verifyDetached(input: VerifyDetachedInput): Promise<{ signer: Signer }> {
  const what = input.what ?? 'the signed document';
  const openpgp = await loadOpenPGP();
  const trusted = await loadTrusted(openpgp, input.trusted, what);
  const signature = await readDetachedSignature(openpgp, input.signature, what);
  const data = typeof input.data === 'string' ? new TextEncoder().encode(input.data) : input.data;
  const message = await openpgp.createMessage({ binary: data });
  const result = await openpgp.verify({ message, signature, verificationKeys: trusted, expectSigned: false, format: 'binary' });
  return { signer: await judge(result.signatures, trusted, what) };
}

const CLEARSIGN_BEGIN = /^-----BEGIN PGP SIGNED MESSAGE-----\r?$/m;
const SIGNATURE_END = /^-----END PGP SIGNATURE-----\r?$/m;

/**
 * Verifies a cleartext-signed document (`gpg --clearsign`, Fedora's CHECKSUM) and returns only the
 * text under the signature: anything before or after the signed block is not returned.
 */
export async function verifyClearsigned(input: VerifyClearsignedInput): Promise<{ data: string; signer: Signer }> {
  const what = input.what ?? 'the signed document';
  const begin = CLEARSIGN_BEGIN.exec(input.text);
  if (!begin) throw new SignatureError(`${what}: not clearsigned (no -----BEGIN PGP SIGNED MESSAGE----- line; a signed document is required)`, 'missing');
  const rest = input.text.slice(begin.index);
  const end = SIGNATURE_END.exec(rest);
  if (!end) throw new SignatureError(`${what}: the clearsigned block has no -----END PGP SIGNATURE----- line`, 'missing');
  const block = rest.slice(0, end.index + end[0].length);
  const openpgp = await loadOpenPGP();
  const trusted = await loadTrusted(openpgp, input.trusted, what);
  let message;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: block });
  } catch (err) {
    throw new SignatureError(`${what}: the clearsigned block cannot be read: ${errorMessage(err)}`, 'invalid');
  }
  const result = await openpgp.verify({ message, verificationKeys: trusted, expectSigned: false });
  const signer = await judge(result.signatures, trusted, what);
  return { data: result.data, signer };
}
