import { ConfigError, type ConfigProblem } from '../errors.js';
import { artifactsFor } from '../offline/source.js';
import type { ClusterState } from '../state.js';
import { withRunningVersion } from '../upgrade/versions.js';
import type { LoadedConfig, ReadConfig } from './options.js';
import type { ClusterConfig } from './schema.js';

/**
 * A read config with the artifacts of its version (src/offline/source.ts decides where from),
 * checked; what is missing is a ConfigError naming it and the command that fetches it. Nothing is
 * fetched here: `up` and the other commands that may download call src/steps/artifacts.ts
 * ensureArtifacts first.
 */
export function withArtifacts(read: ReadConfig): LoadedConfig {
  const { artifacts, problems } = artifactsFor(read.config, read.config.kubernetes.version, read.where);
  if (!artifacts) throw new ConfigError(problems, read.file);
  return { ...read, offline: artifacts };
}

/**
 * withArtifacts, except that artifacts the cache lacks are those it will hold once fetched (their
 * checksums unknown yet): what a dry run plans with, `up` checks its request against before it
 * fetches, and `destroy` needs (nothing is installed from them). What a fetch cannot fix is still
 * a ConfigError.
 */
export function withExpectedArtifacts(read: ReadConfig): LoadedConfig {
  const { artifacts, problems, missing } = artifactsFor(read.config, read.config.kubernetes.version, read.where);
  const offline = artifacts ?? missing?.expected;
  if (!offline) throw new ConfigError(problems, read.file);
  return { ...read, offline };
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
