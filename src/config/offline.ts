import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { hostArch } from '../distros.js';
import { checkArtifacts, controlPlaneArchives, imagesIn, resolveArtifactsDir, type OfflineArtifacts } from '../offline/artifacts.js';
import { offlineNeeds } from '../offline/needs.js';
import type { ClusterConfig } from './schema.js';

/** offline.dir, when set, resolved relative to the config file (else the current directory) and checked. */
export function offlineOf(config: ClusterConfig, file: string | undefined, cwd: string): OfflineArtifacts | undefined {
  return config.offline.dir === '' ? undefined : loadOffline(config, resolve(file ? dirname(file) : cwd, config.offline.dir), file);
}

/** Resolves offline.dir (relative to the config file) and checks it holds what the config needs. */
function loadOffline(config: ClusterConfig, root: string, file: string | undefined): OfflineArtifacts {
  const { artifacts, problems } = resolveArtifactsDir(root, config.kubernetes.version, hostArch());
  if (!artifacts) throw new ConfigError(problems, file);
  const found = imagesIn(artifacts.dir);
  problems.push(...checkArtifacts(artifacts, offlineNeeds(config, artifacts.patch), found));
  if (problems.length > 0) throw new ConfigError(problems, file);
  return { ...artifacts, controlPlaneArchives: controlPlaneArchives(found.images) };
}
