import { compareVersions } from '../doctor/parsers.js';
import { VAGRANT_VERSION, vagrantVersion } from '../doctor/versions.js';
import { execProbe, okOutput, probeProblem, readProbe, type CheckOutcome, type HostCheckSpec, type ProbeResults, type ProviderHost } from '../doctor/types.js';
import { cidrRange, contains } from '../net.js';
import { NETWORKS_CONF, VIRTUALBOX_HOSTONLY_RANGE } from './virtualbox.js';

/** VirtualBox's host checks for `doctor` and `up`, and the readers of what they read. */

/** The first VirtualBox that reads NETWORKS_CONF. */
const HOSTONLY_RANGES_SINCE = '6.1.28';

/**
 * The VirtualBox minors each Vagrant accepts (its driver map, plugins/providers/virtualbox/
 * driver/meta.rb, matched by prefix): 4.0 to 6.0 in every Vagrant from 2.2.7, and each newer
 * minor from the release that added it (CHANGELOG; 2.3.4 refusing 7.1 checked here with the real
 * Vagrant 2.3.4). A newer VirtualBox is refused with "not supported by this version of Vagrant".
 */
export const VIRTUALBOX_SINCE_VAGRANT: readonly { virtualbox: string; vagrant: string }[] = [
  { virtualbox: '6.1', vagrant: '2.2.7' },
  { virtualbox: '7.0', vagrant: '2.3.2' },
  { virtualbox: '7.1', vagrant: '2.4.2' },
  { virtualbox: '7.2', vagrant: '2.4.9' },
];
const ALWAYS_ACCEPTED = ['4.0', '4.1', '4.2', '4.3', '5.0', '5.1', '5.2', '6.0'];
const OLDEST_KNOWN_VAGRANT = VIRTUALBOX_SINCE_VAGRANT[0]!.vagrant;
const NEWEST_KNOWN_VAGRANT = VIRTUALBOX_SINCE_VAGRANT.at(-1)!.vagrant;

/** The VirtualBox minors a Vagrant release accepts, oldest first. */
export function acceptedVirtualBox(vagrant: string): string[] {
  return [...ALWAYS_ACCEPTED, ...VIRTUALBOX_SINCE_VAGRANT.filter((e) => compareVersions(vagrant, e.vagrant) >= 0).map((e) => e.virtualbox)];
}

/** Whether a Vagrant release drives a VirtualBox version, from the table above. */
export function virtualBoxSupport(vagrant: string, virtualbox: string): CheckOutcome {
  const minor = virtualbox.split('.').slice(0, 2).join('.');
  const accepted = acceptedVirtualBox(vagrant);
  const list = `${accepted[0]} to ${accepted.at(-1)}`;
  if (compareVersions(vagrant, OLDEST_KNOWN_VAGRANT) < 0) {
    return { verdict: 'warn', seen: `Vagrant ${vagrant} is older than the releases this check knows (${OLDEST_KNOWN_VAGRANT} and newer)`, fix: `install Vagrant ${NEWEST_KNOWN_VAGRANT} or newer` };
  }
  if (accepted.includes(minor)) return { verdict: 'ok', seen: `Vagrant ${vagrant} accepts VirtualBox ${minor} (it accepts ${list})` };
  if (compareVersions(minor, ALWAYS_ACCEPTED[0]!) < 0) return { verdict: 'fail', seen: `VirtualBox ${virtualbox} is older than any Vagrant accepts`, fix: `install VirtualBox ${accepted.at(-1)}` };
  const since = VIRTUALBOX_SINCE_VAGRANT.find((e) => e.virtualbox === minor)?.vagrant;
  if (!since && compareVersions(vagrant, NEWEST_KNOWN_VAGRANT) > 0) {
    return { verdict: 'warn', seen: `VirtualBox ${minor} is newer than this check knows; Vagrant ${vagrant} may or may not accept it`, fix: `if \`vagrant up\` says "not supported", install VirtualBox ${accepted.at(-1)} or a newer Vagrant` };
  }
  return {
    verdict: 'fail',
    seen: `Vagrant ${vagrant} accepts VirtualBox ${list}, not ${virtualbox}: \`vagrant up\` would stop with "not supported by this version of Vagrant"`,
    fix: `install Vagrant ${since ?? 'newer than ' + NEWEST_KNOWN_VAGRANT}${since ? ' or newer' : ''}, or VirtualBox ${accepted.at(-1)}`,
  };
}

/**
 * `VBoxManage --version`: `7.1.4r165100`, distro builds `5.1.6_Debianr110634`; warnings (the
 * kernel module not loaded, an incomplete install) may come first.
 */
export function parseVBoxVersion(text: string): { version?: string; problems: string[] } {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const version = lines.map((l) => /^(\d+\.\d+\.\d+)/.exec(l)?.[1]).filter((v): v is string => !!v).at(-1);
  const problems = lines.filter((l) => /kernel module|vboxdrv|please install|^warning/i.test(l));
  return { ...(version ? { version } : {}), problems };
}

/** /etc/vbox/networks.conf: `* 10.0.0.0/8 192.168.0.0/16` lines; `#` starts a comment; IPv6 ranges are not ours. */
export function parseNetworksConf(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l.startsWith('*'))
    .flatMap((l) => l.slice(1).trim().split(/\s+/))
    .filter((r) => cidrRange(r) !== undefined);
}

/** `VBoxManage list vms`: `"demo-master" {0b6c7a2e-...}` per machine. */
export function parseVBoxVms(text: string): { name: string; uuid: string }[] {
  return [...text.matchAll(/^"(.*)" \{([0-9a-f-]+)\}$/gim)].map((m) => ({ name: m[1]!, uuid: m[2]! }));
}

const VBOX_VERSION = execProbe('VBoxManage', ['--version']);
const VBOX_VMS = execProbe('VBoxManage', ['list', 'vms']);
const NETWORKS_CONF_PROBE = readProbe(NETWORKS_CONF);
const VIRTUALBOX_DOWNLOAD = 'https://www.virtualbox.org/wiki/Linux_Downloads';

function virtualBoxVersion(seen: ProbeResults): string | undefined {
  const out = okOutput(seen, VBOX_VERSION);
  return out === undefined ? undefined : parseVBoxVersion(out).version;
}

const virtualboxInstalled: HostCheckSpec = {
  id: 'virtualbox', title: 'VirtualBox installed and its kernel module loaded', fatal: true,
  probes: () => [VBOX_VERSION, VAGRANT_VERSION], evaluate: (seen) => {
    const result = seen.get(VBOX_VERSION.id);
    const newest = acceptedVirtualBox(vagrantVersion(seen) ?? NEWEST_KNOWN_VAGRANT).at(-1);
    if (result?.status === 'missing') return { verdict: 'fail', seen: 'VirtualBox is not installed (no VBoxManage on PATH)', fix: `install VirtualBox ${newest} (${VIRTUALBOX_DOWNLOAD}), or use provider: libvirt` };
    const out = result?.status === 'ok' ? `${result.stdout}\n${result.stderr}` : undefined;
    if (out === undefined) return { verdict: 'fail', seen: `VBoxManage does not answer: ${probeProblem(seen, VBOX_VERSION)}`, fix: 'run `VBoxManage --version` to see what is wrong' };
    const { version, problems } = parseVBoxVersion(out);
    if (problems.length > 0 || !version) {
      return {
        verdict: 'fail',
        seen: `VBoxManage --version says: ${(problems.length ? problems : [out.trim() || '(nothing)']).join(' ').slice(0, 300)}`,
        fix: 'load VirtualBox\'s kernel module: `sudo /sbin/vboxconfig` (with the headers of the running kernel installed); `VBoxManage --version` must then print only the version',
      };
    }
    return { verdict: 'ok', seen: `VirtualBox ${version}` };
  },
};

const virtualboxVagrant: HostCheckSpec = {
  id: 'virtualbox-vagrant', title: 'this Vagrant supports this VirtualBox', fatal: true,
  probes: () => [VBOX_VERSION, VAGRANT_VERSION], evaluate: (seen) => {
    const vagrant = vagrantVersion(seen);
    const vbox = virtualBoxVersion(seen);
    if (!vagrant || !vbox) return { verdict: 'warn', seen: `not checked: ${!vagrant ? 'no Vagrant version' : 'no VirtualBox version'} (see above)` };
    return virtualBoxSupport(vagrant, vbox);
  },
};

const virtualboxHostOnly: HostCheckSpec = {
  id: 'virtualbox-hostonly-range', title: `node addresses inside VirtualBox's host-only ranges (${NETWORKS_CONF})`, fatal: true,
  probes: () => [VBOX_VERSION, NETWORKS_CONF_PROBE], evaluate: (seen, { plan }) => {
    const vbox = virtualBoxVersion(seen);
    if (vbox && compareVersions(vbox, HOSTONLY_RANGES_SINCE) < 0) return { verdict: 'ok', seen: `VirtualBox ${vbox} restricts no host-only range (from ${HOSTONLY_RANGES_SINCE} on it does)` };
    const conf = seen.get(NETWORKS_CONF_PROBE.id);
    if (conf && conf.status !== 'ok' && conf.status !== 'missing') return { verdict: 'warn', seen: `not checked: ${conf.message}` };
    const fromFile = conf?.status === 'ok';
    const ranges = fromFile ? parseNetworksConf(conf.stdout) : [VIRTUALBOX_HOSTONLY_RANGE];
    const where = fromFile ? `${NETWORKS_CONF} allows ${ranges.join(', ') || 'none'}` : `no ${NETWORKS_CONF}, so only ${VIRTUALBOX_HOSTONLY_RANGE}`;
    const outside = plan.nodes.filter((n) => !ranges.some((r) => contains(cidrRange(r)!, n.ip)));
    if (outside.length === 0) return { verdict: 'ok', seen: `every node address is allowed (${where})` };
    return {
      verdict: 'fail',
      seen: `${outside.map((n) => `${n.ip} (${n.name})`).join(', ')} outside the host-only ranges (${where}): Vagrant stops with "The IP address configured for the host-only network is not within the allowed ranges"`,
      fix: `add the line "* ${plan.network.nodeNetwork}" to ${NETWORKS_CONF} (as root), or use a masterIP in ${VIRTUALBOX_HOSTONLY_RANGE} (e.g. 192.168.56.10)`,
    };
  },
};

const virtualboxClash: HostCheckSpec = {
  id: 'virtualbox-machines', title: 'no other VirtualBox machine with these names', fatal: true,
  probes: () => [VBOX_VMS], evaluate: (seen, { machines, machineIds }) => {
    const out = okOutput(seen, VBOX_VMS);
    if (out === undefined) return { verdict: 'warn', seen: `not checked: ${probeProblem(seen, VBOX_VMS)}` };
    const vms = parseVBoxVms(out);
    // The Vagrantfile names each VirtualBox machine after its hostname (vb.name).
    const clashes = machines.flatMap((m) => vms.filter((vm) => vm.name === m.hostname && vm.uuid !== machineIds[m.name]).map((vm) => `${vm.name} {${vm.uuid}}`));
    if (clashes.length === 0) return { verdict: 'ok', seen: `none of ${machines.map((m) => m.hostname).join(', ')} belongs to another directory` };
    return {
      verdict: 'fail',
      seen: `VirtualBox has machines of these names that are not this directory's: ${clashes.join(', ')}`,
      fix: 'another cluster of the same name exists: destroy it in its own directory (`kubeadm-vagrant destroy`), or choose another `name:`; an orphan goes with `VBoxManage unregistervm NAME --delete`',
    };
  },
};

export const virtualboxHost: ProviderHost = {
  checks: [virtualboxInstalled, virtualboxVagrant, virtualboxHostOnly, virtualboxClash],
  interfaceProbes: () => [],
  // VirtualBox's host-only adapters: Vagrant reuses one whose network matches.
  ownInterface: (dev) => (/^vboxnet\d+$/.test(dev) ? 'a VirtualBox host-only network' : undefined),
};
