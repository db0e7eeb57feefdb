import { ConfigError, type ConfigProblem } from '../errors.js';
import type { OfflineArtifacts } from '../offline/artifacts.js';
import { artifactsFor } from '../offline/source.js';
import type { ClusterState } from '../state.js';
import { withRunningVersion } from '../upgrade/versions.js';
import type { ClusterConfig } from './schema.js';

/** The artifacts of the cluster's version, when offline.dir is set (src/offline/source.ts decides where), checked. */
export function offlineOf(config: ClusterConfig, file: string | undefined, base: string): OfflineArtifacts | undefined {
  if (config.offline.dir === '') return undefined;
  const { artifacts, problems } = artifactsFor(config, config.kubernetes.version, { ...(file ? { file } : {}), base });
  if (!artifacts) throw new ConfigError(problems, file);
  return artifacts;
}

/**
 * The config with the version the cluster runs once it was upgraded (the state's; see
 * src/upgrade/versions.ts); its warnings and errors join the others. Undefined on an error.
 */
export function runningVersionApplied(config: ClusterConfig, state: ClusterState, sources: Map<string, string>, file: string | undefined, problems: ConfigProblem[], warnings: ConfigProblem[]): ClusterConfig | undefined {
  const path = 'kubernetes.version';
  const r = withRunningVersion(config.kubernetes.version, state, sources.get(path), file);
  problems.push(...r.errors);
  warnings.push(...r.warnings);
  if (r.errors.length > 0) return undefined;
  if (r.source) sources.set(path, r.source);
  return r.version === config.kubernetes.version ? config : { ...config, kubernetes: { ...config.kubernetes, version: r.version } };
}
