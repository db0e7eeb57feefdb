import ipaddr from 'ipaddr.js';
import { networkInUse } from '../doctor/checks.js';
import { execProbe, okOutput, openProbe, probeProblem, type HostCheckSpec, type HostContext, type Probe, type ProbeResults, type ProviderHost } from '../doctor/types.js';
import { VAGRANT_VERSION } from '../doctor/versions.js';
import { intToIp, ipToInt } from '../net.js';
import { MANAGEMENT_NETWORK, STORAGE_POOL } from './libvirt.js';

/** libvirt's host checks for `doctor` and `up`, and the readers of what they read. */

/** The libvirt connection vagrant-libvirt uses: LIBVIRT_DEFAULT_URI, else qemu:///system. */
export function libvirtUri(env: HostContext['env']): string {
  return env.LIBVIRT_DEFAULT_URI || 'qemu:///system';
}

// ---- pure readers of their output -------------------------------------------------------------

/** `vagrant plugin list`: `vagrant-libvirt (0.11.2, system)`, `vagrant-libvirt (0.12.2, global)`, or `No plugins installed.` */
export function parseVagrantPlugins(text: string): { name: string; version: string; scope?: string }[] {
  return [...text.matchAll(/^(\S+) \(([0-9][^,)]*)(?:, (\w+))?\)/gm)].map((m) => ({ name: m[1]!, version: m[2]!, ...(m[3] ? { scope: m[3] } : {}) }));
}

/** `virsh version`: `Using library: libvirt 9.0.0`, `Running hypervisor: QEMU 7.2.22`. */
export function parseVirshVersion(text: string): { library?: string; hypervisor?: string } {
  const library = /^Using library: libvirt (\S+)/m.exec(text)?.[1];
  const hypervisor = /^Running hypervisor: (.+)$/m.exec(text)?.[1]?.trim();
  return { ...(library ? { library } : {}), ...(hypervisor ? { hypervisor } : {}) };
}

/** The last `error:` line of virsh (the first one only says "failed to connect to the hypervisor"). */
export function virshError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('error:'));
  return (lines.at(-1) ?? stderr.trim()).replace(/^error:\s*/, '');
}

/** `virsh list --all --uuid --name`: `6ed422da-acf0-4009-8e66-1c49db56adc4 demo-master` per domain. */
export function parseDomainList(text: string): { uuid: string; name: string }[] {
  return [...text.matchAll(/^([0-9a-f-]{36})\s+(\S+)$/gim)].map((m) => ({ uuid: m[1]!, name: m[2]! }));
}

/** `virsh net-list --all --name`: one name per line. */
export function parseNames(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

export interface LibvirtNetwork {
  name: string;
  bridge?: string;
  /** Its IPv4 network, `192.168.121.0/24`. */
  cidr?: string;
}

/** `virsh net-dumpxml NAME`: the name, the bridge and the first IPv4 `<ip address=... netmask=...|prefix=...>`. */
export function parseNetworkXml(xml: string): LibvirtNetwork | undefined {
  const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1];
  if (!name) return undefined;
  const bridge = /<bridge\s[^>]*name=['"]([^'"]+)['"]/.exec(xml)?.[1];
  let cidr: string | undefined;
  for (const m of xml.matchAll(/<ip\s([^>]*)>/g)) {
    const attr = (key: string) => new RegExp(`\\b${key}=['"]([^'"]+)['"]`).exec(m[1]!)?.[1];
    if ((attr('family') ?? 'ipv4') !== 'ipv4') continue;
    const address = attr('address');
    if (!address || !ipaddr.IPv4.isValidFourPartDecimal(address)) continue;
    const netmask = attr('netmask');
    const prefix = netmask ? ipaddr.IPv4.parse(netmask).prefixLengthFromSubnetMask() : Number(attr('prefix') ?? 24);
    if (prefix === null || !(prefix >= 0 && prefix <= 32)) continue;
    const size = 2 ** (32 - prefix);
    cidr = `${intToIp(ipToInt(address) - (ipToInt(address) % size))}/${prefix}`;
    break;
  }
  return { name, ...(bridge ? { bridge } : {}), ...(cidr ? { cidr } : {}) };
}

/** `virsh pool-info NAME`: `State:          running`. */
export function parsePoolState(text: string): string | undefined {
  return /^State:\s+(.+)$/m.exec(text)?.[1]?.trim();
}

// ---- host checks -------------------------------------------------------------------------------

const virsh = (ctx: HostContext, ...args: string[]): Probe => execProbe('virsh', ['-c', libvirtUri(ctx.env), ...args]);
const VAGRANT_PLUGINS = execProbe('vagrant', ['plugin', 'list']);
const DEV_KVM = openProbe('/dev/kvm');
const netList = (ctx: HostContext) => virsh(ctx, 'net-list', '--all', '--name');
const netXml = (ctx: HostContext, name: string) => virsh(ctx, 'net-dumpxml', name);

/** The libvirt networks: the list, then each one's XML (a second round of probes). */
function networkProbes(ctx: HostContext, seen: ProbeResults): Probe[] {
  const list = okOutput(seen, netList(ctx));
  return [netList(ctx), ...(list === undefined ? [] : parseNames(list).map((n) => netXml(ctx, n)))];
}

/** Every libvirt network whose XML could be read; undefined when the list itself could not. */
function libvirtNetworks(seen: ProbeResults, ctx: HostContext): LibvirtNetwork[] | undefined {
  const list = okOutput(seen, netList(ctx));
  if (list === undefined) return undefined;
  return parseNames(list).flatMap((name) => {
    const xml = okOutput(seen, netXml(ctx, name));
    const net = xml === undefined ? undefined : parseNetworkXml(xml);
    return net ? [net] : [];
  });
}

function ownInterface(dev: string, seen: ProbeResults, ctx: HostContext): string | undefined {
  const net = libvirtNetworks(seen, ctx)?.find((n) => n.bridge === dev);
  return net ? `libvirt network ${net.name}` : undefined;
}

/** When libvirtd did not answer, the checks that ask it say so once instead of repeating virsh's error. */
function libvirtDown(seen: ProbeResults, ctx: HostContext): { verdict: 'warn'; seen: string } | undefined {
  return okOutput(seen, virsh(ctx, 'version')) === undefined ? { verdict: 'warn', seen: 'not checked: libvirtd does not answer (see libvirtd)' } : undefined;
}

const LIBVIRT_INSTALL = 'sudo apt-get install libvirt-daemon-system libvirt-clients qemu-system-x86 (Debian, Ubuntu)';

const pluginCheck: HostCheckSpec = {
  id: 'vagrant-libvirt', title: 'the vagrant-libvirt plugin', fatal: true,
  probes: () => [VAGRANT_VERSION, VAGRANT_PLUGINS], evaluate: (seen) => {
    if (seen.get(VAGRANT_PLUGINS.id)?.status === 'missing') return { verdict: 'warn', seen: 'not checked: no Vagrant (see above)' };
    const out = okOutput(seen, VAGRANT_PLUGINS);
    if (out === undefined) return { verdict: 'fail', seen: `\`vagrant plugin list\` failed: ${probeProblem(seen, VAGRANT_PLUGINS)}`, fix: 'run `vagrant plugin list`; `vagrant plugin repair` fixes a broken plugin set' };
    const plugin = parseVagrantPlugins(out).find((p) => p.name === 'vagrant-libvirt');
    if (plugin) return { verdict: 'ok', seen: `vagrant-libvirt ${plugin.version}${plugin.scope ? ` (${plugin.scope})` : ''}` };
    return {
      verdict: 'fail',
      seen: `the vagrant-libvirt plugin is not installed (vagrant plugin list: ${out.trim().split('\n').join('; ') || 'nothing'})`,
      fix: '`sudo apt-get install vagrant-libvirt` with Debian\'s Vagrant, or `vagrant plugin install vagrant-libvirt`',
    };
  },
};

const libvirtdCheck: HostCheckSpec = {
  id: 'libvirtd', title: 'libvirtd answers', fatal: true,
  probes: (ctx) => [virsh(ctx, 'version')], evaluate: (seen, ctx) => {
    const probe = virsh(ctx, 'version');
    const r = seen.get(probe.id);
    if (r?.status === 'missing') return { verdict: 'fail', seen: 'virsh is not installed', fix: LIBVIRT_INSTALL };
    const out = okOutput(seen, probe);
    if (out !== undefined) {
      const v = parseVirshVersion(out);
      return { verdict: 'ok', seen: `libvirt ${v.library ?? '?'} at ${libvirtUri(ctx.env)}${v.hypervisor ? `, hypervisor ${v.hypervisor}` : ''}` };
    }
    const why = r?.status === 'ok' ? virshError(r.stderr) : probeProblem(seen, probe);
    const fix = /No such file or directory|Connection refused/.test(why)
      ? 'start libvirtd: `sudo systemctl start libvirtd` (without systemd: `sudo libvirtd -d`, with virtlogd first)'
      : /Permission denied|authentication/i.test(why)
        ? 'add yourself to the libvirt group: `sudo usermod -aG libvirt $USER`, then log in again'
        : `run \`virsh -c ${libvirtUri(ctx.env)} version\` to see what is wrong`;
    return { verdict: 'fail', seen: `libvirtd does not answer at ${libvirtUri(ctx.env)}: ${why}`, fix };
  },
};

const kvmCheck: HostCheckSpec = {
  id: 'kvm', title: 'KVM usable, or driver qemu', fatal: true,
  probes: () => [DEV_KVM], evaluate: (seen, { plan }) => {
    const driver = plan.providerOptions.libvirt.driver;
    const r = seen.get(DEV_KVM.id);
    const usable = r?.status === 'ok';
    if (driver === 'qemu') return { verdict: 'ok', seen: `driver qemu: software emulation, no KVM needed${usable ? ' (/dev/kvm opens: driver kvm would be much faster, if guests run under it here)' : ''}` };
    if (usable) return { verdict: 'ok', seen: '/dev/kvm opens read-write' };
    const why = r?.status === 'missing' ? 'there is no /dev/kvm: no hardware virtualization for guests here (nested virtualization off, or the kvm module not loaded)' : r ? `${'message' in r ? r.message : ''}` : 'not checked';
    return {
      verdict: 'fail',
      seen: `driver kvm, but ${why}`,
      fix: r?.status === 'error' && r.errno === 'EACCES'
        ? 'add yourself to the kvm group (`sudo usermod -aG kvm $USER`, then log in again), or set `libvirt: {driver: qemu}` in cluster.yaml'
        : 'set `libvirt: {driver: qemu}` in cluster.yaml (software emulation, several times slower), or enable virtualization (firmware setting, nested=1) and load kvm_intel or kvm_amd',
    };
  },
};

const managementNetworkCheck: HostCheckSpec = {
  id: 'libvirt-management-network', title: `vagrant-libvirt's management network (${MANAGEMENT_NETWORK.name}, ${MANAGEMENT_NETWORK.cidr})`, fatal: true,
  probes: (ctx, seen) => [virsh(ctx, 'version'), ...networkProbes(ctx, seen)], evaluate: (seen, ctx) => {
    const down = libvirtDown(seen, ctx);
    if (down) return down;
    const networks = libvirtNetworks(seen, ctx);
    if (!networks) return { verdict: 'warn', seen: `not checked: ${probeProblem(seen, netList(ctx))}` };
    const { name, cidr } = MANAGEMENT_NETWORK;
    const byName = networks.find((n) => n.name === name);
    if (byName) {
      if (byName.cidr === cidr) return { verdict: 'ok', seen: `libvirt network ${name} exists on ${cidr}${byName.bridge ? ` (bridge ${byName.bridge})` : ''}` };
      return {
        verdict: 'fail',
        seen: `libvirt network ${name} is on ${byName.cidr ?? 'no IPv4 network'}, not ${cidr}: vagrant-libvirt stops with "does not match with network name ${name}"`,
        fix: `when no machine uses it, remove it and vagrant-libvirt makes it again: \`virsh net-destroy ${name}; virsh net-undefine ${name}\``,
      };
    }
    const byAddress = networks.find((n) => n.cidr === cidr);
    if (byAddress) {
      return {
        verdict: 'fail',
        seen: `libvirt network ${byAddress.name} holds ${cidr}, where vagrant-libvirt makes its network ${name}`,
        fix: `remove ${byAddress.name} (\`virsh net-destroy ${byAddress.name}; virsh net-undefine ${byAddress.name}\`) when nothing uses it`,
      };
    }
    const inUse = networkInUse(seen, ctx, cidr, "vagrant-libvirt's management network", (dev) => ownInterface(dev, seen, ctx));
    if (inUse.verdict !== 'ok') return { ...inUse, fix: `vagrant-libvirt makes its management network on ${cidr}: remove what uses it on this host` };
    return { verdict: 'ok', seen: `no libvirt network ${name} yet: vagrant-libvirt makes it on ${cidr} at the first up (${inUse.seen})` };
  },
};

const storagePoolCheck: HostCheckSpec = {
  id: 'libvirt-storage-pool', title: `libvirt storage pool ${STORAGE_POOL}`, fatal: true,
  probes: (ctx) => [virsh(ctx, 'version'), virsh(ctx, 'pool-info', STORAGE_POOL)], evaluate: (seen, ctx) => {
    const down = libvirtDown(seen, ctx);
    if (down) return down;
    const probe = virsh(ctx, 'pool-info', STORAGE_POOL);
    const r = seen.get(probe.id);
    if (r?.status !== 'ok') return { verdict: 'warn', seen: `not checked: ${probeProblem(seen, probe)}` };
    if (r.code !== 0) {
      if (/Storage pool not found/.test(r.stderr)) return { verdict: 'ok', seen: `no pool ${STORAGE_POOL} yet: vagrant-libvirt makes it (in /var/lib/libvirt/images) at the first up` };
      return { verdict: 'warn', seen: `not checked: ${virshError(r.stderr)}` };
    }
    const state = parsePoolState(r.stdout);
    if (state === 'running') return { verdict: 'ok', seen: `pool ${STORAGE_POOL} is running` };
    return {
      verdict: 'fail',
      seen: `pool ${STORAGE_POOL} is ${state ?? 'in an unknown state'}: vagrant-libvirt stops with "pool '${STORAGE_POOL}' already exists"`,
      fix: `\`virsh pool-start ${STORAGE_POOL}; virsh pool-autostart ${STORAGE_POOL}\``,
    };
  },
};

const domainsCheck: HostCheckSpec = {
  id: 'libvirt-machines', title: 'no other libvirt domain with these names', fatal: true,
  probes: (ctx) => [virsh(ctx, 'version'), virsh(ctx, 'list', '--all', '--uuid', '--name')], evaluate: (seen, ctx) => {
    const down = libvirtDown(seen, ctx);
    if (down) return down;
    const probe = virsh(ctx, 'list', '--all', '--uuid', '--name');
    const out = okOutput(seen, probe);
    if (out === undefined) return { verdict: 'warn', seen: `not checked: ${probeProblem(seen, probe)}` };
    const domains = parseDomainList(out);
    // The Vagrantfile sets default_prefix "<name>-": the domains are <name>-master, <name>-worker-N.
    const name = (machine: string) => `${ctx.plan.name}-${machine}`;
    const clashes = ctx.machines.flatMap((m) => domains.filter((d) => d.name === name(m.name) && d.uuid !== ctx.machineIds[m.name]).map((d) => d.name));
    if (clashes.length === 0) return { verdict: 'ok', seen: `none of ${ctx.machines.map((m) => name(m.name)).join(', ')} belongs to another directory` };
    return {
      verdict: 'fail',
      seen: `libvirt has domains of these names that are not this directory's: ${clashes.join(', ')} (vagrant-libvirt stops with "Name \`${clashes[0]}\` of domain about to create is already taken")`,
      fix: `another cluster named ${ctx.plan.name} exists on this host: destroy it in its own directory (\`kubeadm-vagrant destroy\`), or choose another \`name:\`; if its directory is gone: \`virsh destroy ${clashes[0]}; virsh undefine ${clashes[0]} --remove-all-storage\``,
    };
  },
};

export const libvirtHost: ProviderHost = {
  checks: [pluginCheck, libvirtdCheck, kvmCheck, managementNetworkCheck, storagePoolCheck, domainsCheck],
  interfaceProbes: networkProbes,
  ownInterface,
};
