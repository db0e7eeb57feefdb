import type { ConfigProblem } from '../errors.js';
import { BOOLEAN_WORD_LIST, booleanOf } from './boolean.js';
import { CNI_IDS } from '../cni/index.js';
import { distroIds } from '../distros.js';
import { PROVIDER_IDS } from '../providers/index.js';

/**
 * The config fields that flags and the classic environment variables of the original
 * kubeadm-vagrant Vagrantfile can set. This table is their only definition: the commander options,
 * the overrides applied when loading, the help texts and the hints that name them come from it.
 */
export interface OverrideDef {
  /** The config field, as a path. */
  path: readonly string[];
  /** The command-line flag, `--name <value>`; none for a field only a variable sets. */
  flag?: `--${string} <${string}>`;
  /** The classic environment variable. */
  env?: string;
  /** How the text becomes the field's value; `host-map`: a repeatable `HOST=URL` flag whose values make the field's mapping. */
  type: 'text' | 'whole-number' | 'boolean' | 'host-map';
  /** The values the field takes, for the help text (a function: the catalog is read when the help is made, not at import). */
  choices?: () => readonly string[];
  /** Help text of the flag. */
  help: string;
  /** Turns the variable's text into the field's value (NODE_IP_NW's prefix into an address). */
  fromEnv?: (text: string) => { value: string } | { message: string; hint: string };
  /**
   * What `up` does rather than what the cluster is: the flag is on `up` (and on `doctor`,
   * `config validate` and `config print`), not on `generate`, and it is never remembered.
   */
  upOnly?: true;
}

export { BOOLEAN_WORDS } from './boolean.js';

export const OVERRIDES: readonly OverrideDef[] = [
  { path: ['network', 'masterIP'], flag: '--master-ip <ip>', env: 'MASTER_IP', type: 'text', help: 'the control plane address' },
  {
    path: ['network', 'workerIPStart'],
    env: 'NODE_IP_NW',
    type: 'text',
    help: 'the first worker address',
    fromEnv: (prefix) =>
      /^\d{1,3}\.\d{1,3}\.\d{1,3}\.$/.test(prefix)
        ? { value: `${prefix}11` }
        : { message: `"${shown(prefix)}" is not a network prefix`, hint: 'give the first three octets and a dot, such as 192.168.56. (workers start at .11)' },
  },
  { path: ['workers', 'count'], flag: '--workers <n>', env: 'NODE_COUNT', type: 'whole-number', help: 'how many workers' },
  { path: ['kubernetes', 'podSubnet'], flag: '--pod-cidr <cidr>', env: 'POD_NW_CIDR', type: 'text', help: 'the pod subnet' },
  { path: ['kubernetes', 'token'], flag: '--token <token>', env: 'KUBETOKEN', type: 'text', help: 'the bootstrap token' },
  { path: ['box'], flag: '--box <box>', env: 'BOX_IMAGE', type: 'text', help: 'a box instead of the catalog\'s' },
  { path: ['provider'], flag: '--provider <provider>', type: 'text', choices: () => PROVIDER_IDS, help: 'the Vagrant provider' },
  { path: ['distro'], flag: '--distro <distro>', type: 'text', choices: () => distroIds(), help: 'the guest OS' },
  { path: ['kubernetes', 'version'], flag: '--k8s-version <version>', type: 'text', help: 'the Kubernetes minor or patch, e.g. 1.37 or 1.37.2' },
  { path: ['kubernetes', 'cni'], flag: '--cni <cni>', type: 'text', choices: () => CNI_IDS, help: 'the pod network add-on' },
  { path: ['addons', 'dashboard'], env: 'K8S_DASHBOARD', type: 'boolean', help: 'install Headlamp, the web dashboard' },
  { path: ['mirrors', 'files'], flag: '--files-mirror <url>', type: 'text', help: 'a mirror of the release downloads (<url>/<host>/<path>)' },
  {
    path: ['mirrors', 'registries'],
    flag: '--registry-mirror <host=url>',
    type: 'host-map',
    help: 'a mirror of a registry, e.g. registry.k8s.io=http://10.0.0.2:5000/registry.k8s.io; repeatable; replaces the file\'s mapping',
  },
  {
    path: ['setup', 'controlPlane'],
    flag: '--setup-master <bool>',
    env: 'SETUP_MASTER',
    type: 'boolean',
    help: 'set up the control plane; false: only add the workers that have not joined to a control plane that is up',
    upOnly: true,
  },
  {
    path: ['setup', 'workers'],
    flag: '--setup-nodes <bool>',
    env: 'SETUP_NODES',
    type: 'boolean',
    help: 'set up the workers; false: the control plane alone (no worker machine is created or touched)',
    upOnly: true,
  },
];

/** Whether generate remembers a value set by a variable or flag at this dotted path (what `up` does this time is not). */
export function remembersPath(path: string): boolean {
  return !OVERRIDES.some((o) => o.upOnly && o.path.join('.') === path);
}

/** The commander option key of a flag: `--master-ip <ip>` → `masterIp`. */
export function optionKey(flag: string): string {
  return flag
    .replace(/^--/, '')
    .replace(/ .*$/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The flag's help line: `network.masterIP: the control plane address (MASTER_IP)`, with its choices. */
export function flagHelp(o: OverrideDef): string {
  const choices = o.choices ? `: ${o.choices().join(' | ')}` : '';
  return `${o.path.join('.')}${choices} — ${o.help}${o.env ? ` (also ${o.env})` : ''}`;
}

/** How to set a field from the outside, for hints: `--master-ip or MASTER_IP`. */
export function overrideSources(path: string): string | undefined {
  const o = OVERRIDES.find((d) => d.path.join('.') === path);
  if (!o) return undefined;
  return [o.flag?.replace(/ .*$/, ''), o.env].filter(Boolean).join(' or ');
}

/** A value as an error message shows it: a huge one is cut short, so one bad value gives one readable line. */
export function shown(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Flag values as commander hands them over, by option key (a repeatable flag's as a list). */
export type FlagValues = Record<string, string | readonly string[] | undefined>;

/** One source's value for a field, or the problem with it; `source` names the flag or variable. */
export type Override = { source: string; path: readonly string[]; value: unknown } | { source: string; path: readonly string[]; problem: ConfigProblem };

function parse(o: OverrideDef, source: string, given: string | readonly string[]): Override {
  const field = `${o.path.join('.')} (from ${source})`;
  const problem = (message: string, hint: string): Override => ({ source, path: o.path, problem: { path: field, message, hint } });
  if (o.type === 'host-map') {
    const map: Record<string, string> = {};
    for (const item of typeof given === 'string' ? [given] : given) {
      const eq = item.indexOf('=');
      if (eq <= 0) return problem(`"${shown(item)}" is not HOST=URL`, `give ${source} registry.k8s.io=http://10.0.0.2:5000/registry.k8s.io (once per registry)`);
      map[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
    }
    return { source, path: o.path, value: map };
  }
  const text = typeof given === 'string' ? given : given.join(',');
  if (o.type === 'whole-number') {
    return /^-?\d+$/.test(text.trim()) ? { source, path: o.path, value: Number(text) } : problem(`"${shown(text)}" is not a whole number`, `set ${source} to a number such as 2`);
  }
  if (o.type === 'boolean') {
    const value = booleanOf(text);
    if (value !== undefined) return { source, path: o.path, value };
    return problem(`"${text}" is not a boolean`, `set ${source} to one of ${BOOLEAN_WORD_LIST} (any case)`);
  }
  return { source, path: o.path, value: text };
}

/** The overrides the environment gives (a variable set to the empty string counts as unset). */
export function envOverrides(env: NodeJS.ProcessEnv): Override[] {
  return OVERRIDES.flatMap((o): Override[] => {
    const text = o.env ? env[o.env] : undefined;
    if (!o.env || text === undefined || text === '') return [];
    if (!o.fromEnv) return [parse(o, o.env, text)];
    const r = o.fromEnv(text);
    return 'value' in r
      ? [{ source: o.env, path: o.path, value: r.value }]
      : [{ source: o.env, path: o.path, problem: { path: `${o.path.join('.')} (from ${o.env})`, message: r.message, hint: r.hint } }];
  });
}

/** The overrides the flags give. */
export function flagOverrides(flags: FlagValues): Override[] {
  return OVERRIDES.flatMap((o): Override[] => {
    if (!o.flag) return [];
    const text = flags[optionKey(o.flag)];
    return text === undefined ? [] : [parse(o, o.flag.replace(/ .*$/, ''), text)];
  });
}

/** Edits (insert, delete, change, swap two neighbours) from one text to another. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Whether a variable's name is a near miss of a classic variable's: the same letters and digits
 * (MASTERIP, kubetoken), at most two edits apart (NODE_COUNTS), or its words all among the other's
 * (POD_CIDR, NODE_IP) or the other's among its own (K8S_DASHBOARD_ENABLED), two words at least.
 */
function nearMiss(name: string, classic: string): boolean {
  const letters = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '');
  const words = (s: string) => s.toUpperCase().split(/[^A-Z0-9]+/).filter(Boolean);
  const [a, b] = [letters(name), letters(classic)];
  if (a === b) return true;
  if (Math.min(a.length, b.length) >= 6 && editDistance(a, b) <= 2) return true;
  const [wa, wb] = [words(name), words(classic)];
  return (wa.length >= 2 && wa.every((w) => wb.includes(w))) || (wb.length >= 2 && wb.every((w) => wa.includes(w)));
}

/** Variables that are set but not read, whose names are near misses of a classic variable: a warning each, naming the right one. */
export function envNearMisses(env: NodeJS.ProcessEnv): ConfigProblem[] {
  const classic = OVERRIDES.filter((o): o is OverrideDef & { env: string } => o.env !== undefined);
  return Object.entries(env).flatMap(([name, value]): ConfigProblem[] => {
    if (value === undefined || value === '' || classic.some((o) => o.env === name)) return [];
    const meant = classic.find((o) => nearMiss(name, o.env));
    if (!meant) return [];
    return [{ path: name, message: `is not a variable kubeadm-vagrant reads, so its value is ignored`, hint: `did you mean ${meant.env} (${meant.path.join('.')})?` }];
  });
}
