import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { flannelPluginDownload, kubernetesDownloads, runtimeDownloads } from '../../src/artifacts/sources.js';
import { CNIS } from '../../src/cni/index.js';
import {
  artifactsRoot,
  type FileFault,
  layoutFile,
  layoutReleaseMirror,
  type MirrorServer,
  type MirrorTools,
  mirrorPath,
  mirrorTools,
  type PushedImage,
  pushImages,
  type RegistryMirror,
  type ReleaseMirrorLayout,
  startFileMirror,
  startRegistry,
} from '../helpers/mirrors.js';
import { isAlive, netnsHost } from '../helpers/processes.js';
import { needTool, toolPath } from '../helpers/tools.js';

/**
 * The tests' local mirrors prove themselves with tools of their own: the release-download layout made
 * from the built artifacts (test/artifacts) is checked with sha256sum and tar, served by
 * test/mirror/serve.mjs and fetched with curl (ranges, ETag/If-Range, each fault mode); the built images
 * pushed with crane into go-containerregistry's registry behind the token-auth front come back through
 * the front with the archives' own digests (crane does the token dance; curl sees the 401 challenge); the
 * same servers also run inside a network namespace, as the e2e will start them.
 *
 * Project `mirrors` (not `integration`): it needs the built artifacts, which .ci/run builds in the
 * background while `npm test` runs and waits for before this project and the e2e.
 */

const PATCH = '1.37.2';
const ARCH = 'amd64';
const PLATFORM = `linux/${ARCH}`;
const SMALL_IMAGE = 'registry.k8s.io/pause:3.10.2';
const MiB = 1024 * 1024;

let work = '';
let tools: MirrorTools;
let archDir = '';
let layout: ReleaseMirrorLayout;
let files: MirrorServer<FileFault>;
let registry: RegistryMirror;
let pushed: Record<string, PushedImage> = {};
let unavailable = '';
const figures: string[] = [];

/** Every tool these tests run; with CI=true a missing one fails the tests (needTool), else they skip. */
const TOOLS = ['curl', 'tar', 'gzip', 'sha256sum', 'go', 'ip'] as const;

beforeAll(() => {
  const missing = TOOLS.filter((t) => !toolPath(t));
  if (missing.length > 0) {
    unavailable = `missing ${missing.join(', ')}`;
    if (process.env.CI === 'true') throw new Error(`the mirrors tests need ${missing.join(', ')}; .ci/run installs them`);
    return;
  }
  tools = mirrorTools();
  // crane on PATH, so that needTool finds it as it finds the Debian tools.
  process.env.PATH = `${tools.dir}:${process.env.PATH ?? ''}`;
  archDir = join(artifactsRoot(), `v${PATCH}`, ARCH);
  work = mkdtempSync(join(tmpdir(), 'kv-mirrors-'));
});

beforeAll(async () => {
  if (unavailable) return;
  layout = await layoutReleaseMirror(archDir, join(work, 'files'));
  figures.push(`layout: ${layout.files.length} files, ${mib(layout.files.reduce((n, f) => n + f.bytes, 0))} in ${secs(layout.durationMs)}`);
  files = await startFileMirror(layout.root, { logFile: join(work, 'files.log') });
  registry = await startRegistry(tools, { auth: true, logFile: join(work, 'registry.log') });
  const started = Date.now();
  pushed = await pushImages(tools, registry.pushUrl, join(archDir, 'images'));
  const archiveBytes = Object.values(pushed).reduce((n, p) => n + statSync(p.archive).size, 0);
  figures.push(`push: ${Object.keys(pushed).length} images, ${mib(archiveBytes)} of archives, in ${secs(Date.now() - started)} (crane push, index append, digest checks)`);
});

afterAll(async () => {
  await files?.stop();
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (figures.length > 0) process.stdout.write(`[mirrors] figures:\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
});

/** The tools a test runs, through needTool (CI: a missing one fails); skipped when the setup could not run here. */
function need(ctx: TestContext, ...names: string[]): void {
  for (const n of names) needTool(ctx, n);
  if (unavailable) ctx.skip(unavailable);
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * MiB });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** curl with -w: the HTTP status, the body bytes received, the Content-Length promised and curl's exit code. */
function curl(args: readonly string[], timeoutMs = 60_000): Run & { http: number; size: number; exit: number | null } {
  const r = run('curl', ['-sS', '-w', '\n%{http_code} %{size_download}', ...args], { timeoutMs });
  const lines = r.stdout.trimEnd().split('\n');
  const [http, size] = (lines.pop() ?? '0 0').split(' ').map(Number);
  return { ...r, stdout: lines.join('\n'), http: http ?? 0, size: size ?? 0, exit: r.status };
}
function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
function header(headers: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*?)\\r?$`, 'im').exec(headers)?.[1];
}

describe('the release-download mirror (layout from the built artifacts, served by serve.mjs files)', () => {
  it('lays out exactly the URLs of src/artifacts/sources.ts and src/cni, each with its checksum file', (ctx) => {
    need(ctx);
    const minor = PATCH.split('.').slice(0, 2).join('.');
    const cniPlugins = ['bridge', 'host-local', 'loopback', 'portmap'];
    const downloads = [...kubernetesDownloads(PATCH, ARCH), ...runtimeDownloads(minor, ARCH, { containerd: true, cniPlugins }), flannelPluginDownload(ARCH)];
    const expected = new Set<string>();
    for (const d of downloads) {
      expected.add(mirrorPath(d.url));
      if (d.checksum.kind === 'file') expected.add(mirrorPath(d.checksum.url));
    }
    for (const m of CNIS.flatMap((c) => c.manifests)) if (m.name === 'kube-flannel.yml') expected.add(mirrorPath(m.url));
    expect(layout.files.map((f) => f.path).sort()).toEqual([...expected].sort());
    // The table as it stands for v1.37.2/amd64 (a change in sources.ts shows here).
    expect(layout.files.map((f) => f.path)).toEqual([
      'dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubeadm',
      'dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubeadm.sha256',
      'dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubectl',
      'dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubectl.sha256',
      'dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet',
      'dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet.sha256',
      'github.com/containerd/containerd/releases/download/v2.3.7/containerd-static-2.3.7-linux-amd64.tar.gz',
      'github.com/containerd/containerd/releases/download/v2.3.7/containerd-static-2.3.7-linux-amd64.tar.gz.sha256sum',
      'github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz',
      'github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256',
      'github.com/flannel-io/cni-plugin/releases/download/v1.9.1-flannel3/cni-plugin-flannel-linux-amd64-v1.9.1-flannel3.tgz',
      'github.com/flannel-io/cni-plugin/releases/download/v1.9.1-flannel3/cni-plugin-flannel-linux-amd64-v1.9.1-flannel3.tgz.sha256',
      'github.com/kubernetes-sigs/cri-tools/releases/download/v1.37.0/crictl-v1.37.0-linux-amd64.tar.gz',
      'github.com/kubernetes-sigs/cri-tools/releases/download/v1.37.0/crictl-v1.37.0-linux-amd64.tar.gz.sha256',
      'github.com/opencontainers/runc/releases/download/v1.5.2/runc.amd64',
      'github.com/opencontainers/runc/releases/download/v1.5.2/runc.sha256sum',
      'raw.githubusercontent.com/flannel-io/flannel/v0.28.10/Documentation/kube-flannel.yml',
    ]);
    // Checksum files in each upstream project's own format.
    const text = (id: string) => readFileSync(join(layout.root, layoutFile(layout, id, 'checksum').path), 'utf8');
    expect(text('kubeadm')).toBe(layoutFile(layout, 'kubeadm').sha256); // bare hex, no newline
    expect(text('crictl')).toBe(`${layoutFile(layout, 'crictl').sha256}\n`);
    expect(text('cni-plugins')).toBe(`${layoutFile(layout, 'cni-plugins').sha256}  cni-plugins-linux-amd64-v1.9.1.tgz\n`);
    expect(text('containerd')).toBe(`${layoutFile(layout, 'containerd').sha256}  containerd-static-2.3.7-linux-amd64.tar.gz\n`);
    expect(text('runc')).toBe(`${layoutFile(layout, 'runc').sha256}  runc.amd64\n`);
    // Where the mirror knowingly differs from upstream, it says so.
    expect(layout.notes.join('\n')).toMatch(/plugins\/meta\/flannel/);
    expect(layout.notes.join('\n')).toMatch(/manifests\/kube-flannel\.yml/);
  });

  it('serves every file byte for byte, and every checksum file verifies with sha256sum -c (curl)', (ctx) => {
    need(ctx, 'curl', 'sha256sum');
    const dl = join(work, 'downloaded');
    const started = Date.now();
    let bytes = 0;
    for (const f of layout.files) {
      const r = curl(['--fail', '--create-dirs', '-o', join(dl, f.path), `${files.url}/${f.path}`]);
      expect(r.exit, `${f.path}: ${r.stderr}`).toBe(0);
      bytes += r.size;
    }
    const ms = Date.now() - started;
    figures.push(`file server (loopback, curl one file at a time): ${mib(bytes)} in ${secs(ms)} = ${((bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s`);
    for (const f of layout.files) expect(sha256(readFileSync(join(dl, f.path))), f.path).toBe(f.sha256);
    const kubeadm = layoutFile(layout, 'kubeadm');
    const t0 = Date.now();
    expect(curl(['--fail', '-o', '/dev/null', `${files.url}/${kubeadm.path}`]).size).toBe(kubeadm.bytes);
    const one = Math.max(1, Date.now() - t0);
    figures.push(`file server, one ${mib(kubeadm.bytes)} file with curl to /dev/null: ${secs(one)} = ${((kubeadm.bytes / MiB) / (one / 1000)).toFixed(0)} MiB/s`);
    // sha256sum -c in each checksum file's directory; a bare digest is given its file name first, as users do.
    const checked: string[] = [];
    for (const sum of layout.files.filter((f) => f.kind === 'checksum')) {
      const dir = dirname(join(dl, sum.path));
      const content = readFileSync(join(dl, sum.path), 'utf8');
      let listing = join(dl, sum.path);
      if (/^[0-9a-f]{64}\n?$/.test(content)) {
        listing = join(work, `${sum.id}.check`);
        writeFileSync(listing, `${content.trim()}  ${sum.from[0]!.split('/').pop()}\n`);
      }
      const r = run('sha256sum', ['--strict', '-c', listing], { cwd: dir });
      expect(r.status, `${sum.path}: ${r.stdout}${r.stderr}`).toBe(0);
      checked.push(...r.stdout.trim().split('\n'));
    }
    expect(checked).toHaveLength(layout.files.filter((f) => f.kind !== 'checksum' && f.kind !== 'manifest').length);
    expect(checked.every((l) => l.endsWith(': OK'))).toBe(true);
  });

  it('makes archives like upstream: the members sources.ts installs (tar -tzf), owner 0, the artifacts\' bytes', (ctx) => {
    need(ctx, 'tar', 'gzip');
    const members: Record<string, string[]> = {
      crictl: ['crictl'],
      'cni-plugins': ['./', './bridge', './host-local', './loopback', './portmap'],
      containerd: ['bin/', 'bin/containerd', 'bin/containerd-shim-runc-v2', 'bin/ctr'],
      'flannel-cni-plugin': ['flannel-amd64'],
    };
    const installs = [...runtimeDownloads('1.37', ARCH, { containerd: true, cniPlugins: ['bridge', 'host-local', 'loopback', 'portmap'] }), flannelPluginDownload(ARCH)];
    for (const [id, expected] of Object.entries(members)) {
      const archive = join(layout.root, layoutFile(layout, id).path);
      expect(run('gzip', ['-t', archive]).status, archive).toBe(0);
      expect(run('tar', ['-tzf', archive]).stdout.trim().split('\n'), id).toEqual(expected);
      const install = installs.find((d) => d.id === id)!.install;
      if ('members' in install) for (const m of install.members) expect(expected, `${id} holds ${m.member}`).toContain(m.member);
      for (const line of run('tar', ['-tvzf', archive, '--numeric-owner']).stdout.trim().split('\n')) expect(line, archive).toMatch(/^\S+ 0\/0 /);
      // Each member is the artifact it came from, byte for byte.
      const out = mkdtempSync(join(work, `x-${id}-`));
      expect(run('tar', ['-xzf', archive, '-C', out]).status).toBe(0);
      if ('members' in install) {
        for (const m of install.members) {
          expect(sha256(readFileSync(join(out, m.member))), `${id}: ${m.member} = ${m.to}`).toBe(sha256(readFileSync(join(archDir, m.to))));
          expect(statSync(join(out, m.member)).mode & 0o777).toBe(m.mode);
        }
      }
    }
    // The description names the artifacts each archive holds.
    expect(layoutFile(layout, 'containerd').from).toEqual(['containerd/containerd', 'containerd/containerd-shim-runc-v2', 'containerd/ctr']);
  });

  it('answers Range, If-Range, HEAD and resumed downloads as HTTP says (curl)', (ctx) => {
    need(ctx, 'curl');
    const f = layoutFile(layout, 'kubectl');
    const url = `${files.url}/${f.path}`;
    const whole = readFileSync(join(layout.root, f.path));
    const head = curl(['-I', url]);
    expect(head.http).toBe(200);
    expect(header(head.stdout, 'Accept-Ranges')).toBe('bytes');
    expect(Number(header(head.stdout, 'Content-Length'))).toBe(whole.length);
    const etag = header(head.stdout, 'ETag')!;
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);

    const part = join(work, 'range.part');
    let r = curl(['-D', '-', '-r', '1000-1999', '-o', part, url]);
    expect(r.http).toBe(206);
    expect(header(r.stdout, 'Content-Range')).toBe(`bytes 1000-1999/${whole.length}`);
    expect(readFileSync(part).equals(whole.subarray(1000, 2000))).toBe(true);
    r = curl(['-r', '-100', '-o', part, url]); // the last 100 bytes
    expect(r.http).toBe(206);
    expect(readFileSync(part).equals(whole.subarray(whole.length - 100))).toBe(true);
    expect(curl(['-r', `${whole.length}-`, '-o', '/dev/null', url]).http).toBe(416);
    // If-Range: the range while the validator is current, the whole file once it is not.
    expect(curl(['-r', '0-9', '-H', `If-Range: ${etag}`, '-o', '/dev/null', url]).http).toBe(206);
    r = curl(['-r', '0-9', '-H', 'If-Range: "0-0"', '-o', '/dev/null', url]);
    expect([r.http, r.size]).toEqual([200, whole.length]);
    expect(curl(['-r', '0-9', '-H', `If-Range: ${header(head.stdout, 'Last-Modified')}`, '-o', '/dev/null', url]).http).toBe(206);
    // A resumed download (curl -C -) of a half-written file ends as the whole file.
    const resumed = join(work, 'resumed');
    writeFileSync(resumed, whole.subarray(0, Math.floor(whole.length / 2)));
    r = curl(['-C', '-', '-o', resumed, url]);
    expect(r.http).toBe(206);
    expect(sha256(readFileSync(resumed))).toBe(f.sha256);
    expect(curl(['-o', '/dev/null', `${files.url}/dl.k8s.io/no/such/file`]).http).toBe(404);
    expect(curl(['-o', '/dev/null', '--path-as-is', `${files.url}/../../etc/passwd`]).http).toBe(404);
  });

  it('misbehaves on request, one path at a time, as curl sees it (truncate, 500, 500 once, stall, corrupt, 404)', async (ctx) => {
    need(ctx, 'curl');
    const big = layoutFile(layout, 'kubeadm');
    const sum = layoutFile(layout, 'kubeadm', 'checksum');
    const url = `${files.url}/${big.path}`;
    const out = join(work, 'faulty');
    try {
      await files.setFaults({ [`/${big.path}`]: 'truncate' });
      let r = curl(['-D', join(work, 'h'), '-o', out, url]);
      expect(r.exit).toBe(18); // CURLE_PARTIAL_FILE: the body ended before Content-Length
      expect(Number(header(readFileSync(join(work, 'h'), 'utf8'), 'Content-Length'))).toBe(big.bytes);
      expect(r.size).toBeLessThan(big.bytes);
      expect(r.size).toBeGreaterThan(0);

      await files.setFaults({ [`/${big.path}`]: 'status500' });
      expect([curl(['-o', out, url]).http, curl(['-o', out, url]).http]).toEqual([500, 500]);
      await files.setFaults({ [`/${big.path}`]: 'status500-once' });
      expect([curl(['-o', out, url]).http, curl(['-o', out, url]).http]).toEqual([500, 200]);

      await files.setFaults({ [`/${big.path}`]: 'stall' });
      const started = Date.now();
      r = curl(['--max-time', '2', '-o', out, url], 30_000);
      expect(r.exit).toBe(28); // CURLE_OPERATION_TIMEDOUT
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(r.size).toBeGreaterThan(0);
      expect(r.size).toBeLessThan(big.bytes);

      await files.setFaults({ [`/${big.path}`]: 'corrupt', [`/${sum.path}`]: 'corrupt' });
      r = curl(['--fail', '-o', out, url]);
      expect([r.exit, r.size]).toEqual([0, big.bytes]);
      expect(sha256(readFileSync(out))).not.toBe(big.sha256);
      expect(sha256(readFileSync(out))).not.toBe(readFileSync(join(layout.root, sum.path), 'utf8'));
      // A corrupted checksum file stays well-formed hex, only wrong.
      const wrongSum = curl(['--fail', `${files.url}/${sum.path}`]).stdout;
      expect(wrongSum).toMatch(/^[0-9a-f]{64}$/);
      expect(wrongSum).not.toBe(big.sha256);
      // The same bytes are flipped whichever range is asked for: a resumed corrupt download stays corrupt.
      const tail = curl(['-r', `${big.bytes - 2 * MiB}-`, '-o', join(work, 'tail'), url]);
      expect(tail.http).toBe(206);
      expect(readFileSync(join(work, 'tail')).equals(readFileSync(out).subarray(big.bytes - 2 * MiB))).toBe(true);

      await files.setFaults({ [`/${big.path}`]: '404' });
      expect(curl(['-o', out, url]).http).toBe(404);
      // An unknown mode is refused, naming it.
      const bad = curl(['-X', 'POST', '--data-binary', '{"/x":"slow"}', `${files.url}/__faults`]);
      expect(bad.http).toBe(400);
      expect((JSON.parse(bad.stdout) as { error: string }).error).toContain('unknown mode "slow"');
    } finally {
      await files.clearFaults();
    }
    expect(curl(['--fail', '-o', out, url]).exit).toBe(0);
    expect(sha256(readFileSync(out))).toBe(big.sha256);
    const log = await files.requests();
    expect(log.filter((q) => q.path === `/${big.path}`).map((q) => q.fault)).toEqual(
      expect.arrayContaining(['truncate', 'status500', 'status500-once', 'stall', 'corrupt', '404']),
    );
  });
});

describe('the registry mirror (go-containerregistry registry behind serve.mjs auth-front)', () => {
  it('pushed every archive of images/ with its own manifest digest, tagged as an index', (ctx) => {
    need(ctx, 'tar');
    const archives = readdirSync(join(archDir, 'images')).filter((f) => f.endsWith('.tar'));
    expect(Object.keys(pushed)).toHaveLength(archives.length);
    for (const p of Object.values(pushed)) {
      // The archive's index.json, read with tar: the digest the registry reported is the archive's own.
      const index = JSON.parse(run('tar', ['-xOf', p.archive, 'index.json']).stdout) as { manifests: { digest: string; annotations: Record<string, string> }[] };
      expect(index.manifests[0]!.annotations['io.containerd.image.name']).toBe(p.ref);
      expect(p.manifestDigest).toBe(index.manifests[0]!.digest);
      expect(p.mirrorRef).toBe(`${new URL(registry.pushUrl).host}/${p.ref}`);
      expect(p.indexDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(p.platform).toBe(PLATFORM);
    }
  });

  it('asks for a token like a real registry: 401 with the Bearer challenge, anonymous pull tokens checked per repository (curl)', (ctx) => {
    need(ctx, 'curl');
    const repo = 'registry.k8s.io/pause';
    const manifest = `${registry.url}/v2/${repo}/manifests/3.10.2`;
    let r = curl(['-D', '-', '-o', '/dev/null', manifest]);
    expect(r.http).toBe(401);
    expect(header(r.stdout, 'WWW-Authenticate')).toBe(`Bearer realm="${registry.url}/token",service="kv-test-registry",scope="repository:${repo}:pull"`);
    r = curl(['-D', '-', '-o', '/dev/null', `${registry.url}/v2/`]);
    expect([r.http, header(r.stdout, 'WWW-Authenticate')]).toEqual([401, `Bearer realm="${registry.url}/token",service="kv-test-registry"`]);

    const token = (scope: string) => {
      const t = curl(['--fail', '-G', `${registry.url}/token`, '--data-urlencode', 'service=kv-test-registry', '--data-urlencode', `scope=${scope}`]);
      expect(t.exit, t.stderr).toBe(0);
      const body = JSON.parse(t.stdout) as { token: string; access_token: string; expires_in: number };
      expect(body.access_token).toBe(body.token);
      expect(body.expires_in).toBe(300);
      return body.token;
    };
    const t1 = token(`repository:${repo}:pull`);
    const t2 = token(`repository:${repo}:pull`);
    expect(t1).not.toBe(t2);
    expect(t1.length).toBeGreaterThanOrEqual(32);
    const accept = 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
    r = curl(['-D', '-', '-o', join(work, 'index.json'), '-H', `Authorization: Bearer ${t1}`, '-H', accept, manifest]);
    expect(r.http).toBe(200);
    expect(header(r.stdout, 'Docker-Content-Digest')).toBe(pushed[SMALL_IMAGE]!.indexDigest);
    expect(`sha256:${sha256(readFileSync(join(work, 'index.json')))}`).toBe(pushed[SMALL_IMAGE]!.indexDigest);
    // A token for another repository, an unknown token, a wrong service: refused.
    expect(curl(['-o', '/dev/null', '-H', `Authorization: Bearer ${token('repository:registry.k8s.io/etcd:pull')}`, manifest]).http).toBe(401);
    expect(curl(['-o', '/dev/null', '-H', 'Authorization: Bearer not-a-token', manifest]).http).toBe(401);
    expect(curl(['-o', '/dev/null', `${registry.url}/token?service=docker.io&scope=repository:${repo}:pull`]).http).toBe(400);
    // Pulls only: a push through the front is refused even with a token.
    expect(curl(['-o', '/dev/null', '-X', 'POST', '-H', `Authorization: Bearer ${t1}`, `${registry.url}/v2/${repo}/blobs/uploads/`]).http).toBe(405);
  });

  it('crane pulls every image through the front (token dance), with the archives\' digests and intact blobs', (ctx) => {
    need(ctx, 'crane', 'sha256sum');
    const front = new URL(registry.url).host;
    const started = Date.now();
    let bytes = 0;
    for (const p of Object.values(pushed)) {
      const ref = `${front}/${p.ref}`;
      expect(run('crane', ['digest', '--platform', PLATFORM, ref]).stdout.trim(), ref).toBe(p.manifestDigest);
      const dir = join(work, 'pulled', p.ref.replace(/[/:]/g, '_'));
      const r = run('crane', ['pull', '--format', 'oci', '--platform', PLATFORM, ref, dir], { timeoutMs: 5 * 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      expect(index.manifests.map((m) => m.digest), ref).toEqual([p.manifestDigest]);
      // Every blob's bytes hash to its name (sha256sum).
      const blobs = join(dir, 'blobs', 'sha256');
      const names = readdirSync(blobs).sort();
      const sums = run('sha256sum', names, { cwd: blobs }).stdout.trim().split('\n');
      expect(sums, ref).toEqual(names.map((n) => `${n}  ${n}`));
      for (const name of names) bytes += statSync(join(blobs, name)).size;
    }
    const ms = Date.now() - started;
    figures.push(`auth front, crane digest + pull of ${Object.keys(pushed).length} images: ${mib(bytes)} in ${secs(ms)} = ${((bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s`);
    // crane went through the token dance: the front saw 401s, token requests, then authorized pulls.
    return registry.requests().then((log) => {
      expect(log.some((q) => q.status === 401)).toBe(true);
      expect(log.some((q) => q.path === '/token' && q.status === 200)).toBe(true);
      expect(log.some((q) => q.path.includes('/blobs/sha256:') && q.status === 200)).toBe(true);
    });
  });

  it('serves a blob through the front at loopback speed (curl, one large layer)', (ctx) => {
    need(ctx, 'curl');
    const p = pushed['registry.k8s.io/kube-apiserver:v1.37.2']!;
    const repo = 'registry.k8s.io/kube-apiserver';
    const layer = largestLayer(p);
    const t = JSON.parse(curl(['--fail', `${registry.url}/token?service=kv-test-registry&scope=repository:${repo}:pull`]).stdout) as { token: string };
    const started = Date.now();
    const r = curl(['--fail', '-o', join(work, 'layer'), '-H', `Authorization: Bearer ${t.token}`, `${registry.url}/v2/${repo}/blobs/${layer.digest}`]);
    const ms = Math.max(1, Date.now() - started);
    expect([r.exit, r.size]).toEqual([0, layer.size]);
    expect(`sha256:${sha256(readFileSync(join(work, 'layer')))}`).toBe(layer.digest);
    figures.push(`auth front, one ${mib(layer.size)} layer with curl: ${secs(ms)} = ${((layer.size / MiB) / (ms / 1000)).toFixed(0)} MiB/s`);
  });

  it('misbehaves on request: corrupt and truncated blobs, a 500 manifest, an index without this architecture (curl, crane)', async (ctx) => {
    need(ctx, 'curl', 'crane');
    const p = pushed[SMALL_IMAGE]!;
    const repo = 'registry.k8s.io/pause';
    const front = new URL(registry.url).host;
    const layer = largestLayer(pushed['registry.k8s.io/coredns/coredns:v1.14.6']!);
    const blobRepo = 'registry.k8s.io/coredns/coredns';
    const blobPath = `/v2/${blobRepo}/blobs/${layer.digest}`;
    const t = JSON.parse(curl(['--fail', `${registry.url}/token?service=kv-test-registry&scope=repository:${blobRepo}:pull`]).stdout) as { token: string };
    const auth = ['-H', `Authorization: Bearer ${t.token}`];
    const out = join(work, 'blob');
    try {
      await registry.setFaults({ [blobPath]: 'corrupt' });
      let r = curl(['--fail', '-o', out, ...auth, `${registry.url}${blobPath}`]);
      expect([r.exit, r.size]).toEqual([0, layer.size]);
      expect(`sha256:${sha256(readFileSync(out))}`).not.toBe(layer.digest);

      await registry.setFaults({ [blobPath]: 'truncate' });
      r = curl(['-o', out, ...auth, `${registry.url}${blobPath}`]);
      expect(r.exit).toBe(18);
      expect(r.size).toBeLessThan(layer.size);

      await registry.setFaults({ [blobPath]: 'stall' });
      r = curl(['--max-time', '2', '-o', out, ...auth, `${registry.url}${blobPath}`], 30_000);
      expect(r.exit).toBe(28);

      await registry.setFaults({ [`/v2/${repo}/manifests/3.10.2`]: 'status500' });
      const failed = run('crane', ['digest', `${front}/${SMALL_IMAGE}`]);
      expect(failed.status).not.toBe(0);
      expect(failed.stderr).toMatch(/500/);

      await registry.setFaults({ [`/v2/${repo}/manifests/3.10.2`]: 'index-without-arch' });
      const noArch = run('crane', ['digest', '--platform', PLATFORM, `${front}/${SMALL_IMAGE}`]);
      expect(noArch.status).not.toBe(0);
      expect(noArch.stderr).toMatch(/no child with platform linux\/amd64/);
      const served = run('crane', ['manifest', `${front}/${SMALL_IMAGE}`]).stdout;
      const index = JSON.parse(served) as { mediaType: string; manifests: unknown[] };
      expect([index.mediaType, index.manifests]).toEqual(['application/vnd.oci.image.index.v1+json', []]);
      // HEAD (crane digest) names the rewritten index's own digest, as GET serves it.
      expect(run('crane', ['digest', `${front}/${SMALL_IMAGE}`]).stdout.trim()).toBe(`sha256:${sha256(served)}`);
    } finally {
      await registry.clearFaults();
    }
    expect(run('crane', ['digest', '--platform', PLATFORM, `${front}/${SMALL_IMAGE}`]).stdout.trim()).toBe(p.manifestDigest);
  });
});

describe('inside a network namespace (how the e2e starts them: a ProcessHost, ended by PID)', () => {
  it('serves the files and the registry on the namespace\'s loopback only, and stops every process', async (ctx) => {
    need(ctx, 'ip', 'curl');
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('network namespaces need root; CI runs as root');
      ctx.skip('network namespaces need root');
    }
    const ns = `kv-mirror-${process.pid}`;
    expect(run('ip', ['netns', 'add', ns]).status).toBe(0);
    let fileMirror: MirrorServer<FileFault> | undefined;
    let nsRegistry: RegistryMirror | undefined;
    try {
      expect(run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']).status).toBe(0);
      const host = netnsHost(ns);
      fileMirror = await startFileMirror(layout.root, { inNamespace: host });
      nsRegistry = await startRegistry(tools, { inNamespace: host, tokenTtlSeconds: 1 });
      const nsInode = statSync(`/run/netns/${ns}`).ino;
      for (const pid of [...fileMirror.pids, ...nsRegistry.pids]) expect(readlinkSync(`/proc/${pid}/ns/net`)).toBe(`net:[${nsInode}]`);

      const f = layoutFile(layout, 'runc');
      const got = await host.exec('curl', ['-sS', '--fail', `${fileMirror.url}/${f.path}`, '-o', join(work, 'ns-runc')]);
      expect(got.exitCode).toBe(0);
      expect(sha256(readFileSync(join(work, 'ns-runc')))).toBe(f.sha256);
      // Control calls reach the namespace too (through curl inside it).
      await fileMirror.setFaults({ [`/${f.path}`]: '404' });
      expect((await host.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${fileMirror.url}/${f.path}`])).stdout).toBe('404');

      // crane inside the namespace pushes through it and pulls through the front.
      const images = mkdtempSync(join(work, 'ns-images-'));
      const small = pushed[SMALL_IMAGE]!;
      mkdirSync(join(images, 'images'));
      writeFileSync(join(images, 'images', 'pause.tar'), readFileSync(small.archive));
      const nsPushed = await pushImages(tools, nsRegistry.pushUrl, join(images, 'images'), { inNamespace: host });
      expect(nsPushed[SMALL_IMAGE]!.manifestDigest).toBe(small.manifestDigest);
      const viaFront = await host.exec(tools.crane, ['digest', '--platform', PLATFORM, `${new URL(nsRegistry.url).host}/${SMALL_IMAGE}`]);
      expect(viaFront.stdout.trim()).toBe(small.manifestDigest);
      // A token expires: the same request is 401 again once its expires_in has passed.
      const tokenUrl = `${nsRegistry.url}/token?service=kv-test-registry&scope=repository:registry.k8s.io/pause:pull`;
      const issued = JSON.parse((await host.exec('curl', ['-sS', '--fail', tokenUrl])).stdout) as { token: string; expires_in: number };
      expect(issued.expires_in).toBe(1);
      const withToken = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${issued.token}`, `${nsRegistry.url}/v2/registry.k8s.io/pause/manifests/3.10.2`];
      expect((await host.exec('curl', withToken)).stdout).toBe('200');
      await new Promise((r) => setTimeout(r, 1_200));
      expect((await host.exec('curl', withToken)).stdout).toBe('401');
      expect((await nsRegistry.requests()).at(-1)).toMatchObject({ status: 401, auth: 'expired' });
      // Another mapping: no prefix, the manifest itself at the tag (no index).
      const flat = await pushImages(tools, nsRegistry.pushUrl, join(images, 'images'), { inNamespace: host, prefixFor: () => '', index: false });
      expect(flat[SMALL_IMAGE]).toMatchObject({ mirrorRef: `${new URL(nsRegistry.pushUrl).host}/pause:3.10.2`, manifestDigest: small.manifestDigest });
      expect(flat[SMALL_IMAGE]!.indexDigest).toBeUndefined();
      expect((await host.exec(tools.crane, ['digest', `${new URL(nsRegistry.url).host}/pause:3.10.2`])).stdout.trim()).toBe(small.manifestDigest);
    } finally {
      const pids = [...(fileMirror?.pids ?? []), ...(nsRegistry?.pids ?? [])];
      await fileMirror?.stop();
      await nsRegistry?.stop();
      for (const pid of pids) expect(isAlive(pid), `pid ${pid} ended`).toBe(false);
      run('ip', ['netns', 'delete', ns]);
    }
  });
});

/** The largest layer of a pushed image, from its archive's manifest (read with tar). */
function largestLayer(p: PushedImage): { digest: string; size: number } {
  const manifest = JSON.parse(run('tar', ['-xOf', p.archive, `blobs/sha256/${p.manifestDigest.slice('sha256:'.length)}`]).stdout) as { layers: { digest: string; size: number }[] };
  return manifest.layers.reduce((a, b) => (b.size > a.size ? b : a));
}
