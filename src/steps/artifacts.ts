import { ARCHES, type Arch } from '../boxes/catalog.js';
import { loadConfig, type LoadOptions } from '../config/load.js';
import type { ClusterConfig } from '../config/schema.js';
import { describeHolder } from '../download/lock.js';
import { createTransferProgress, formatBytes } from '../download/progress.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../table.js';
import { defaultCacheRoot } from '../artifacts/cache.js';
import { fetchArtifacts, type FetchReport, type Mirrors } from '../artifacts/fetch.js';
import { dropBadFiles, listCache, pruneCache, verifyDir, type VerifiedDir } from '../artifacts/inspect.js';
import { cachedDirs } from '../artifacts/cache.js';
import { fetchPatch } from '../artifacts/plan.js';

/** The `artifacts` commands as steps: a config in, the cache changed or read, lines out. */

export interface ArtifactsContext {
  load: LoadOptions;
  /** Defaults to defaultCacheRoot(). */
  cacheRoot?: string;
  print: (line: string) => void;
  signal?: AbortSignal;
}

/** `--arch amd64,arm64` → architectures; anything else is a UsageError naming it. */
export function parseArches(text: string): Arch[] {
  const arches = [...new Set(text.split(',').map((a) => a.trim()).filter(Boolean))];
  const bad = arches.filter((a) => !(ARCHES as readonly string[]).includes(a));
  if (bad.length || arches.length === 0) throw new UsageError(`--arch ${text}: ${bad.length ? `${bad.join(', ')} is not an architecture` : 'no architecture given'} (${ARCHES.join(', ')}, comma-separated)`);
  return arches as Arch[];
}

/** `--trust-manifest NAME=SHA256` values → pins; a bad one is a UsageError naming it. */
export function parseTrust(values: readonly string[]): Record<string, string> {
  const pins: Record<string, string> = {};
  for (const v of values) {
    const m = /^([\w.-]+)=(?:sha256:)?([0-9a-fA-F]{64})$/.exec(v.trim());
    if (!m) throw new UsageError(`--trust-manifest ${v}: expected NAME=SHA256, e.g. tigera-operator.yaml=<64 hex digits> (the sha256 of the file you checked)`);
    pins[m[1]!] = m[2]!.toLowerCase();
  }
  return pins;
}

function mirrorsOf(c: ClusterConfig): Mirrors {
  return { ...(c.mirrors.files ? { files: c.mirrors.files } : {}), registries: c.mirrors.registries };
}

/** `artifacts fetch`: what the config's version, CNI and add-ons need, for each architecture. */
export async function artifactsFetch(ctx: ArtifactsContext & { arches: readonly Arch[]; trust: Readonly<Record<string, string>> }): Promise<FetchReport> {
  const { config } = loadConfig(ctx.load);
  const cacheRoot = ctx.cacheRoot ?? defaultCacheRoot();
  const patch = fetchPatch(config.kubernetes.version);
  const progress = await createTransferProgress();
  try {
    const report = await fetchArtifacts({
      patch,
      arches: ctx.arches,
      cnis: [config.kubernetes.cni],
      dashboard: config.addons.dashboard,
      containerd: config.runtime.containerd === 'release',
      mirrors: mirrorsOf(config),
      pins: { ...config.mirrors.manifests, ...ctx.trust },
      cacheRoot,
      progress,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onLockWait: (holder) => process.stderr.write(`waiting for ${describeHolder(holder)}, which holds ${cacheRoot}\n`),
    });
    progress.finish();
    for (const d of report.dirs) ctx.print(`${d.dir}: ${d.fetched.length} fetched, ${d.cached.length} already cached`);
    ctx.print(`downloaded ${formatBytes(report.downloadedBytes)}; offline.dir: ${cacheRoot}`);
    return report;
  } catch (err) {
    progress.finish();
    throw err;
  }
}

/** `artifacts list`. */
export function artifactsList(ctx: Pick<ArtifactsContext, 'cacheRoot' | 'print'>): void {
  const root = ctx.cacheRoot ?? defaultCacheRoot();
  const { dirs, downloadsBytes } = listCache(root);
  ctx.print(`cache: ${root}`);
  if (dirs.length === 0) return ctx.print('nothing cached yet: kubeadm-vagrant artifacts fetch');
  const rows = [['PATCH', 'ARCH', 'FILES', 'SIZE', 'STATE'], ...dirs.map((d) => [d.patch, d.arch, String(d.files), formatBytes(d.bytes), d.complete ? 'complete' : `incomplete: ${d.problems.join('; ')}`])];
  for (const line of formatTable(rows)) ctx.print(line);
  ctx.print(`downloads/ (the release downloads as fetched): ${formatBytes(downloadsBytes)}`);
}

/** `artifacts verify [--fix]`; true when everything is (or, fixed, is again) as recorded. */
export async function artifactsVerify(ctx: ArtifactsContext & { fix: boolean }): Promise<boolean> {
  const root = ctx.cacheRoot ?? defaultCacheRoot();
  const dirs = cachedDirs(root);
  if (dirs.length === 0) {
    ctx.print(`${root}: nothing cached`);
    return true;
  }
  const report = (r: VerifiedDir) => {
    if (r.problems.length === 0) return ctx.print(`v${r.patch}/${r.arch}: ${r.checked} files ok`);
    ctx.print(`v${r.patch}/${r.arch}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} in ${r.checked} files`);
    for (const p of r.problems) ctx.print(`  ${p.file}: ${p.problem}`);
  };
  let ok = true;
  for (const d of dirs) {
    const r = await verifyDir(d);
    report(r);
    if (r.problems.length === 0) continue;
    if (!ctx.fix) {
      ok = false;
      continue;
    }
    const lock = await dropBadFiles(r);
    if (!lock || lock.needs.cnis.length === 0) {
      ctx.print(`  cannot fix ${d.dir}: its lock file does not say what it was fetched for; run artifacts fetch for that version`);
      ok = false;
      continue;
    }
    const { config } = loadConfig(ctx.load);
    const progress = await createTransferProgress();
    try {
      await fetchArtifacts({ patch: d.patch, arches: [d.arch], cnis: lock.needs.cnis, dashboard: lock.needs.dashboard, containerd: lock.needs.containerd, mirrors: mirrorsOf(config), pins: config.mirrors.manifests, cacheRoot: root, progress, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    } finally {
      progress.finish();
    }
    const again = await verifyDir(d);
    ctx.print(`fixed: fetched again`);
    report(again);
    if (again.problems.length) ok = false;
  }
  return ok;
}

/** `artifacts prune [--keep N]`: keeps the patch of the config in use and the N newest. */
export async function artifactsPrune(ctx: ArtifactsContext & { keepNewest: number; dryRun: boolean }): Promise<void> {
  const root = ctx.cacheRoot ?? defaultCacheRoot();
  const { config } = loadConfig(ctx.load);
  const inUse = fetchPatch(config.kubernetes.version);
  const r = await pruneCache(root, { keep: new Set([inUse]), keepNewest: ctx.keepNewest, dryRun: ctx.dryRun });
  for (const k of r.kept) ctx.print(`kept ${k}`);
  for (const p of r.removed) ctx.print(`${ctx.dryRun ? 'would remove' : 'removed'} ${p}`);
  ctx.print(`${ctx.dryRun ? 'would free' : 'freed'} ${formatBytes(r.freedBytes)} (the config in use needs v${inUse})`);
}
