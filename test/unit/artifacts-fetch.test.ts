import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archDir, CACHE, readLockFile } from '../../src/artifacts/cache.js';
import { artifactsCacheDir } from '../../src/cache.js';
import { fetchArtifacts, type FetchArtifactsOptions } from '../../src/artifacts/fetch.js';
import { artifactPlan, fetchPatch, imageArchiveNames } from '../../src/artifacts/plan.js';
import { mirroredUrl, type ReleaseDownload } from '../../src/artifacts/sources.js';
import { OperationError, UsageError } from '../../src/errors.js';
import { readSums } from '../../src/offline/artifacts.js';
import { imageRefsOf } from '../../src/offline/tar.js';
import { checkImageArchive } from '../../src/oci/archive.js';
import { parseImageReference } from '../../src/oci/reference.js';
import { serveBody, startServer, type TestServer } from '../helpers/http-server.js';
import { makeImage, makeIndex, startRegistry, type TestImage, type TestRegistry } from '../helpers/registry.js';
import { rejectionOf, thrownBy } from '../helpers/rejection.js';

const PATCH = '1.37.2';
const NEEDS = { cnis: ['flannel'], dashboard: false, containerd: true };
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const QUICK = { retry: { retries: 1, initialDelayMs: 5, maxDelayMs: 10 }, timeouts: { connectMs: 2000, stallMs: 1000 } };

async function targz(members: { name: string; data?: Buffer }[]): Promise<Buffer> {
  const p = pack();
  for (const m of members) {
    if (m.data) p.entry({ name: m.name, mode: 0o755, size: m.data.length }, m.data);
    else p.entry({ name: m.name, type: 'directory', mode: 0o755 });
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return gzipSync(Buffer.concat(chunks));
}

/** A release-download mirror of the plan's downloads: each file random bytes, archives holding them, checksum files like upstream's. */
async function releaseTree(downloads: readonly ReleaseDownload[]): Promise<{ files: Map<string, Buffer>; layout: Map<string, Buffer> }> {
  const files = new Map<string, Buffer>();
  const layout = new Map<string, Buffer>();
  const path = (url: string) => new URL(mirroredUrl(url, 'http://m')).pathname;
  for (const d of downloads) {
    let body: Buffer;
    if ('to' in d.install) {
      body = randomBytes(20_000);
      layout.set(d.install.to, body);
    } else {
      const members = d.install.members.map((m) => ({ name: m.member, data: randomBytes(5000) }));
      d.install.members.forEach((m, i) => layout.set(m.to, members[i]!.data));
      body = await targz([{ name: './' }, ...members, { name: 'LICENSE', data: Buffer.from('x') }]);
    }
    files.set(path(d.url), body);
    if (d.checksum.kind === 'file') {
      const name = d.checksum.entry ?? d.url.split('/').pop()!;
      const prior = files.get(path(d.checksum.url))?.toString() ?? '';
      files.set(path(d.checksum.url), Buffer.from(d.checksum.url.endsWith('.sha256') && d.id.startsWith('kube') ? hex(body) : `${prior}${hex(body)}  ${name}\n`));
    }
  }
  return { files, layout };
}

let cacheRoot: string;
let files: TestServer;
let reg: TestRegistry;
let tree: Map<string, Buffer>;
let layout: Map<string, Buffer>;
let images: Map<string, TestImage>;
let faults: Map<string, 'corrupt' | '500' | '404'>;
let pins: Record<string, string>;

beforeEach(async () => {
  cacheRoot = mkdtempSync(join(tmpdir(), 'kv-cache-'));
  const plan = artifactPlan(PATCH, 'amd64', NEEDS, { 'kube-flannel.yml': '0'.repeat(64) });
  const downloads = (arch: 'amd64' | 'arm64') => artifactPlan(PATCH, arch, NEEDS, { 'kube-flannel.yml': '0'.repeat(64) }).flatMap((i) => (i.kind === 'download' ? [i.download] : []));
  ({ files: tree, layout } = await releaseTree(downloads('amd64')));
  // arm64's release downloads too (the registry has amd64 images only).
  for (const [path, body] of (await releaseTree(downloads('arm64').filter((d) => !d.url.endsWith('.yml')))).files) tree.set(path, tree.has(path) && path.endsWith('.sha256sum') ? Buffer.concat([tree.get(path)!, body]) : (tree.get(path) ?? body));
  // The flannel manifest: pinned through `pins` (the project's pin is of the real file).
  const manifestPath = [...tree.keys()].find((p) => p.endsWith('kube-flannel.yml'))!;
  pins = { 'kube-flannel.yml': hex(tree.get(manifestPath)!) };
  faults = new Map();
  files = await startServer((req, res) => {
    const body = tree.get(req.url ?? '');
    const fault = faults.get(req.url ?? '');
    if (fault === '500') return void res.writeHead(500).end();
    if (!body || fault === '404') return void res.writeHead(404).end();
    if (fault === 'corrupt') {
      const bad = Buffer.from(body);
      bad[bad.length >> 1]! ^= 1;
      return serveBody(req, res, bad);
    }
    serveBody(req, res, body);
  });
  reg = await startRegistry();
  images = new Map();
  // One layer shared by every image, as the static base of Kubernetes' images is.
  const shared = makeImage({ os: 'linux', architecture: 'amd64' }, [4000]).layers[0]!;
  for (const item of plan) {
    if (item.kind !== 'image') continue;
    const r = parseImageReference(item.ref);
    const img = makeImage({ os: 'linux', architecture: 'amd64' }, [3000]);
    const withShared = makeImageWithLayers([shared, ...img.layers]);
    reg.push(`${r.registry}/${r.repository}`, withShared);
    reg.pushIndex(`${r.registry}/${r.repository}`, makeIndex([{ image: withShared, platform: { os: 'linux', architecture: 'amd64' } }]), r.tag!);
    images.set(item.ref, withShared);
  }
});
afterEach(async () => {
  await files.close();
  await reg.close();
  rmSync(cacheRoot, { recursive: true, force: true });
});

function makeImageWithLayers(layers: Buffer[]): TestImage {
  const base = makeImage({ os: 'linux', architecture: 'amd64' }, []);
  const config = base.config;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex(config)}`, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex(l)}`, size: l.length })),
    }),
  );
  return { manifest, manifestDigest: `sha256:${hex(manifest)}`, config, layers };
}

function options(extra: Partial<FetchArtifactsOptions> = {}): FetchArtifactsOptions {
  const registries = Object.fromEntries(['registry.k8s.io', 'ghcr.io'].map((h) => [h, `${reg.origin}/${h}`]));
  return { patch: PATCH, arches: ['amd64'], ...NEEDS, mirrors: { files: files.origin, registries }, pins, cacheRoot, request: QUICK, ...extra };
}

const dir = () => archDir(cacheRoot, PATCH, 'amd64');
const requests = () => files.requests.length + reg.server.requests.length;

/** Every file of the layout directory (not the lock and SHA256SUMS): path → sha256. */
function layoutFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir(), rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${name.name}` : name.name;
      if (name.isDirectory()) walk(p);
      else out[p] = hex(readFileSync(join(dir(), p)));
    }
  };
  walk('');
  return out;
}

describe('fetchArtifacts', () => {
  it('fills v<patch>/<arch>/ from the mirrors: the files as published, images as archives, SHA256SUMS and the lock file over all of them', async () => {
    const report = await fetchArtifacts(options());
    const got = layoutFiles();
    for (const [rel, data] of layout) expect(got[rel], rel).toBe(hex(data));
    expect(statSync(join(dir(), 'bin/kubeadm')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir(), 'cni/bridge')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir(), 'manifests/kube-flannel.yml')).mode & 0o777).toBe(0o644);
    // SHA256SUMS: every file but itself and the lock file, with its digest.
    const sums = readSums(dir());
    expect(Object.fromEntries(sums)).toEqual(Object.fromEntries(Object.entries(got).filter(([p]) => p !== 'SHA256SUMS' && p !== CACHE.lockFile)));
    const names = imageArchiveNames([...images.keys()]);
    for (const [ref, img] of images) {
      const file = join(dir(), names.get(ref)!);
      expect(imageRefsOf(file)).toEqual([ref]);
      const check = await checkImageArchive(file, { os: 'linux', architecture: 'amd64' });
      expect(check).toEqual({ names: [ref], images: [{ digest: img.manifestDigest, platform: 'linux/amd64' }], problems: [] });
    }
    const { lock } = readLockFile(dir());
    expect(Object.keys(lock!.files).sort()).toEqual([...sums.keys()].sort());
    const kubeadm = lock!.files['bin/kubeadm']!;
    expect(kubeadm).toEqual({
      sha256: hex(layout.get('bin/kubeadm')!),
      bytes: 20_000,
      source: `https://dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubeadm`,
      fetchedFrom: `${files.origin}/dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubeadm`,
      upstream: { digest: `sha256:${hex(layout.get('bin/kubeadm')!)}`, of: 'file', publishedBy: { kind: 'checksum-file', url: `https://dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubeadm.sha256` } },
    });
    expect(lock!.files['cni/bridge']).toMatchObject({ member: './bridge', upstream: { of: 'archive' } });
    expect(lock!.files['manifests/kube-flannel.yml']!.upstream.publishedBy).toEqual({ kind: 'pinned', pinnedFrom: expect.stringContaining('--trust-manifest') });
    expect(lock!.files['images/pause.tar']).toMatchObject({
      source: 'registry.k8s.io/pause:3.10.2',
      platform: 'linux/amd64',
      upstream: { digest: images.get('registry.k8s.io/pause:3.10.2')!.manifestDigest, of: 'manifest', publishedBy: { kind: 'registry', url: 'https://registry.k8s.io/v2/pause/manifests/3.10.2' } },
    });
    // The shared layer was fetched once; the blob store is emptied once the archives are written.
    const sharedDigest = `sha256:${hex(images.get('registry.k8s.io/pause:3.10.2')!.layers[0]!)}`;
    expect(reg.server.requests.filter((r) => r.url.endsWith(sharedDigest) && r.headers.authorization)).toHaveLength(1);
    expect(existsSync(join(cacheRoot, CACHE.blobs))).toBe(false);
    // The originals are kept by their upstream URL.
    expect(existsSync(join(cacheRoot, 'downloads/github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz'))).toBe(true);
    expect(report.dirs[0]!.cached).toEqual([]);
    expect(readdirSync(dir(), { recursive: true }).filter((f) => String(f).includes('partial'))).toEqual([]);
  });

  it('a second fetch asks the network nothing and changes nothing; a missing member is extracted again from downloads/ without a request', async () => {
    await fetchArtifacts(options());
    const before = layoutFiles();
    const lockText = readFileSync(join(dir(), CACHE.lockFile), 'utf8');
    const n = requests();
    const started = Date.now();
    const again = await fetchArtifacts(options());
    expect(Date.now() - started).toBeLessThan(1000);
    expect(requests()).toBe(n);
    expect(again.dirs[0]!.fetched).toEqual([]);
    expect(layoutFiles()).toEqual(before);
    expect(readFileSync(join(dir(), CACHE.lockFile), 'utf8')).toBe(lockText);

    rmSync(join(dir(), 'cni/portmap'));
    rmSync(join(dir(), 'bin/kubectl'));
    const third = await fetchArtifacts(options());
    expect(third.dirs[0]!.fetched.sort()).toEqual(['bin/kubectl', 'cni/portmap']);
    expect(requests()).toBe(n);
    expect(layoutFiles()).toEqual(before);
  });

  it('refuses a wrong published checksum, naming the file and the URL; nothing of it enters the layout', async () => {
    const sumPath = `/dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubelet.sha256`;
    tree.set(sumPath, Buffer.from('1'.repeat(64)));
    const err = await rejectionOf(fetchArtifacts(options()), OperationError);
    expect(err.message).toContain(`bin/kubelet of ${dir()}`);
    expect(err.message).toContain(`${files.origin}/dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubelet`);
    expect(err.message).toMatch(/sha256 mismatch: expected 1{64}, got [0-9a-f]{64}/);
    expect(existsSync(join(dir(), 'bin/kubelet'))).toBe(false);
    expect(readSums(dir()).has('bin/kubelet')).toBe(false);
    expect(existsSync(join(cacheRoot, `downloads/dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubelet`))).toBe(false);
  });

  it('refuses a corrupted archive and a 500, each naming its source; what completed is kept', async () => {
    const crictl = [...tree.keys()].find((p) => p.endsWith('.tar.gz') && p.includes('crictl'))!;
    faults.set(crictl, 'corrupt');
    const err = await rejectionOf(fetchArtifacts(options()), OperationError);
    expect(err.message).toContain(`bin/crictl of ${dir()}`);
    expect(err.message).toContain(`${files.origin}${crictl}`);
    expect(err.message).toContain('sha256 mismatch');
    expect(existsSync(join(dir(), 'bin/crictl'))).toBe(false);
    faults.set(crictl, '500');
    const e500 = await rejectionOf(fetchArtifacts(options()), OperationError);
    expect(e500.message).toMatch(/HTTP 500 .*gave up after 2 attempts/);
    faults.clear();
    const done = Object.values(readLockFile(dir()).lock!.files).map((e) => new URL(e.fetchedFrom ?? 'http://x/').pathname);
    expect(done.length).toBeGreaterThan(0);
    const n = files.requests.length;
    await fetchArtifacts(options());
    // What completed before the failures was not fetched again; crictl was.
    const again = files.requests.slice(n).map((r) => r.url);
    expect(again).toContain(crictl);
    expect(again.filter((u) => done.includes(u))).toEqual([]);
  });

  it('says an unknown patch is not a release', async () => {
    const err = await rejectionOf(fetchArtifacts(options({ patch: '1.37.9' })), OperationError);
    expect(err.message).toContain('Kubernetes v1.37.9 is not a released patch (the newest 1.37 patch this version knows is 1.37.2)');
    expect(err.message).toContain('HTTP 404');
  });

  it('refuses a registry without the platform, naming the image and the mirror', async () => {
    const err = await rejectionOf(fetchArtifacts(options({ arches: ['arm64'] })), OperationError);
    expect(err.message).toMatch(/has no linux\/arm64 image \(it has linux\/amd64\)/);
    expect(err.message).toContain(`(mirror of`);
  });

  it('two fetches at once share the cache: both succeed, and everything is downloaded once', async () => {
    // Whichever takes the cache's lock first (on a loaded machine, not always the first called), the other waits for it.
    const waits: string[] = [];
    const results = await Promise.all(['a', 'b'].map((who) => fetchArtifacts(options({ onLockWait: () => waits.push(who) }))));
    expect(waits).toHaveLength(1);
    const fetched = results.map((r) => r.dirs[0]!.fetched.length).sort((x, y) => x - y);
    expect(fetched[0]).toBe(0);
    expect(new Set(files.requests.map((r) => r.url)).size).toBe(files.requests.length);
  });
});

describe('plans and patches', () => {
  it('resolves a minor to its newest known patch and refuses a minor without known images', () => {
    expect(fetchPatch('1.37')).toBe('1.37.2');
    expect(fetchPatch('1.36.1')).toBe('1.36.1');
    expect(() => fetchPatch('1.38')).toThrow(UsageError);
  });

  it('refuses Calico without a pin, naming the manifests and how to give one', () => {
    const err = thrownBy(() => artifactPlan(PATCH, 'amd64', { cnis: ['calico'], dashboard: false, containerd: true }), UsageError);
    expect(err.message).toContain('operator-crds.yaml (https://raw.githubusercontent.com/projectcalico/calico/v3.32.2/manifests/operator-crds.yaml)');
    expect(err.message).toContain('--trust-manifest operator-crds.yaml=<sha256> --trust-manifest tigera-operator.yaml=<sha256>');
    expect(err.message).toContain('never trusts a download on first use');
    const plan = artifactPlan(PATCH, 'amd64', { cnis: ['calico'], dashboard: true, containerd: false }, { 'operator-crds.yaml': 'a'.repeat(64), 'tigera-operator.yaml': 'b'.repeat(64) });
    expect(plan.filter((i) => i.kind === 'image').map((i) => (i.kind === 'image' ? i.file : ''))).toContain('images/headlamp.tar');
    expect(plan.some((i) => i.kind === 'download' && i.download.id === 'containerd')).toBe(false);
  });

  it('names image archives by the repository, and by the whole path where two would clash', () => {
    expect([...imageArchiveNames(['registry.k8s.io/pause:3.10.2', 'quay.io/calico/cni:v1', 'docker.io/x/cni:2']).values()]).toEqual([
      'images/pause.tar',
      'images/quay.io-calico-cni.tar',
      'images/docker.io-x-cni.tar',
    ]);
  });

  it('puts the cache under KUBEADM_VAGRANT_CACHE, XDG_CACHE_HOME or ~/.cache', () => {
    expect(artifactsCacheDir({ KUBEADM_VAGRANT_CACHE: '/c', HOME: '/h' })).toBe('/c/artifacts');
    expect(artifactsCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/kubeadm-vagrant/artifacts');
    expect(artifactsCacheDir({ HOME: '/h' })).toBe('/h/.cache/kubeadm-vagrant/artifacts');
    // A relative XDG_CACHE_HOME is ignored (the XDG spec); a relative KUBEADM_VAGRANT_CACHE is made absolute.
    expect(artifactsCacheDir({ XDG_CACHE_HOME: 'x', HOME: '/h' })).toBe('/h/.cache/kubeadm-vagrant/artifacts');
    expect(artifactsCacheDir({ KUBEADM_VAGRANT_CACHE: 'c', HOME: '/h' })).toBe(join(process.cwd(), 'c', 'artifacts'));
  });
});

// Keep the writer honest about its inputs: a file written by hand is not mistaken for one fetched.
it('a file in the layout that the lock file does not know is fetched again', async () => {
  await fetchArtifacts(options());
  writeFileSync(join(dir(), 'bin/kubeadm'), 'hand-made');
  const r = await fetchArtifacts(options());
  expect(r.dirs[0]!.fetched).toEqual(['bin/kubeadm']);
  expect(hex(readFileSync(join(dir(), 'bin/kubeadm')))).toBe(hex(layout.get('bin/kubeadm')!));
});

describe('list, verify and prune', () => {
  it('list: complete after a fetch; a missing file makes it incomplete, naming it', async () => {
    const { listCache } = await import('../../src/artifacts/inspect.js');
    await fetchArtifacts(options());
    const [d] = listCache(cacheRoot).dirs;
    expect(d).toMatchObject({ patch: PATCH, arch: 'amd64', complete: true, problems: [] });
    expect(d!.files).toBe(Object.keys(readLockFile(dir()).lock!.files).length);
    rmSync(join(dir(), 'cni/loopback'));
    expect(listCache(cacheRoot).dirs[0]).toMatchObject({ complete: false, problems: ['1 missing or changed: cni/loopback'] });
  });

  it('verify finds a changed binary and a changed image blob; --fix (drop, fetch again) restores them', async () => {
    const { verifyDir, dropBadFiles } = await import('../../src/artifacts/inspect.js');
    await fetchArtifacts(options());
    const before = layoutFiles();
    const d = { patch: PATCH, arch: 'amd64' as const, dir: dir() };
    expect((await verifyDir(d)).problems).toEqual([]);
    // In place: the layout's file and its original in downloads/ are one file (a hard link), both are changed.
    const kubeadm = readFileSync(join(dir(), 'bin/kubeadm'));
    kubeadm[5]! ^= 1;
    writeFileSync(join(dir(), 'bin/kubeadm'), kubeadm);
    const tar = readFileSync(join(dir(), 'images/etcd.tar'));
    const layer = images.get([...images.keys()].find((r) => r.includes('/etcd:'))!)!.layers[1]!;
    tar[tar.indexOf(layer.subarray(0, 32)) + 40]! ^= 1;
    writeFileSync(join(dir(), 'images/etcd.tar'), tar);
    const r = await verifyDir(d);
    expect(r.problems.map((p) => p.file)).toEqual(['bin/kubeadm', 'images/etcd.tar', 'images/etcd.tar']);
    expect(r.problems[0]!.problem).toMatch(/^sha256 [0-9a-f]{64}, SHA256SUMS says [0-9a-f]{64}$/);
    expect(r.problems[2]!.problem).toContain(`the blob sha256:${hex(layer)} does not match its digest`);
    await dropBadFiles(r);
    await fetchArtifacts(options());
    expect((await verifyDir(d)).problems).toEqual([]);
    expect(layoutFiles()).toEqual(before);
  });

  it('prune keeps the patch in use and the newest, and the downloads they name; removes the rest', async () => {
    const { pruneCache } = await import('../../src/artifacts/inspect.js');
    await fetchArtifacts(options());
    const old = archDir(cacheRoot, '1.36.1', 'amd64');
    writeFileSync(join(cacheRoot, 'downloads', 'stray'), 'x');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'kubeadm'), Buffer.alloc(1000));
    const dry = await pruneCache(cacheRoot, { keep: new Set([PATCH]), keepNewest: 0, dryRun: true });
    expect(dry.removed.sort()).toEqual(['downloads/stray', 'v1.36.1']);
    expect(existsSync(old)).toBe(true);
    const r = await pruneCache(cacheRoot, { keep: new Set([PATCH]), keepNewest: 0 });
    expect(r.freedBytes).toBe(1001);
    expect(existsSync(old) || existsSync(join(cacheRoot, 'downloads', 'stray'))).toBe(false);
    expect(r.kept).toEqual([join(cacheRoot, `v${PATCH}`)]);
    // What the kept directory names is still there: a lost member is extracted again without a request.
    rmSync(join(dir(), 'cni/bridge'));
    const n = requests();
    await fetchArtifacts(options());
    expect(requests()).toBe(n);
  });
});

it('a blob an earlier, failed run left in blobs/ is re-hashed, and fetched again when it is not its digest', async () => {
  const { blobPath } = await import('../../src/artifacts/cache.js');
  const pause = images.get('registry.k8s.io/pause:3.10.2')!;
  const layer = pause.layers[1]!;
  const digest = `sha256:${hex(layer)}`;
  mkdirSync(join(cacheRoot, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(blobPath(cacheRoot, digest), Buffer.alloc(layer.length));
  await fetchArtifacts(options());
  const check = await checkImageArchive(join(dir(), 'images/pause.tar'), { os: 'linux', architecture: 'amd64' });
  expect(check.problems).toEqual([]);
  expect(reg.server.requests.filter((r) => r.url.endsWith(digest) && r.headers.authorization)).toHaveLength(1);
});
