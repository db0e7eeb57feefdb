/**
 * Local mirrors that stand in for the internet's release downloads and container registries, made from
 * the artifacts directory the tests build from upstream source (test/artifacts), so that `artifacts fetch`
 * can be proven against them: on 127.0.0.1 in integration tests, inside the e2e's network namespace there.
 *
 *  - layoutReleaseMirror(): the release-download layout `<root>/<host><path>`, exactly the URLs that
 *    src/artifacts/sources.ts (and src/cni's manifests) name, with checksum files written the way each
 *    upstream project writes its own, and archives made like upstream's (tar with owner 0, gzip);
 *  - startFileMirror(): serves that root (test/mirror/serve.mjs files: Range, ETag, If-Range, faults);
 *  - startRegistry(): go-containerregistry's registry (test/mirror/build.sh) behind a token-auth front
 *    (serve.mjs auth-front: the Bearer challenge and anonymous pull tokens of real registries, faults);
 *  - pushImages(): every images/*.tar of the artifacts pushed with crane, digests unchanged.
 *
 * Servers are child processes (node serve.mjs, the registry binary) started through a ProcessHost: this
 * host, or the e2e's E2eEnvironment (its spawn()), or a network namespace a test made (netnsHost()). Every
 * wait is bounded; every process is ended by its PID in stop(), and on a failed start.
 *
 * No vitest import: scripts and the e2e use it too.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { flannelPluginDownload, kubernetesDownloads, mirroredUrl, RELEASE_PINS, type ReleaseDownload, runtimeDownloads } from '../../src/artifacts/sources.js';
import { CNIS } from '../../src/cni/index.js';
import type { Arch } from '../../src/distros.js';
import { packageRoot } from '../../src/layout.js';
import { localHost, type LongLived, type ProcessHost } from './processes.js';

// The repository, also when this runs compiled from dist/ (the benchmarks).
const ROOT = packageRoot;
export const MIRROR_DIR = join(ROOT, 'test', 'mirror');
const SERVE = join(MIRROR_DIR, 'serve.mjs');
const LOOPBACK = '127.0.0.1';
const START_TIMEOUT_MS = 20_000;
const CONTROL_TIMEOUT_MS = 10_000;
const CRANE_TIMEOUT_MS = 5 * 60_000;

// ---- tools and artifacts ----------------------------------------------------------------------

export interface MirrorTools {
  /** The cache directory build.sh printed. */
  dir: string;
  /** go-containerregistry's cmd/registry (in-memory, no auth; `-port 0` for any free port). */
  registry: string;
  crane: string;
}

/** test/mirror/build.sh: builds the tools once (a few seconds on a warm Go cache), then reuses them. */
export function mirrorTools(opts: { timeoutMs?: number } = {}): MirrorTools {
  const out = execFileSync('bash', [join(MIRROR_DIR, 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 15 * 60_000 });
  const dir = lastLine(out);
  return { dir, registry: join(dir, 'registry'), crane: join(dir, 'crane') };
}

/**
 * The offline artifacts' root (the directory holding v<patch>/<arch>/): $KUBEADM_VAGRANT_ARTIFACTS_DIR
 * when set, else what test/artifacts/build.sh prints (it reuses its cache; a cold build takes ~30 min).
 */
export function artifactsRoot(opts: { timeoutMs?: number } = {}): string {
  const given = process.env.KUBEADM_VAGRANT_ARTIFACTS_DIR;
  if (given) return given;
  const out = execFileSync('bash', [join(ROOT, 'test', 'artifacts', 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: opts.timeoutMs ?? 75 * 60_000 });
  return lastLine(out);
}

// ---- the release-download layout ----------------------------------------------------------------

/**
 * How each upstream project writes the checksum file beside its download, by the download's id in
 * src/artifacts/sources.ts (read from each project's release scripts):
 *  - bare: the hex digest alone, no newline (dl.k8s.io's `.sha256`);
 *  - bare-line: the hex digest and a newline (cri-tools hack/release.sh: `sha256sum -b | awk '{print $1}' | tee`);
 *  - sha256sum: `<hex>  <file name>` lines (CNI plugins' and flannel cni-plugin's scripts, containerd's
 *    release workflow, runc's script/release_build.sh: one file listing every binary).
 */
const CHECKSUM_STYLE: Record<string, 'bare' | 'bare-line' | 'sha256sum'> = {
  kubeadm: 'bare',
  kubelet: 'bare',
  kubectl: 'bare',
  crictl: 'bare-line',
  'cni-plugins': 'sha256sum',
  containerd: 'sha256sum',
  runc: 'sha256sum',
  'flannel-cni-plugin': 'sha256sum',
};

/** Which build-info.json component must be at which version for its files to stand in for a pinned download. */
function expectedVersions(patch: string, minor: string): Record<string, string> {
  return {
    kubernetes: `v${patch}`,
    'cri-tools': `v${RELEASE_PINS.criTools(minor)}`,
    'cni-plugins': `v${RELEASE_PINS.cniPlugins}`,
    containerd: `v${RELEASE_PINS.containerd}`,
    runc: `v${RELEASE_PINS.runc}`,
  };
}

export interface MirroredFile {
  /** The upstream URL it stands in for. */
  url: string;
  /** Its path under the mirror's root, `<host><path>`. */
  path: string;
  sha256: string;
  bytes: number;
  kind: 'download' | 'checksum' | 'manifest';
  /** download: the id in sources.ts (or `manifest:<cni>`); checksum: the id(s) it lists. */
  id: string;
  /** The artifacts it holds, relative to v<patch>/<arch>/ (a checksum file: the mirrored paths it lists). */
  from: string[];
  /** Archive members (in order), for tar(.gz) downloads. */
  members?: string[];
}

export interface ReleaseMirrorLayout {
  /** The mirror's root: serve it, and give `http://HOST:PORT` as the files mirror. */
  root: string;
  patch: string;
  arch: Arch;
  /** Every file written, sorted by path. */
  files: MirroredFile[];
  /** Where the mirror's content is not what upstream publishes at that URL. */
  notes: string[];
  durationMs: number;
}

/** `<host><path>` of an upstream URL under a files mirror, by the product's own mapping (mirroredUrl). */
export function mirrorPath(url: string): string {
  const base = 'http://mirror.invalid';
  return decodeURIComponent(mirroredUrl(url, base).slice(base.length + 1));
}

/**
 * Writes the release-download layout of an artifacts directory `<root>/v<patch>/<arch>/` into `destRoot`
 * (which must not exist yet: it is written beside it and renamed into place whole). Pure in what it
 * writes: the archives are deterministic (mtime: build-info.json's sourceDate, owner 0, gzip -n).
 */
export async function layoutReleaseMirror(artifactsArchDir: string, destRoot: string): Promise<ReleaseMirrorLayout> {
  const started = Date.now();
  const arch = basename(artifactsArchDir);
  const patchDir = basename(dirname(artifactsArchDir));
  const patch = /^v(\d+\.\d+\.\d+)$/.exec(patchDir)?.[1];
  if (arch !== 'amd64' && arch !== 'arm64') throw new Error(`${artifactsArchDir}: the last directory must be an architecture (amd64, arm64), not ${arch}`);
  if (!patch) throw new Error(`${artifactsArchDir}: the parent directory must be v<major>.<minor>.<patch>, not ${patchDir}`);
  if (existsSync(destRoot)) throw new Error(`${destRoot} exists already: give a path that does not exist yet`);
  const minor = patch.split('.').slice(0, 2).join('.');
  const buildInfo = JSON.parse(await readFile(join(artifactsArchDir, 'build-info.json'), 'utf8')) as {
    sourceDate?: string;
    components: { name: string; version: string }[];
  };
  for (const [name, version] of Object.entries(expectedVersions(patch, minor))) {
    const found = buildInfo.components.find((c) => c.name === name)?.version;
    if (found !== version) {
      throw new Error(`${artifactsArchDir}/build-info.json: ${name} is ${found ?? 'missing'}, but src/artifacts/sources.ts fetches ${version}: the mirror would serve other versions under its URLs`);
    }
  }
  const mtime = buildInfo.sourceDate ? Math.floor(Date.parse(buildInfo.sourceDate) / 1000) : 0;

  // The CNI plugins the artifacts hold besides the CNIs' own (those come from their own archives).
  const cniOwn = new Set(CNIS.flatMap((c) => c.offline.cniPlugins));
  const cniFiles = (await readdir(join(artifactsArchDir, 'cni'))).sort();
  const cniPlugins = cniFiles.filter((p) => !cniOwn.has(p));
  const downloads: ReleaseDownload[] = [
    ...kubernetesDownloads(patch, arch),
    ...runtimeDownloads(minor, arch, { containerd: existsSync(join(artifactsArchDir, 'containerd', 'containerd')), cniPlugins }),
    ...(cniFiles.includes('flannel') ? [flannelPluginDownload(arch)] : []),
  ];
  const notes: string[] = [];
  if (cniFiles.includes('flannel')) {
    notes.push(
      `${mirrorPath(flannelPluginDownload(arch).url)} holds the artifacts' cni/flannel: the CNI reference plugins' plugins/meta/flannel ` +
        `(test/artifacts/README.md, Deviations), not flannel-io/cni-plugin ${RELEASE_PINS.flannelCniPlugin}, whose module the proxy does not serve`,
    );
  }

  await mkdir(dirname(destRoot), { recursive: true });
  const stage = await mkdtemp(join(dirname(destRoot), `.${basename(destRoot)}.partial-`));
  const scratch = await mkdtemp(join(stage, '.scratch-'));
  try {
    const files: MirroredFile[] = [];
    const sums = new Map<string, { id: string; style: 'bare' | 'bare-line' | 'sha256sum'; lines: { hex: string; name: string; path: string }[] }>();
    // Two at a time (gzip is the slow part), in sources.ts's order for what follows.
    const written = await inParallel(downloads, 2, async (d) => {
      const path = mirrorPath(d.url);
      const dest = join(stage, path);
      await mkdir(dirname(dest), { recursive: true });
      let from: string[];
      let members: string[] | undefined;
      if ('to' in d.install) {
        from = [d.install.to];
        await copyFile(join(artifactsArchDir, d.install.to), dest);
      } else {
        from = d.install.members.map((m) => m.to);
        members = await writeTarGz(
          dest,
          d.install.members.map((m) => ({ name: m.member, source: join(artifactsArchDir, m.to), mode: m.mode })),
          mtime,
          scratch,
        );
      }
      const { sha256, bytes } = await fileSha256(dest);
      return { url: d.url, path, sha256, bytes, kind: 'download', id: d.id, from, ...(members ? { members } : {}) } satisfies MirroredFile;
    });
    for (const [i, d] of downloads.entries()) {
      const { path, sha256 } = written[i]!;
      files.push(written[i]!);
      if (d.checksum.kind === 'pinned') {
        notes.push(`${d.id}: sources.ts pins ${d.checksum.digest} (from ${d.checksum.pinnedFrom}); the mirror's file is sha256:${sha256}`);
        continue;
      }
      const style = CHECKSUM_STYLE[d.id];
      if (!style) throw new Error(`layoutReleaseMirror: no checksum style known for download ${d.id} (${d.checksum.url}): add it to CHECKSUM_STYLE with where upstream's format was read`);
      const sum = sums.get(d.checksum.url) ?? { id: d.id, style, lines: [] };
      sum.lines.push({ hex: sha256, name: d.checksum.entry ?? basename(new URL(d.url).pathname), path });
      sums.set(d.checksum.url, sum);
    }
    for (const [url, sum] of sums) {
      if (sum.style !== 'sha256sum' && sum.lines.length !== 1) throw new Error(`${url}: a bare checksum file holds one digest, not ${sum.lines.length}`);
      const text = sum.style === 'bare' ? sum.lines[0]!.hex : sum.style === 'bare-line' ? `${sum.lines[0]!.hex}\n` : sum.lines.map((l) => `${l.hex}  ${l.name}\n`).join('');
      const path = mirrorPath(url);
      await mkdir(dirname(join(stage, path)), { recursive: true });
      await writeFile(join(stage, path), text);
      files.push({ url, path, sha256: sha256Of(text), bytes: Buffer.byteLength(text), kind: 'checksum', id: sum.id, from: sum.lines.map((l) => l.path) });
    }
    // The CNIs' manifests, at the URLs src/cni names, for every manifest the artifacts hold.
    const manifestDir = join(artifactsArchDir, 'manifests');
    const held = existsSync(manifestDir) ? await readdir(manifestDir) : [];
    for (const cni of CNIS) {
      for (const m of cni.manifests) {
        if (!held.includes(m.name)) continue;
        const path = mirrorPath(m.url);
        await mkdir(dirname(join(stage, path)), { recursive: true });
        await copyFile(join(manifestDir, m.name), join(stage, path));
        const { sha256, bytes } = await fileSha256(join(stage, path));
        files.push({ url: m.url, path, sha256, bytes, kind: 'manifest', id: `manifest:${cni.id}`, from: [`manifests/${m.name}`] });
        notes.push(
          `${path} holds the artifacts' manifests/${m.name} (test/artifacts: the file in the project's source at ${cni.version}); ` +
            'an upstream release asset made by a build step of its own (flannel: kubectl kustomize) can differ in its bytes',
        );
      }
    }
    await rm(scratch, { recursive: true, force: true });
    await chmod(stage, 0o755);
    await rename(stage, destRoot);
    files.sort((a, b) => a.path.localeCompare(b.path));
    return { root: destRoot, patch, arch, files, notes, durationMs: Date.now() - started };
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A .tar.gz like upstream's release archives: the members under their names (`./bridge`, `bin/ctr`,
 * `crictl`), each parent directory first (`./`, `bin/`), owner and group 0, one mtime, `gzip -n`
 * (Debian's GNU tar and gzip). Returns the member names as `tar -t` lists them.
 */
async function writeTarGz(dest: string, members: readonly { name: string; source: string; mode: number }[], mtime: number, scratch: string): Promise<string[]> {
  const dir = await mkdtemp(join(scratch, 'tar-'));
  const entries: string[] = [];
  for (const m of members) {
    const parent = dirname(m.name);
    const parentEntry = parent === '.' ? (m.name.startsWith('./') ? '.' : undefined) : parent;
    if (parentEntry !== undefined && !entries.includes(parentEntry)) {
      await mkdir(join(dir, parentEntry), { recursive: true, mode: 0o755 });
      await chmod(join(dir, parentEntry), 0o755);
      entries.push(parentEntry);
    }
    await copyFile(m.source, join(dir, m.name));
    await chmod(join(dir, m.name), m.mode);
    entries.push(m.name);
  }
  const tarArgs = ['--create', '--file=-', `--directory=${dir}`, '--no-recursion', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${mtime}`, '--format=gnu', '--', ...entries];
  await execa('tar', tarArgs).pipe('gzip', ['-n'], { stdout: { file: dest } });
  await rm(dir, { recursive: true, force: true });
  return entries.map((e) => (e === '.' ? './' : entries.some((o) => o.startsWith(`${e}/`)) ? `${e}/` : e));
}

/** fn over items, at most `limit` at once; results in the items' order. */
async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function fileSha256(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return { sha256: hash.digest('hex'), bytes: (await stat(path)).size };
}

function sha256Of(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---- servers ----------------------------------------------------------------------------------

export const FILE_FAULTS = ['404', 'status500', 'status500-once', 'truncate', 'stall', 'corrupt'] as const;
export const REGISTRY_FAULTS = [...FILE_FAULTS, 'index-without-arch'] as const;
export type FileFault = (typeof FILE_FAULTS)[number];
export type RegistryFault = (typeof REGISTRY_FAULTS)[number];

/** One request as serve.mjs logged it (GET /__requests). */
export interface ServedRequest {
  method: string;
  path: string;
  range: string | null;
  status: number;
  fault: string | null;
  /** Body bytes sent. */
  bytes: number;
  at: string;
  /** auth-front: why a request got 401 (none, unknown-token, expired, wrong-scope). */
  auth?: string;
  error?: string;
}

export interface MirrorServer<F extends string> {
  /** What clients use: `http://127.0.0.1:PORT` (in the host's or the namespace's loopback). */
  readonly url: string;
  readonly pids: number[];
  /** Makes those request paths misbehave (merged with the faults set before); see test/mirror/serve.mjs. */
  setFaults(faults: Record<string, F>): Promise<void>;
  clearFaults(): Promise<void>;
  /** Every request served so far (not the control calls). */
  requests(): Promise<ServedRequest[]>;
  clearRequests(): Promise<void>;
  /** The servers' last output lines. */
  output(): string;
  /** Ends every process by its PID. Idempotent. */
  stop(): Promise<void>;
}

export interface RegistryMirror extends MirrorServer<RegistryFault> {
  /** The registry itself, without auth: where pushImages() pushes. Equals url when started without auth. */
  readonly pushUrl: string;
  readonly auth: boolean;
}

export interface StartOptions {
  /** Where to run: this host (default), an E2eEnvironment, or netnsHost(name). */
  inNamespace?: ProcessHost;
  /** Also append the servers' output to this file. */
  logFile?: string;
}

/** serve.mjs files over `root`, on 127.0.0.1 and a free port. */
export async function startFileMirror(root: string, opts: StartOptions = {}): Promise<MirrorServer<FileFault>> {
  const host = opts.inNamespace ?? localHost;
  const server = await startServe(host, ['files', '--root', root], opts.logFile);
  return controlled(host, server.url, [server.process]);
}

/**
 * go-containerregistry's registry on a free port, and (auth: true, the default) serve.mjs auth-front
 * before it: `url` is the front, `pushUrl` the registry. Faults need the front. Tokens last
 * tokenTtlSeconds (default 300, what the front answers as expires_in).
 */
export async function startRegistry(tools: MirrorTools, opts: StartOptions & { auth?: boolean; tokenTtlSeconds?: number } = {}): Promise<RegistryMirror> {
  const host = opts.inNamespace ?? localHost;
  const auth = opts.auth ?? true;
  const registry = host.spawn(tools.registry, ['-port', '0'], {
    readyStream: 'stderr',
    readyLine: /serving on port \d+/,
    readyTimeoutMs: START_TIMEOUT_MS,
    ...(opts.logFile ? { logFile: opts.logFile } : {}),
  });
  const started: LongLived[] = [registry];
  try {
    const port = /serving on port (\d+)/.exec(await registry.ready)![1];
    // cmd/registry listens on localhost, which Go resolves to 127.0.0.1 first.
    const pushUrl = `http://${LOOPBACK}:${port}`;
    if (!auth) {
      const m = controlled(host, pushUrl, started, false);
      return { ...m, pushUrl, auth };
    }
    const ttl = opts.tokenTtlSeconds !== undefined ? ['--token-ttl', String(opts.tokenTtlSeconds)] : [];
    const front = await startServe(host, ['auth-front', '--upstream', pushUrl, ...ttl], opts.logFile);
    started.push(front.process);
    return { ...controlled(host, front.url, started), pushUrl, auth };
  } catch (err) {
    await Promise.all(started.map((p) => p.stop()));
    throw err;
  }
}

/** node serve.mjs ARGS on 127.0.0.1 and a free port: its URL once it says it listens. */
async function startServe(host: ProcessHost, args: string[], logFile: string | undefined): Promise<{ url: string; process: LongLived }> {
  const p = host.spawn(process.execPath, [SERVE, ...args, '--listen', `${LOOPBACK}:0`], {
    readyLine: /^listening http:\/\//,
    readyTimeoutMs: START_TIMEOUT_MS,
    ...(logFile ? { logFile } : {}),
  });
  try {
    const line = await p.ready;
    return { url: line.slice('listening '.length).trim(), process: p };
  } catch (err) {
    await p.stop();
    throw err;
  }
}

/** The control calls go through curl on the same host as the server, so they reach a namespace's loopback too. */
function controlled<F extends string>(host: ProcessHost, url: string, processes: LongLived[], hasControl = true): MirrorServer<F> {
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    if (!hasControl) throw new Error(`${url} is the registry itself (started with auth: false): faults and the request log are the auth front's`);
    const args = ['-sS', '--fail-with-body', '--max-time', String(CONTROL_TIMEOUT_MS / 1000), '-X', method];
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
    const r = await host.exec('curl', [...args, `${url}${path}`], { timeoutMs: CONTROL_TIMEOUT_MS + 5_000, reject: false });
    if (r.exitCode !== 0) throw new Error(`${method} ${url}${path}: curl exit ${r.exitCode}: ${r.stdout.trim()} ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as unknown;
  };
  let stopped: Promise<void> | undefined;
  return {
    url,
    pids: processes.map((p) => p.pid),
    setFaults: async (faults) => void (await call('POST', '/__faults', faults)),
    clearFaults: async () => void (await call('DELETE', '/__faults')),
    requests: async () => (await call('GET', '/__requests')) as ServedRequest[],
    clearRequests: async () => void (await call('DELETE', '/__requests')),
    output: () => processes.map((p) => p.output()).join('\n'),
    // The front first, then what it fronts.
    stop: () => (stopped ??= (async () => {
      for (const p of [...processes].reverse()) await p.stop();
    })()),
  };
}

// ---- images -----------------------------------------------------------------------------------

export interface PushedImage {
  /** The upstream reference the archive carries (`registry.k8s.io/kube-proxy:v1.37.2`). */
  ref: string;
  archive: string;
  /** `<registry host:port>/<prefix>/<repository>:<tag>`. */
  mirrorRef: string;
  /** The platform's image manifest digest: the archive's, and what the registry reports (`sha256:...`). */
  manifestDigest: string;
  /** With index: true, the digest of the image index the tag points at. */
  indexDigest?: string;
  platform: string;
  durationMs: number;
}

export interface PushOptions {
  /**
   * The mirror's path prefix for a reference; the mirror repository is `<prefix>/<repository path>`. Default:
   * the upstream registry's host (`registry.k8s.io/kube-proxy` → `<mirror>/registry.k8s.io/kube-proxy`), so
   * one mirror holds several registries without clashes; return '' for `<mirror>/kube-proxy`.
   */
  prefixFor?: (ref: string, parts: { registry: string; repository: string; tag: string }) => string;
  /**
   * Push the tag as an OCI image index holding the one platform manifest (default true), as the upstream
   * registries serve multi-architecture images; false pushes the image manifest at the tag.
   */
  index?: boolean;
  /** Where crane runs: this host (default) or the namespace the registry runs in. */
  inNamespace?: ProcessHost;
  /** Where the archives are extracted for crane (removed after). Default: the OS temp dir. */
  scratchDir?: string;
}

/**
 * Pushes every `images/*.tar` (an OCI image layout archive with one manifest) to the registry at
 * `registryUrl` (a registry without auth: RegistryMirror.pushUrl) with crane, from the extracted layout, so
 * that nothing is re-encoded; then proves with `crane digest` that the registry reports the archive's own
 * manifest digest. Returns what was pushed, by upstream reference.
 */
export async function pushImages(tools: MirrorTools, registryUrl: string, imagesDir: string, opts: PushOptions = {}): Promise<Record<string, PushedImage>> {
  const host = opts.inNamespace ?? localHost;
  const registryHost = new URL(registryUrl).host;
  const prefixFor = opts.prefixFor ?? ((_ref, parts) => parts.registry);
  const asIndex = opts.index ?? true;
  const crane = async (args: string[]) => (await host.exec(tools.crane, args, { timeoutMs: CRANE_TIMEOUT_MS })).stdout.trim();
  const archives = (await readdir(imagesDir)).filter((f) => f.endsWith('.tar')).sort();
  if (archives.length === 0) throw new Error(`${imagesDir}: no image archives (*.tar)`);
  // Never beside the archives: the artifacts directory is a cache whose every file SHA256SUMS lists.
  if (opts.scratchDir) await mkdir(opts.scratchDir, { recursive: true });
  const scratch = await mkdtemp(join(opts.scratchDir ?? tmpdir(), 'kv-push-'));
  const pushed: Record<string, PushedImage> = {};
  try {
    for (const file of archives) {
      const started = Date.now();
      const archive = join(imagesDir, file);
      const layout = join(scratch, file.replace(/\.tar$/, ''));
      await mkdir(layout);
      await execa('tar', ['-xf', archive, '-C', layout]);
      const { ref, digest, platform } = readLayout(layout, archive);
      const parsed = parseRef(ref, archive);
      const prefix = prefixFor(ref, parsed);
      const repo = `${registryHost}/${prefix ? `${prefix}/` : ''}${parsed.repository}`;
      const tagged = `${repo}:${parsed.tag}`;
      let indexDigest: string | undefined;
      if (asIndex) {
        await crane(['push', layout, `${repo}@${digest}`]);
        await crane(['index', 'append', '--manifest', `${repo}@${digest}`, '--tag', tagged]);
        indexDigest = await crane(['digest', tagged]);
      } else {
        await crane(['push', layout, tagged]);
      }
      const reported = await crane(['digest', ...(asIndex ? ['--platform', platform] : []), tagged]);
      if (reported !== digest) throw new Error(`${archive}: the registry reports ${reported} for ${tagged} (${platform}), the archive's manifest is ${digest}`);
      pushed[ref] = { ref, archive, mirrorRef: tagged, manifestDigest: reported, ...(indexDigest ? { indexDigest } : {}), platform, durationMs: Date.now() - started };
      await rm(layout, { recursive: true, force: true });
    }
    return pushed;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The reference, manifest digest and platform of an extracted OCI image layout holding one image. */
export function readLayout(layout: string, what = layout): { ref: string; digest: string; platform: string } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[];
  };
  if (index.manifests.length !== 1) throw new Error(`${what}: index.json lists ${index.manifests.length} manifests, expected one image`);
  const desc = index.manifests[0]!;
  const ref = desc.annotations?.['io.containerd.image.name'] ?? desc.annotations?.['org.opencontainers.image.ref.name'];
  if (!ref) throw new Error(`${what}: index.json names no image (io.containerd.image.name)`);
  const blob = (d: string) => readFileSync(join(layout, 'blobs', ...d.split(':')));
  const manifest = JSON.parse(blob(desc.digest).toString('utf8')) as { config: { digest: string } };
  const config = JSON.parse(blob(manifest.config.digest).toString('utf8')) as { os: string; architecture: string; variant?: string };
  return { ref, digest: desc.digest, platform: [config.os, config.architecture, config.variant].filter(Boolean).join('/') };
}

/** `registry.k8s.io/coredns/coredns:v1.14.6` → registry, repository path, tag. */
export function parseRef(ref: string, what = ref): { registry: string; repository: string; tag: string } {
  const m = /^([^/]+\.[^/]+|localhost(?::\d+)?)\/(.+):([\w][\w.-]{0,127})$/.exec(ref);
  if (!m) throw new Error(`${what}: ${ref} is not <registry host>/<repository>:<tag>`);
  return { registry: m[1]!, repository: m[2]!, tag: m[3]! };
}

/** The path below a mirror's root that a file of the layout has (for tests reading files by description). */
export function layoutFile(layout: ReleaseMirrorLayout, id: string, kind: MirroredFile['kind'] = 'download'): MirroredFile {
  const f = layout.files.find((x) => x.id === id && x.kind === kind);
  if (!f) throw new Error(`the mirror layout has no ${kind} ${id}: ${layout.files.map((x) => `${x.kind}:${x.id}`).join(', ')}`);
  return f;
}

function lastLine(text: string): string {
  const line = text.trim().split('\n').at(-1);
  if (!line) throw new Error('the build printed no directory');
  return line;
}
