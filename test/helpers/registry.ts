import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startServer, type TestServer } from './http-server.js';

/**
 * A small OCI registry in the test's process, on 127.0.0.1: manifests and blobs by repository, an
 * anonymous Bearer token challenge (realm on the same server), and faults a test switches on
 * (a blob whose bytes are not its digest, blobs redirected to a second "storage" server).
 */

export const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface TestImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  layers: Buffer[];
}

/** An OCI image of one platform: random layers, a config naming the platform, its manifest. */
export function makeImage(platform: { os: string; architecture: string; variant?: string }, layerSizes: number[] = [3000, 70_000]): TestImage {
  const layers = layerSizes.map((n) => randomBytes(n));
  const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: layers.map(sha256) }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: l.length })),
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), config, layers };
}

/** An image index over several images, each with its platform. */
export function makeIndex(images: { image: TestImage; platform: Record<string, string> }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map(({ image, platform }) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: image.manifest.length, platform })),
    }),
  );
}

export interface TestRegistry {
  server: TestServer;
  origin: string;
  /** Repository → tag or digest → manifest bytes. */
  manifests: Map<string, Map<string, Buffer>>;
  blobs: Map<string, Buffer>;
  /** Requires a Bearer token from /token (default true). */
  auth: boolean;
  /** Tokens issued, by scope. */
  tokensIssued: string[];
  /** Serve these bytes instead of the blob with this digest. */
  corruptBlobs: Map<string, Buffer>;
  /** Redirect blob requests to this origin (a storage host). */
  blobRedirect: string | undefined;
  /** Leave out Docker-Content-Digest, or send this one instead. */
  contentDigest: 'right' | 'none' | string;
  /** Adds an image (its blobs, and its manifest by digest and, if given, by tag). */
  push(repository: string, image: TestImage, tag?: string): void;
  /** Adds an index by tag (and digest); its images must be pushed by digest. */
  pushIndex(repository: string, index: Buffer, tag: string): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: Buffer): void {
  res.writeHead(status, { ...headers, ...(body ? { 'content-length': body.length } : {}) });
  res.end(body);
}

export async function startRegistry(): Promise<TestRegistry> {
  const tokens = new Map<string, string>();
  const reg: Omit<TestRegistry, 'server' | 'origin' | 'close'> = {
    manifests: new Map(),
    blobs: new Map(),
    auth: true,
    tokensIssued: [],
    corruptBlobs: new Map(),
    blobRedirect: undefined,
    contentDigest: 'right',
    push(repository, image, tag) {
      const m = this.manifests.get(repository) ?? new Map<string, Buffer>();
      this.manifests.set(repository, m);
      m.set(image.manifestDigest, image.manifest);
      if (tag) m.set(tag, image.manifest);
      this.blobs.set(sha256(image.config), image.config);
      for (const l of image.layers) this.blobs.set(sha256(l), l);
    },
    pushIndex(repository, index, tag) {
      const m = this.manifests.get(repository) ?? new Map<string, Buffer>();
      this.manifests.set(repository, m);
      m.set(tag, index);
      m.set(sha256(index), index);
    },
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const scope = url.searchParams.get('scope') ?? '';
      const token = randomBytes(12).toString('hex');
      tokens.set(token, scope);
      reg.tokensIssued.push(scope);
      send(res, 200, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify({ token, expires_in: 300 })));
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return send(res, 404, {}, Buffer.from('{"errors":[{"code":"NOT_FOUND"}]}'));
    const [, repository, kind, reference] = m as unknown as [string, string, string, string];
    const scope = `repository:${repository}:pull`;
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (reg.auth && (!given || tokens.get(given) !== scope)) {
      return send(res, 401, { 'www-authenticate': `Bearer realm="${origin}/token",service="test-registry",scope="${scope}"`, 'content-type': 'application/json' }, Buffer.from('{"errors":[{"code":"UNAUTHORIZED"}]}'));
    }
    if (kind === 'manifests') {
      const body = reg.manifests.get(repository)?.get(reference);
      if (!body) return send(res, 404, {}, Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'));
      const mediaType = (JSON.parse(body.toString()) as { mediaType: string }).mediaType;
      const digest = reg.contentDigest === 'right' ? sha256(body) : reg.contentDigest === 'none' ? undefined : reg.contentDigest;
      return send(res, 200, { 'content-type': mediaType, ...(digest ? { 'docker-content-digest': digest } : {}) }, body);
    }
    if (reg.blobRedirect) return send(res, 307, { location: `${reg.blobRedirect}/storage/${reference}` });
    const body = reg.corruptBlobs.get(reference) ?? reg.blobs.get(reference);
    if (!body) return send(res, 404, {}, Buffer.from('{"errors":[{"code":"BLOB_UNKNOWN"}]}'));
    return send(res, 200, { 'content-type': 'application/octet-stream' }, body);
  };
  const server = await startServer(handler);
  const origin = server.origin;
  return Object.assign(reg, { server, origin, close: () => server.close() });
}
