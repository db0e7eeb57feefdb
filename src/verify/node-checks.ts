import { GUEST } from '../layout.js';
import {
  parseContainerdCgroup,
  parseIpv4Addrs,
  parseModules,
  parseProbeOutput,
  parseSwaps,
  parseSysctl,
  parseSystemctlActive,
} from './node-parsers.js';
import type { CheckOutcome, NodeCheckSpec, PlannedNode } from './types.js';

/** The node-level checks as data; verify.ts runs each command with sudo and hands the output to parse. */

const REQUIRED_MODULES = ['overlay', 'br_netfilter'];
const REQUIRED_SYSCTLS = ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'];
/** Bounds one TCP probe of a peer; the probes of all peers run at once. */
const PROBE_TIMEOUT_S = 3;

const list = (items: readonly string[]): string => items.join(', ');

export const hostnameCheck: NodeCheckSpec = {
  id: 'hostname',
  title: 'hostname as planned',
  command: 'hostname',
  expected: (node) => node.hostname,
  parse: (stdout, _code, node) => {
    const seen = stdout.trim();
    return { ok: seen.toLowerCase() === node.hostname.toLowerCase(), seen: seen || '(empty)' };
  },
};

export const privateIpCheck: NodeCheckSpec = {
  id: 'private-ip',
  title: 'private address on an interface',
  command: 'ip -o -4 addr show',
  expected: (node) => `${node.ip} on some interface`,
  parse: (stdout, _code, node) => {
    const addrs = parseIpv4Addrs(stdout);
    const hit = addrs.find((a) => a.address === node.ip);
    if (hit) return { ok: true, seen: `${hit.address}/${hit.prefix} on ${hit.ifname}` };
    const all = addrs.map((a) => `${a.ifname} ${a.address}/${a.prefix}`);
    return { ok: false, seen: all.length ? `not found; addresses: ${list(all)}` : 'no IPv4 addresses' };
  },
};

export const swapCheck: NodeCheckSpec = {
  id: 'swap-off',
  title: 'swap off',
  command: 'cat /proc/swaps',
  expected: () => 'no active swap',
  parse: (stdout) => {
    const areas = parseSwaps(stdout);
    if (areas.length === 0) return { ok: true, seen: 'no active swap' };
    return { ok: false, seen: `active: ${list(areas.map((a) => `${a.filename} (${a.type}, ${a.sizeKiB} KiB)`))}` };
  },
};

export const modulesCheck: NodeCheckSpec = {
  id: 'kernel-modules',
  title: 'overlay and br_netfilter loaded',
  command: 'cat /proc/modules',
  expected: () => `${list(REQUIRED_MODULES)} loaded`,
  parse: (stdout) => {
    const loaded = parseModules(stdout);
    const missing = REQUIRED_MODULES.filter((m) => !loaded.has(m));
    return missing.length === 0 ? { ok: true, seen: `${list(REQUIRED_MODULES)} loaded` } : { ok: false, seen: `not loaded: ${list(missing)}` };
  },
};

export const sysctlCheck: NodeCheckSpec = {
  id: 'sysctl',
  title: 'IP forwarding and bridge netfilter on',
  command: `sysctl ${REQUIRED_SYSCTLS.join(' ')}`,
  expected: () => REQUIRED_SYSCTLS.map((k) => `${k} = 1`).join(', '),
  parse: (stdout) => {
    const values = parseSysctl(stdout, REQUIRED_SYSCTLS);
    const seen = REQUIRED_SYSCTLS.map((k) => `${k} = ${values.get(k) ?? 'missing'}`);
    return { ok: REQUIRED_SYSCTLS.every((k) => values.get(k) === '1'), seen: list(seen) };
  },
};

export const containerdActiveCheck: NodeCheckSpec = {
  id: 'containerd-active',
  title: 'containerd running',
  command: 'systemctl is-active containerd',
  expected: () => 'active',
  parse: (stdout, code) => {
    const { active, state } = parseSystemctlActive(stdout, code);
    return { ok: active, seen: state };
  },
};

/** Where the prerequisites phase puts the CNI plugins (and containerd must look for them). */
export const CNI_BIN_DIR = GUEST.cniBinDir;

/**
 * containerd's effective config runs pods: the CRI plugin on, its default runtime runc with its
 * runtime_type (a config that loses it fails every sandbox), the systemd cgroup driver, and the
 * CNI plugins looked for in /opt/cni/bin.
 */
export const containerdCriCheck: NodeCheckSpec = {
  id: 'containerd-cri',
  title: `containerd runs pods: runc, systemd cgroups, CNI plugins in ${CNI_BIN_DIR}`,
  command: 'containerd config dump',
  expected: () => `runtime_type io.containerd.runc.v2, SystemdCgroup = true, CNI bin dir ${CNI_BIN_DIR}`,
  parse: (stdout, code): CheckOutcome => {
    if (code !== 0 && stdout.trim() === '') return { ok: false, seen: 'no config dump' };
    const c = parseContainerdCgroup(stdout);
    const where = `config version ${c.configVersion ?? '?'}, runtime ${c.runtime}`;
    if (c.criDisabled) return { ok: false, seen: `the CRI plugin is disabled (disabled_plugins; ${where})` };
    const problems = [
      c.runtimeType !== 'io.containerd.runc.v2' ? `runtime_type "${c.runtimeType ?? ''}"` : '',
      c.systemdCgroup === undefined ? 'SystemdCgroup not set, so cgroupfs' : !c.systemdCgroup ? 'SystemdCgroup = false' : '',
      c.cniBinDirs.length !== 1 || c.cniBinDirs[0] !== CNI_BIN_DIR ? `CNI bin dirs ${c.cniBinDirs.join(', ') || 'none'}` : '',
    ].filter(Boolean);
    if (problems.length > 0) return { ok: false, seen: `${problems.join('; ')} (${where})` };
    return { ok: true, seen: `runc (io.containerd.runc.v2), SystemdCgroup = true, CNI in ${CNI_BIN_DIR} (${where})` };
  },
};

/** What the machines phase proves: the machine answers as planned. */
export const MACHINE_CHECKS: readonly NodeCheckSpec[] = [hostnameCheck, privateIpCheck];

/** What the prerequisites phase proves (with peer reachability, see prerequisiteChecks). */
export const PREREQUISITE_CHECKS: readonly NodeCheckSpec[] = [
  swapCheck,
  modulesCheck,
  sysctlCheck,
  containerdActiveCheck,
  containerdCriCheck,
];

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** One probe script for all peers: a bash /dev/tcp connect to each, in parallel, bounded by `timeout`. */
export function probeCommand(addresses: readonly string[], port: number): string {
  for (const a of addresses) if (!IPV4.test(a)) throw new Error(`not an IPv4 address: ${JSON.stringify(a)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a TCP port: ${port}`);
  const probe = `if timeout ${PROBE_TIMEOUT_S} bash -c "exec 3<>/dev/tcp/$h/${port}" 2>/dev/null; then echo "$h ok"; else echo "$h fail"; fi`;
  return `for h in ${addresses.join(' ')}; do (${probe}) & done; wait`;
}

/** Every other node's private address is reachable on the SSH port (one check, all peers). */
export function peerReachabilityCheck(peers: readonly PlannedNode[], port = 22): NodeCheckSpec {
  const addresses = [...new Set(peers.map((p) => p.ip))];
  const describe = (ip: string): string => `${peers.filter((p) => p.ip === ip).map((p) => p.name).join('/')} (${ip}:${port})`;
  return {
    id: 'peers-reachable',
    title: 'other nodes reachable on the private network',
    command: addresses.length ? probeCommand(addresses, port) : 'true',
    expected: () => (addresses.length ? `TCP ${port} open on ${list(addresses)}` : 'no peers'),
    parse: (stdout) => {
      if (addresses.length === 0) return { ok: true, seen: 'no peers' };
      const results = new Map(parseProbeOutput(stdout).map((r) => [r.address, r.reachable]));
      const unreachable = addresses.filter((a) => results.get(a) !== true);
      if (unreachable.length === 0) return { ok: true, seen: `reached ${addresses.length} peer address${addresses.length === 1 ? '' : 'es'}` };
      return { ok: false, seen: `cannot reach ${list(unreachable.map(describe))}` };
    },
  };
}

/** The prerequisites checks for one node, with reachability of every other planned node. */
export function prerequisiteChecks(node: PlannedNode, all: readonly PlannedNode[], probePort = 22): NodeCheckSpec[] {
  return [...PREREQUISITE_CHECKS, peerReachabilityCheck(all.filter((p) => p.name !== node.name), probePort)];
}

/** Every node-level check for one node (machines and prerequisites), e.g. for a bare verifyNodes. */
export function nodeCheckSpecs(node: PlannedNode, all: readonly PlannedNode[], probePort = 22): NodeCheckSpec[] {
  return [...MACHINE_CHECKS, ...prerequisiteChecks(node, all, probePort)];
}
