import { dirname, resolve } from 'node:path';
import type { ClusterConfig } from '../config/schema.js';
import { hostArch } from '../distros.js';
import type { ConfigProblem } from '../errors.js';
import { checkArtifacts, controlPlaneArchives, imagesIn, resolveArtifactsDir, type OfflineArtifacts } from './artifacts.js';
import { bakeSet } from './bake-set.js';
import { offlineNeeds } from './needs.js';

/**
 * Where a cluster's artifacts come from: the one place that decides it. Loading a cluster (the
 * version it runs) and `upgrade` (the version it goes to) both ask here; pointing a cluster at
 * another source of the same `v<patch>/<arch>/` layout (a host-side cache) is a change to
 * artifactsRootOf alone.
 */

/** The directory that holds a cluster's `v<patch>/<arch>/` directories: today offline.dir, relative to the config file (else to `base`); none online. */
export function artifactsRootOf(config: ClusterConfig, configFile: string | undefined, base: string): string | undefined {
  return config.offline.dir === '' ? undefined : resolve(configFile ? dirname(configFile) : base, config.offline.dir);
}

/**
 * The artifacts directory of a Kubernetes version for a cluster (a minor takes its newest patch
 * there), checked to hold everything the cluster needs for that version, listed in SHA256SUMS and
 * built for this host's architecture; or the problems, each naming the file and the fix.
 */
export function artifactsFor(config: ClusterConfig, version: string, where: { file?: string; base: string }): { artifacts?: OfflineArtifacts; problems: ConfigProblem[] } {
  const root = artifactsRootOf(config, where.file, where.base);
  if (!root) return { problems: [{ path: 'offline.dir', message: 'is empty: this cluster installs from the package repositories, not from an artifacts directory', hint: 'set offline.dir to the directory that holds v<version>/<arch>/' }] };
  const { artifacts, problems } = resolveArtifactsDir(root, version, hostArch());
  if (!artifacts) return { problems };
  const found = imagesIn(artifacts.dir);
  const needs = offlineNeeds(config, artifacts.patch);
  const checked = checkArtifacts(artifacts, needs, found);
  if (checked.length > 0) return { problems: checked };
  return { artifacts: { ...artifacts, controlPlaneArchives: controlPlaneArchives(found.images), bake: bakeSet(artifacts, needs, found.images) }, problems: [] };
}
