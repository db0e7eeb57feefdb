import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { API_VERSION, KIND, clusterSchema, type ClusterConfig } from './schema.js';
import { crossFieldChecks } from './validate.js';

export const DEFAULT_CONFIG_FILE = 'cluster.yaml';

/** Flags that override config fields (strongest of all sources). */
export interface ConfigFlags {
  masterIp?: string;
  workers?: string;
  podCidr?: string;
  token?: string;
  box?: string;
  provider?: string;
  distro?: string;
  k8sVersion?: string;
  cni?: string;
}

export interface LoadOptions {
  /** `-c FILE`; without it ./cluster.yaml is used when it exists. */
  file?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  flags?: ConfigFlags;
}

export interface LoadedConfig {
  config: ClusterConfig;
  /** The config file read, if any. */
  file?: string;
  /** The cluster directory: the config file's directory, or the current directory. */
  dir: string;
  warnings: ConfigProblem[];
}

type Override = { source: string; path: string[]; value: unknown } | { source: string; path: string[]; problem: ConfigProblem };

function integer(source: string, path: string[], text: string): Override {
  if (!/^-?\d+$/.test(text.trim())) {
    return { source, path, problem: { path: `${path.join('.')} (from ${source})`, message: `"${text}" is not a whole number`, hint: `set ${source} to a number such as 2` } };
  }
  return { source, path, value: Number(text) };
}

function boolean(source: string, path: string[], text: string): Override {
  const t = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(t)) return { source, path, value: true };
  if (['false', '0', 'no', 'off', ''].includes(t)) return { source, path, value: false };
  return { source, path, problem: { path: `${path.join('.')} (from ${source})`, message: `"${text}" is not true or false`, hint: `set ${source} to true or false` } };
}

/** The classic variables of the original kubeadm-vagrant Vagrantfile. */
function envOverrides(env: NodeJS.ProcessEnv): Override[] {
  const out: Override[] = [];
  const has = (k: string) => env[k] !== undefined && env[k] !== '';
  if (has('MASTER_IP')) out.push({ source: 'MASTER_IP', path: ['network', 'masterIP'], value: env.MASTER_IP });
  if (has('NODE_IP_NW')) {
    const prefix = env.NODE_IP_NW!;
    if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}\.$/.test(prefix)) {
      out.push({
        source: 'NODE_IP_NW',
        path: ['network', 'workerIPStart'],
        problem: { path: 'network.workerIPStart (from NODE_IP_NW)', message: `"${prefix}" is not a network prefix`, hint: 'give the first three octets and a dot, such as 192.168.56. (workers start at .11)' },
      });
    } else {
      out.push({ source: 'NODE_IP_NW', path: ['network', 'workerIPStart'], value: `${prefix}11` });
    }
  }
  if (has('NODE_COUNT')) out.push(integer('NODE_COUNT', ['workers', 'count'], env.NODE_COUNT!));
  if (has('POD_NW_CIDR')) out.push({ source: 'POD_NW_CIDR', path: ['kubernetes', 'podSubnet'], value: env.POD_NW_CIDR });
  if (has('KUBETOKEN')) out.push({ source: 'KUBETOKEN', path: ['kubernetes', 'token'], value: env.KUBETOKEN });
  if (has('BOX_IMAGE')) out.push({ source: 'BOX_IMAGE', path: ['box'], value: env.BOX_IMAGE });
  if (has('K8S_DASHBOARD')) out.push(boolean('K8S_DASHBOARD', ['addons', 'dashboard'], env.K8S_DASHBOARD!));
  return out;
}

function flagOverrides(flags: ConfigFlags): Override[] {
  const out: Override[] = [];
  const set = (flag: string, path: string[], v: string | undefined) => {
    if (v !== undefined) out.push({ source: flag, path, value: v });
  };
  set('--master-ip', ['network', 'masterIP'], flags.masterIp);
  if (flags.workers !== undefined) out.push(integer('--workers', ['workers', 'count'], flags.workers));
  set('--pod-cidr', ['kubernetes', 'podSubnet'], flags.podCidr);
  set('--token', ['kubernetes', 'token'], flags.token);
  set('--box', ['box'], flags.box);
  set('--provider', ['provider'], flags.provider);
  set('--distro', ['distro'], flags.distro);
  set('--k8s-version', ['kubernetes', 'version'], flags.k8sVersion);
  set('--cni', ['kubernetes', 'cni'], flags.cni);
  return out;
}

function setIn(obj: Record<string, unknown>, path: string[], value: unknown): void {
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
  provider: 'set provider: virtualbox or provider: libvirt (or --provider)',
  distro: 'set distro to one of the catalog entries in boxes/catalog.json',
  box: 'leave box empty to use the catalog, or give a box name such as debian/bookworm64',
  'kubernetes.version': 'quote it, e.g. version: "1.33" (unquoted, YAML reads 1.30 as the number 1.3)',
  'kubernetes.cni': 'set cni: flannel or cni: calico',
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
  'libvirt.driver': 'kvm with hardware virtualization, qemu (slow) without',
};

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
    const hint = FIELD_HINTS[base];
    out.push({ path: source ? `${base} (from ${source})` : base || '(top level)', message: issue.message, ...(hint ? { hint } : {}) });
  }
  return out;
}

/** Validates a raw config object (after env and flags are applied): every problem at once. */
export function validateRaw(raw: Record<string, unknown>, sources = new Map<string, string>()): { config?: ClusterConfig; errors: ConfigProblem[]; warnings: ConfigProblem[] } {
  const parsed = clusterSchema.safeParse(raw);
  const errors = parsed.success ? [] : schemaProblems(parsed.error.issues as never, sources);
  // Cross-field checks see defaults for absent fields, and skip fields that failed their own checks.
  const loose = parsed.success ? parsed.data : withDefaults(raw);
  const cross = crossFieldChecks(loose);
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
  const { config, errors, warnings } = validateRaw(raw, sources);
  problems.push(...errors);
  if (problems.length > 0 || !config) throw new ConfigError(problems, file);
  return { config, file, dir: file ? dirname(file) : cwd, warnings };
}
