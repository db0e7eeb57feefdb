import { dirname, join } from 'node:path';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { HOST } from '../layout.js';
import { readGenerated, readState } from '../state.js';
import { readConfig } from './effective.js';
import { getIn, sameValue } from './fields.js';
import { configFileArg, fileHashOrUndefined, rememberedConfigFile } from './file.js';
import { envNearMisses, envOverrides, flagOverrides, remembersPath, type Override } from './flags.js';
import { displayValue as display } from './hints.js';
import { runningVersionApplied, withArtifacts } from './offline.js';
import type { LoadedConfig, LoadOptions, ReadConfig } from './options.js';
import { clusterSchema } from './schema.js';

/**
 * Loads what the commands that act on a generated cluster use (verify, status, ssh, kubeconfig,
 * destroy, node, token): the config the last generate of the directory used, recorded in
 * .kubeadm-vagrant/generated.json. A variable or flag given now that disagrees with it is an
 * error naming both values: acting on other addresses or another worker count than the machines
 * have would check, reach or destroy the wrong machines. A directory generated before this record
 * existed is loaded as `generate` would load it. With the artifacts of the cluster's version.
 */
export function loadGenerated(opts: LoadOptions = {}): LoadedConfig {
  return withArtifacts(readGeneratedConfig(opts));
}

/** loadGenerated without the artifacts (what `node add` and `upgrade` read before they fetch what is missing, and `destroy`). */
export function readGeneratedConfig(opts: LoadOptions = {}): ReadConfig {
  const cwd = opts.cwd ?? process.cwd();
  const given = configFileArg(opts.file, cwd);
  const dir = given ? dirname(given) : cwd;
  const record = readGenerated(dir);
  if (!record) return readConfig(opts);
  const remembered = rememberedConfigFile(record, dir);
  const recordFile = remembered?.file;
  const from = recordFile ?? 'the defaults (no config file)';
  if (given && given !== recordFile) {
    throw new ConfigError([{ path: '-c', message: `${dir} holds cluster "${record.name}", generated from ${from}, not from ${given}`, hint: `leave out -c to act on the cluster as generated, or run \`kubeadm-vagrant generate -c ${given}\` to generate it from this file` }]);
  }
  const problems: ConfigProblem[] = [];
  const strongest = new Map<string, Override & { value: unknown }>();
  for (const o of [...envOverrides(opts.env ?? process.env), ...flagOverrides(opts.flags ?? {})]) {
    if ('problem' in o) problems.push(o.problem);
    else strongest.set(o.path.join('.'), o);
  }
  const generatedFrom = new Map(record.overrides.map((o) => [o.path, o.source]));
  for (const [path, o] of strongest) {
    const generated = getIn(record.config, o.path as string[]);
    // What `up` sets up this time (SETUP_MASTER, SETUP_NODES) is not part of the cluster as generated.
    if (!remembersPath(path) || sameValue(o.value, generated)) continue;
    problems.push({
      path: `${path} (from ${o.source})`,
      message: `${display(path, o.value)} disagrees with the cluster as generated: ${display(path, generated)} (from ${generatedFrom.get(path) ?? from})`,
      hint: `this command acts on the cluster as \`generate\` (or \`up\`) made it; to change the cluster, run \`kubeadm-vagrant generate\` with ${o.source} ${display(path, o.value)}, otherwise leave out ${o.source}`,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems, recordFile);
  const parsed = clusterSchema.safeParse(record.config);
  if (!parsed.success) {
    throw new ConfigError([{ path: join(dir, HOST.generatedFile), message: 'holds a config this version of kubeadm-vagrant does not accept', hint: 'run `kubeadm-vagrant generate` (or `up`) again' }]);
  }
  const warnings: ConfigProblem[] = envNearMisses(opts.env ?? process.env);
  const now = recordFile ? fileHashOrUndefined(recordFile) : undefined;
  if (recordFile && now !== record.fileSha256) {
    warnings.push({ path: recordFile, message: `${now ? 'has changed' : 'is gone or unreadable'} since the last generate; this command acts on the cluster as generated`, hint: 'run `kubeadm-vagrant generate` (or `up`) to apply the file to the cluster' });
  }
  // Generated before the last upgrade (or during it): the cluster's version is the state's.
  const upgraded: ConfigProblem[] = [];
  const config = runningVersionApplied(parsed.data, readState(dir), new Map(), undefined, upgraded, []);
  if (upgraded.length > 0 || !config) throw new ConfigError(upgraded, recordFile);
  opts.onWarnings?.(warnings);
  const sources = new Map(record.overrides.map((o) => [o.path, `${o.source}, remembered`]));
  const where = { ...(recordFile ? { file: recordFile } : {}), base: dir, env: opts.env ?? process.env };
  return { config, ...(recordFile ? { file: recordFile } : {}), dir, warnings, sources, remember: record.overrides, ...(record.fileSha256 ? { fileSha256: record.fileSha256 } : {}), where };
}
