/** Pure readers of host command output and files, for the host checks of `doctor`. */

/** `vagrant --version`: `Vagrant 2.3.4`. */
export function parseVagrantVersion(text: string): string | undefined {
  return /^Vagrant (\d+\.\d+\.\d+)/m.exec(text)?.[1];
}

/** Compares dotted versions numerically: negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface MemInfo {
  totalKiB?: number;
  availableKiB?: number;
}

/** /proc/meminfo: `MemTotal:       24683620 kB`, `MemAvailable:   23795068 kB`. */
export function parseMeminfo(text: string): MemInfo {
  const kib = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const total = kib('MemTotal');
  const available = kib('MemAvailable');
  return { ...(total !== undefined ? { totalKiB: total } : {}), ...(available !== undefined ? { availableKiB: available } : {}) };
}

export interface Route {
  /** The destination as a CIDR (a host route is a /32); `default` for the default route. */
  dest: string;
  dev?: string;
  /** unicast, blackhole, unreachable, prohibit, ... */
  type: string;
}

const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'anycast']);

/** `ip -o -4 route show`: `192.168.121.0/24 dev virbr1 proto kernel scope link src 192.168.121.1 linkdown`, `default via 192.0.2.1 dev eth0`. */
export function parseRoutes(text: string): Route[] {
  const routes: Route[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const type = ROUTE_TYPES.has(words[0]!) ? words.shift()! : 'unicast';
    const dest = words.shift()!;
    const devAt = words.indexOf('dev');
    const dev = devAt >= 0 ? words[devAt + 1] : undefined;
    routes.push({ dest: dest === 'default' || dest.includes('/') ? dest : `${dest}/32`, type, ...(dev ? { dev } : {}) });
  }
  return routes;
}

/** `nproc`: the CPUs this process may use. */
export function parseNproc(text: string): number | undefined {
  const n = Number(text.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
