import { OperationError } from '../errors.js';
import { parseDigest } from '../download/digest.js';

/**
 * The OCI and Docker documents a registry serves (image index / manifest list, image manifest, image
 * config), read from their bytes and checked for the shape we rely on; and the choice of one
 * platform's manifest from an index. Pure.
 */

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** What a manifest request accepts: both indexes and both single-platform manifests (never Docker's schema 1). */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerList, MEDIA_TYPES.dockerManifest].join(', ');

const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList];
const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];

/** A content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** os/architecture[/variant]. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export type ManifestDocument =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }
  | { kind: 'manifest'; mediaType: string; config: Descriptor; layers: Descriptor[] };

function isDescriptor(d: unknown): d is Descriptor {
  const x = d as Partial<Descriptor> | null;
  if (typeof x !== 'object' || x === null || typeof x.mediaType !== 'string' || typeof x.digest !== 'string' || typeof x.size !== 'number') return false;
  if (!Number.isSafeInteger(x.size) || x.size < 0) return false;
  try {
    return parseDigest(x.digest).algorithm === 'sha256';
  } catch {
    return false;
  }
}

/**
 * Reads a manifest or index from its bytes; `served` is the Content-Type the registry gave. Its own
 * `mediaType` field wins (it is covered by the digest); without one, its shape decides. Anything else
 * is an OperationError naming `what`.
 */
export function parseManifest(bytes: Uint8Array, served: string | undefined, what: string): ManifestDocument {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch {
    throw new OperationError(`${what}: the manifest is not JSON`);
  }
  if (typeof doc !== 'object' || doc === null) throw new OperationError(`${what}: the manifest is not a JSON object`);
  const servedType = served?.split(';')[0]!.trim();
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : Array.isArray(doc.manifests) ? MEDIA_TYPES.ociIndex : doc.config ? MEDIA_TYPES.ociManifest : (servedType ?? '');
  if (doc.schemaVersion !== 2) throw new OperationError(`${what}: schemaVersion ${String(doc.schemaVersion)} (${mediaType || 'no media type'}) is not an image manifest this tool reads (OCI, or Docker schema 2)`);
  if (INDEX_TYPES.includes(mediaType)) {
    if (!Array.isArray(doc.manifests) || !doc.manifests.every(isDescriptor)) throw new OperationError(`${what}: an image index whose manifests are not descriptors`);
    return { kind: 'index', mediaType, manifests: doc.manifests };
  }
  if (MANIFEST_TYPES.includes(mediaType)) {
    if (!isDescriptor(doc.config) || !Array.isArray(doc.layers) || !doc.layers.every(isDescriptor)) throw new OperationError(`${what}: an image manifest without a config and layers as descriptors`);
    return { kind: 'manifest', mediaType, config: doc.config, layers: doc.layers };
  }
  throw new OperationError(`${what}: media type "${mediaType}" is neither an image index nor an image manifest (accepted: ${MANIFEST_ACCEPT})`);
}

/** `linux/arm64/v8`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Whether a platform (of an index entry or an image config) is the one wanted: arm64 takes variant v8 or none. */
export function platformMatches(p: Partial<Platform> | undefined, wanted: Platform): boolean {
  if (!p || p.os !== wanted.os || p.architecture !== wanted.architecture) return false;
  if (wanted.variant !== undefined) return p.variant === wanted.variant;
  if (wanted.architecture === 'arm64') return p.variant === undefined || p.variant === '' || p.variant === 'v8';
  return p.variant === undefined || p.variant === '';
}

/** The index entry for `platform`, or an OperationError naming the platforms it has. */
export function selectPlatform(index: Extract<ManifestDocument, { kind: 'index' }>, platform: Platform, what: string): Descriptor {
  const images = index.manifests.filter((m) => MANIFEST_TYPES.includes(m.mediaType) && m.platform?.os !== 'unknown');
  const found = images.find((m) => platformMatches(m.platform, platform));
  if (found) return found;
  const has = images.map((m) => (m.platform ? formatPlatform(m.platform) : 'no platform'));
  throw new OperationError(`${what} has no ${formatPlatform(platform)} image (it has ${has.length ? has.join(', ') : 'none'})`);
}

/** The platform an image config names; a config without os and architecture is an OperationError. */
export function configPlatform(bytes: Uint8Array, what: string): Platform {
  let doc: Partial<Platform>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Platform>;
  } catch {
    throw new OperationError(`${what}: the image config is not JSON`);
  }
  if (typeof doc.os !== 'string' || typeof doc.architecture !== 'string') throw new OperationError(`${what}: the image config names no os and architecture`);
  return { os: doc.os, architecture: doc.architecture, ...(typeof doc.variant === 'string' && doc.variant ? { variant: doc.variant } : {}) };
}
