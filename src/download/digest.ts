import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { UsageError } from '../errors.js';

/** The digests we verify with; weaker ones (MD5, SHA-1) are never accepted. */
export type DigestAlgorithm = 'sha256' | 'sha512';

/** Each algorithm's hex length: the one table that parsers and checks read. */
export const DIGEST_HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };

/** Every supported algorithm, strongest last. */
export const DIGEST_ALGORITHMS = Object.keys(DIGEST_HEX_LENGTH) as DigestAlgorithm[];

/** A digest of some bytes: the algorithm and lower-case hex. */
export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** The algorithm whose digests have this many hex digits, or undefined. */
export function algorithmOfHexLength(length: number): DigestAlgorithm | undefined {
  return DIGEST_ALGORITHMS.find((a) => DIGEST_HEX_LENGTH[a] === length);
}

/** Whether `hex` is a well-formed digest of `algorithm` (either case). */
export function isDigestHex(algorithm: DigestAlgorithm, hex: string): boolean {
  return hex.length === DIGEST_HEX_LENGTH[algorithm] && /^[0-9a-fA-F]+$/.test(hex);
}

/** `sha256:<64 hex>` or `sha512:<128 hex>` → a Digest; anything else is a UsageError naming the text. */
export function parseDigest(text: string): Digest {
  const m = /^([a-z0-9]+):([0-9a-fA-F]+)$/.exec(text.trim());
  const algorithm = m?.[1] as DigestAlgorithm | undefined;
  if (!m || !algorithm || !Object.hasOwn(DIGEST_HEX_LENGTH, algorithm) || !isDigestHex(algorithm, m[2]!)) {
    throw new UsageError(`not a digest: "${text}" (expected ${DIGEST_ALGORITHMS.map((a) => `${a}:<${DIGEST_HEX_LENGTH[a]} hex digits>`).join(' or ')})`);
  }
  return { algorithm, hex: m[2]!.toLowerCase() };
}

/** A Digest as `algorithm:hex`, the form parseDigest reads and OCI uses. */
export function formatDigest(d: Digest): string {
  return `${d.algorithm}:${d.hex}`;
}

/** Several hashes fed with the same bytes, for one pass over a stream. */
export interface MultiHash<A extends DigestAlgorithm> {
  update(chunk: Uint8Array): void;
  /** The hex of each algorithm; call once, at the end. */
  hex(): Record<A, string>;
}

/** Hashes for `algorithms` (duplicates ignored) that are updated together. */
export function multiHash<A extends DigestAlgorithm>(algorithms: readonly A[]): MultiHash<A> {
  const hashes = [...new Set(algorithms)].map((a) => [a, createHash(a)] as [A, Hash]);
  return {
    update: (chunk) => hashes.forEach(([, h]) => h.update(chunk)),
    hex: () => Object.fromEntries(hashes.map(([a, h]) => [a, h.digest('hex')])) as Record<A, string>,
  };
}

/** Feeds a file's bytes (from `start`, default 0) into `hash`; resolves with the number of bytes read. */
export async function hashFileInto(path: string, hash: { update(chunk: Uint8Array): void }, start = 0): Promise<number> {
  let bytes = 0;
  for await (const chunk of createReadStream(path, { start, highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return bytes;
}

/** The hex digests of a file, one read for all `algorithms`. */
export async function fileDigests<A extends DigestAlgorithm>(path: string, algorithms: readonly A[]): Promise<Record<A, string>> {
  const hash = multiHash(algorithms);
  await hashFileInto(path, hash);
  return hash.hex();
}
