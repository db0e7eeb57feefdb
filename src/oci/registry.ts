import { createHash } from 'node:crypto';
import { OperationError } from '../errors.js';
import { DownloadError, fetchBytes, fetchFile, type FetchedFile, type RequestOptions, type TransferProgressEvent } from '../download/fetch-file.js';
import { parseDigest } from '../download/digest.js';
import { configPlatform, formatPlatform, MANIFEST_ACCEPT, parseManifest, platformMatches, selectPlatform, type Descriptor, type ManifestDocument, type Platform } from './manifest.js';
import { formatImageReference, registryEndpoint, type ImageReference, type RegistryEndpoint } from './reference.js';

/**
 * A client of the OCI distribution API for anonymous pulls: the Bearer token challenge of
 * registry.k8s.io, ghcr.io, quay.io and Docker Hub (tokens cached per scope), manifests with an
 * Accept list of both indexes and both image manifests, an index resolved to one platform, every
 * document and blob checked against its digest (blobs while streaming, through src/download).
 */

/** Manifests and configs are small; a larger answer is not one. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

export type RegistryRequestOptions = Pick<RequestOptions, 'fetch' | 'signal' | 'timeouts' | 'retry' | 'onRetry'>;

export interface RegistryClientOptions extends RegistryRequestOptions {
  /** Upstream registry host → mirror base URL (`mirrors.registries`). */
  mirrors?: Readonly<Record<string, string>>;
}

/** An image resolved to one platform's manifest, its config read and checked. */
export interface ResolvedImage {
  ref: ImageReference;
  /** `registry.k8s.io/pause:3.10.2`: the name the archive gives it. */
  name: string;
  endpoint: RegistryEndpoint;
  platform: Platform;
  /** The manifest's bytes as served (never re-encoded), its digest and media type. */
  manifest: { bytes: Uint8Array; digest: string; mediaType: string };
  config: { descriptor: Descriptor; bytes: Uint8Array };
  layers: Descriptor[];
  /** The index the tag named, when it named one. */
  index: { digest: string; mediaType: string } | undefined;
  /** The manifest's URL at the upstream registry (not the mirror): what the lock file records. */
  upstreamUrl: string;
}

/** A WWW-Authenticate Bearer challenge. */
export interface BearerChallenge {
  realm: string;
  service: string | undefined;
  scope: string | undefined;
}

/** `Bearer realm="...",service="...",scope="..."` → its parameters; undefined for another scheme. */
export function parseBearerChallenge(header: string): BearerChallenge | undefined {
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return undefined;
  const params = new Map<string, string>();
  for (const p of m[1]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) params.set(p[1]!.toLowerCase(), p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!);
  const realm = params.get('realm');
  return realm ? { realm, service: params.get('service'), scope: params.get('scope') } : undefined;
}

const sha256Of = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export class RegistryClient {
  private readonly tokens = new Map<string, Promise<string>>();
  private readonly mirrors: Readonly<Record<string, string>>;
  private readonly request: RegistryRequestOptions;

  constructor(opts: RegistryClientOptions = {}) {
    const { mirrors, ...request } = opts;
    this.mirrors = mirrors ?? {};
    this.request = request;
  }

  /** The image's manifest for `platform`: an index is resolved, the manifest and config checked against their digests and the platform. */
  async resolve(ref: ImageReference, platform: Platform): Promise<ResolvedImage> {
    const name = formatImageReference(ref);
    const endpoint = registryEndpoint(ref, this.mirrors);
    const at = endpoint.mirror ? `${endpoint.origin}/${endpoint.repository} (mirror of ${ref.registry})` : `${endpoint.origin}/${endpoint.repository}`;
    const what = `image ${name} from ${at}`;
    const wanted = ref.digest ?? ref.tag!;
    const first = await this.manifest(endpoint, wanted, ref.digest, what);
    let index: ResolvedImage['index'];
    let manifest = first;
    if (first.doc.kind === 'index') {
      index = { digest: first.digest, mediaType: first.doc.mediaType };
      const chosen = selectPlatform(first.doc, platform, what);
      manifest = await this.manifest(endpoint, chosen.digest, chosen.digest, what);
      if (manifest.bytes.byteLength !== chosen.size) throw new OperationError(`${what}: the ${formatPlatform(platform)} manifest ${chosen.digest} has ${manifest.bytes.byteLength} bytes, the index says ${chosen.size}`);
      if (manifest.doc.kind !== 'manifest') throw new OperationError(`${what}: the index's ${formatPlatform(platform)} entry ${chosen.digest} is another index, not an image manifest`);
    }
    const doc = manifest.doc as Extract<ManifestDocument, { kind: 'manifest' }>;
    const configBytes = await this.authorized(endpoint, (headers) =>
      fetchBytes(this.blobUrl(endpoint, doc.config.digest), { ...this.request, headers, maxBytes: MAX_DOCUMENT_BYTES, expected: parseDigest(doc.config.digest) }),
    );
    const seen = configPlatform(configBytes, what);
    if (!platformMatches(seen, platform)) {
      throw new OperationError(`${what}: the image is ${formatPlatform(seen)}, not ${formatPlatform(platform)}${index ? '' : ' (the tag names a single-platform image, not an index)'}`);
    }
    const upstream = registryEndpoint(ref);
    return {
      ref,
      name,
      endpoint,
      platform,
      manifest: { bytes: manifest.bytes, digest: manifest.digest, mediaType: doc.mediaType },
      config: { descriptor: doc.config, bytes: configBytes },
      layers: doc.layers,
      index,
      upstreamUrl: `${upstream.origin}/v2/${upstream.repository}/manifests/${wanted}`,
    };
  }

  /** Downloads a blob of a resolved image to `dest`, its digest checked while streaming (fetchFile). */
  async fetchBlob(image: ResolvedImage, blob: Descriptor, dest: string, onProgress?: (e: TransferProgressEvent) => void): Promise<FetchedFile> {
    const url = this.blobUrl(image.endpoint, blob.digest);
    return this.authorized(image.endpoint, (headers) =>
      fetchFile({ ...this.request, url, dest, headers, expected: parseDigest(blob.digest), maxBytes: blob.size, ...(onProgress ? { onProgress } : {}) }),
    );
  }

  private blobUrl(endpoint: RegistryEndpoint, digest: string): string {
    return `${endpoint.origin}/v2/${endpoint.repository}/blobs/${digest}`;
  }

  /** One manifest by tag or digest: its bytes checked against the digest asked for, else the registry's Docker-Content-Digest. */
  private async manifest(endpoint: RegistryEndpoint, reference: string, digest: string | undefined, what: string): Promise<{ bytes: Uint8Array; digest: string; doc: ManifestDocument }> {
    const url = `${endpoint.origin}/v2/${endpoint.repository}/manifests/${reference}`;
    let contentType: string | undefined;
    let served: string | undefined;
    const bytes = await this.authorized(endpoint, (headers) =>
      fetchBytes(url, {
        ...this.request,
        headers: { ...headers, accept: MANIFEST_ACCEPT },
        maxBytes: MAX_DOCUMENT_BYTES,
        ...(digest ? { expected: parseDigest(digest) } : {}),
        onHeaders: (h) => {
          contentType = h.get('content-type') ?? undefined;
          served = h.get('docker-content-digest') ?? undefined;
        },
      }),
    );
    const actual = sha256Of(bytes);
    if (served && served !== actual) {
      throw new OperationError(`${what}: the manifest at ${url} has digest ${actual}, and the registry says ${served} (Docker-Content-Digest): refused`);
    }
    return { bytes, digest: actual, doc: parseManifest(bytes, contentType, `${what} (${url})`) };
  }

  /**
   * Runs a request with the repository's cached token; a 401 with a Bearer challenge gets a token
   * (anonymous, for the challenge's scope) and the request once more.
   */
  private async authorized<T>(endpoint: RegistryEndpoint, run: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const scope = `repository:${endpoint.repository}:pull`;
    const key = `${endpoint.origin} ${scope}`;
    const cached = this.tokens.get(key);
    const headersOf = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
    let token = cached ? await cached.catch(() => undefined) : undefined;
    try {
      return await run(headersOf(token));
    } catch (err) {
      const challenge = err instanceof DownloadError && err.status === 401 && err.authenticate ? parseBearerChallenge(err.authenticate) : undefined;
      if (!challenge) throw err;
      // A token another request is fetching for the same scope is shared; a stale one (ours, refused) is replaced.
      const now = this.tokens.get(key);
      const pending = now && now !== cached ? now : this.token(challenge, scope, endpoint);
      this.tokens.set(key, pending);
      token = await pending;
      return await run(headersOf(token));
    }
  }

  private async token(challenge: BearerChallenge, scope: string, endpoint: RegistryEndpoint): Promise<string> {
    const url = new URL(challenge.realm, endpoint.origin);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    url.searchParams.set('scope', challenge.scope ?? scope);
    let body: { token?: unknown; access_token?: unknown };
    try {
      body = JSON.parse(Buffer.from(await fetchBytes(url.href, { ...this.request, maxBytes: 1024 * 1024 })).toString('utf8')) as typeof body;
    } catch (err) {
      if (err instanceof DownloadError) throw new OperationError(`${endpoint.origin}/${endpoint.repository}: no pull token from ${url.href}: ${err.message}`);
      throw new OperationError(`${endpoint.origin}/${endpoint.repository}: the token service ${url.href} answered something that is not JSON`);
    }
    const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) throw new OperationError(`${endpoint.origin}/${endpoint.repository}: the token service ${url.href} answered without a token`);
    return token;
  }
}
