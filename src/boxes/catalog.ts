import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as z from 'zod';
import { ConfigError, UsageError, errorMessage, type ConfigProblem } from '../errors.js';
import { FAMILIES, type Family } from '../families.js';
import { DIGEST_ALGORITHMS, DIGEST_HEX_LENGTH, parseDigest, type Digest, type DigestAlgorithm } from '../download/digest.js';

/**
 * The box catalog (boxes/catalog.json): per distro its family and release, and per architecture
 * the distro's own cloud image, how its checksum file is read, and how that file is authenticated:
 * a signature by a key shipped in boxes/keys/ (full fingerprint pinned here), or, where the distro
 * signs nothing, the image's digest pinned here. An override catalog (`--catalog FILE`) has the
 * same schema; the keys it declares resolve relative to that file, and it may name the shipped ones.
 * The boxes built from these images are named `kubeadm-vagrant/<distro>` for every provider.
 */

export const CATALOG_VERSION = 2;
export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];


/** `gnu`: `<hex>  name` or `<hex> *name` (sha256sum's output); `bsd`: `SHA256 (name) = <hex>`. */
export const CHECKSUM_FORMATS = ['gnu', 'bsd'] as const;
/** `detached`: a separate signature of the checksum file; `clearsigned`: the checksum file is itself signed. */
export const SIGNATURE_KINDS = ['detached', 'clearsigned'] as const;

/** The prefix of every box `box build` makes: boxes so named come from the distros' own images and carry no user and no key. */
export const OUR_BOX_PREFIX = 'kubeadm-vagrant/';

/** The name of the box built from a distro's image, for every provider and architecture. */
export function boxName(distro: string): string {
  return `${OUR_BOX_PREFIX}${distro}`;
}

/** Whether a box name is one `box build` makes (plain or baked). */
export function isOurBoxName(name: string): boolean {
  return name.startsWith(OUR_BOX_PREFIX);
}

const NAME = /^[a-z0-9][a-z0-9.-]*$/;
const FINGERPRINT = /^(?:[0-9A-F]{40}|[0-9A-F]{64})$/;

const nonEmpty = (what: string) => z.string({ error: () => `must be a string (${what})` }).min(1, { error: () => `must not be empty (${what})` });

const httpUrl = (what: string) =>
  nonEmpty(what).refine((s) => /^https?:$/.test(urlOf(s)?.protocol ?? ''), { error: () => `must be an http or https URL (${what})` });

function urlOf(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

/** Why `text` is not `<algorithm>:<hex>` of the right length, or undefined when it is. */
export function digestProblem(text: string): string | undefined {
  const [algorithm, hex, ...rest] = text.split(':');
  const lengths = DIGEST_ALGORITHMS.map((a) => `${a}:<${DIGEST_HEX_LENGTH[a]} hex digits>`).join(' or ');
  if (rest.length > 0 || hex === undefined || !(DIGEST_ALGORITHMS as readonly string[]).includes(algorithm!)) return `must be ${lengths}`;
  const want = DIGEST_HEX_LENGTH[algorithm as DigestAlgorithm];
  if (!/^[0-9a-f]*$/.test(hex)) return `the ${algorithm} digest must be lower-case hex digits`;
  if (hex.length !== want) return `a ${algorithm} digest has ${want} hex digits, this one ${hex.length}`;
  return undefined;
}

/** A pinned digest of the catalog (validated by digestProblem already). */
function pinnedDigest(text: string): Digest {
  const problem = digestProblem(text);
  if (problem) throw new UsageError(`digest "${text}": ${problem}`);
  return parseDigest(text);
}

const seenSchema = z
  .array(nonEmpty('a source'), { error: () => 'must be a list of where each fact was confirmed (source and its date)' })
  .min(1, { error: () => 'must name at least one source (where the fact was confirmed, and its date)' });

const checksumsSchema = z.strictObject({
  url: httpUrl('the checksum file'),
  format: z.enum(CHECKSUM_FORMATS, { error: () => `must be one of ${CHECKSUM_FORMATS.join(', ')}` }),
  algorithm: z.enum(DIGEST_ALGORITHMS, { error: () => `must be one of ${DIGEST_ALGORITHMS.join(', ')}` }),
});

const signatureSchema = z.strictObject({
  url: httpUrl('the signature'),
  kind: z.enum(SIGNATURE_KINDS, { error: () => `must be one of ${SIGNATURE_KINDS.join(', ')}` }),
  key: nonEmpty('a key name of `keys`'),
});

const imageSchema = z.strictObject({
  url: httpUrl('the image').refine((s) => (urlOf(s)?.pathname ?? '').split('/').pop() !== '', { error: () => 'must end in the image file name' }),
  checksums: checksumsSchema,
  signature: signatureSchema.optional(),
  digest: nonEmpty('<algorithm>:<hex>')
    .superRefine((s, ctx) => {
      const problem = digestProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  seen: seenSchema,
  /** What could not be confirmed in a primary source, and why the entry is as it is. */
  unverified: nonEmpty('what is not confirmed, and why').optional(),
});

const familyIds = Object.keys(FAMILIES) as [Family, ...Family[]];

const distroSchema = z.strictObject({
  family: z.enum(familyIds, { error: () => `must be one of ${familyIds.join(', ')} (src/families.ts)` }),
  /** The CPU level the distro's userland needs on amd64 (RHEL 10: x86-64-v3). */
  cpu: z.literal('x86-64-v3', { error: () => 'must be x86-64-v3, or be left out' }).optional(),
  release: z.strictObject({
    version: nonEmpty('the release, e.g. 24.04'),
    codename: nonEmpty('the release codename').optional(),
  }),
  images: z.strictObject(
    Object.fromEntries(ARCHES.map((a) => [a, imageSchema.optional()])) as Record<Arch, z.ZodOptional<typeof imageSchema>>,
  ),
  seen: seenSchema.optional(),
});

const keySchema = z.strictObject({
  file: nonEmpty('the armored key, relative to the catalog file'),
  fingerprint: z.string({ error: () => 'must be a string' }).regex(FINGERPRINT, {
    error: () => 'must be the full fingerprint: 40 (v4 key) or 64 (v6 key) upper-case hex digits, without spaces',
  }),
  uid: nonEmpty('the key\'s primary user ID'),
  seen: seenSchema,
});

const catalogFileSchema = z.strictObject({
  $comment: z.string().optional(),
  version: z.literal(CATALOG_VERSION, { error: () => `must be ${CATALOG_VERSION} (this tool's catalog format)` }),
  keys: z.record(z.string().regex(NAME, { error: () => 'a key name is lower-case letters, digits, dots and dashes' }), keySchema),
  distros: z.record(z.string().regex(NAME, { error: () => 'a distro id is lower-case letters, digits, dots and dashes' }), distroSchema),
});

type CatalogFile = z.infer<typeof catalogFileSchema>;
export type CatalogImage = z.infer<typeof imageSchema>;

/** A key of the catalog, with where its file is and which catalog file declared it. */
export type CatalogKey = CatalogFile['keys'][string] & { path: string; source: string };
/** A distro of the catalog, with the catalog file it came from. */
export type CatalogDistro = CatalogFile['distros'][string] & { source: string };

export interface Catalog {
  version: typeof CATALOG_VERSION;
  /** The catalog file read last (the override's, when there is one). */
  source: string;
  keys: Record<string, CatalogKey>;
  distros: Record<string, CatalogDistro>;
}

/** A path in the catalog as a person reads it: `distros["ubuntu-24.04"].images.amd64.digest`. */
function fieldPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(String(s))) out += `${out ? '.' : ''}${String(s)}`;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out || '(top level)';
}

function schemaProblems(issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((k) => ({ path: fieldPath([...issue.path, k]), message: 'unknown field' }))
      : [{ path: fieldPath(issue.path), message: issue.message }],
  );
}

/** What the schema alone cannot see: keys named but not declared, images with neither signature nor digest. */
function crossProblems(file: CatalogFile, keyNames: readonly string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [distro, entry] of Object.entries(file.distros)) {
    const present = ARCHES.filter((a) => entry.images[a]);
    if (present.length === 0) problems.push({ path: fieldPath(['distros', distro, 'images']), message: `names no image: give one for ${ARCHES.join(' and/or ')}` });
    for (const arch of present) {
      const image = entry.images[arch]!;
      const at = (...rest: string[]) => fieldPath(['distros', distro, 'images', arch, ...rest]);
      if (image.signature && !keyNames.includes(image.signature.key)) {
        problems.push({
          path: at('signature', 'key'),
          message: `names the key "${image.signature.key}", which the catalog does not declare`,
          hint: `declare it under keys (file, fingerprint, uid), or name one of: ${keyNames.join(', ') || '(none declared)'}`,
        });
      }
      if (!image.signature && !image.digest) {
        problems.push({
          path: at('digest'),
          message: 'is required: the image has no signature, so its digest must be pinned',
          hint: `pin the image's ${image.checksums.algorithm} from the distro's checksum file of a dated build (${image.checksums.algorithm}:<${DIGEST_HEX_LENGTH[image.checksums.algorithm]} hex digits>), or give a signature`,
        });
      }
      if (image.digest && !image.digest.startsWith(`${image.checksums.algorithm}:`)) {
        problems.push({ path: at('digest'), message: `must be a ${image.checksums.algorithm} digest, the checksum file's algorithm (checksums.algorithm)` });
      }
    }
  }
  return problems;
}

function jsonProblem(text: string, err: unknown): ConfigProblem {
  const message = errorMessage(err);
  const position = /position (\d+)/.exec(message)?.[1];
  if (position === undefined) return { path: '(file)', message: `is not valid JSON: ${message}` };
  const before = text.slice(0, Number(position)).split('\n');
  return { path: '(file)', message: `is not valid JSON at line ${before.length}, column ${before.at(-1)!.length + 1}: ${message}` };
}

/**
 * A catalog from its text. `file` names it in errors and anchors its key files. With `base` (the
 * shipped catalog), this is an override: its distros replace the base's whole, its keys are added
 * to the base's (same name: the override's), and its signatures may name either's keys.
 */
export function parseCatalog(text: string, file: string, base?: Catalog): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([jsonProblem(text, err)], file);
  }
  const parsed = catalogFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(schemaProblems(parsed.error.issues), file);
  const data = parsed.data;
  const problems = crossProblems(data, [...new Set([...Object.keys(base?.keys ?? {}), ...Object.keys(data.keys)])]);
  for (const distro of Object.keys(data.distros)) {
    if (base && !base.distros[distro]) {
      problems.push({ path: fieldPath(['distros', distro]), message: `is not a distro of the shipped catalog`, hint: `an override replaces entries of: ${Object.keys(base.distros).join(', ')}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, file);

  const dir = dirname(resolve(file));
  const keys = Object.fromEntries(Object.entries(data.keys).map(([name, k]) => [name, { ...k, path: resolve(dir, k.file), source: file }]));
  const distros = Object.fromEntries(Object.entries(data.distros).map(([id, d]) => [id, { ...d, source: file }]));
  return {
    version: CATALOG_VERSION,
    source: file,
    keys: { ...base?.keys, ...keys },
    distros: { ...base?.distros, ...distros },
  };
}

/** A catalog file (see parseCatalog); an unreadable file is a config error naming it. */
export function readCatalogFile(file: string, base?: Catalog): Catalog {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '(file)', message: `cannot be read: ${errorMessage(err)}` }], file);
  }
  return parseCatalog(text, file, base);
}

/** Where a distro's image for an architecture comes from and how it is verified, as `box build` needs it. */
export interface ImageSource {
  distro: string;
  arch: Arch;
  /** The box built from it (every provider). */
  box: string;
  url: string;
  /** The image's name in the checksum file: the last segment of its URL. */
  fileName: string;
  checksums: CatalogImage['checksums'];
  /** The checksum file's signature, with the pinned fingerprint of the key that must have made it. */
  signature?: CatalogImage['signature'] & { fingerprint: string };
  /** The pinned digest: required where there is no signature, checked as well where there is. */
  digest?: Digest;
  /** What could not be confirmed about this entry, to be shown where it is used. */
  unverified?: string;
  /** The catalog file the entry comes from. */
  catalogFile: string;
}

export function imageSource(catalog: Catalog, distro: string, arch: Arch): ImageSource {
  const entry = catalog.distros[distro];
  if (!entry) throw new UsageError(`unknown distro "${distro}": the catalog (${catalog.source}) has ${Object.keys(catalog.distros).join(', ')}`);
  const image = entry.images[arch];
  if (!image) {
    const has = ARCHES.filter((a) => entry.images[a]);
    throw new UsageError(`the catalog (${entry.source}) has no ${arch} image of ${distro}, only ${has.join(', ')}: build on an ${has.join(' or ')} host, or give an override catalog with an ${arch} image`);
  }
  const key = image.signature ? catalog.keys[image.signature.key] : undefined;
  return {
    distro,
    arch,
    box: boxName(distro),
    url: image.url,
    fileName: new URL(image.url).pathname.split('/').pop()!,
    checksums: image.checksums,
    ...(image.signature && key ? { signature: { ...image.signature, fingerprint: key.fingerprint } } : {}),
    ...(image.digest ? { digest: pinnedDigest(image.digest) } : {}),
    ...(image.unverified ? { unverified: image.unverified } : {}),
    catalogFile: entry.source,
  };
}

/** A key that signatures may be made by (the shape src/download/pgp.ts takes as `trusted`). */
export interface TrustedKey {
  fingerprint: string;
  armoredKey: string;
}

/**
 * The armored key the catalog names, read from its file and checked against the catalog: exactly
 * one public key, whose full fingerprint and primary user ID are the pinned ones, not revoked.
 * Verifying signatures with it is src/download/pgp.ts's job.
 */
export async function trustedKeys(catalog: Catalog, keyName: string): Promise<TrustedKey[]> {
  const key = catalog.keys[keyName];
  if (!key) {
    throw new ConfigError([{ path: fieldPath(['keys', keyName]), message: 'no such key in the catalog', hint: `the catalog declares: ${Object.keys(catalog.keys).join(', ') || '(none)'}` }], catalog.source);
  }
  const fail = (field: string, message: string): never => {
    throw new ConfigError([{ path: fieldPath(['keys', keyName, field]), message }], key.source);
  };
  let armoredKey = '';
  try {
    armoredKey = readFileSync(key.path, 'utf8');
  } catch (err) {
    fail('file', `cannot read ${key.path}: ${errorMessage(err)}`);
  }
  // openpgp reads the first armored block only: anything after it would go unseen.
  const blocks = armoredKey.match(/-----BEGIN PGP [A-Z ]+-----/g) ?? [];
  if (blocks.length !== 1 || blocks[0] !== '-----BEGIN PGP PUBLIC KEY BLOCK-----') {
    fail('file', `${key.path} holds ${blocks.length === 1 ? `a ${blocks[0]!.slice(15, -5)}` : `${blocks.length} armored blocks`}: a key file holds exactly the pinned key, in one PUBLIC KEY BLOCK`);
  }
  // Loaded here only: the OpenPGP library is large, and only box builds need it.
  const openpgp = await import('openpgp');
  const found = await openpgp.readKeys({ armoredKeys: armoredKey }).catch((err: unknown) => fail('file', `${key.path} holds no readable armored OpenPGP key: ${errorMessage(err)}`));
  if (found.length !== 1) fail('file', `${key.path} holds ${found.length} keys: a key file holds exactly the pinned one`);
  const pgpKey = found[0]!;
  if (pgpKey.isPrivate()) fail('file', `${key.path} holds a private key: ship the public key only`);
  const fingerprint = pgpKey.getFingerprint().toUpperCase();
  if (fingerprint !== key.fingerprint) fail('fingerprint', `the key in ${key.path} is ${fingerprint}, the catalog pins ${key.fingerprint}`);
  if (await pgpKey.isRevoked()) fail('file', `the key ${fingerprint} in ${key.path} is revoked`);
  const uid = await pgpKey
    .getPrimaryUser()
    .then((p) => p.user.userID?.userID)
    .catch((err: unknown) => fail('uid', `the key in ${key.path} has no valid self-signed user ID: ${errorMessage(err)}`));
  if (uid !== key.uid) fail('uid', `the key in ${key.path} is "${uid}", the catalog pins "${key.uid}"`);
  return [{ fingerprint: key.fingerprint, armoredKey }];
}
