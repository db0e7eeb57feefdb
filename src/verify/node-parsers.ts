/** Pure readers of Linux command output, for the node-level checks. */

export interface Ipv4Address {
  ifname: string;
  address: string;
  prefix: number;
}

/** `ip -o -4 addr show`: `2: eth1    inet 192.168.56.10/24 brd ... scope global eth1\ ...`. */
export function parseIpv4Addrs(text: string): Ipv4Address[] {
  const out: Ipv4Address[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})\b/.exec(line.trim());
    if (m) out.push({ ifname: m[1]!.replace(/@.*$/, ''), address: m[2]!, prefix: Number(m[3]) });
  }
  return out;
}

export interface SwapArea {
  filename: string;
  type: string;
  sizeKiB: number;
}

/** /proc/swaps: a `Filename Type Size Used Priority` header, then one line per active swap area. */
export function parseSwaps(text: string): SwapArea[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && f[0] !== '' && f[0] !== 'Filename')
    .map((f) => ({ filename: f[0]!, type: f[1]!, sizeKiB: Number(f[2]) }));
}

/** Module names from /proc/modules (`overlay 151552 0 - Live 0x0`) or `lsmod` output. */
export function parseModules(text: string): Set<string> {
  const names = text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '' && n !== 'Module');
  return new Set(names);
}

/**
 * `sysctl a b` prints `a = 1` lines (a missing key goes to stderr); `sysctl -n a b` prints bare
 * values in order, for which `keys` names them.
 */
export function parseSysctl(text: string, keys: readonly string[] = []): Map<string, string> {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const values = new Map<string, string>();
  if (lines.some((l) => l.includes('='))) {
    for (const l of lines) {
      const eq = l.indexOf('=');
      if (eq > 0) values.set(l.slice(0, eq).trim(), l.slice(eq + 1).trim());
    }
    return values;
  }
  keys.forEach((k, i) => {
    if (lines[i] !== undefined) values.set(k, lines[i]);
  });
  return values;
}

/** `systemctl is-active UNIT`: prints the state (`active`, `inactive`, `failed`, ...); exit 0 only when active. */
export function parseSystemctlActive(stdout: string, code: number): { active: boolean; state: string } {
  const state = stdout.trim().split('\n')[0]?.trim() || 'unknown';
  return { active: code === 0 && state === 'active', state };
}

export interface ContainerdCgroup {
  /** The `version` of the dumped config: 2 for containerd 1.x, 3 for 2.0-2.2, 4 from 2.3. */
  configVersion: number | undefined;
  /** The table that holds the CRI runtimes for that version. */
  runtimePlugin: string;
  /** The CRI default runtime, `runc` unless configured otherwise. */
  runtime: string;
  /** The runtime's `runtime_type`: io.containerd.runc.v2 for runc; empty when a config lost it. */
  runtimeType: string | undefined;
  /** The runtime's `SystemdCgroup` option; undefined when not set (containerd then uses cgroupfs). */
  systemdCgroup: boolean | undefined;
  /** Where the CRI looks for CNI plugins (bin_dir and bin_dirs together). */
  cniBinDirs: string[];
  /** Debian's packaged config can disable the CRI plugin altogether. */
  criDisabled: boolean;
}

type TomlTables = Map<string, Map<string, string>>;

/** Splits a dotted TOML key, honouring "double" and 'single' quoted parts. */
export function splitTomlKey(key: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const ch of key.trim()) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '.') {
      parts.push(current.trim());
      current = '';
    } else current += ch;
  }
  parts.push(current.trim());
  return parts;
}

const tableId = (path: readonly string[]): string => path.join('\u0000');

function stripComment(value: string): string {
  let quote: string | undefined;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') return value.slice(0, i).trim();
  }
  return value.trim();
}

/** Just enough TOML for `containerd config dump`: tables, dotted keys, one-line values. */
function readTomlTables(text: string): TomlTables {
  const tables: TomlTables = new Map([['', new Map()]]);
  let path: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[[')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      path = splitTomlKey(header[1]!);
      continue;
    }
    const eq = line.search(/=(?=(?:[^"']|"[^"]*"|'[^']*')*$)/);
    if (eq <= 0) continue;
    const keyPath = [...path, ...splitTomlKey(line.slice(0, eq))];
    const key = keyPath.pop()!;
    const id = tableId(keyPath);
    if (!tables.has(id)) tables.set(id, new Map());
    tables.get(id)!.set(key, stripComment(line.slice(eq + 1)));
  }
  return tables;
}

const unquote = (v: string | undefined): string | undefined => v?.replace(/^(["'])(.*)\1$/, '$2');

/** Reads what the CRI needs out of `containerd config dump` (config version 2, 3 or 4): runtime, cgroup driver, CNI plugin directories. */
export function parseContainerdCgroup(text: string): ContainerdCgroup {
  const tables = readTomlTables(text);
  const top = tables.get('')!;
  const version = top.has('version') ? Number(top.get('version')) : undefined;
  const runtimePlugin = version !== undefined && version >= 3 ? 'io.containerd.cri.v1.runtime' : 'io.containerd.grpc.v1.cri';
  const base = ['plugins', runtimePlugin, 'containerd'];
  const runtime = unquote(tables.get(tableId(base))?.get('default_runtime_name')) || 'runc';
  const raw = tables.get(tableId([...base, 'runtimes', runtime, 'options']))?.get('SystemdCgroup');
  const disabled = [...(top.get('disabled_plugins') ?? '').matchAll(/["']([^"']+)["']/g)].map((m) => m[1]);
  const runtimeType = unquote(tables.get(tableId([...base, 'runtimes', runtime]))?.get('runtime_type'));
  // The CNI plugin directories: bin_dir (1.x, deprecated in 2.1) and bin_dirs (2.1+), wherever set.
  const cni = tables.get(tableId(['plugins', runtimePlugin, 'cni']));
  const binDirs = [...new Set([...readTomlStrings(cni?.get('bin_dirs')), ...[unquote(cni?.get('bin_dir'))].filter((d): d is string => !!d)])];
  return {
    configVersion: version,
    runtimePlugin,
    runtime,
    runtimeType,
    systemdCgroup: raw === undefined ? undefined : raw === 'true',
    cniBinDirs: binDirs,
    criDisabled: disabled.some((p) => p === 'cri' || p === 'io.containerd.grpc.v1.cri' || p === runtimePlugin || p === 'io.containerd.cri.v1.images'),
  };
}

/** The strings of a one-line TOML array (`['/opt/cni/bin', "/usr/lib/cni"]`). */
function readTomlStrings(value: string | undefined): string[] {
  return [...(value ?? '').matchAll(/["']([^"']*)["']/g)].map((m) => m[1]!).filter(Boolean);
}

/**
 * The sandbox (pause) image in `containerd config dump`: `sandbox_image` of the CRI plugin in
 * version 2 (containerd 1.x), `pinned_images.sandbox` of the images plugin in version 3 (2.x).
 */
export function parseContainerdSandboxImage(text: string): string | undefined {
  const tables = readTomlTables(text);
  const version = Number(tables.get('')!.get('version'));
  const raw =
    version >= 3
      ? tables.get(tableId(['plugins', 'io.containerd.cri.v1.images', 'pinned_images']))?.get('sandbox')
      : tables.get(tableId(['plugins', 'io.containerd.grpc.v1.cri']))?.get('sandbox_image');
  return unquote(raw) || undefined;
}

/** The pause image in `kubeadm config images list` output (one image per line). */
export function parseKubeadmPauseImage(text: string): string | undefined {
  return text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /\/pause:[\w.-]+$/.test(l));
}

export interface ProbeResult {
  address: string;
  reachable: boolean;
}

/** Lines `ADDRESS ok` / `ADDRESS fail` from the peer probe script. */
export function parseProbeOutput(text: string): ProbeResult[] {
  const out: ProbeResult[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(ok|fail)$/.exec(line.trim());
    if (m) out.push({ address: m[1]!, reachable: m[2] === 'ok' });
  }
  return out;
}
