import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { archDir as cacheArchDir, CACHE, downloadPath, readLockFile, writeLockAndSums } from '../../src/artifacts/cache.js';
import { fetchArtifacts, type FetchArtifactsOptions } from '../../src/artifacts/fetch.js';
import { OperationError } from '../../src/errors.js';
import { checkArtifacts, imagesIn, readSums, resolveArtifactsDir } from '../../src/offline/artifacts.js';
import { clusterNeeds } from '../../src/offline/needs.js';
import { checkImageArchive } from '../../src/oci/archive.js';
import { CLI } from '../helpers/cli.js';
import {
  artifactsRoot,
  type FileFault,
  layoutReleaseMirror,
  type MirrorServer,
  type MirrorTools,
  mirrorTools,
  type PushedImage,
  pushImages,
  type RegistryFault,
  type RegistryMirror,
  startFileMirror,
  startRegistry,
} from '../helpers/mirrors.js';
import { rejectionOf } from '../helpers/rejection.js';
import { toolPath } from '../helpers/tools.js';

/**
 * `artifacts fetch` against the tests' real mirrors (test/mirror: the release-download layout made from
 * the artifacts test/artifacts builds, served by serve.mjs; go-containerregistry's registry behind the
 * token-auth front, the built images pushed with crane): the cache it fills holds the same file bytes and
 * the same image manifest digests as the artifacts directory the mirrors were made from, and is a valid
 * offline.dir. Each fault the mirrors inject is refused with an error naming the file or image and the
 * source, the cache's layout left as it was; two fetches at once share the cache.
 *
 * Project `mirrors` (it needs the built artifacts and the mirror tools).
 */

const PATCH = '1.37.2';
const ARCH = 'amd64';
const REGISTRIES = ['registry.k8s.io', 'ghcr.io'];

let work = '';
let tools: MirrorTools;
let built = '';
let files: MirrorServer<FileFault>;
let registry: RegistryMirror;
let pushed: Record<string, PushedImage> = {};
let unavailable = '';
const figures: string[] = [];

beforeAll(async () => {
  const missing = ['tar', 'gzip', 'go', 'curl'].filter((t) => !toolPath(t));
  if (missing.length > 0) {
    unavailable = `missing ${missing.join(', ')}`;
    if (process.env.CI === 'true') throw new Error(`these tests need ${missing.join(', ')}; .ci/run installs them`);
    return;
  }
  tools = mirrorTools();
  built = join(artifactsRoot(), `v${PATCH}`, ARCH);
  work = mkdtempSync(join(tmpdir(), 'kv-artifacts-fetch-'));
  const layout = await layoutReleaseMirror(built, join(work, 'files'));
  files = await startFileMirror(layout.root, { logFile: join(work, 'files.log') });
  registry = await startRegistry(tools, { auth: true, logFile: join(work, 'registry.log') });
  pushed = await pushImages(tools, registry.pushUrl, join(built, 'images'));
});

afterAll(async () => {
  await files?.stop();
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (figures.length > 0) process.stdout.write(`[artifacts-fetch] figures:\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
});

function need(ctx: TestContext): void {
  if (unavailable) ctx.skip(unavailable);
}

const mirrorsYaml = () =>
  `mirrors:\n  files: ${files.url}\n  registries:\n${REGISTRIES.map((h) => `    ${h}: ${registry.url}/${h}\n`).join('')}`;

/** A cluster.yaml for v1.37.2 with flannel and the mirrors, in a directory of its own. */
function clusterDir(): string {
  const dir = mkdtempSync(join(work, 'cluster-'));
  writeFileSync(join(dir, 'cluster.yaml'), `apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nkubernetes:\n  version: "${PATCH}"\n  cni: flannel\n${mirrorsYaml()}`);
  return dir;
}

function cli(args: string[], cwd: string, cache: string): { code: number | null; stdout: string; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: cwd, KUBEADM_VAGRANT_CACHE: cache, CI: 'true' }, timeout: 10 * 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

function cliAsync(args: string[], cwd: string, cache: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, KUBEADM_VAGRANT_CACHE: cache, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The layout directory as a snapshot: every file's size, inode and mtime (a rename or a write changes one of them). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else {
        const st = lstatSync(join(dir, p));
        out[p] = `${st.size}:${st.ino}:${st.mtimeMs}`;
      }
    }
  };
  walk('');
  return out;
}

/** Takes files out of a cache directory as if they had never been fetched: the files, their lock entries and lines, their originals. */
function forget(cacheRoot: string, rels: readonly string[]): void {
  const dir = cacheArchDir(cacheRoot, PATCH, ARCH);
  const { lock } = readLockFile(dir);
  for (const rel of rels) {
    const entry = lock!.files[rel]!;
    rmSync(join(dir, rel), { force: true });
    if (/^https?:/.test(entry.source)) rmSync(downloadPath(cacheRoot, entry.source), { force: true });
    delete lock!.files[rel];
  }
  writeLockAndSums(dir, lock!);
}

const registryMirrors = () => Object.fromEntries(REGISTRIES.map((h) => [h, `${registry.url}/${h}`]));
/** In-process fetches with short bounds, so a stall or a cut transfer fails in seconds. */
const inProcess = (cacheRoot: string): FetchArtifactsOptions => ({
  patch: PATCH,
  arches: [ARCH],
  cnis: ['flannel'],
  dashboard: false,
  containerd: true,
  mirrors: { files: files.url, registries: registryMirrors() },
  cacheRoot,
  request: { timeouts: { connectMs: 5000, stallMs: 1500 }, retry: { retries: 1, initialDelayMs: 10, maxDelayMs: 20 } },
});

describe('artifacts fetch from the mirrors', () => {
  let cache = '';

  it('reproduces the built artifacts: the same file bytes, the same image manifest digests, a valid offline.dir; a second fetch asks nothing', async (ctx) => {
    need(ctx);
    cache = join(work, 'cache');
    const dir = clusterDir();
    await files.clearRequests();
    await registry.clearRequests();
    const first = cli(['artifacts', 'fetch'], dir, cache);
    expect(first.code, first.stderr).toBe(0);
    const root = join(cache, 'artifacts');
    const ours = cacheArchDir(root, PATCH, ARCH);
    const fileRequests = (await files.requests()).length;
    const registryRequests = (await registry.requests()).length;
    figures.push(`first fetch (CLI): ${(first.ms / 1000).toFixed(1)} s, ${fileRequests} file requests, ${registryRequests} registry requests`);

    // Every file of the built directory but the images (archives written by another tool) and its build record.
    const theirs = readSums(built);
    const mine = readSums(ours);
    const compared = [...theirs.keys()].filter((p) => !p.startsWith('images/') && p !== 'build-info.json');
    expect(compared).toHaveLength(14); // bin 4, cni 5, containerd 4, the manifest
    for (const p of compared) expect(mine.get(p), p).toBe(theirs.get(p));
    // Every image: the same archive name, the same manifest digest, read back blob by blob.
    const builtImages = imagesIn(built).images;
    for (const [ref, p] of Object.entries(pushed)) {
      const name = builtImages.get(ref)!;
      const check = await checkImageArchive(join(ours, 'images', name), { os: 'linux', architecture: ARCH });
      expect(check, ref).toEqual({ names: [ref], images: [{ digest: p.manifestDigest, platform: `linux/${ARCH}` }], problems: [] });
    }
    expect([...mine.keys()].filter((p) => p.startsWith('images/')).sort()).toEqual([...theirs.keys()].filter((p) => p.startsWith('images/')).sort());
    // The cache is what offline.dir takes.
    const { artifacts, problems } = resolveArtifactsDir(root, '1.37', ARCH);
    expect(problems).toEqual([]);
    expect(checkArtifacts(artifacts!, clusterNeeds(PATCH, 'flannel', false))).toEqual([]);

    await files.clearRequests();
    await registry.clearRequests();
    const second = cli(['artifacts', 'fetch'], dir, cache);
    expect(second.code, second.stderr).toBe(0);
    expect(await files.requests()).toEqual([]);
    expect(await registry.requests()).toEqual([]);
    figures.push(`second fetch (CLI, a new process): ${second.ms} ms, no request`);
    expect(second.stdout).toContain(`${ours}: 0 fetched, `);

    const list = cli(['artifacts', 'list'], dir, cache);
    expect(list.stdout).toMatch(new RegExp(`^${PATCH.replace(/\./g, '\\.')}\\s+amd64\\s+\\d+\\s+[\\d.]+ MiB\\s+complete$`, 'm'));
    const verify = cli(['artifacts', 'verify'], dir, cache);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/v1\.37\.2\/amd64: \d+ files ok/);
  });

  describe('each fault refused, naming the file or image and the source, the layout unchanged; the next fetch without it repairs', () => {
    const cases: { name: string; forget: string[]; fault: () => Promise<void>; expect: RegExp[] }[] = [
      {
        name: 'a wrong .sha256',
        forget: ['bin/kubeadm'],
        fault: () => files.setFaults({ [`/dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubeadm.sha256`]: 'corrupt' }),
        expect: [/^bin\/kubeadm of .*: downloading http:\/\/127\.0\.0\.1:\d+\/dl\.k8s\.io\/release\/v1\.37\.2\/bin\/linux\/amd64\/kubeadm to .*: sha256 mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}/],
      },
      {
        name: 'a blob whose bytes do not match its digest',
        forget: ['images/pause.tar'],
        fault: async () => {
          const blobs = JSON.parse(spawnSync('tar', ['-xOf', pushed['registry.k8s.io/pause:3.10.2']!.archive, 'index.json'], { encoding: 'utf8' }).stdout) as { manifests: { digest: string }[] };
          const manifest = JSON.parse(spawnSync('tar', ['-xOf', pushed['registry.k8s.io/pause:3.10.2']!.archive, `blobs/sha256/${blobs.manifests[0]!.digest.slice(7)}`], { encoding: 'utf8' }).stdout) as { layers: { digest: string }[] };
          await registry.setFaults({ [`/v2/registry.k8s.io/pause/blobs/${manifest.layers[0]!.digest}`]: 'corrupt' });
        },
        expect: [/^images\/pause\.tar of .*: downloading http:\/\/127\.0\.0\.1:\d+\/v2\/registry\.k8s\.io\/pause\/blobs\/sha256:[0-9a-f]{64} to .*: sha256 mismatch/],
      },
      {
        name: 'a truncated response',
        forget: ['bin/kubelet'],
        fault: () => files.setFaults({ [`/dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubelet`]: 'truncate' }),
        expect: [/^bin\/kubelet of .*: downloading http:\/\/127\.0\.0\.1:\d+\/dl\.k8s\.io\/release\/v1\.37\.2\/bin\/linux\/amd64\/kubelet to .*: .*(terminated|closed).*\(gave up after 2 attempts\)/],
      },
      {
        name: 'a 500',
        forget: ['bin/crictl'],
        fault: () => files.setFaults({ [`/github.com/kubernetes-sigs/cri-tools/releases/download/v1.37.0/crictl-v1.37.0-linux-amd64.tar.gz`]: 'status500' }),
        expect: [/^bin\/crictl of .*: downloading http:\/\/127\.0\.0\.1:\d+\/github\.com\/kubernetes-sigs\/cri-tools\/.*crictl-v1\.37\.0-linux-amd64\.tar\.gz to .*: HTTP 500 .*\(gave up after 2 attempts\)/],
      },
      {
        name: 'a stalled connection',
        forget: ['bin/kubectl'],
        fault: () => files.setFaults({ [`/dl.k8s.io/release/v${PATCH}/bin/linux/amd64/kubectl`]: 'stall' }),
        expect: [/^bin\/kubectl of .*: downloading http:\/\/127\.0\.0\.1:\d+\/dl\.k8s\.io\/release\/v1\.37\.2\/bin\/linux\/amd64\/kubectl to .*: no byte for 1\.5 s after [\d.]+ KiB \(the stall timeout\) \(gave up after 2 attempts\)/],
      },
      {
        name: 'an index without the architecture',
        forget: ['images/etcd.tar'],
        fault: () => registry.setFaults({ '/v2/registry.k8s.io/etcd/manifests/3.7.0-0': 'index-without-arch' as RegistryFault }),
        expect: [/^images\/etcd\.tar of .*: image registry\.k8s\.io\/etcd:3\.7\.0-0 from http:\/\/127\.0\.0\.1:\d+\/registry\.k8s\.io\/etcd \(mirror of registry\.k8s\.io\) has no linux\/amd64 image \(it has none\)/],
      },
    ];
    for (const c of cases) {
      it(c.name, async (ctx) => {
        need(ctx);
        if (!cache) ctx.skip('the first fetch did not run');
        const root = join(cache, 'artifacts');
        const dir = cacheArchDir(root, PATCH, ARCH);
        forget(root, c.forget);
        const before = snapshot(dir);
        await c.fault();
        try {
          const err = await rejectionOf(fetchArtifacts(inProcess(root)), OperationError);
          for (const re of c.expect) expect(err.message).toMatch(re);
          expect(snapshot(dir)).toEqual(before);
          for (const rel of c.forget) expect(existsSync(join(dir, rel))).toBe(false);
          expect(Object.keys(before).filter((p) => p.includes('.partial'))).toEqual([]);
        } finally {
          await files.clearFaults();
          await registry.clearFaults();
        }
        const repaired = await fetchArtifacts(inProcess(root));
        expect(repaired.dirs[0]!.fetched).toEqual(c.forget);
        for (const rel of c.forget.filter((r) => !r.startsWith('images/'))) expect(readSums(dir).get(rel)).toBe(readSums(built).get(rel));
        expect((await checkImageArchive(join(dir, 'images/pause.tar'), { os: 'linux', architecture: ARCH })).problems).toEqual([]);
      });
    }
  });

  it('artifacts verify names a changed binary and a changed image archive (exit 1); verify --fix fetches them again from the mirrors', (ctx) => {
    need(ctx);
    if (!cache) ctx.skip('the first fetch did not run');
    const dir = clusterDir();
    const ours = cacheArchDir(join(cache, 'artifacts'), PATCH, ARCH);
    for (const rel of ['bin/kubeadm', 'images/pause.tar']) {
      const bytes = readFileSync(join(ours, rel));
      bytes[bytes.length - 2000]! ^= 1;
      writeFileSync(join(ours, rel), bytes);
    }
    const bad = cli(['artifacts', 'verify'], dir, cache);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^  bin\/kubeadm: sha256 [0-9a-f]{64}, SHA256SUMS says [0-9a-f]{64}$/m);
    expect(bad.stdout).toMatch(/^  images\/pause\.tar: sha256 /m);
    const fixed = cli(['artifacts', 'verify', '--fix'], dir, cache);
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    expect(fixed.stdout).toMatch(/fixed: fetched again\nv1\.37\.2\/amd64: \d+ files ok/);
    expect(readSums(ours).get('bin/kubeadm')).toBe(readSums(built).get('bin/kubeadm'));
  });

  it('a full disk (a 40 MiB tmpfs in a mount namespace of its own): refused naming the directory, exit 1, nothing half-written in the layout', (ctx) => {
    need(ctx);
    if (process.getuid?.() !== 0 || !toolPath('unshare')) ctx.skip('needs root and unshare to mount a small tmpfs');
    const dir = clusterDir();
    const small = mkdtempSync(join(work, 'small-'));
    const layout = `${small}/artifacts/v${PATCH}/${ARCH}`;
    const script = `mount -t tmpfs -o size=40m tmpfs "$1" && "$2" "$3" artifacts fetch; echo "rc=$?"; find "${layout}" -type f | sort; echo ---; cat "${layout}/SHA256SUMS" 2>/dev/null`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', small, process.execPath, CLI], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: dir, KUBEADM_VAGRANT_CACHE: small, CI: 'true' },
      timeout: 5 * 60_000,
    });
    const [status, listing = ''] = r.stdout.split('\n---\n');
    expect(status, r.stderr).toMatch(/^rc=1$/m);
    expect(r.stderr).toMatch(/error: .* of .*: (downloading .* to .*: cannot write in .*|cannot write .*): no space left on the device/);
    const present = status!.split('\n').filter((l) => l.startsWith(layout)).map((l) => l.slice(layout.length + 1));
    const listed = listing.split('\n').filter(Boolean).map((l) => l.split('  ')[1]);
    expect(present.filter((p) => /\.partial/.test(p))).toEqual([]);
    // Whatever is in the layout is complete and listed (the lock file and SHA256SUMS themselves aside).
    expect(present.filter((p) => p !== 'SHA256SUMS' && p !== CACHE.lockFile).sort()).toEqual([...listed].sort());
  });

  it('two fetches at once (two processes) share a new cache: both succeed, each file is downloaded once', async (ctx) => {
    need(ctx);
    const cache2 = join(work, 'cache-two');
    const dir = clusterDir();
    await files.clearRequests();
    const [a, b] = await Promise.all([cliAsync(['artifacts', 'fetch'], dir, cache2), cliAsync(['artifacts', 'fetch'], dir, cache2)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(`${a.stderr}${b.stderr}`).toMatch(/waiting for another kubeadm-vagrant \(pid \d+/);
    const got = (await files.requests()).filter((r) => r.method === 'GET').map((r) => r.path);
    expect(got.length).toBeGreaterThan(10);
    expect(new Set(got).size).toBe(got.length);
    const root = join(cache2, 'artifacts');
    expect(readFileSync(join(cacheArchDir(root, PATCH, ARCH), 'SHA256SUMS'), 'utf8')).toBe(readFileSync(join(cache, 'artifacts', `v${PATCH}`, ARCH, 'SHA256SUMS'), 'utf8'));
    expect(existsSync(join(root, CACHE.blobs))).toBe(false);
  });
});
