import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, errorMessage, type ConfigProblem } from '../errors.js';
import { CNI_IDS } from '../cni/index.js';
import { hostArch, loadCatalog } from '../distros.js';
import { DEFAULT_CONFIG_FILE, HOST } from '../layout.js';
import { checkArtifacts, controlPlaneArchives, imagesIn, resolveArtifactsDir, type OfflineArtifacts } from '../offline/artifacts.js';
import { offlineNeeds } from '../offline/needs.js';
import { PROVIDER_IDS, providerFieldHint } from '../providers/index.js';
import { readGenerated, readState, type GeneratedRecord, type RememberedOverride } from '../state.js';
import { redactToken, TOKEN_PATTERN } from '../token.js';
import { fileSystemError } from '../write.js';
import { BOOLEAN_WORD_LIST } from './boolean.js';
import { envNearMisses, envOverrides, flagOverrides, overrideSources, remembersPath, shown, type FlagValues, type Override } from './flags.js';
import { API_VERSION, KIND, clusterSchema, type ClusterConfig } from './schema.js';
import { crossFieldChecks, setupProblem, type ValidationContext } from './validate.js';

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
  /** Check the config for `up` too (what it sets up: not nothing): `up` and `config validate`. */
  forUp?: boolean;
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

/** The most YAML alias expansions a config may make (yaml's resource-exhaustion guard). */
const MAX_YAML_ALIASES = 100;

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
  let value: unknown;
  try {
    // A few aliases are fine; thousands expanding into each other (a "billion laughs") are refused.
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    return { raw: {}, problems: [{ path: 'yaml', message: `cannot be read: ${errorMessage(err)}`, hint: `write the config without YAML aliases (*name) that expand into more than ${MAX_YAML_ALIASES} nodes` }] };
  }
  if (value === null || value === undefined) return { raw: {}, problems: [] };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { raw: {}, problems: [{ path: '(top level)', message: 'the config must be a YAML mapping', hint: 'start from `kubeadm-vagrant init`' }] };
  }
  return { raw: value as Record<string, unknown>, problems: [] };
}

/**
 * How to fix a field, shown under its problem: one hint for every source, or one for a value from
 * cluster.yaml and one for a value from a variable or flag (quoting, empty values: YAML's words).
 */
const FIELD_HINTS: Record<string, string | { file: string; outside: string }> = {
  apiVersion: 'the first line of cluster.yaml is `apiVersion: kubeadm-vagrant/v1alpha1`',
  kind: 'the second line of cluster.yaml is `kind: Cluster`',
  name: 'use a name such as demo or cka-lab',
  provider: { file: `set provider: ${PROVIDER_IDS.join(' or ')}`, outside: `give ${PROVIDER_IDS.join(' or ')}` },
  distro: { file: 'set distro to one of the catalog entries in boxes/catalog.json', outside: 'give one of the catalog entries in boxes/catalog.json' },
  box: { file: 'leave box empty to use the catalog\'s (kubeadm-vagrant/<distro>), or give the name of a box Vagrant has', outside: 'give the name of a box Vagrant has' },
  'kubernetes.version': { file: 'quote it, e.g. version: "1.37" (unquoted, YAML reads 1.30 as the number 1.3)', outside: 'give a minor such as 1.37 or a patch such as 1.37.2' },
  'kubernetes.cni': { file: `set cni: ${CNI_IDS.join(' or ')}`, outside: `give ${CNI_IDS.join(' or ')}` },
  'kubernetes.podSubnet': 'the default is 10.244.0.0/16',
  'kubernetes.serviceSubnet': 'the default is 10.96.0.0/12',
  'kubernetes.token': { file: 'leave it empty, or make one with `kubeadm-vagrant token generate`', outside: 'make one with `kubeadm-vagrant token generate`, or leave it out to have one generated' },
  'kubernetes.tokenTTL': 'the default is 24h',
  'network.masterIP': 'the default is 192.168.56.10',
  'network.workerIPStart': 'leave it empty to start after the master, or give an address in the master\'s /24',
  'controlPlane.cpus': 'kubeadm refuses a control plane with fewer than 2 CPUs; set 2 or more',
  'controlPlane.memory': 'kubeadm refuses a control plane with less than 1700 MiB; 2048 is a good minimum',
  'workers.count': 'a whole number from 0 up; all workers must fit in the master\'s /24',
  'workers.cpus': 'a whole number of CPUs, 1 or more',
  'workers.memory': 'MiB as a whole number; 1536 is a good minimum for a worker',
  'addons.dashboard': `${BOOLEAN_WORD_LIST} (any case)`,
  'setup.controlPlane': 'true, or false to add workers to a control plane that is already up',
  'setup.workers': 'true, or false to set up the control plane alone',
  setup: 'SETUP_MASTER=true SETUP_NODES=false for the control plane alone, then SETUP_MASTER=false SETUP_NODES=true for the workers',
  'mirrors.files': 'leave it empty to download from upstream, or give the base URL of a mirror that holds <host>/<path> of each release download',
  'mirrors.registries': 'map each registry host to its mirror: registry.k8s.io: http://10.0.0.2:5000/registry.k8s.io',
  'mirrors.manifests': 'a manifest file name and the sha256 you checked, e.g. tigera-operator.yaml: <64 hex digits>',
};

/**
 * The field's hint. For a value from cluster.yaml, with how to set it from the outside (flag,
 * variable) when it can be; for a value a variable or flag gave (`source`), the hint for that.
 */
export function hintFor(path: string, source?: string): string | undefined {
  const entry = FIELD_HINTS[path];
  const hint = typeof entry === 'string' ? entry : entry ? (source ? entry.outside : entry.file) : providerFieldHint(path);
  if (source) return hint;
  const sources = overrideSources(path);
  if (!hint) return sources ? `set it in cluster.yaml, or with ${sources}` : undefined;
  return sources ? `${hint} (or with ${sources})` : hint;
}

/** A value in a message: quoted (a trailing space shows), cut short when huge, and the token's secret never shown. */
export function displayValue(path: string, value: unknown): string {
  if (path === 'kubernetes.token' && typeof value === 'string') return TOKEN_PATTERN.test(value) ? `"${redactToken(value)}"` : `a token of ${value.length} characters (not shown)`;
  return shown(JSON.stringify(value) ?? String(value));
}

/** Whether a message shows the value already, visibly: quoted, or as a word of its own when it has no spaces at its ends. */
function showsValue(message: string, value: unknown): boolean {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined || text === '' || text.length > message.length) return false;
  if (message.includes(JSON.stringify(value))) return true;
  if (text.trim() !== text) return false;
  const boundary = (c: string | undefined) => c === undefined || /[\s(),:;"]/.test(c);
  for (let at = message.indexOf(text); at >= 0; at = message.indexOf(text, at + 1)) {
    if (boundary(message[at - 1]) && boundary(message[at + text.length])) return true;
  }
  return false;
}

/**
 * Turns zod's issues into problems with a dotted path, the offending value and a hint: the first
 * issue of each field only (one bad value, one error: a huge number is not also "not a fraction").
 */
function schemaProblems(
  issues: readonly { path: PropertyKey[]; message: string; code: string; keys?: string[]; params?: { hint?: string } }[],
  sources: Map<string, string>,
  raw: Record<string, unknown>,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const issue of issues) {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys ?? []) {
        out.push({ path: base ? `${base}.${key}` : key, message: 'unknown field', hint: 'check the spelling against `kubeadm-vagrant init` output or the README config reference' });
      }
      continue;
    }
    if (seen.has(base)) continue;
    seen.add(base);
    const source = sources.get(base);
    const value = getIn(raw, issue.path.map(String));
    const section = issue.code === 'invalid_type' && issue.path.length === 1 ? sectionProblem(base, value) : undefined;
    const hint = section?.hint ?? issue.params?.hint ?? hintFor(base, source?.replace(/, remembered$/, ''));
    const got = section || value === undefined || showsValue(issue.message, value) ? '' : `; got ${displayValue(base, value)}`;
    out.push({ path: source ? `${base} (from ${source})` : base || '(top level)', message: section?.message ?? `${issue.message}${got}`, ...(hint ? { hint } : {}) });
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
      throw new ConfigError([{ path: how, message: `config file ${file} does not exist`, hint: how === '-c' ? 'create one with `kubeadm-vagrant init`, or leave out -c to use defaults' : 'put it back, or give the config file with -c FILE' }]);
    }
    throw new ConfigError([{ path: how, message: errorMessage(fileSystemError(err, 'read', file)), hint: 'check the file and its permissions' }]);
  }
}

/**
 * The config file a directory was generated from, as a path to read now. generated.json records it
 * relative to the directory, so a moved or copied directory reads its own; an older version
 * recorded it absolute: such a path outside the directory, with a file of the same name inside it,
 * means the directory was moved or copied, and the file inside is the one (`movedFrom` says so).
 */
export function rememberedConfigFile(record: GeneratedRecord | undefined, dir: string): { file: string; movedFrom?: string } | undefined {
  if (!record?.file) return undefined;
  if (!isAbsolute(record.file)) return { file: resolve(dir, record.file) };
  const inside = relative(dir, record.file);
  if (!inside.startsWith('..') && !isAbsolute(inside)) return { file: record.file };
  const local = join(dir, basename(record.file));
  return existsSync(local) ? { file: local, movedFrom: record.file } : { file: record.file };
}

/** The remembered config file as generated.json stores it: relative to the cluster directory. */
export function rememberedPath(file: string, dir: string): string {
  return relative(dir, file);
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
const display = displayValue;

/**
 * The config file a load reads: -c FILE; else, in the cluster directory itself, the file it was
 * generated from (then ./cluster.yaml); else (-o elsewhere) ./cluster.yaml, then the file the
 * target directory was generated from. A remembered file that is gone gives way to ./cluster.yaml,
 * with a warning; with no ./cluster.yaml either, it is an error saying so.
 */
function chooseConfigFile(given: string | undefined, record: GeneratedRecord | undefined, dir: string, cwd: string): { file?: string; how: string; warnings: ConfigProblem[] } {
  if (given) return { file: given, how: '-c', warnings: [] };
  const implicit = resolve(cwd, DEFAULT_CONFIG_FILE);
  const local: { file: string; how: string; warnings: ConfigProblem[] } | undefined = existsSync(implicit) ? { file: implicit, how: DEFAULT_CONFIG_FILE, warnings: [] } : undefined;
  const found = rememberedConfigFile(record, dir);
  const how = `the config file ${dir} was generated from`;
  const warnings: ConfigProblem[] = [];
  if (found?.movedFrom) {
    warnings.push({
      path: HOST.generatedFile,
      message: `names ${found.movedFrom} (an older version recorded it absolute), outside this directory: the directory was moved or copied, so ${found.file} is read`,
      hint: 'the next `generate` (or `up`) records the config file relative to the directory',
    });
  }
  let remembered = found ? { file: found.file, how, warnings } : undefined;
  if (found && !existsSync(found.file)) {
    const gone = `${found.file}, the config file ${dir} was generated from (${HOST.generatedFile}), is gone`;
    if (!local) throw new ConfigError([{ path: how, message: `${gone}, and there is no ./${DEFAULT_CONFIG_FILE}`, hint: `put it back, give the config file with -c FILE, or write ./${DEFAULT_CONFIG_FILE} (\`kubeadm-vagrant init\`)` }]);
    remembered = undefined;
    local.warnings.push({ path: DEFAULT_CONFIG_FILE, message: `${gone}: ${implicit} is read instead`, hint: 'the next `generate` (or `up`) remembers this file' });
  }
  return (dir === cwd ? (remembered ?? local) : (local ?? remembered)) ?? { how: DEFAULT_CONFIG_FILE, warnings: [] };
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
  const workers = readState(dir).workers;
  const { config, errors, warnings: checked } = validateRaw(raw, { ...defaultValidationContext(), ...(workers ? { workerIndices: workers } : {}) }, sources);
  problems.push(...errors);
  warnings.push(...checked);
  const nothingToSetUp = opts.forUp && config ? setupProblem(config.setup, sources) : undefined;
  if (nothingToSetUp) problems.push(nothingToSetUp);
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
  const offline = offlineOf(parsed.data, recordFile, dir);
  opts.onWarnings?.(warnings);
  const sources = new Map(record.overrides.map((o) => [o.path, `${o.source}, remembered`]));
  return { config: parsed.data, ...(offline ? { offline } : {}), ...(recordFile ? { file: recordFile } : {}), dir, warnings, sources, remember: record.overrides, ...(record.fileSha256 ? { fileSha256: record.fileSha256 } : {}) };
}

/** offline.dir, when set, resolved relative to the config file (else the current directory) and checked. */
function offlineOf(config: ClusterConfig, file: string | undefined, cwd: string): OfflineArtifacts | undefined {
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
