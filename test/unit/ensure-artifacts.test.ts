/**
 * ensureArtifacts (src/steps/artifacts.ts), what `up`, `node add`, `upgrade` and `box build --bake`
 * run first: the cache's artifacts when they are there, fetched first when the cache lacks them (a
 * dry run only says so), an offline.dir never fetched into. The fetch is injected: it records what
 * it was asked for and writes a fake directory as the real one would.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CACHE } from '../../src/cache.js';
import { readConfig } from '../../src/config/load.js';
import type { FetchArtifactsOptions, FetchReport } from '../../src/artifacts/fetch.js';
import { ensureArtifacts, type FetchFn } from '../../src/steps/artifacts.js';
import { DEFAULT_PATCH, fakeArtifactsDir } from '../helpers/artifacts.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A cluster directory with cluster.yaml (extra YAML appended) and an empty cache of its own. */
function cluster(extra = ''): { dir: string; cache: string; read: () => ReturnType<typeof readConfig> } {
  const dir = mkdtempSync(join(tmpdir(), 'kv-ensure-'));
  dirs.push(dir);
  const cache = join(dir, 'cache');
  writeFileSync(join(dir, 'cluster.yaml'), `apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: ensure\nprovider: libvirt\ndistro: debian-12\nkubernetes:\n  version: "1.37"\n  cni: flannel\n${extra}`);
  return { dir, cache, read: () => readConfig({ cwd: dir, env: { KUBEADM_VAGRANT_CACHE: cache } }) };
}

/** A fetch that records its options and fills the cache as the real one would (or fails). */
function recordingFetch(fail?: Error): { fetch: FetchFn; calls: FetchArtifactsOptions[] } {
  const calls: FetchArtifactsOptions[] = [];
  const fetch: FetchFn = async (opts) => {
    calls.push(opts);
    if (fail) throw fail;
    const dir = fakeArtifactsDir(opts.cacheRoot, opts.patch);
    const report: FetchReport = { dirs: [{ patch: opts.patch, arch: 'amd64', dir, fetched: readdirSync(join(dir, 'bin')), cached: [] }], downloadedBytes: 1234 };
    return report;
  };
  return { fetch, calls };
}

describe('ensureArtifacts: what up, node add, upgrade and box build --bake run before any machine', () => {
  it('fetches what the cache lacks first, for the config\'s patch, CNI, add-ons and this host\'s architecture, then finds it', async () => {
    const c = cluster();
    const { fetch, calls } = recordingFetch();
    const said: string[] = [];
    const r = await ensureArtifacts(c.read(), { dryRun: false, say: (l) => said.push(l), fetch });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ patch: DEFAULT_PATCH, arches: ['amd64'], cnis: ['flannel'], dashboard: false, containerd: true, cacheRoot: join(c.cache, CACHE.artifacts) });
    expect(r.fetched).toBeDefined();
    expect(r.artifacts).toMatchObject({ patch: DEFAULT_PATCH, arch: 'amd64', dir: join(c.cache, CACHE.artifacts, `v${DEFAULT_PATCH}`, 'amd64') });
    expect(r.problems).toEqual([]);
    expect(said[0]).toMatch(new RegExp(`the cache lacks what the cluster needs; fetching into .*v${DEFAULT_PATCH.replace(/\./g, '\\.')}/amd64`));
    expect(said.at(-1)).toMatch(/fetched \d+ files/);
  });

  it('asks nothing when the cache holds everything', async () => {
    const c = cluster();
    fakeArtifactsDir(join(c.cache, CACHE.artifacts), DEFAULT_PATCH);
    const { fetch, calls } = recordingFetch();
    const r = await ensureArtifacts(c.read(), { dryRun: false, say: () => {}, fetch });
    expect(calls).toEqual([]);
    expect(r.fetched).toBeUndefined();
    expect(r.artifacts?.patch).toBe(DEFAULT_PATCH);
  });

  it('a dry run says what it would fetch and fetches nothing', async () => {
    const c = cluster('addons:\n  dashboard: true\n');
    const { fetch, calls } = recordingFetch();
    const said: string[] = [];
    const r = await ensureArtifacts(c.read(), { dryRun: true, say: (l) => said.push(l), fetch });
    expect(calls).toEqual([]);
    expect(r.artifacts).toBeUndefined();
    expect(r.missing).toMatchObject({ patch: DEFAULT_PATCH, arch: 'amd64' });
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^would fetch what the cluster needs and the cache lacks into .* first/);
    expect(said[0]).toContain('kubeadm');
    expect(said[0]).toContain('headlamp');
    expect(existsSync(c.cache)).toBe(false);
  });

  it('a version other than the config\'s (upgrade\'s target) is fetched for that version', async () => {
    const c = cluster();
    const { fetch, calls } = recordingFetch();
    const r = await ensureArtifacts(c.read(), { version: '1.36', dryRun: false, say: () => {}, fetch });
    expect(calls.map((o) => o.patch)).toEqual([r.artifacts!.patch]);
    expect(r.artifacts!.patch).toMatch(/^1\.36\.\d+$/);
  });

  it('never fetches into an offline.dir: its problems come back as found, naming the file', async () => {
    const c = cluster();
    const own = join(c.dir, 'own');
    const dir = fakeArtifactsDir(own, DEFAULT_PATCH);
    rmSync(join(dir, 'manifests', 'kube-flannel.yml'));
    writeFileSync(join(c.dir, 'cluster.yaml'), `${readFileSync(join(c.dir, 'cluster.yaml'), 'utf8').replace('"1.37"', `"${DEFAULT_PATCH}"`)}offline:\n  dir: ./own\n`);
    const { fetch, calls } = recordingFetch();
    const r = await ensureArtifacts(c.read(), { dryRun: false, say: () => {}, fetch });
    expect(calls).toEqual([]);
    expect(r.artifacts).toBeUndefined();
    expect(r.missing).toBeUndefined();
    expect(r.problems.map((p) => `${p.path}: ${p.message}`).join('\n')).toMatch(/offline\.dir: .*manifests\/kube-flannel\.yml is missing/);
  });

  it('a failed fetch is the fetch\'s error, and the cache holds nothing that looks complete', async () => {
    const c = cluster();
    const { fetch } = recordingFetch(new Error('http://mirror/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubeadm: HTTP 500'));
    await expect(ensureArtifacts(c.read(), { dryRun: false, say: () => {}, fetch })).rejects.toThrow(/kubeadm: HTTP 500/);
    expect(existsSync(join(c.cache, CACHE.artifacts, `v${DEFAULT_PATCH}`, 'amd64', 'SHA256SUMS'))).toBe(false);
  });
});
