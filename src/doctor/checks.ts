import { catalogBox } from '../distros.js';
import { cidrRange, contains, overlaps } from '../net.js';
import { parseIpv4Addrs } from '../verify/node-parsers.js';
import { parseMeminfo, parseNproc, parseRoutes } from './parsers.js';
import { VAGRANT_VERSION, vagrantVersion } from './versions.js';
import { execProbe, okOutput, probeProblem, readProbe, type CheckOutcome, type HostCheckSpec, type HostContext, type ProbeResults, type ProviderHost } from './types.js';

/** The host checks every provider shares; each provider adds its own (src/providers/hosts.ts). */

export const IP_ROUTES = execProbe('ip', ['-o', '-4', 'route', 'show']);
const IP_ADDRS = execProbe('ip', ['-o', '-4', 'addr', 'show']);
const MEMINFO = readProbe('/proc/meminfo');
const NPROC = execProbe('nproc', []);

const VAGRANT_INSTALL = 'install Vagrant: `sudo apt-get install vagrant` on Debian and Ubuntu, or HashiCorp\'s package from https://developer.hashicorp.com/vagrant/install';
/** The hypervisor's own memory per machine (qemu, VBoxHeadless) on top of the guest's. */
export const VM_OVERHEAD_MIB = 256;
/** Memory left to the host itself before a plan counts as tight. */
export const HOST_RESERVE_MIB = 1024;

export const vagrantCheck: HostCheckSpec = {
  id: 'vagrant', title: 'Vagrant installed', fatal: true,
  probes: () => [VAGRANT_VERSION], evaluate: (seen) => {
    const version = vagrantVersion(seen);
    if (version) return { verdict: 'ok', seen: `Vagrant ${version}` };
    if (seen.get(VAGRANT_VERSION.id)?.status === 'missing') return { verdict: 'fail', seen: 'vagrant is not installed (not found on PATH)', fix: VAGRANT_INSTALL };
    return { verdict: 'fail', seen: `Vagrant does not answer: ${probeProblem(seen, VAGRANT_VERSION)}`, fix: 'run `vagrant --version` to see what is wrong, and reinstall Vagrant if it does not answer' };
  },
};

export const boxArchCheck: HostCheckSpec = {
  id: 'box-arch', title: "a box for this host's architecture", fatal: true,
  probes: () => [], evaluate: (_seen, { plan, catalog, arch }) => {
    const fromCatalog = catalogBox(catalog, plan.distro.id, plan.provider, arch);
    if (fromCatalog === plan.box.name) return { verdict: 'ok', seen: `${arch} host: the catalog's box for ${plan.distro.id} is ${fromCatalog}, built from the distro's ${arch} image` };
    if (fromCatalog === undefined) {
      return {
        verdict: 'warn',
        seen: `${arch} host: box ${plan.box.name} is set in the config, and the catalog has no ${arch} image of ${plan.distro.id}`,
        fix: `make sure ${plan.box.name} is built for ${arch} and ${plan.provider}`,
      };
    }
    return { verdict: 'ok', seen: `${arch} host: box ${plan.box.name} is set in the config (the catalog's would be ${fromCatalog})` };
  },
};

const mib = (n: number): string => `${Math.round(n)} MiB`;

export const memoryCheck: HostCheckSpec = {
  id: 'memory', title: 'free memory for the new machines', fatal: true,
  probes: () => [MEMINFO], evaluate: (seen, { machines, machineIds }) => {
    const text = okOutput(seen, MEMINFO);
    const available = text === undefined ? undefined : parseMeminfo(text).availableKiB;
    if (available === undefined) return { verdict: 'warn', seen: `not checked: ${text === undefined ? probeProblem(seen, MEMINFO) : 'no MemAvailable in /proc/meminfo'}` };
    // The machines this directory created already hold their memory (when running), outside MemAvailable.
    const fresh = machines.filter((m) => machineIds[m.name] === undefined);
    const availableMiB = available / 1024;
    if (fresh.length === 0) return { verdict: 'ok', seen: `every machine exists already; ${mib(availableMiB)} available` };
    const guests = fresh.reduce((sum, m) => sum + m.memory, 0);
    const withOverhead = guests + fresh.length * VM_OVERHEAD_MIB;
    const seenText = `${fresh.length} new machine${fresh.length === 1 ? ' needs' : 's need'} ${mib(guests)} (+${mib(fresh.length * VM_OVERHEAD_MIB)} for the hypervisor); ${mib(availableMiB)} available (MemAvailable)`;
    const fix = 'lower controlPlane.memory, workers.memory or workers.count (NODE_COUNT), or free memory on the host; SETUP_NODES=false brings up the control plane alone';
    if (withOverhead > availableMiB) return { verdict: 'fail', seen: seenText, fix };
    if (withOverhead + HOST_RESERVE_MIB > availableMiB) return { verdict: 'warn', seen: `${seenText}: less than ${mib(HOST_RESERVE_MIB)} left for the host`, fix };
    return { verdict: 'ok', seen: seenText };
  },
};

export const cpuCheck: HostCheckSpec = {
  id: 'cpus', title: 'CPUs for the machines', fatal: false,
  probes: () => [NPROC], evaluate: (seen, { machines }) => {
    const text = okOutput(seen, NPROC);
    const cpus = text === undefined ? undefined : parseNproc(text);
    if (cpus === undefined) return { verdict: 'warn', seen: `not checked: ${probeProblem(seen, NPROC)}` };
    if (machines.length === 0) return { verdict: 'ok', seen: `no machine to start; ${cpus} host CPU${cpus === 1 ? '' : 's'}` };
    const total = machines.reduce((sum, m) => sum + m.cpus, 0);
    const biggest = machines.reduce((a, m) => (m.cpus > a.cpus ? m : a), machines[0]!);
    const seenText = `${total} vCPUs planned on ${cpus} host CPU${cpus === 1 ? '' : 's'}`;
    if (biggest.cpus > cpus) return { verdict: 'warn', seen: `${biggest.name} has ${biggest.cpus} vCPUs, the host ${cpus}`, fix: `give ${biggest.name} at most ${cpus} CPUs (kubeadm needs 2 on the control plane)` };
    // Overcommitting works (the hypervisor shares the CPUs); far beyond it kubeadm's timeouts come close.
    if (total > 2 * cpus) return { verdict: 'warn', seen: `${seenText}: more than twice over, so phases will be slow`, fix: 'fewer workers or fewer CPUs per worker' };
    return { verdict: 'ok', seen: seenText };
  },
};

/**
 * The node network must be free on the host: no route as specific or more specific than the
 * master's /24 on an interface other than the provider's own networks (which Vagrant reuses),
 * and no host address equal to a node's.
 */
export function nodeNetworkCheck(host: ProviderHost): HostCheckSpec {
  return {
    id: 'node-network', title: 'the node network is free on this host', fatal: true,
    probes: (ctx, seen) => [IP_ROUTES, IP_ADDRS, ...host.interfaceProbes(ctx, seen)], evaluate: (seen, ctx) => networkInUse(seen, ctx, ctx.plan.network.nodeNetwork, 'the node network', (dev) => host.ownInterface(dev, seen, ctx)),
  };
}

/**
 * Whether a network is in use on the host outside the provider's own interfaces. Shared by the
 * node network check and by providers for their NAT networks.
 */
export function networkInUse(seen: ProbeResults, ctx: HostContext, cidr: string, what: string, own: (dev: string) => string | undefined): CheckOutcome {
  const routesText = okOutput(seen, IP_ROUTES);
  const addrsText = okOutput(seen, IP_ADDRS);
  if (routesText === undefined || addrsText === undefined) return { verdict: 'warn', seen: `not checked: ${probeProblem(seen, routesText === undefined ? IP_ROUTES : IP_ADDRS)}` };
  const net = cidrRange(cidr)!;
  const conflicts: string[] = [];
  const reused: string[] = [];
  for (const r of parseRoutes(routesText)) {
    const range = cidrRange(r.dest);
    // A less specific route (a LAN's /16) loses to the provider's own /24.
    if (!range || !overlaps(range, net) || range.prefix < net.prefix) continue;
    const mine = r.dev ? own(r.dev) : undefined;
    if (mine) reused.push(`${r.dev} (${mine})`);
    else conflicts.push(r.type === 'unicast' ? `route ${r.dest}${r.dev ? ` on ${r.dev}` : ''}` : `${r.type} route ${r.dest}`);
  }
  // A node's address taken by the host (the .1 a host-only network or libvirt bridge gets, too).
  const nodeIps = new Map(ctx.plan.nodes.map((n) => [n.ip, n.name]));
  for (const a of parseIpv4Addrs(addrsText)) {
    const node = nodeIps.get(a.address);
    if (node && contains(net, a.address)) conflicts.push(`${a.address}, ${node}'s planned address, is this host's address on ${a.ifname}`);
  }
  if (conflicts.length > 0) {
    return {
      verdict: 'fail',
      seen: `${what} ${cidr} is in use on this host: ${[...new Set(conflicts)].join('; ')}`,
      fix: `give the cluster a network this host does not use (--master-ip or MASTER_IP, e.g. ${suggestFree(cidr)}), or remove what uses ${cidr}`,
    };
  }
  return { verdict: 'ok', seen: reused.length > 0 ? `${what} ${cidr} is on ${[...new Set(reused)].join(', ')}, which Vagrant reuses` : `no route or address of this host is in ${cidr}` };
}

/** The next /24's .10, as an example of another node network. */
function suggestFree(cidr: string): string {
  const [a, b, c] = cidr.split('.').map(Number) as [number, number, number];
  return `${a}.${b}.${(c + 1) % 256}.10`;
}

/** The host checks with a provider's own, in the order doctor prints them. */
export function hostChecksFor(host: ProviderHost): HostCheckSpec[] {
  return [vagrantCheck, ...host.checks, boxArchCheck, memoryCheck, cpuCheck, nodeNetworkCheck(host)];
}
