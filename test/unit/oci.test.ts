import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DownloadError } from '../../src/download/fetch-file.js';
import { OperationError, UsageError } from '../../src/errors.js';
import { imageRefsOf } from '../../src/offline/tar.js';
import { checkImageArchive, writeImageArchive } from '../../src/oci/archive.js';
import { formatImageReference, parseImageReference, registryEndpoint } from '../../src/oci/reference.js';
import { parseBearerChallenge, RegistryClient } from '../../src/oci/registry.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { makeImage, makeIndex, sha256, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { rejectionOf } from '../helpers/rejection.js';

const QUICK = { retry: { retries: 1, initialDelayMs: 5, maxDelayMs: 10 }, timeouts: { connectMs: 2000, stallMs: 2000 } };
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };

describe('image references', () => {
  it.each([
    ['registry.k8s.io/pause:3.10.2', { registry: 'registry.k8s.io', repository: 'pause', tag: '3.10.2', digest: undefined }],
    ['registry.k8s.io/coredns/coredns:v1.14.6', { registry: 'registry.k8s.io', repository: 'coredns/coredns', tag: 'v1.14.6', digest: undefined }],
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest', digest: undefined }],
    ['bitnami/redis:7', { registry: 'docker.io', repository: 'bitnami/redis', tag: '7', digest: undefined }],
    ['index.docker.io/library/busybox:1', { registry: 'docker.io', repository: 'library/busybox', tag: '1', digest: undefined }],
    ['localhost:5000/x/y', { registry: 'localhost:5000', repository: 'x/y', tag: 'latest', digest: undefined }],
    [`quay.io/calico/node@sha256:${'a'.repeat(64)}`, { registry: 'quay.io', repository: 'calico/node', tag: undefined, digest: `sha256:${'a'.repeat(64)}` }],
  ])('%s', (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
  });

  it('refuses malformed references, naming them', () => {
    for (const bad of ['Registry.k8s.io', 'registry.k8s.io/Pause:1', 'x:-tag', 'x@sha256:12', '']) {
      expect(() => parseImageReference(bad)).toThrow(UsageError);
    }
    expect(() => parseImageReference('registry.k8s.io/pause:-1')).toThrow(/"registry.k8s.io\/pause:-1" is not an image reference: the tag "-1"/);
  });

  it('formats the full name an archive gives', () => {
    expect(formatImageReference(parseImageReference('nginx:1.27'))).toBe('docker.io/library/nginx:1.27');
  });

  it('reaches Docker Hub at registry-1.docker.io, others over https, a mirror under its path prefix', () => {
    expect(registryEndpoint(parseImageReference('nginx'))).toEqual({ origin: 'https://registry-1.docker.io', repository: 'library/nginx', mirror: undefined });
    expect(registryEndpoint(parseImageReference('registry.k8s.io/kube-proxy:v1.37.2'), { 'registry.k8s.io': 'http://127.0.0.1:5000/registry.k8s.io/' })).toEqual({
      origin: 'http://127.0.0.1:5000',
      repository: 'registry.k8s.io/kube-proxy',
      mirror: 'http://127.0.0.1:5000/registry.k8s.io/',
    });
    expect(registryEndpoint(parseImageReference('ghcr.io/a/b:1'), { 'ghcr.io': 'https://mirror.example' }).repository).toBe('a/b');
  });

  it('reads Bearer challenges, quoted and not', () => {
    expect(parseBearerChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"')).toEqual({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/nginx:pull',
    });
    expect(parseBearerChallenge('Bearer realm=https://r/token')).toEqual({ realm: 'https://r/token', service: undefined, scope: undefined });
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
  });
});

describe('the registry client (an in-process registry with a token challenge)', () => {
  let reg: TestRegistry;
  let dir: string;
  const servers: TestServer[] = [];
  beforeEach(async () => {
    reg = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), 'kv-oci-'));
  });
  afterEach(async () => {
    await reg.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  function pushMultiArch(repository: string, tag: string) {
    const amd = makeImage(AMD64);
    const arm = makeImage({ ...ARM64, variant: 'v8' });
    reg.push(repository, amd);
    reg.push(repository, arm);
    const index = makeIndex([
      { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
    reg.pushIndex(repository, index, tag);
    return { amd, arm, index };
  }

  const client = (mirror = true) => new RegistryClient({ ...QUICK, mirrors: mirror ? { 'registry.k8s.io': `${reg.origin}/registry.k8s.io` } : {} });

  it('answers the token challenge, resolves the index to each platform, and asks one token per repository', async () => {
    const { amd, arm, index } = pushMultiArch('registry.k8s.io/pause', '3.10.2');
    const c = client();
    const ref = parseImageReference('registry.k8s.io/pause:3.10.2');
    const a = await c.resolve(ref, AMD64);
    expect(a.manifest.digest).toBe(amd.manifestDigest);
    expect(Buffer.from(a.manifest.bytes).equals(amd.manifest)).toBe(true);
    expect(a.index?.digest).toBe(sha256(index));
    expect(a.upstreamUrl).toBe('https://registry.k8s.io/v2/pause/manifests/3.10.2');
    const b = await c.resolve(ref, ARM64);
    expect(b.manifest.digest).toBe(arm.manifestDigest);
    expect(reg.tokensIssued).toEqual(['repository:registry.k8s.io/pause:pull']);
    // Every request after the first carried the token.
    expect(reg.server.requests.filter((r) => r.url.startsWith('/v2/')).slice(1).every((r) => r.headers.authorization?.startsWith('Bearer '))).toBe(true);
    const blob = await c.fetchBlob(a, a.layers[1]!, join(dir, 'layer'));
    expect(blob.sha256).toBe(sha256(amd.layers[1]!).slice(7));
  });

  it('refuses an index without the architecture, naming the image, the source and the platforms it has', async () => {
    const amd = makeImage(AMD64);
    reg.push('registry.k8s.io/etcd', amd);
    reg.pushIndex('registry.k8s.io/etcd', makeIndex([{ image: amd, platform: { os: 'linux', architecture: 'amd64' } }]), '3.7.0-0');
    const err = await rejectionOf(client().resolve(parseImageReference('registry.k8s.io/etcd:3.7.0-0'), ARM64), OperationError);
    expect(err.message).toMatch(/image registry\.k8s\.io\/etcd:3\.7\.0-0 from http:\/\/127\.0\.0\.1:\d+\/registry\.k8s\.io\/etcd \(mirror of registry\.k8s\.io\) has no linux\/arm64 image \(it has linux\/amd64\)/);
  });

  it('checks a single-platform manifest against its config', async () => {
    reg.push('registry.k8s.io/agnhost', makeImage(AMD64), '2.66.1');
    const err = await rejectionOf(client().resolve(parseImageReference('registry.k8s.io/agnhost:2.66.1'), ARM64), OperationError);
    expect(err.message).toMatch(/the image is linux\/amd64, not linux\/arm64 \(the tag names a single-platform image/);
    expect((await client().resolve(parseImageReference('registry.k8s.io/agnhost:2.66.1'), AMD64)).index).toBeUndefined();
  });

  it('refuses a blob whose bytes do not match its digest, and leaves no file', async () => {
    const { amd } = pushMultiArch('registry.k8s.io/pause', '3.10.2');
    const image = await client().resolve(parseImageReference('registry.k8s.io/pause:3.10.2'), AMD64);
    const digest = sha256(amd.layers[0]!);
    const wrong = Buffer.from(amd.layers[0]!);
    wrong[10]! ^= 1;
    reg.corruptBlobs.set(digest, wrong);
    const dest = join(dir, 'blob');
    const err = await rejectionOf(client().fetchBlob(image, image.layers[0]!, dest), DownloadError);
    expect(err.kind).toBe('digest');
    expect(err.message).toContain(`/v2/registry.k8s.io/pause/blobs/${digest}`);
    expect(err.message).toContain(`expected ${digest.slice(7)}`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a manifest whose bytes are not the Docker-Content-Digest, and a config that is not its digest', async () => {
    pushMultiArch('registry.k8s.io/pause', '3.10.2');
    reg.contentDigest = `sha256:${'0'.repeat(64)}`;
    const err = await rejectionOf(client().resolve(parseImageReference('registry.k8s.io/pause:3.10.2'), AMD64), OperationError);
    expect(err.message).toMatch(/has digest sha256:[0-9a-f]{64}, and the registry says sha256:0{64} \(Docker-Content-Digest\): refused/);
    reg.contentDigest = 'right';
    const amd = makeImage(AMD64);
    reg.push('registry.k8s.io/kube-proxy', amd, 'v1.37.2');
    reg.corruptBlobs.set(sha256(amd.config), Buffer.from('{"os":"linux","architecture":"amd64"}'));
    const e2 = await rejectionOf(client().resolve(parseImageReference('registry.k8s.io/kube-proxy:v1.37.2'), AMD64), DownloadError);
    expect(e2.kind).toBe('digest');
  });

  it('checks a manifest asked for by digest against that digest', async () => {
    const amd = makeImage(AMD64);
    reg.push('registry.k8s.io/pause', amd);
    reg.contentDigest = 'none';
    const ok = await client().resolve(parseImageReference(`registry.k8s.io/pause@${amd.manifestDigest}`), AMD64);
    expect(ok.manifest.digest).toBe(amd.manifestDigest);
    // The registry serves other bytes under that digest.
    reg.manifests.get('registry.k8s.io/pause')!.set(amd.manifestDigest, makeImage(AMD64).manifest);
    const err = await rejectionOf(client().resolve(parseImageReference(`registry.k8s.io/pause@${amd.manifestDigest}`), AMD64), DownloadError);
    expect(err.kind).toBe('digest');
  });

  it('follows a blob redirect to a storage host without the Authorization header', async () => {
    const { amd } = pushMultiArch('registry.k8s.io/pause', '3.10.2');
    const storage = await startServer((req, res) => {
      const body = reg.blobs.get(decodeURIComponent(req.url!.replace('/storage/', '')));
      res.writeHead(body ? 200 : 404, { 'content-length': body?.length ?? 0 });
      res.end(body);
    });
    servers.push(storage);
    const c = client();
    const image = await c.resolve(parseImageReference('registry.k8s.io/pause:3.10.2'), AMD64);
    reg.blobRedirect = storage.origin;
    await c.fetchBlob(image, image.layers[0]!, join(dir, 'blob'));
    expect(readFileSync(join(dir, 'blob')).equals(amd.layers[0]!)).toBe(true);
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('writes an OCI archive whose index names the image as tar.ts and ctr read it, with the manifest as served; reading it back checks every blob', async () => {
    const { amd } = pushMultiArch('registry.k8s.io/pause', '3.10.2');
    const c = client();
    const image = await c.resolve(parseImageReference('registry.k8s.io/pause:3.10.2'), AMD64);
    const layers = [];
    for (const [i, l] of image.layers.entries()) {
      await c.fetchBlob(image, l, join(dir, `layer${i}`));
      layers.push({ digest: l.digest, size: l.size, path: join(dir, `layer${i}`) });
    }
    const dest = join(dir, 'pause.tar');
    const input = { name: image.name, platform: image.platform, manifest: image.manifest, config: { digest: image.config.descriptor.digest, bytes: image.config.bytes }, layers };
    const written = await writeImageArchive(dest, input);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    expect(written.sha256).toBe(sha256(readFileSync(dest)).slice(7));
    expect(imageRefsOf(dest)).toEqual(['registry.k8s.io/pause:3.10.2']);
    const index = JSON.parse(execFileSync('tar', ['-xOf', dest, 'index.json'], { encoding: 'utf8' })) as { manifests: { digest: string; annotations: Record<string, string>; platform: unknown }[] };
    expect(index.manifests[0]).toMatchObject({ digest: amd.manifestDigest, platform: { architecture: 'amd64', os: 'linux' } });
    expect(index.manifests[0]!.annotations).toEqual({ 'io.containerd.image.name': 'registry.k8s.io/pause:3.10.2', 'org.opencontainers.image.ref.name': 'registry.k8s.io/pause:3.10.2' });
    expect(execFileSync('tar', ['-xOf', dest, `blobs/sha256/${amd.manifestDigest.slice(7)}`]).equals(amd.manifest)).toBe(true);
    expect(execFileSync('tar', ['-xOf', dest, 'oci-layout'], { encoding: 'utf8' })).toBe('{"imageLayoutVersion":"1.0.0"}\n');
    expect(await checkImageArchive(dest, AMD64)).toEqual({ names: ['registry.k8s.io/pause:3.10.2'], images: [{ digest: amd.manifestDigest, platform: 'linux/amd64' }], problems: [] });
    // The same input gives the same bytes.
    await writeImageArchive(join(dir, 'again.tar'), input);
    expect(readFileSync(join(dir, 'again.tar')).equals(readFileSync(dest))).toBe(true);

    // A blob file that is not its digest fails the archive, and dest stays as it was.
    const bad = join(dir, 'bad');
    writeFileSync(bad, Buffer.alloc(layers[0]!.size));
    await rejectionOf(writeImageArchive(dest, { ...input, layers: [{ ...layers[0]!, path: bad }] }), OperationError);
    expect(sha256(readFileSync(dest)).slice(7)).toBe(written.sha256);
    expect(existsSync(`${dest}.partial`)).toBe(false);

    // Reading back finds a flipped byte in a layer and a wrong platform.
    const tampered = readFileSync(dest);
    const at = tampered.indexOf(amd.layers[1]!.subarray(0, 64));
    tampered[at + 100]! ^= 0xff;
    writeFileSync(join(dir, 'tampered.tar'), tampered);
    const check = await checkImageArchive(join(dir, 'tampered.tar'), ARM64);
    expect(check.problems).toEqual([
      expect.stringContaining(`the blob ${sha256(amd.layers[1]!)} does not match its digest`),
      expect.stringContaining('the image is linux/amd64, not linux/arm64'),
    ]);
  });
});
