import type { ConfigProblem } from '../errors.js';
import type { OfflineArtifacts } from '../offline/artifacts.js';
import type { ArtifactsWhere } from '../offline/source.js';
import type { RememberedOverride } from '../state.js';
import type { FlagValues } from './flags.js';
import type { ClusterConfig } from './schema.js';

/** What a load is asked (the sources besides the file) and what it gives. */

export interface LoadOptions {
  /** `-c FILE`; without it the file the cluster directory was generated from, else ./cluster.yaml when it exists. */
  file?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by commander option key (see OVERRIDES in ./flags.ts). */
  flags?: FlagValues;
  /** The cluster directory when it is not the config file's (`generate -o DIR`). */
  clusterDir?: string;
  /** Hears the warnings as soon as they are known (the CLI prints each once). */
  onWarnings?: (warnings: ConfigProblem[]) => void;
  /** Check the config for `up` too (what it sets up: not nothing): `up` and `config validate`. */
  forUp?: boolean;
}

/** A config read and validated, before its artifacts are looked for (what `artifacts fetch`, `config print` and `up` before its fetch use). */
export interface ReadConfig {
  config: ClusterConfig;
  /** The config file read, if any. */
  file?: string;
  /** The cluster directory: -o DIR, else the config file's directory, else the current directory. */
  dir: string;
  warnings: ConfigProblem[];
  /** Where each value set from outside the file came from, by dotted path (`--master-ip`, `MASTER_IP, remembered`). */
  sources: Map<string, string>;
  /** The variables and flags a generate from this load remembers: the strongest per field, where it differs from the file. */
  remember: RememberedOverride[];
  /** SHA-256 of the config file's text, to tell later that it has changed. */
  fileSha256?: string;
  /** Where its artifacts are looked for (src/offline/source.ts): what a relative offline.dir resolves against, the environment that places the cache. */
  where: ArtifactsWhere;
}

/** A config with its artifacts: what every command that plans the cluster uses. */
export interface LoadedConfig extends ReadConfig {
  /** The artifacts directory of the planned version and this architecture (offline.dir's, or the cache's), checked. */
  offline: OfflineArtifacts;
}
