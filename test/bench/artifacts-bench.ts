/**
 * `artifacts fetch` from loopback mirrors (test/mirror, made from the artifacts test/artifacts builds)
 * against copying the same files with `cp -r` and hashing them with `sha256sum` (target: at most twice
 * as long), and a second fetch when everything is cached (target: at most 1 s, and no request at all:
 * everything a second fetch would check is pinned in the project or in the lock file, see
 * src/artifacts/fetch.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fetchArtifacts } from '../../src/artifacts/fetch.js';
import { artifactsRoot, layoutReleaseMirror, mirrorTools, pushImages, startFileMirror, startRegistry } from '../helpers/mirrors.js';
import { CLI } from '../helpers/cli.js';
import { childrenCpuMs, cpuMsOf } from './link.js';

const PATCH = '1.37.2';
const ARCH = 'amd64';

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Writes back what the last run left dirty, so that it does not slow the next one; both sides read warm page caches. */
function settle(): void {
  spawnSync('sync');
}

export async function benchArtifacts(runs = 3): Promise<string[]> {
  const lines: string[] = [];
  const tools = mirrorTools();
  const built = join(artifactsRoot(), `v${PATCH}`, ARCH);
  if (!existsSync(built)) return [`artifacts fetch bench: no ${built}`];
  const work = mkdtempSync(join(tmpdir(), 'kv-bench-artifacts-'));
  const files = await (async () => startFileMirror((await layoutReleaseMirror(built, join(work, 'files'))).root))();
  const registry = await startRegistry(tools, { auth: true });
  try {
    await pushImages(tools, registry.pushUrl, join(built, 'images'));
    const registries = Object.fromEntries(['registry.k8s.io', 'ghcr.io'].map((h) => [h, `${registry.url}/${h}`]));
    const bytes = Number(execFileSync('du', ['-sb', '--exclude=build-info.json', built], { encoding: 'utf8' }).split('\t')[0]);

    const copies: number[] = [];
    const copyCpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const dest = join(work, `copy-${i}`);
      settle();
      const [t0, c0] = [performance.now(), childrenCpuMs()];
      execFileSync('cp', ['-r', built, dest]);
      execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 sha256sum > /dev/null'], { cwd: dest });
      copies.push(performance.now() - t0);
      copyCpu.push(childrenCpuMs() - c0);
      rmSync(dest, { recursive: true, force: true });
    }

    const fetches: number[] = [];
    const fetchCpu: number[] = [];
    const servers = [...files.pids, ...registry.pids];
    const serverCpu = () => servers.reduce((n, pid) => n + cpuMsOf(pid), 0);
    const seconds: number[] = [];
    let requests = 0;
    let cache = '';
    for (let i = 0; i < runs; i++) {
      cache = join(work, `cache-${i}`); // $KUBEADM_VAGRANT_CACHE: the cache is its artifacts/
      const opts = { patch: PATCH, arches: [ARCH], cnis: ['flannel'], dashboard: false, containerd: true, mirrors: { files: files.url, registries }, cacheRoot: join(cache, 'artifacts') } as const;
      settle();
      const [t0, c0, s0] = [performance.now(), process.cpuUsage(), serverCpu()];
      await fetchArtifacts(opts);
      fetches.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      fetchCpu.push((c.user + c.system) / 1000 + (serverCpu() - s0));
      await files.clearRequests();
      await registry.clearRequests();
      const t1 = performance.now();
      await fetchArtifacts(opts);
      seconds.push(performance.now() - t1);
      requests += (await files.requests()).length + (await registry.requests()).length;
      if (i < runs - 1) rmSync(cache, { recursive: true, force: true });
    }
    // The second fetch as users run it: a new CLI process.
    const dir = mkdtempSync(join(work, 'cluster-'));
    writeFileSync(join(dir, 'cluster.yaml'), `apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nkubernetes:\n  version: "${PATCH}"\nmirrors:\n  files: ${files.url}\n  registries:\n${Object.entries(registries).map(([h, u]) => `    ${h}: ${u}\n`).join('')}`);
    const cliRuns: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [CLI, 'artifacts', 'fetch'], { cwd: dir, env: { ...process.env, KUBEADM_VAGRANT_CACHE: cache, CI: 'true' }, encoding: 'utf8' });
      cliRuns.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`artifacts fetch (CLI) exited ${r.status}: ${r.stderr}`);
    }
    requests += (await files.requests()).length + (await registry.requests()).length;
    const copy = median(copies);
    const fetch = median(fetches);
    lines.push(`artifacts fetch of v${PATCH}/${ARCH} (${(bytes / 2 ** 20).toFixed(0)} MiB, median of ${runs}) from loopback mirrors (serve.mjs files; go-containerregistry's registry behind the token front):`);
    lines.push(`  cp -r + sha256sum of the same files: ${s(copy)} (CPU ${s(median(copyCpu))}); fetch (in-process): ${s(fetch)} (CPU ${s(median(fetchCpu))}, the mirrors' included); ratio ${(fetch / copy).toFixed(2)} (target at most 2: ${fetch / copy <= 2 ? 'met' : 'NOT met'}), CPU ratio ${(median(fetchCpu) / median(copyCpu)).toFixed(2)}; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs`);
    lines.push(`  second fetch, everything cached: ${s(median(seconds))} in-process, ${s(median(cliRuns))} as a new CLI process (target at most 1 s: ${median(cliRuns) <= 1000 ? 'met' : 'NOT met'}); requests to the mirrors: ${requests}`);
  } finally {
    await files.stop();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return lines;
}
