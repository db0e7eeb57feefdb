/**
 * Reads what tests need from `containerd config dump`: the effective settings that decide whether
 * kubeadm's pods can run. Written apart from the scripts' awk so that a test does not check the
 * scripts with their own code. Handles the TOML containerd writes: `[table]` headers with bare,
 * "double" or 'single' quoted parts, and one `key = value` a line with inline values.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The parts of a dotted TOML key or table name, unquoted: `plugins.'a.b'.c` is ['plugins', 'a.b', 'c']. */
export function keyParts(dotted: string): string[] {
  const parts: string[] = [];
  let rest = dotted.trim();
  while (rest.length > 0) {
    let part: string;
    if (rest.startsWith('"') || rest.startsWith("'")) {
      const end = rest.indexOf(rest[0]!, 1);
      if (end < 0) throw new Error(`unterminated quote in ${dotted}`);
      part = rest.slice(1, end);
      rest = rest.slice(end + 1).trim();
    } else {
      const dot = rest.indexOf('.');
      part = (dot < 0 ? rest : rest.slice(0, dot)).trim();
      rest = dot < 0 ? '' : rest.slice(dot);
    }
    parts.push(part);
    if (rest.startsWith('.')) rest = rest.slice(1).trim();
    else if (rest.length > 0) throw new Error(`unexpected ${rest} in ${dotted}`);
  }
  return parts;
}

export type TomlValue = string | boolean | number | TomlValue[];

/** An inline TOML value: a string in either quoting, a boolean, a number, or an array of them. */
export function parseValue(raw: string): TomlValue {
  const text = raw.trim();
  if (text === 'true' || text === 'false') return text === 'true';
  if (text.startsWith("'")) return text.slice(1, text.lastIndexOf("'"));
  if (text.startsWith('"')) return JSON.parse(text.slice(0, text.lastIndexOf('"') + 1)) as string;
  if (text.startsWith('[')) {
    const inner = text.slice(1, text.lastIndexOf(']')).trim();
    if (inner === '') return [];
    const items: string[] = [];
    let current = '';
    let quote = '';
    for (const ch of inner) {
      if (quote) {
        current += ch;
        if (ch === quote) quote = '';
      } else if (ch === '"' || ch === "'") {
        quote = ch;
        current += ch;
      } else if (ch === ',') {
        items.push(current);
        current = '';
      } else current += ch;
    }
    if (current.trim() !== '') items.push(current);
    return items.map(parseValue);
  }
  const number = Number(text);
  if (!Number.isNaN(number)) return number;
  throw new Error(`cannot read TOML value ${raw}`);
}

/** The `key = value` lines of each table, the raw value text by key, tables by JSON.stringify(keyParts(name)): the top level is `[]`. */
export function tomlTables(text: string): Map<string, Map<string, string>> {
  const topLevel = new Map<string, string>();
  const tables = new Map<string, Map<string, string>>([[JSON.stringify([]), topLevel]]);
  let current = topLevel;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (trimmed.startsWith('[')) {
      const name = JSON.stringify(keyParts(trimmed.replace(/^\[+/, '').replace(/\]+\s*(#.*)?$/, '')));
      if (!tables.has(name)) tables.set(name, new Map());
      current = tables.get(name)!;
      continue;
    }
    const match = /^("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(trimmed);
    if (match) current.set(keyParts(match[1]!)[0]!, match[2]!.replace(/\s+#[^'"]*$/, ''));
  }
  return tables;
}

/** What decides whether kubeadm's pods can run, as containerd's effective config says it. */
export interface EffectiveCri {
  /** The format containerd dumps: 2 for containerd 1.x, 3 for 2.0-2.2, 4 for 2.3+. */
  version: number;
  disabledPlugins: string[];
  defaultRuntimeName: TomlValue | undefined;
  runcRuntimeType: TomlValue | undefined;
  runcSystemdCgroup: TomlValue | undefined;
  /** The directories containerd searches for CNI plugins, as containerd 2.x resolves bin_dir and bin_dirs. */
  cniBinDirs: string[] | string;
  sandboxImage: TomlValue | undefined;
}

/** containerd 2.x's default bin_dirs (upstream internal/cri/config/config_unix.go). */
const UPSTREAM_DEFAULT_BIN_DIRS = ['/opt/cni/bin'];

export function effectiveCri(dump: string): EffectiveCri {
  const tables = tomlTables(dump);
  const get = (table: string[], key: string): TomlValue | undefined => {
    const raw = tables.get(JSON.stringify(table))?.get(key);
    return raw === undefined ? undefined : parseValue(raw);
  };
  const version = Number(get([], 'version'));
  // Version 3 (containerd 2.0-2.2) and 4 (2.3+) share the CRI plugin's tables.
  const criRuntime = version >= 3 ? ['plugins', 'io.containerd.cri.v1.runtime'] : ['plugins', 'io.containerd.grpc.v1.cri'];
  const runc = [...criRuntime, 'containerd', 'runtimes', 'runc'];
  const cni = [...criRuntime, 'cni'];
  const binDir = get(cni, 'bin_dir');
  const binDirs = get(cni, 'bin_dirs');
  let cniBinDirs: string[] | string;
  if (version < 3 || binDirs === undefined) cniBinDirs = typeof binDir === 'string' ? [binDir] : [];
  else {
    // containerd 2.1+'s ValidateRuntimeConfig: a set bin_dir wins over the default bin_dirs, and both set is an error.
    const dirs = (binDirs as string[]).slice();
    if (typeof binDir === 'string' && binDir !== '') {
      if (dirs.length === 0 || JSON.stringify(dirs) === JSON.stringify(UPSTREAM_DEFAULT_BIN_DIRS)) cniBinDirs = [binDir];
      else cniBinDirs = 'error: cni.bin_dir and cni.bin_dirs cannot be set at the same time';
    } else cniBinDirs = dirs;
  }
  const sandboxImage = version >= 3 ? get(['plugins', 'io.containerd.cri.v1.images', 'pinned_images'], 'sandbox') : get(criRuntime, 'sandbox_image');
  return {
    version,
    disabledPlugins: ((get([], 'disabled_plugins') as string[] | undefined) ?? []).map(String),
    defaultRuntimeName: get([...criRuntime, 'containerd'], 'default_runtime_name'),
    runcRuntimeType: get(runc, 'runtime_type'),
    runcSystemdCgroup: get([...runc, 'options'], 'SystemdCgroup'),
    cniBinDirs,
    sandboxImage,
  };
}

/** `containerd --config FILE config dump` with the containerd in binDir. */
export function containerdDump(binDir: string, file: string): string {
  return execFileSync(join(binDir, 'containerd'), ['--config', file, 'config', 'dump'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `containerd config default` of the containerd in binDir. */
export function containerdDefault(binDir: string): string {
  return execFileSync(join(binDir, 'containerd'), ['config', 'default'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `containerd --version` of the containerd in binDir, e.g. `1.6.20~ds1`. */
export function containerdVersion(binDir: string): string {
  const out = execFileSync(join(binDir, 'containerd'), ['--version'], { encoding: 'utf8' });
  // "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
  return out.trim().split(/\s+/)[2] ?? out.trim();
}
