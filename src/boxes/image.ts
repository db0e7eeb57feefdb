import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CACHE } from '../cache.js';
import { OperationError } from '../errors.js';
import { findChecksum, parseChecksumFile } from '../download/checksums.js';
import { fileDigests, formatDigest, type Digest } from '../download/digest.js';
import { fetchBytes, fetchFile, fetchText, type RequestOptions } from '../download/fetch-file.js';
import { verifyClearsigned, verifyDetached } from '../download/pgp.js';
import type { TransferProgress } from '../download/progress.js';
import { trustedKeys, type Catalog, type ImageSource } from './catalog.js';

/** A distro's official image on this host, checked against a digest that was itself trusted. */
export interface VerifiedImage {
  source: ImageSource;
  path: string;
  /** The digest it was checked against. */
  digest: Digest;
  sha256: string;
  /** How that digest was trusted, in words (the signing key, or the catalog's pin). */
  verifiedBy: string;
  /** Whether the file was in the cache already (checked again all the same). */
  cached: boolean;
}

/**
 * The digest the image must have, and why it is trusted: the checksum file verified by its
 * signature (a pinned key), or, where the distro signs nothing, the digest pinned in the catalog.
 * Where both exist they must agree.
 */
export async function trustedDigest(catalog: Catalog, source: ImageSource, opts: RequestOptions = {}): Promise<{ digest: Digest; verifiedBy: string }> {
  const { checksums, signature } = source;
  if (!signature) {
    if (!source.digest) throw new OperationError(`${source.distro} ${source.arch}: the catalog (${source.catalogFile}) gives neither a signature nor a pinned digest for ${source.url}; refusing an image nothing vouches for`);
    return { digest: source.digest, verifiedBy: `the digest pinned in ${source.catalogFile} (${source.distro} signs no checksums of its cloud images)` };
  }
  const trusted = await trustedKeys(catalog, signature.key);
  const what = `${checksums.url}`;
  let text: string;
  if (signature.kind === 'clearsigned') {
    text = (await verifyClearsigned({ text: await fetchText(signature.url, opts), trusted, what })).data;
  } else {
    const [data, sig] = await Promise.all([fetchBytes(checksums.url, opts), fetchBytes(signature.url, opts)]);
    await verifyDetached({ data, signature: sig, trusted, what });
    text = new TextDecoder().decode(data);
  }
  const entry = findChecksum(parseChecksumFile(text, checksums.url), source.fileName, checksums.algorithm);
  if (!entry) throw new OperationError(`${checksums.url} (signed by ${signature.fingerprint}) lists no ${checksums.algorithm} checksum of ${source.fileName}`);
  const digest: Digest = { algorithm: entry.algorithm, hex: entry.hex.toLowerCase() };
  if (source.digest && formatDigest(source.digest) !== formatDigest(digest)) {
    throw new OperationError(`${source.fileName}: the signed ${checksums.url} says ${formatDigest(digest)}, the catalog (${source.catalogFile}) pins ${formatDigest(source.digest)}`);
  }
  return { digest, verifiedBy: `${checksums.url}, signed by ${signature.key} (${signature.fingerprint})` };
}

/**
 * The official image of a distro and architecture in `<cache>/images/<distro>/<arch>/`,
 * downloaded (resumably) when missing, and checked against its trusted digest every time.
 */
export async function verifiedImage(catalog: Catalog, source: ImageSource, cache: string, opts: RequestOptions & { progress?: TransferProgress } = {}): Promise<VerifiedImage> {
  const { digest, verifiedBy } = await trustedDigest(catalog, source, opts);
  const dir = join(cache, CACHE.images, source.distro, source.arch);
  await mkdir(dir, { recursive: true });
  const path = join(dir, source.fileName);
  if (existsSync(path)) {
    const have = await fileDigests(path, ['sha256', digest.algorithm]);
    if (have[digest.algorithm] === digest.hex) return { source, path, digest, sha256: have.sha256, verifiedBy, cached: true };
  }
  const transfer = opts.progress?.file(source.fileName);
  try {
    const { progress: _ignored, ...request } = opts;
    const got = await fetchFile({ ...request, url: source.url, dest: path, expected: digest, ...(transfer ? { onProgress: (e) => transfer.onProgress(e) } : {}) });
    transfer?.done({ bytes: got.bytes, resumedFrom: got.resumedFrom });
    return { source, path, digest, sha256: got.sha256, verifiedBy, cached: false };
  } catch (err) {
    transfer?.fail(err);
    throw err;
  }
}
