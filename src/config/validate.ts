import { boxDistroMismatch } from '../box-name.js';
import { catalogBox, distroIds, type Arch, type Catalog } from '../distros.js';
import type { ConfigProblem } from '../errors.js';
import { KNOWN_AT, minorInfo, MINORS, NEWEST_PROVEN_MINOR } from '../versions.js';
import { displayValue, hintFor } from './hints.js';
import { versionProblem } from './schema.js';
import { cidrRange, firstWorkerIP, intToIp, ipToInt, isIPv4, isPrivateAddress, overlaps, slash24, slash24Count, type Range } from '../net.js';
import { PROVIDERS } from '../providers/index.js';
import { redactToken, tokenWeakness } from '../token.js';
import { MAX_HOSTNAME_LENGTH, nodeHostname, workerIndicesFor } from '../worker-indices.js';

/** What validation needs besides the config: the box catalog, this host's architecture, the workers in use. */
export interface ValidationContext {
  catalog: Catalog;
  arch: Arch;
  /** The worker indices a cluster directory has in use (after `node remove`); default 1..count. */
  workerIndices?: readonly number[];
  /** The variable or flag each field's value came from, by dotted path, for messages that name two fields. */
  sources?: ReadonlyMap<string, string>;
  /** Today, for end-of-life warnings (default: now). */
  now?: Date;
}

/**
 * A warning for a minor past its end of life or newer than the newest known, or a patch newer than
 * the newest known of its minor (it may not exist: the packages phase would find no such package);
 * nothing for a maintained minor or a known patch.
 */
export function versionWarning(version: string, now: Date): ConfigProblem | undefined {
  if (versionProblem(version)) return undefined;
  const [major, minorNumber, patch] = version.split('.');
  const minor = `${major}.${minorNumber}`;
  const info = minorInfo(minor);
  const today = now.toISOString().slice(0, 10);
  if (!info) {
    return {
      path: 'kubernetes.version',
      message: `${minor} is newer than the newest minor this tool knows (${NEWEST_PROVEN_MINOR}): its kubeadm config and images are untested`,
      hint: `use "${NEWEST_PROVEN_MINOR}" unless you are trying ${minor} on purpose`,
    };
  }
  if (patch !== undefined && Number(patch) > info.newestPatch) {
    return {
      path: 'kubernetes.version',
      message: `${version} is newer than the newest ${minor} patch this tool knows (${minor}.${info.newestPatch}, as of ${KNOWN_AT}); if it does not exist, there are no artifacts of it (\`artifacts fetch\` finds no such release)`,
      hint: `use "${minor}.${info.newestPatch}", or the minor "${minor}" for the newest patch this tool knows`,
    };
  }
  if (info.endOfLife < today) {
    const maintained = MINORS.filter((m) => m.endOfLife >= today && m.released <= today).map((m) => m.minor);
    return {
      path: 'kubernetes.version',
      message: `${minor} reached its end of life on ${info.endOfLife}: no more fixes upstream`,
      hint: `the maintained minors are ${maintained.join(', ')}`,
    };
  }
  return undefined;
}

/**
 * What `up` refuses (and `config validate`, which checks a config for `up`): nothing to set up. The
 * other commands do not read `setup`, so they take any.
 */
export function setupProblem(setup: { controlPlane: boolean; workers: boolean }, sources?: ReadonlyMap<string, string>): ConfigProblem | undefined {
  if (setup.controlPlane || setup.workers) return undefined;
  const from = ['setup.controlPlane', 'setup.workers'].flatMap((p) => (sources?.get(p) ? [`${p} from ${sources.get(p)}`] : []));
  return {
    path: `setup${from.length > 0 ? ` (${from.join(', ')})` : ''}`,
    message: 'setup.controlPlane (SETUP_MASTER) and setup.workers (SETUP_NODES) are both false: nothing to set up',
    hint: 'SETUP_MASTER=true SETUP_NODES=false for the control plane alone, then SETUP_MASTER=false SETUP_NODES=true for the workers',
  };
}

/** Loosely typed view of a config whose fields may have failed their own checks. */
interface LooseConfig {
  name?: unknown;
  provider?: unknown;
  kubernetes?: { version?: unknown; podSubnet?: unknown; serviceSubnet?: unknown; token?: unknown };
  distro?: unknown;
  box?: unknown;
  network?: { masterIP?: unknown; workerIPStart?: unknown };
  workers?: { count?: unknown };
}

export interface ValidationResult {
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}

/** `a, b and c`. */
function listed(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/**
 * Checks that span fields: node addresses, subnet sizes and overlaps. Each check runs only when
 * the fields it needs are well formed, so one bad field does not hide the other problems.
 */
export function crossFieldChecks(cfg: LooseConfig, ctx: ValidationContext): ValidationResult {
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  /** A field as a problem's path: `workers.count (from NODE_COUNT)` when a variable or flag set it. */
  const at = (path: string) => (ctx.sources?.get(path) ? `${path} (from ${ctx.sources.get(path)})` : path);
  /** The other field of a two-field problem, when a variable or flag set it: ` (network.masterIP from --master-ip)`. */
  const other = (path: string) => (ctx.sources?.get(path) ? ` (${path} from ${ctx.sources.get(path)})` : '');
  const masterIP = cfg.network?.masterIP;
  const startRaw = cfg.network?.workerIPStart;
  const countRaw = cfg.workers?.count;
  const workerCount = Number.isInteger(countRaw) && (countRaw as number) >= 0 ? (countRaw as number) : undefined;
  const pod = cidrRange(cfg.kubernetes?.podSubnet);
  const svc = cidrRange(cfg.kubernetes?.serviceSubnet);
  const provider = PROVIDERS.find((p) => p.id === cfg.provider);
  const nat = provider?.natNetwork;
  // With workers removed from the middle, the highest index in use decides whether they all fit.
  const lastIndex = workerCount === undefined ? undefined : Math.max(0, ...workerIndicesFor(workerCount, ctx.workerIndices));

  // The distro is the catalog's (the one validation is given): its own check, before anything that reads it.
  const distroKnown = typeof cfg.distro === 'string' && ctx.catalog.distros[cfg.distro] !== undefined;
  if (typeof cfg.distro === 'string' && !distroKnown) {
    const hint = hintFor('distro', ctx.sources?.get('distro'));
    errors.push({ path: at('distro'), message: `must be one of ${distroIds(ctx.catalog).join(', ')} (the guest OS; the catalog is boxes/catalog.json); got ${displayValue('distro', cfg.distro)}`, ...(hint ? { hint } : {}) });
  }
  if (provider && typeof cfg.distro === 'string' && distroKnown && cfg.box === '' && !catalogBox(ctx.catalog, cfg.distro, provider.id, ctx.arch)) {
    errors.push({
      path: 'box',
      message: `the catalog has no ${cfg.distro} box for ${provider.id} on ${ctx.arch}`,
      hint: 'set `box:` in cluster.yaml (or --box, BOX_IMAGE) to a box that exists for your provider and architecture, or pick another distro',
    });
  }

  // Hostnames are <name>-master and <name>-worker-N: the longest one the plan makes decides.
  if (typeof cfg.name === 'string' && cfg.name !== '' && lastIndex !== undefined) {
    const longest = nodeHostname(cfg.name, lastIndex);
    if (longest.length > MAX_HOSTNAME_LENGTH) {
      const suffix = longest.length - cfg.name.length;
      errors.push({
        path: at('name'),
        message: `the hostname ${cfg.name}${longest.slice(cfg.name.length)} would be ${longest.length} characters long, and a hostname is at most ${MAX_HOSTNAME_LENGTH}`,
        hint: `use a name of at most ${MAX_HOSTNAME_LENGTH - suffix} characters${lastIndex > 0 ? ` with worker-${lastIndex} the last worker` : ''}`,
      });
    }
  }

  const version = cfg.kubernetes?.version;
  const versionNote = typeof version === 'string' ? versionWarning(version, ctx.now ?? new Date()) : undefined;
  if (versionNote) warnings.push({ ...versionNote, path: at(versionNote.path) });

  // A box whose name clearly says it holds another system than `distro:` gets scripts for the wrong one.
  const boxName = typeof cfg.box === 'string' ? cfg.box : typeof cfg.box === 'object' && cfg.box !== null ? (cfg.box as { name?: unknown }).name : undefined;
  const mismatch = typeof boxName === 'string' && boxName !== '' && distroKnown ? boxDistroMismatch(boxName, cfg.distro as string, ctx.catalog) : undefined;
  if (mismatch) warnings.push({ path: at('box'), ...mismatch });

  const token = cfg.kubernetes?.token;
  const weakness = typeof token === 'string' && token !== '' ? tokenWeakness(token) : undefined;
  if (weakness) {
    warnings.push({
      path: at('kubernetes.token'),
      message: `${redactToken(token as string)}: its secret is ${weakness}, with no randomness in it: anyone who guesses it can join a machine to the cluster while it is valid`,
      hint: 'leave it empty to have one generated and kept in .kubeadm-vagrant/token, or make one with `kubeadm-vagrant token generate`',
    });
  }

  let nodeNet: Range | undefined;
  // A masterIP that failed its own checks (the .0 or .255 of its /24, a special range) is not here.
  if (isIPv4(masterIP)) {
    nodeNet = slash24(masterIP);
    const start = startRaw === undefined || startRaw === '' ? '' : isIPv4(startRaw) ? startRaw : undefined;
    if (start !== undefined && workerCount !== undefined && lastIndex !== undefined && workerCount > 0) {
      const first = ipToInt(firstWorkerIP(masterIP, start));
      const last = first + lastIndex - 1;
      const path = start === '' ? 'workers.count' : 'network.workerIPStart';
      const master = `network.masterIP ${masterIP}${ctx.sources?.get('network.masterIP') ? ` from ${ctx.sources.get('network.masterIP')}` : ''}`;
      if (first < nodeNet.first + 1 || last > nodeNet.last - 1) {
        errors.push({
          path: at(path),
          message: `workers ${intToIp(first)}..${intToIp(last)} do not all fit in ${nodeNet.cidr} without its .0 and .255 (the master's /24: ${master}${path === 'network.workerIPStart' ? '' : other('network.workerIPStart')})`,
          hint: `every node lives in the master's /24; lower workers.count or move network.workerIPStart so the last worker is at most ${intToIp(nodeNet.last - 1)}`,
        });
      } else if (ipToInt(masterIP) >= first && ipToInt(masterIP) <= last) {
        errors.push({
          path: at(path),
          message: `the worker range ${intToIp(first)}..${intToIp(last)} includes the master's address (${master})`,
          hint: `start the workers after the master, e.g. network.workerIPStart: ${intToIp(ipToInt(masterIP) + 1)}`,
        });
      }
    }
    if (!isPrivateAddress(masterIP)) {
      warnings.push({
        path: at('network.masterIP'),
        message: `${masterIP} is a public address: the host-only network routes ${nodeNet.cidr} to the machines, so this host can no longer reach the real ${nodeNet.cidr} while the cluster's network is up`,
        hint: 'use a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), such as 192.168.56.10',
      });
    }
  }
  if (provider?.check) {
    const checked = provider.check({ ...(isIPv4(masterIP) ? { masterIP, nodeNetwork: slash24(masterIP).cidr } : {}) });
    errors.push(...checked.errors.map((p) => ({ ...p, path: at(p.path) })));
    warnings.push(...checked.warnings.map((p) => ({ ...p, path: at(p.path) })));
  }

  // Host bits, special ranges and sizes are each subnet's own checks (../config/schema.ts): a subnet
  // that failed them is not here.
  const nodes = workerCount === undefined ? undefined : workerCount + 1;
  if (pod && nodes !== undefined && slash24Count(pod) < nodes) {
    errors.push({
      path: at('kubernetes.podSubnet'),
      message: `${pod.cidr} holds ${slash24Count(pod)} /24 blocks but the cluster has ${nodes} nodes${other('workers.count')}, each needing its own /24`,
      hint: 'use a larger pod subnet, such as a /16',
    });
  }

  const named: { path: string; what: string; range: Range | undefined }[] = [
    { path: 'kubernetes.podSubnet', what: 'the pod subnet', range: pod },
    { path: 'kubernetes.serviceSubnet', what: 'the service subnet', range: svc },
    { path: 'network.masterIP', what: 'the node network', range: nodeNet },
  ];
  if (nat) named.push({ path: 'provider', what: nat.what, range: cidrRange(nat.cidr) });
  // One problem per field, naming everything it overlaps: a huge subnet gives one error, not one per neighbour.
  for (let i = 0; i < named.length; i++) {
    const a = named[i]!;
    if (!a.range) continue;
    const hit = named.slice(i + 1).filter((b) => b.range && overlaps(a.range!, b.range));
    if (hit.length === 0) continue;
    errors.push({
      path: at(a.path),
      message: `${a.what} ${a.range.cidr} overlaps ${listed(hit.map((b) => `${b.what} ${b.range!.cidr}${other(b.path)}`))}`,
      hint: `the pod subnet, the service subnet, the node network and the provider's NAT network must not overlap; change ${a.path}`,
    });
  }
  return { errors, warnings };
}
