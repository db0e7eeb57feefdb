/**
 * Loading a config, one job per module (this one only gathers them, under the names the rest of
 * the tool imports):
 * - ./yaml.ts: YAML text → a raw object (syntax errors with line and column, alias bombs refused);
 * - ./file.ts: which config file a load reads (-c, the remembered one, ./cluster.yaml) and reading it;
 * - ./effective.ts: loadConfig, what `generate` and `up` use: the file, then the remembered
 *   variables and flags, the environment and the flags, validated;
 * - ./generated.ts: loadGenerated, what the other commands act on: the cluster as generated;
 * - ./check.ts: validateRaw, the schema's problems and those between fields (./validate.ts);
 * - ./hints.ts: what a problem says beyond zod's words (hints, the offending value);
 * - ./offline.ts: the artifacts of the config's version (src/offline/source.ts: offline.dir, else the cache), checked;
 * - ./schema.ts the fields and their defaults, ./flags.ts the variables and flags.
 * A new field is its schema (with its default) in ./schema.ts and its hint in ./hints.ts.
 */
export { DEFAULT_CONFIG_FILE } from '../layout.js';
export { defaultValidationContext, validateRaw } from './check.js';
export { loadConfig, readConfig } from './effective.js';
export { rememberedConfigFile, rememberedPath } from './file.js';
export { loadGenerated, readGeneratedConfig } from './generated.js';
export { displayValue, hintFor } from './hints.js';
export { withArtifacts, withExpectedArtifacts } from './offline.js';
export type { LoadedConfig, LoadOptions, ReadConfig } from './options.js';
export { parseConfigText } from './yaml.js';
