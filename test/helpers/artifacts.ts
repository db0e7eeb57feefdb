import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHE } from '../../src/cache.js';
import { clusterNeeds } from '../../src/offline/needs.js';
import { KNOWN_PATCHES } from '../../src/versions.js';

/**
 * Artifacts directories as the product reads them, for tests without VMs: a binary is an ELF header
 * with the version string in it (never run) or, where a test runs it, a script of the test's own; an
 * image archive is a real tar holding a real OCI index without layers.
 */

/** A 64-bit little-endian ELF header for a machine (62 x86-64, 183 aarch64), then some text. */
export function elf(machine: number, text = ''): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2;
  h[5] = 1;
  h.writeUInt16LE(machine, 18);
  return Buffer.concat([h, Buffer.from(text)]);
}

/** A tar archive of the given members (made with the real tar). */
export function tarOf(file: string, members: Record<string, string>): void {
  const dir = mkdtempSync(join(tmpdir(), 'kv-tar-'));
  try {
    for (const [name, content] of Object.entries(members)) writeFileSync(join(dir, name), content);
    execFileSync('tar', ['-cf', file, '-C', dir, ...Object.keys(members)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An OCI image layout archive naming `refs` (no layers). */
export function ociArchive(file: string, refs: string[], annotation = 'io.containerd.image.name'): void {
  const manifests = refs.map((ref) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 1, annotations: { [annotation]: ref } }));
  tarOf(file, { 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'index.json': JSON.stringify({ schemaVersion: 2, manifests }) });
}

export interface FakeArtifactsOptions {
  /** The content of bin/<name> (default: an x86-64 ELF header with `gitVersion v<patch>`). */
  binary?: (name: string) => string | Buffer;
  /** The image archives by file name (default: one `image-N.tar` per image a flannel cluster needs). */
  images?: Record<string, string[]>;
}

/**
 * A complete `<root>/v<patch>/amd64/` for a flannel cluster with containerd, SHA256SUMS written over
 * every file; returns the directory.
 */
export function fakeArtifactsDir(root: string, patch: string, opts: FakeArtifactsOptions = {}): string {
  const dir = join(root, `v${patch}`, 'amd64');
  for (const sub of ['bin', 'cni', 'containerd', 'images', 'manifests']) mkdirSync(join(dir, sub), { recursive: true });
  for (const b of ['kubeadm', 'kubelet', 'kubectl', 'crictl']) writeFileSync(join(dir, 'bin', b), opts.binary?.(b) ?? elf(62, `gitVersion v${patch}`), { mode: 0o755 });
  for (const p of ['bridge', 'host-local', 'loopback', 'portmap', 'flannel']) writeFileSync(join(dir, 'cni', p), elf(62), { mode: 0o755 });
  for (const c of ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc']) writeFileSync(join(dir, 'containerd', c), elf(62), { mode: 0o755 });
  writeFileSync(join(dir, 'manifests', 'kube-flannel.yml'), 'kind: List\n');
  const images = opts.images ?? Object.fromEntries(clusterNeeds(patch, 'flannel', false).images.map((ref, i) => [`image-${i}.tar`, [ref]]));
  for (const [file, refs] of Object.entries(images)) ociArchive(join(dir, 'images', file), refs);
  writeSums(dir);
  return dir;
}

/** SHA256SUMS over every other file of an artifacts directory, as its README says to write it. */
export function writeSums(dir: string): void {
  execFileSync('sh', ['-c', 'find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS'], { cwd: dir });
}

/** The patch a default config (`kubernetes.version: "1.37"`) installs from the cache. */
export const DEFAULT_PATCH = KNOWN_PATCHES['1.37']!;

const caches = new Map<string, string>();

/**
 * A cache root (what KUBEADM_VAGRANT_CACHE names) whose artifacts/ holds a complete fake
 * v<patch>/amd64/ for a default cluster (flannel, containerd, no dashboard): what `generate` and the
 * other commands that must not download find on a host where `up` or `artifacts fetch` ran. Made
 * once per process and patch, readable by every user (the unprivileged runs), removed at exit.
 */
export function testCache(patch = DEFAULT_PATCH): string {
  let root = caches.get(patch);
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'kv-test-cache-'));
    chmodSync(root, 0o755);
    fakeArtifactsDir(join(root, CACHE.artifacts), patch);
    caches.set(patch, root);
    if (caches.size === 1) process.once('exit', removeTestCaches);
  }
  return root;
}

/**
 * Removes the caches testCache made. A test worker is ended without its 'exit' event, so
 * test/helpers/cleanup.ts calls this after each test file (before that, ~200 KiB per file stayed in /tmp).
 */
export function removeTestCaches(): void {
  for (const root of caches.values()) rmSync(root, { recursive: true, force: true });
  caches.clear();
}

/** The environment of a run whose cache holds a default cluster's artifacts (testCache). */
export function cacheEnv(patch = DEFAULT_PATCH): { KUBEADM_VAGRANT_CACHE: string } {
  return { KUBEADM_VAGRANT_CACHE: testCache(patch) };
}
