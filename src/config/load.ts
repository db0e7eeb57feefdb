import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { CNI_IDS } from '../cni/index.js';
import { hostArch, loadCatalog } from '../distros.js';
import { checkArtifacts, resolveArtifactsDir, type OfflineArtifacts } from '../offline/artifacts.js';
import { offlineNeeds } from '../offline/needs.js';
import { DEFAULT_CONFIG_FILE } from '../layout.js';
import { PROVIDER_IDS } from '../providers/index.js';
import { envOverrides, flagOverrides, overrideSources, type FlagValues } from './flags.js';
import { API_VERSION, KIND, clusterSchema, type ClusterConfig } from './schema.js';
import { crossFieldChecks, type ValidationContext } from './validate.js';

export { DEFAULT_CONFIG_FILE } from '../layout.js';

export interface LoadOptions {
  /** `-c FILE`; without it ./cluster.yaml is used when it exists. */
  file?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by commander option key (see OVERRIDES in ./flags.ts). */
  flags?: FlagValues;
}

export interface LoadedConfig {
  config: ClusterConfig;
  /** offline.dir resolved and checked: the directory of the planned version and this architecture. */
  offline?: OfflineArtifacts;
  /** The config file read, if any. */
  file?: string;
  /** The cluster directory: the config file's directory, or the current directory. */
  dir: string;
  warnings: ConfigProblem[];
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
function schemaProblems(issues: readonly { path: PropertyKey[]; message: string; code: string; keys?: string[] }[], sources: Map<string, string>): ConfigProblem[] {
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
    const hint = hintFor(base);
    out.push({ path: source ? `${base} (from ${source})` : base || '(top level)', message: issue.message, ...(hint ? { hint } : {}) });
  }
  return out;
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
  const errors = parsed.success ? [] : schemaProblems(parsed.error.issues as never, sources);
  // Cross-field checks see defaults for absent fields, and skip fields that failed their own checks.
  const loose = parsed.success ? parsed.data : withDefaults(raw);
  const cross = crossFieldChecks(loose, ctx);
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

export function resolveConfigFile(file: string | undefined, cwd: string): string | undefined {
  if (file !== undefined) return resolve(cwd, file);
  const implicit = resolve(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(implicit) ? implicit : undefined;
}

/** Loads file, then environment, then flags (strongest last), and validates the result. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const file = resolveConfigFile(opts.file, cwd);
  let raw: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  if (file !== undefined) {
    if (!existsSync(file)) {
      throw new ConfigError([{ path: '-c', message: `config file ${file} does not exist`, hint: 'create one with `kubeadm-vagrant init`, or leave out -c to use defaults' }]);
    }
    const parsed = parseConfigText(readFileSync(file, 'utf8'));
    if (parsed.problems.length > 0) throw new ConfigError(parsed.problems, file);
    raw = parsed.raw;
  }
  if (file === undefined) {
    raw.apiVersion = API_VERSION;
    raw.kind = KIND;
  }

  const sources = new Map<string, string>();
  for (const o of [...envOverrides(opts.env ?? process.env), ...flagOverrides(opts.flags ?? {})]) {
    if ('problem' in o) {
      problems.push(o.problem);
      continue;
    }
    setIn(raw, o.path, o.value);
    sources.set(o.path.join('.'), o.source);
  }
  const { config, errors, warnings } = validateRaw(raw, defaultValidationContext(), sources);
  problems.push(...errors);
  if (problems.length > 0 || !config) throw new ConfigError(problems, file);
  const dir = file ? dirname(file) : cwd;
  const offline = config.offline.dir === '' ? undefined : loadOffline(config, resolve(dir, config.offline.dir), file);
  return { config, file, dir, warnings, ...(offline ? { offline } : {}) };
}

/** Resolves offline.dir (relative to the config file) and checks it holds what the config needs. */
function loadOffline(config: ClusterConfig, root: string, file: string | undefined): OfflineArtifacts {
  const { artifacts, problems } = resolveArtifactsDir(root, config.kubernetes.version, hostArch());
  if (artifacts) problems.push(...checkArtifacts(artifacts, offlineNeeds(config, artifacts.patch)));
  if (problems.length > 0 || !artifacts) throw new ConfigError(problems, file);
  return artifacts;
}
