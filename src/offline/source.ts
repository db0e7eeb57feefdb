import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { artifactsCacheDir } from '../cache.js';
import type { ClusterConfig } from '../config/schema.js';
import { hostArch, type Arch } from '../distros.js';
import type { ConfigProblem } from '../errors.js';
import { KNOWN_PATCHES, minorInfo, resolvePatch } from '../versions.js';
import { checkArtifacts, controlPlaneArchives, imagesIn, resolveArtifactsDir, type OfflineArtifacts } from './artifacts.js';
import { bakeSet } from './bake-set.js';
import { offlineNeeds } from './needs.js';

/**
 * Where a cluster's artifacts come from: the one place that decides it. Every cluster installs from
 * an artifacts directory of the `v<patch>/<arch>/` layout: `offline.dir` when the config names one
 * (the user's own, checked and never changed), else the host-side cache that `artifacts fetch` fills
 * (and `up`, `node add`, `upgrade` and `box build --bake` fill first with what is missing).
 * Loading a cluster (the version it runs) and `upgrade` (the version it goes to) both ask here.
 */

/** What a relative offline.dir resolves against (the config file's directory, else `base`), and the environment that places the cache. */
export interface ArtifactsWhere {
  file?: string;
  base: string;
  env?: NodeJS.ProcessEnv;
}

/** The directory that holds a cluster's `v<patch>/<arch>/` directories, and whose it is. */
export interface ArtifactsRoot {
  path: string;
  /** `offline.dir`: the user's directory, checked only; `cache`: the cache, fetched into when something is missing. */
  from: 'offline.dir' | 'cache';
}

/** offline.dir (relative to the config file, else to `base`) when set; else the cache's artifacts directory (KUBEADM_VAGRANT_CACHE moves it). */
export function artifactsRootOf(config: ClusterConfig, where: ArtifactsWhere): ArtifactsRoot {
  if (config.offline.dir !== '') return { path: resolve(where.file ? dirname(where.file) : where.base, config.offline.dir), from: 'offline.dir' };
  return { path: artifactsCacheDir(where.env), from: 'cache' };
}

/**
 * The patch the cache holds for a version: a patch as given, a minor's newest known patch
 * (KNOWN_PATCHES); undefined for a minor this version knows no images of (nothing can fetch it).
 */
export function cachedPatchOf(version: string): string | undefined {
  return minorInfo(version.split('.').slice(0, 2).join('.')) ? resolvePatch(version) : undefined;
}

/** What the cache lacks for a version, and the artifacts as they will be once fetched (a dry run plans with these). */
export interface MissingArtifacts {
  /** The cache's artifacts directory. */
  root: string;
  patch: string;
  arch: Arch;
  expected: OfflineArtifacts;
}

export interface ArtifactsLookup {
  /** The directory of the version and this host's architecture, checked to hold everything the cluster needs. */
  artifacts?: OfflineArtifacts;
  /** Otherwise what is wrong, each naming the file and the fix. */
  problems: ConfigProblem[];
  /** The cache lacks them, and fetching would fill them in (never set for offline.dir: the user's directory is only checked). */
  missing?: MissingArtifacts;
}

/** The command that fills the cache for a patch (the config's own needs no flag). */
function fetchCommand(patch: string, configVersion: string): string {
  return `kubeadm-vagrant artifacts fetch${patch === resolvePatch(configVersion) ? '' : ` --k8s-version ${patch}`}`;
}

/** The cache's problems, said as such: what it lacks, and the commands that fetch it. */
function cacheProblems(problems: readonly ConfigProblem[], root: string, patch: string, arch: Arch, configVersion: string): ConfigProblem[] {
  const hint = `run \`${fetchCommand(patch, configVersion)}\` (\`kubeadm-vagrant up\`, \`node add\` and \`upgrade\` fetch what is missing themselves; \`kubeadm-vagrant artifacts verify --fix\` repairs a damaged cache), or set offline.dir to an artifacts directory of your own`;
  const dir = join(root, `v${patch}`, arch);
  if (!existsSync(dir)) return [{ path: 'offline.dir', message: `is empty, so this cluster installs from the artifacts cache, and the cache has nothing for Kubernetes ${patch} on ${arch} yet (no ${dir})`, hint }];
  return problems.map((p) => ({ path: 'offline.dir', message: `is empty, so this cluster installs from the artifacts cache: ${p.message}`, hint }));
}

/**
 * The artifacts directory of a Kubernetes version for a cluster, checked to hold everything the
 * cluster needs for that version, listed in SHA256SUMS and built for this host's architecture; or
 * the problems, each naming the file and the fix. In offline.dir a minor takes the newest patch
 * present; in the cache, the newest patch this version knows (what `artifacts fetch` fetches).
 */
export function artifactsFor(config: ClusterConfig, version: string, where: ArtifactsWhere): ArtifactsLookup {
  const root = artifactsRootOf(config, where);
  const arch = hostArch();
  let wanted = version;
  if (root.from === 'cache') {
    const patch = cachedPatchOf(version);
    if (!patch) {
      return {
        problems: [{
          path: 'kubernetes.version',
          message: `${version}: the artifacts cache holds what \`kubeadm-vagrant artifacts fetch\` can fetch, and this version of kubeadm-vagrant does not know the images kubeadm ${version.split('.').slice(0, 2).join('.')} runs (it knows ${Object.keys(KNOWN_PATCHES).join(', ')})`,
          hint: 'set kubernetes.version to one of those, or offline.dir to an artifacts directory of your own that holds this version',
        }],
      };
    }
    wanted = patch;
  }
  const found = resolveArtifactsDir(root.path, wanted, arch);
  const checked = found.artifacts ? check(config, found.artifacts, root.from === 'cache') : found;
  if (checked.artifacts || root.from === 'offline.dir') return checked;
  const expected: OfflineArtifacts = { root: root.path, dir: join(root.path, `v${wanted}`, arch), patch: wanted, arch, containerd: config.runtime.containerd === 'release', sumsHash: '' };
  return { problems: cacheProblems(checked.problems, root.path, wanted, arch, config.kubernetes.version), missing: { root: root.path, patch: wanted, arch, expected } };
}

function check(config: ClusterConfig, artifacts: OfflineArtifacts, cache: boolean): ArtifactsLookup {
  const found = imagesIn(artifacts.dir);
  const needs = offlineNeeds(config, artifacts.patch);
  const problems = checkArtifacts(artifacts, needs, found);
  // A directory of the user's own may leave containerd out (the distro's is used then); the cache fetches it for runtime.containerd: release.
  if (cache && config.runtime.containerd === 'release' && !artifacts.containerd) {
    problems.push({ path: 'offline.dir', message: `${join(artifacts.dir, 'containerd')} is missing: runtime.containerd is release`, hint: 'see the layout in the README ("Artifacts")' });
  }
  if (problems.length > 0) return { problems };
  return { artifacts: { ...artifacts, controlPlaneArchives: controlPlaneArchives(found.images), bake: bakeSet(artifacts, needs, found.images) }, problems: [] };
}
