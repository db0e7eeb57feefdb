import { CNI_IDS } from '../cni/index.js';
import type { ConfigProblem } from '../errors.js';
import { PROVIDER_IDS, providerFieldHint } from '../providers/index.js';
import { redactToken, TOKEN_PATTERN } from '../token.js';
import { BOOLEAN_WORD_LIST } from './boolean.js';
import { getIn } from './fields.js';
import { overrideSources, shown } from './flags.js';
import { clusterSchema } from './schema.js';

/**
 * What a config problem says beyond zod's words: each field's hint (a new field is a line in
 * FIELD_HINTS, next to its schema in ./schema.ts), the offending value quoted, one problem per field.
 */

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
  box: { file: 'leave box empty to use the catalog\'s (kubeadm-vagrant/<distro>, built by `kubeadm-vagrant box build`), or give the name of a box Vagrant has', outside: 'give the name of a box Vagrant has' },
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
  bake: `${BOOLEAN_WORD_LIST} (any case): true uses a box with this cluster's Kubernetes baked in (box build --bake), built by up when missing`,
  'setup.controlPlane': 'true, or false to add workers to a control plane that is already up',
  'setup.workers': 'true, or false to set up the control plane alone',
  setup: 'SETUP_MASTER=true SETUP_NODES=false for the control plane alone, then SETUP_MASTER=false SETUP_NODES=true for the workers',
  'mirrors.files': {
    file: 'leave it empty to download from upstream, or give the base URL of a mirror that holds <host>/<path> of each release download',
    outside: 'give the base URL of a mirror that holds <host>/<path> of each release download, such as http://10.0.0.2:8080',
  },
  'mirrors.registries': {
    file: 'map each registry host to its mirror: registry.k8s.io: http://10.0.0.2:5000/registry.k8s.io',
    outside: 'give HOST=URL once per registry, such as registry.k8s.io=http://10.0.0.2:5000/registry.k8s.io',
  },
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
export function schemaProblems(
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
