import { dirname } from 'node:path';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { readGenerated, readState, type RememberedOverride } from '../state.js';
import { defaultValidationContext, validateRaw, withDefaults } from './check.js';
import { getIn, sameValue, setIn } from './fields.js';
import { chooseConfigFile, configFileArg, readConfigText, sha256 } from './file.js';
import { envNearMisses, envOverrides, flagOverrides, remembersPath } from './flags.js';
import { displayValue as display } from './hints.js';
import { runningVersionApplied, withArtifacts } from './offline.js';
import type { LoadedConfig, LoadOptions, ReadConfig } from './options.js';
import { API_VERSION, KIND } from './schema.js';
import { setupProblem } from './validate.js';
import { parseConfigText } from './yaml.js';

/**
 * Loads what `generate` and `up` use: the file, then the variables and flags an earlier generate
 * of this cluster directory remembered, then the environment, then the flags (strongest last),
 * validated with the worker indices the directory has in use, and the artifacts of its version.
 */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  return withArtifacts(readConfig(opts));
}

/** loadConfig without the artifacts: what `artifacts fetch` fetches for, `config print` prints, and `up` reads before it fetches what is missing. */
export function readConfig(opts: LoadOptions = {}): ReadConfig {
  const cwd = opts.cwd ?? process.cwd();
  const given = configFileArg(opts.file, cwd);
  const dir = opts.clusterDir ?? (given ? dirname(given) : cwd);
  const record = readGenerated(dir);
  const { file, how, warnings: choosing } = chooseConfigFile(given, record, dir, cwd);
  let raw: Record<string, unknown> = { apiVersion: API_VERSION, kind: KIND };
  let fileSha256: string | undefined;
  if (file !== undefined) {
    const text = readConfigText(file, how);
    const parsed = parseConfigText(text);
    if (parsed.problems.length > 0) throw new ConfigError(parsed.problems, file);
    raw = parsed.raw;
    fileSha256 = sha256(text);
  }
  const fromFile = withDefaults(structuredClone(raw));
  const warnings: ConfigProblem[] = [...choosing, ...envNearMisses(opts.env ?? process.env)];
  // Variables and flags remembered for this cluster (another cluster's directory remembers nothing for this one).
  const name = fromFile.name;
  if (record && record.name !== name) {
    warnings.push({ path: 'name', message: `${dir} holds cluster "${record.name}", and this config is cluster "${String(name)}"`, hint: 'generate refuses to take over another cluster\'s directory: use another directory (-o DIR), or generate --force there after `kubeadm-vagrant destroy`' });
  }
  const remembered = record && record.name === name ? record.overrides : [];
  const changedFile = record !== undefined && record.fileSha256 !== fileSha256;

  // Remembered values first, then the environment, then the flags: the strongest is applied last.
  const problems: ConfigProblem[] = [];
  const applied: (RememberedOverride & { label: string })[] = remembered.map((o) => ({ ...o, label: `${o.source}, remembered` }));
  for (const o of [...envOverrides(opts.env ?? process.env), ...flagOverrides(opts.flags ?? {})]) {
    if ('problem' in o) problems.push(o.problem);
    else applied.push({ path: o.path.join('.'), source: o.source, value: o.value, label: o.source });
  }
  const sources = new Map<string, string>();
  const strongest = new Map<string, RememberedOverride>();
  for (const o of applied) {
    setIn(raw, o.path.split('.'), o.value);
    sources.set(o.path, o.label);
    strongest.set(o.path, { path: o.path, source: o.source, value: o.value });
  }
  // A remembered flag that still decides a field the file has changed since: said, not silently kept.
  for (const o of remembered) {
    const fileValue = getIn(fromFile, o.path.split('.'));
    if (!changedFile || sources.get(o.path) !== `${o.source}, remembered` || sameValue(fileValue, o.value)) continue;
    warnings.push({
      path: `${o.path} (from ${o.source}, remembered)`,
      message: `${file ?? 'the defaults'} now says ${display(o.path, fileValue)}, and ${display(o.path, o.value)} from ${o.source} given to an earlier generate is kept`,
      hint: `to use the file's value, give ${o.source} ${display(o.path, fileValue)} once (a value equal to the file's is not remembered)`,
    });
  }
  const state = readState(dir);
  const workers = state.workers;
  const { config: validated, errors, warnings: checked } = validateRaw(raw, { ...defaultValidationContext(), ...(workers ? { workerIndices: workers } : {}) }, sources);
  problems.push(...errors);
  warnings.push(...checked);
  // Once upgraded, the cluster runs the state's version, whatever the file says (a warning says so).
  const config = validated && runningVersionApplied(validated, state, sources, file, problems, warnings);
  const nothingToSetUp = opts.forUp && config ? setupProblem(config.setup, sources) : undefined;
  if (nothingToSetUp) problems.push(nothingToSetUp);
  if (problems.length > 0 || !config) throw new ConfigError(problems, file);
  opts.onWarnings?.(warnings);
  // Remember a variable or flag only where it says something the file does not.
  const remember = [...strongest.values()].filter((o) => remembersPath(o.path) && !sameValue(getIn(fromFile, o.path.split('.')), o.value));
  const where = { ...(file ? { file } : {}), base: cwd, env: opts.env ?? process.env };
  return { config, ...(file ? { file } : {}), dir, warnings, sources, remember, ...(fileSha256 ? { fileSha256 } : {}), where };
}
