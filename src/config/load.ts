import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, errorMessage, type ConfigProblem } from '../errors.js';
import { CNI_IDS } from '../cni/index.js';
import { hostArch, loadCatalog } from '../distros.js';
import { DEFAULT_CONFIG_FILE, HOST } from '../layout.js';
import type { OfflineArtifacts } from '../offline/artifacts.js';
import { artifactsFor } from '../offline/source.js';
import { PROVIDER_IDS } from '../providers/index.js';
import { readGenerated, readState, type ClusterState, type GeneratedRecord, type RememberedOverride } from '../state.js';
import { redactToken } from '../token.js';
import { withRunningVersion } from '../upgrade/versions.js';
import { fileSystemError } from '../write.js';
import { envOverrides, flagOverrides, overrideSources, remembersPath, shown, type FlagValues, type Override } from './flags.js';
import { API_VERSION, KIND, clusterSchema, type ClusterConfig } from './schema.js';
import { crossFieldChecks, type ValidationContext } from './validate.js';

export { DEFAULT_CONFIG_FILE } from '../layout.js';

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
}

export interface LoadedConfig {
  config: ClusterConfig;
  /** offline.dir resolved and checked: the directory of the planned version and this architecture. */
  offline?: OfflineArtifacts;
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
}

function setIn(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/** Reads a YAML config into a plain object; syntax errors come back with line and column. */
export function parseConfigText(text: string): { raw: Record<string, unknown>; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { uniqueKeys: true });
  const problems: ConfigProblem[] = doc.errors.map((e) => {
    const pos = e.linePos?.[0];
    return {
      path: pos ? `line ${pos.line}, column ${pos.col}` : 'yaml',
      message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      hint: 'fix the YAML syntax (indentation with spaces, a space after each ":")',
    };
  });
  if (problems.length > 0) return { raw: {}, problems };
  const value = doc.toJS() as unknown;
  if (value === null || value === undefined) return { raw: {}, problems: [] };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { raw: {}, problems: [{ path: '(top level)', message: 'the config must be a YAML mapping', hint: 'start from `kubeadm-vagrant init`' }] };
  }
  return { raw: value as Record<string, unknown>, problems: [] };
}

/** How to fix a field, shown under its problem. */
const FIELD_HINTS: Record<string, string> = {
  apiVersion: 'the first line of cluster.yaml is `apiVersion: kubeadm-vagrant/v1alpha1`',
  kind: 'the second line of cluster.yaml is `kind: Cluster`',
  name: 'use a name such as demo or cka-lab',
  provider: `set provider: ${PROVIDER_IDS.join(' or ')}`,
  distro: 'set distro to one of the catalog entries in boxes/catalog.json',
  box: 'leave box empty to use the catalog, or give a box name such as debian/bookworm64',
  'kubernetes.version': 'quote it, e.g. version: "1.33" (unquoted, YAML reads 1.30 as the number 1.3)',
  'kubernetes.cni': `set cni: ${CNI_IDS.join(' or ')}`,
  'kubernetes.podSubnet': 'the default is 10.244.0.0/16',
  'kubernetes.serviceSubnet': 'the default is 10.96.0.0/12',
  'kubernetes.token': 'leave it empty, or make one with `kubeadm-vagrant token generate`',
  'kubernetes.tokenTTL': 'the default is 24h',
  'network.masterIP': 'the default is 192.168.56.10 (inside VirtualBox\'s host-only range)',
  'network.workerIPStart': 'leave it empty to start after the master, or give an address in the master\'s /24',
  'controlPlane.cpus': 'kubeadm refuses a control plane with fewer than 2 CPUs; set 2 or more',
  'controlPlane.memory': 'kubeadm refuses a control plane with less than 1700 MiB; 2048 is a good minimum',
  'workers.count': 'a whole number from 0 up; all workers must fit in the master\'s /24',
  'workers.cpus': 'a whole number of CPUs, 1 or more',
  'workers.memory': 'MiB as a whole number; 1536 is a good minimum for a worker',
  'addons.dashboard': 'true or false',
  'setup.controlPlane': 'true, or false to add workers to a control plane that is already up',
  'setup.workers': 'true, or false to set up the control plane alone',
  setup: 'SETUP_MASTER=true SETUP_NODES=false for the control plane alone, then SETUP_MASTER=false SETUP_NODES=true for the workers',
  'libvirt.driver': 'kvm with hardware virtualization, qemu (slow) without',
};

/** The field's hint, and how to set it from the outside (flag, variable) when it can be. */
export function hintFor(path: string): string | undefined {
  const hint = FIELD_HINTS[path];
  const sources = overrideSources(path);
  if (!hint) return sources ? `set it in cluster.yaml, or with ${sources}` : undefined;
  return sources ? `${hint} (or with ${sources})` : hint;
}

/** Turns zod's issues into problems with a dotted path and a hint. */
function schemaProblems(issues: readonly { path: PropertyKey[]; message: string; code: string; keys?: string[] }[], sources: Map<string, string>, raw: Record<string, unknown>): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys ?? []) {
        out.push({ path: base ? `${base}.${key}` : key, message: 'unknown field', hint: 'check the spelling against `kubeadm-vagrant init` output or the README config reference' });
      }
      continue;
    }
    const source = sources.get(base);
    const section = issue.code === 'invalid_type' && issue.path.length === 1 ? sectionProblem(base, getIn(raw, [base])) : undefined;
    const hint = section?.hint ?? hintFor(base);
    out.push({ path: source ? `${base} (from ${source})` : base || '(top level)', message: section?.message ?? issue.message, ...(hint ? { hint } : {}) });
  }
  return out;
}

/** A single value where a section (a mapping) belongs, `workers: 3`: which field was probably meant, and how to write it. */
function sectionProblem(name: string, value: unknown): { message: string; hint: string } | undefined {
  const schema = (clusterSchema.shape as Record<string, { unwrap?: () => unknown }>)[name];
  const inner = schema?.unwrap?.() as { shape?: Record<string, { safeParse: (v: unknown) => { success: boolean } }> } | undefined;
  if (!inner?.shape || (typeof value === 'object' && value !== null)) return undefined;
  const fields = Object.keys(inner.shape);
  const meant = fields.find((f) => inner.shape![f]!.safeParse(value).success) ?? fields[0]!;
  return {
    message: `is a section with the fields ${fields.join(', ')}, not a single value`,
    hint: `write it as\n        ${name}:\n          ${meant}: ${shown(JSON.stringify(value) ?? String(value))}`,
  };
}

function getIn(obj: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((cur, k) => (typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined), obj);
}

/** A copy of the object without the fields at `paths` (fields that failed their own checks). */
function without(obj: Record<string, unknown>, paths: readonly (readonly PropertyKey[])[]): Record<string, unknown> {
  const copy = structuredClone(obj);
  for (const path of paths) {
    const parent = getIn(copy, path.slice(0, -1).map(String));
    if (typeof parent === 'object' && parent !== null && path.length > 0) delete (parent as Record<string, unknown>)[String(path[path.length - 1])];
  }
  return copy;
}

/** This host's view: the catalog shipped with the tool and this machine's architecture. */
export function defaultValidationContext(): ValidationContext {
  return { catalog: loadCatalog(), arch: hostArch() };
}

/** Validates a raw config object (after env and flags are applied): every problem at once. */
export function validateRaw(
  raw: Record<string, unknown>,
  ctx: ValidationContext = defaultValidationContext(),
  sources = new Map<string, string>(),
): { config?: ClusterConfig; errors: ConfigProblem[]; warnings: ConfigProblem[] } {
  const parsed = clusterSchema.safeParse(raw);
  const errors = parsed.success ? [] : schemaProblems(parsed.error.issues as never, sources, raw);
  // Cross-field checks see defaults for absent fields, and nothing of a field that failed its own
  // checks: one bad value gives one error, not follow-on errors about the fields it meets.
  const failed = parsed.success ? [] : parsed.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k]) : [i.path]));
  const loose = parsed.success ? parsed.data : without(withDefaults(raw), failed);
  const cross = crossFieldChecks(loose, { ...ctx, sources });
  errors.push(...cross.errors);
  return { config: errors.length === 0 && parsed.success ? parsed.data : undefined, errors, warnings: cross.warnings };
}

/** The raw object with every absent field taken from the defaults; present fields stay as given. */
function withDefaults(raw: Record<string, unknown>): Record<string, unknown> {
  const defaults = clusterSchema.parse({ apiVersion: API_VERSION, kind: KIND }) as unknown as Record<string, unknown>;
  const merge = (d: Record<string, unknown>, r: unknown): Record<string, unknown> => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return d;
    const out: Record<string, unknown> = { ...d };
    for (const [k, v] of Object.entries(r)) {
      const dv = d[k];
      out[k] = typeof dv === 'object' && dv !== null && !Array.isArray(dv) ? merge(dv as Record<string, unknown>, v) : v;
    }
    return out;
  };
  return merge(defaults, raw);
}

/** The absolute path `-c` names; an empty one is refused rather than read as the current directory. */
function configFileArg(file: string | undefined, cwd: string): string | undefined {
  if (file === undefined) return undefined;
  if (file.trim() === '') throw new ConfigError([{ path: '-c', message: 'needs the path of a config file, and got an empty string', hint: 'give -c cluster.yaml, or leave out -c' }]);
  return resolve(cwd, file);
}

/** The text of a config file; a missing, unreadable or wrong kind of file is a config error naming it. */
function readConfigText(file: string, how: string): string {
  try {
    if (statSync(file).isDirectory()) {
      throw new ConfigError([{ path: how, message: `${file} is a directory, not a config file`, hint: `give the file in it, e.g. ${join(file, DEFAULT_CONFIG_FILE)}` }]);
    }
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError([{ path: how, message: `config file ${file} does not exist`, hint: 'create one with `kubeadm-vagrant init`, or leave out -c to use defaults' }]);
    }
    throw new ConfigError([{ path: how, message: errorMessage(fileSystemError(err, 'read', file)), hint: 'check the file and its permissions' }]);
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
function fileHashOrUndefined(file: string): string | undefined {
  try {
    return sha256(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
/** A field's value in a message: cut short when huge, and the token's secret never shown. */
const display = (path: string, value: unknown) => (path === 'kubernetes.token' && typeof value === 'string' ? redactToken(value) : shown(typeof value === 'string' ? value : JSON.stringify(value)));

/**
 * The config file a load reads: -c FILE; else, in the cluster directory itself, the file it was
 * generated from (then ./cluster.yaml); else (-o elsewhere) ./cluster.yaml, then the file the
 * target directory was generated from.
 */
function chooseConfigFile(given: string | undefined, record: GeneratedRecord | undefined, dir: string, cwd: string): { file?: string; how: string } {
  if (given) return { file: given, how: '-c' };
  const implicit = resolve(cwd, DEFAULT_CONFIG_FILE);
  const remembered = record?.file ? { file: record.file, how: `the config file ${dir} was generated from` } : undefined;
  const local = existsSync(implicit) ? { file: implicit, how: DEFAULT_CONFIG_FILE } : undefined;
  return (dir === cwd ? (remembered ?? local) : (local ?? remembered)) ?? { how: DEFAULT_CONFIG_FILE };
}

/**
 * Loads what `generate` and `up` use: the file, then the variables and flags an earlier generate
 * of this cluster directory remembered, then the environment, then the flags (strongest last),
 * and validates the result with the worker indices the directory has in use.
 */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const given = configFileArg(opts.file, cwd);
  const dir = opts.clusterDir ?? (given ? dirname(given) : cwd);
  const record = readGenerated(dir);
  const { file, how } = chooseConfigFile(given, record, dir, cwd);
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
  const warnings: ConfigProblem[] = [];
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
  const config = validated && runningVersionApplied(validated, state, sources, file, problems, warnings);
  if (problems.length > 0 || !config) throw new ConfigError(problems, file);
  const offline = offlineOf(config, file, cwd);
  opts.onWarnings?.(warnings);
  // Remember a variable or flag only where it says something the file does not.
  const remember = [...strongest.values()].filter((o) => remembersPath(o.path) && !sameValue(getIn(fromFile, o.path.split('.')), o.value));
  return { config, ...(offline ? { offline } : {}), ...(file ? { file } : {}), dir, warnings, sources, remember, ...(fileSha256 ? { fileSha256 } : {}) };
}

/**
 * Loads what the commands that act on a generated cluster use (verify, status, ssh, kubeconfig,
 * destroy, node, token): the config the last generate of the directory used, recorded in
 * .kubeadm-vagrant/generated.json. A variable or flag given now that disagrees with it is an
 * error naming both values: acting on other addresses or another worker count than the machines
 * have would check, reach or destroy the wrong machines. A directory generated before this record
 * existed is loaded as `generate` would load it.
 */
export function loadGenerated(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const given = configFileArg(opts.file, cwd);
  const dir = given ? dirname(given) : cwd;
  const record = readGenerated(dir);
  if (!record) return loadConfig(opts);
  const from = record.file ?? 'the defaults (no config file)';
  if (given && given !== record.file) {
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
  if (problems.length > 0) throw new ConfigError(problems, record.file);
  const parsed = clusterSchema.safeParse(record.config);
  if (!parsed.success) {
    throw new ConfigError([{ path: join(dir, HOST.generatedFile), message: 'holds a config this version of kubeadm-vagrant does not accept', hint: 'run `kubeadm-vagrant generate` (or `up`) again' }]);
  }
  const warnings: ConfigProblem[] = [];
  // Generated before the last upgrade (or during it): the cluster's version is the state's.
  const config = runningVersionApplied(parsed.data, readState(dir), new Map(), undefined, problems, []);
  if (problems.length > 0 || !config) throw new ConfigError(problems, record.file);
  const now = record.file ? fileHashOrUndefined(record.file) : undefined;
  if (record.file && now !== record.fileSha256) {
    warnings.push({ path: record.file, message: `${now ? 'has changed' : 'is gone or unreadable'} since the last generate; this command acts on the cluster as generated`, hint: 'run `kubeadm-vagrant generate` (or `up`) to apply the file to the cluster' });
  }
  const offline = offlineOf(config, record.file, dir);
  opts.onWarnings?.(warnings);
  const sources = new Map(record.overrides.map((o) => [o.path, `${o.source}, remembered`]));
  return { config, ...(offline ? { offline } : {}), ...(record.file ? { file: record.file } : {}), dir, warnings, sources, remember: record.overrides, ...(record.fileSha256 ? { fileSha256: record.fileSha256 } : {}) };
}

/** The artifacts of the cluster's version, when offline.dir is set (src/offline/source.ts), checked. */
function offlineOf(config: ClusterConfig, file: string | undefined, base: string): OfflineArtifacts | undefined {
  if (config.offline.dir === '') return undefined;
  const { artifacts, problems } = artifactsFor(config, config.kubernetes.version, { ...(file ? { file } : {}), base });
  if (!artifacts) throw new ConfigError(problems, file);
  return artifacts;
}

/**
 * The config with the version the cluster runs once it was upgraded (the state's; see
 * src/upgrade/versions.ts); its warnings and errors join the others. Undefined on an error.
 */
function runningVersionApplied(config: ClusterConfig, state: ClusterState, sources: Map<string, string>, file: string | undefined, problems: ConfigProblem[], warnings: ConfigProblem[]): ClusterConfig | undefined {
  const path = 'kubernetes.version';
  const r = withRunningVersion(config.kubernetes.version, state, sources.get(path), file);
  problems.push(...r.errors);
  warnings.push(...r.warnings);
  if (r.errors.length > 0) return undefined;
  if (r.source) sources.set(path, r.source);
  return r.version === config.kubernetes.version ? config : { ...config, kubernetes: { ...config.kubernetes, version: r.version } };
}
