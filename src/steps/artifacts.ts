import { ARCHES, type Arch } from '../boxes/catalog.js';
import { artifactsCacheDir } from '../cache.js';
import { readConfig, type LoadOptions, type ReadConfig } from '../config/load.js';
import type { ClusterConfig } from '../config/schema.js';
import { describeHolder } from '../download/lock.js';
import { createTransferProgress, formatBytes, type TransferProgress } from '../download/progress.js';
import { UsageError } from '../errors.js';
import { artifactsFor, type ArtifactsLookup } from '../offline/source.js';
import { formatTable } from '../table.js';
import { fetchArtifacts, pendingItems, type FetchArtifactsOptions, type FetchReport, type Mirrors } from '../artifacts/fetch.js';
import { dropBadFiles, listCache, pruneCache, verifyDir, type VerifiedDir } from '../artifacts/inspect.js';
import { cachedDirs } from '../artifacts/cache.js';
import { fetchPatch } from '../artifacts/plan.js';

/**
 * The artifacts as steps: the `artifacts` commands (a config in, the cache changed or read, lines
 * out), and ensureArtifacts, what `up`, `node add`, `upgrade` and `box build --bake` run first.
 */

export interface ArtifactsContext {
  load: LoadOptions;
  /** Defaults to the cache's artifacts directory (src/cache.ts artifactsCacheDir). */
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

/** What a fetch for a config takes: its CNI, add-ons, containerd and mirrors, for a patch and architectures, into a cache. */
export function fetchOptionsFor(config: ClusterConfig, patch: string, arches: readonly Arch[], cacheRoot: string, trust: Readonly<Record<string, string>> = {}): FetchArtifactsOptions {
  return {
    patch,
    arches,
    cnis: [config.kubernetes.cni],
    dashboard: config.addons.dashboard,
    containerd: config.runtime.containerd === 'release',
    mirrors: mirrorsOf(config),
    pins: { ...config.mirrors.manifests, ...trust },
    cacheRoot,
    onLockWait: (holder) => process.stderr.write(`waiting for ${describeHolder(holder)}, which holds ${cacheRoot}\n`),
  };
}

/** A fetch with a transfer progress (a bar on a terminal, a line per file elsewhere), finished whatever happens. */
async function fetchWithProgress(opts: FetchArtifactsOptions, fetch: FetchFn = fetchArtifacts, progress?: TransferProgress): Promise<FetchReport> {
  const shown = progress ?? (await createTransferProgress());
  try {
    return await fetch({ ...opts, progress: shown });
  } finally {
    shown.finish();
  }
}

/** `artifacts fetch`: what the config's version, CNI and add-ons need, for each architecture. */
export async function artifactsFetch(ctx: ArtifactsContext & { arches: readonly Arch[]; trust: Readonly<Record<string, string>> }): Promise<FetchReport> {
  const { config } = readConfig(ctx.load);
  const cacheRoot = ctx.cacheRoot ?? artifactsCacheDir(ctx.load.env);
  const report = await fetchWithProgress({ ...fetchOptionsFor(config, fetchPatch(config.kubernetes.version), ctx.arches, cacheRoot, ctx.trust), ...(ctx.signal ? { signal: ctx.signal } : {}) });
  for (const d of report.dirs) ctx.print(`${d.dir}: ${d.fetched.length} fetched, ${d.cached.length} already cached`);
  ctx.print(`downloaded ${formatBytes(report.downloadedBytes)} into the cache ${cacheRoot} (clusters without offline.dir install from it)`);
  return report;
}

/** What fetchArtifacts does; the tests inject their own. */
export type FetchFn = (opts: FetchArtifactsOptions) => Promise<FetchReport>;

export interface EnsureArtifactsOptions {
  /** The Kubernetes version (default: the config's; `upgrade` asks for its target). */
  version?: string;
  /** Say what would be fetched, and fetch nothing. */
  dryRun: boolean;
  /** Where the lines go: what would be fetched (a dry run), what is fetched and what was. */
  say: (line: string) => void;
  fetch?: FetchFn;
  progress?: TransferProgress;
  signal?: AbortSignal;
}

/** The result: the artifacts (fetched first when the cache lacked them), or the problems; in a dry run, what the cache lacks (`missing`). */
export interface EnsuredArtifacts extends ArtifactsLookup {
  /** What a fetch did, when one ran. */
  fetched?: FetchReport;
}

/**
 * The artifacts of a config's version, from where src/offline/source.ts says. When that is the cache
 * and it lacks something the config needs, it is fetched first (for the version's patch, a minor's
 * newest known one; this host's architecture; the CNI, the add-ons, containerd and `mirrors:`), each
 * file verified before it enters the cache; a dry run says what it would fetch instead. An
 * offline.dir is never fetched into: its problems are returned as found (the directory is the
 * user's). Nothing here starts a machine: `up` and the others call it before anything else.
 */
export async function ensureArtifacts(read: ReadConfig, opts: EnsureArtifactsOptions): Promise<EnsuredArtifacts> {
  const version = opts.version ?? read.config.kubernetes.version;
  const lookup = artifactsFor(read.config, version, read.where);
  if (!lookup.missing) return lookup;
  const { root, patch, arch } = lookup.missing;
  const fetchOpts = { ...fetchOptionsFor(read.config, patch, [arch], root), ...(opts.signal ? { signal: opts.signal } : {}) };
  const pending = pendingItems(fetchOpts)[0]!;
  const what = `Kubernetes ${patch} for ${arch} (${pending.items.length} of ${pending.of}: ${pending.items.join(', ')})`;
  if (opts.dryRun) {
    opts.say(`would fetch what the cluster needs and the cache lacks into ${pending.dir} first, as \`kubeadm-vagrant artifacts fetch\` does, each file verified before it enters the cache: ${what}`);
    return lookup;
  }
  opts.say(`artifacts: the cache lacks what the cluster needs; fetching into ${pending.dir}: ${what}`);
  const fetched = await fetchWithProgress(fetchOpts, opts.fetch, opts.progress);
  opts.say(`artifacts: fetched ${fetched.dirs.reduce((n, d) => n + d.fetched.length, 0)} files (${formatBytes(fetched.downloadedBytes)} downloaded) into ${pending.dir}`);
  return { ...artifactsFor(read.config, version, read.where), fetched };
}

/** `artifacts list`. */
export function artifactsList(ctx: Pick<ArtifactsContext, 'cacheRoot' | 'print'>): void {
  const root = ctx.cacheRoot ?? artifactsCacheDir();
  const { dirs, downloadsBytes } = listCache(root);
  ctx.print(`cache: ${root}`);
  if (dirs.length === 0) return ctx.print('nothing cached yet: kubeadm-vagrant artifacts fetch');
  const rows = [['PATCH', 'ARCH', 'FILES', 'SIZE', 'STATE'], ...dirs.map((d) => [d.patch, d.arch, String(d.files), formatBytes(d.bytes), d.complete ? 'complete' : `incomplete: ${d.problems.join('; ')}`])];
  for (const line of formatTable(rows)) ctx.print(line);
  ctx.print(`downloads/ (the release downloads as fetched): ${formatBytes(downloadsBytes)}`);
}

/** `artifacts verify [--fix]`; true when everything is (or, fixed, is again) as recorded. */
export async function artifactsVerify(ctx: ArtifactsContext & { fix: boolean }): Promise<boolean> {
  const root = ctx.cacheRoot ?? artifactsCacheDir(ctx.load.env);
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
    const { config } = readConfig(ctx.load);
    await fetchWithProgress({ patch: d.patch, arches: [d.arch], cnis: lock.needs.cnis, dashboard: lock.needs.dashboard, containerd: lock.needs.containerd, mirrors: mirrorsOf(config), pins: config.mirrors.manifests, cacheRoot: root, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    const again = await verifyDir(d);
    ctx.print(`fixed: fetched again`);
    report(again);
    if (again.problems.length) ok = false;
  }
  return ok;
}

/** `artifacts prune [--keep N]`: keeps the patch of the config in use and the N newest. */
export async function artifactsPrune(ctx: ArtifactsContext & { keepNewest: number; dryRun: boolean }): Promise<void> {
  const root = ctx.cacheRoot ?? artifactsCacheDir(ctx.load.env);
  const { config } = readConfig(ctx.load);
  const inUse = fetchPatch(config.kubernetes.version);
  const r = await pruneCache(root, { keep: new Set([inUse]), keepNewest: ctx.keepNewest, dryRun: ctx.dryRun });
  for (const k of r.kept) ctx.print(`kept ${k}`);
  for (const p of r.removed) ctx.print(`${ctx.dryRun ? 'would remove' : 'removed'} ${p}`);
  ctx.print(`${ctx.dryRun ? 'would free' : 'freed'} ${formatBytes(r.freedBytes)} (the config in use needs v${inUse})`);
}
