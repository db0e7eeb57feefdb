import { catalogBox, type Arch, type Catalog } from '../distros.js';
import type { ConfigProblem } from '../errors.js';
import { minorInfo, MINORS, NEWEST_PROVEN_MINOR } from '../versions.js';
import { versionProblem } from './schema.js';
import { cidrRange, firstWorkerIP, hasHostBits, intToIp, ipToInt, isIPv4, overlaps, slash24, slash24Count, type Range } from '../net.js';
import { PROVIDERS } from '../providers/index.js';
import { workerIndicesFor } from '../worker-indices.js';

/** What validation needs besides the config: the box catalog, this host's architecture, the workers in use. */
export interface ValidationContext {
  catalog: Catalog;
  arch: Arch;
  /** The worker indices a cluster directory has in use (after `node remove`); default 1..count. */
  workerIndices?: readonly number[];
  /** Today, for end-of-life warnings (default: now). */
  now?: Date;
}

/** A warning for a minor past its end of life or newer than the newest known; nothing for a maintained one. */
export function versionWarning(version: string, now: Date): ConfigProblem | undefined {
  if (versionProblem(version)) return undefined;
  const minor = version.split('.').slice(0, 2).join('.');
  const info = minorInfo(minor);
  const today = now.toISOString().slice(0, 10);
  if (!info) {
    return {
      path: 'kubernetes.version',
      message: `${minor} is newer than the newest minor this tool knows (${NEWEST_PROVEN_MINOR}): its kubeadm config and images are untested`,
      hint: `use "${NEWEST_PROVEN_MINOR}" unless you are trying ${minor} on purpose`,
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

/** Loosely typed view of a config whose fields may have failed their own checks. */
interface LooseConfig {
  provider?: unknown;
  kubernetes?: { version?: unknown; podSubnet?: unknown; serviceSubnet?: unknown };
  distro?: unknown;
  box?: unknown;
  network?: { masterIP?: unknown; workerIPStart?: unknown };
  workers?: { count?: unknown };
}

export interface ValidationResult {
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}


/**
 * Checks that span fields: node addresses, subnet sizes and overlaps. Each check runs only when
 * the fields it needs are well formed, so one bad field does not hide the other problems.
 */
export function crossFieldChecks(cfg: LooseConfig, ctx: ValidationContext): ValidationResult {
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
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

  if (provider && typeof cfg.distro === 'string' && ctx.catalog.distros[cfg.distro] && cfg.box === '' && !catalogBox(ctx.catalog, cfg.distro, provider.id, ctx.arch)) {
    errors.push({
      path: 'box',
      message: `the catalog has no ${cfg.distro} box for ${provider.id} on ${ctx.arch}`,
      hint: 'set `box:` in cluster.yaml (or --box, BOX_IMAGE) to a box that exists for your provider and architecture, or pick another distro',
    });
  }

  const version = cfg.kubernetes?.version;
  const versionNote = typeof version === 'string' ? versionWarning(version, ctx.now ?? new Date()) : undefined;
  if (versionNote) warnings.push(versionNote);

  let nodeNet: Range | undefined;
  if (isIPv4(masterIP)) {
    nodeNet = slash24(masterIP);
    const host = ipToInt(masterIP) % 256;
    if (host === 0 || host === 255) {
      errors.push({
        path: 'network.masterIP',
        message: `${masterIP} is the ${host === 0 ? 'network' : 'broadcast'} address of ${nodeNet.cidr}`,
        hint: 'pick a host address such as ' + intToIp(nodeNet.first + 10),
      });
    }
    const start = startRaw === undefined || startRaw === '' ? '' : isIPv4(startRaw) ? startRaw : undefined;
    if (start !== undefined && workerCount !== undefined && lastIndex !== undefined && workerCount > 0) {
      const first = ipToInt(firstWorkerIP(masterIP, start));
      const last = first + lastIndex - 1;
      const path = start === '' ? 'workers.count' : 'network.workerIPStart';
      if (first < nodeNet.first + 1 || last > nodeNet.last - 1) {
        errors.push({
          path,
          message: `workers ${intToIp(first)}..${intToIp(last)} do not all fit in ${nodeNet.cidr} (the master's /24) without its .0 and .255`,
          hint: `every node lives in the master's /24; lower workers.count or move network.workerIPStart so the last worker is at most ${intToIp(nodeNet.last - 1)}`,
        });
      } else if (ipToInt(masterIP) >= first && ipToInt(masterIP) <= last) {
        errors.push({
          path,
          message: `the worker range ${intToIp(first)}..${intToIp(last)} includes the master's address ${masterIP}`,
          hint: `start the workers after the master, e.g. network.workerIPStart: ${intToIp(ipToInt(masterIP) + 1)}`,
        });
      }
    }
  }
  if (provider?.check) {
    const checked = provider.check({ ...(isIPv4(masterIP) ? { masterIP, nodeNetwork: slash24(masterIP).cidr } : {}) });
    errors.push(...checked.errors);
    warnings.push(...checked.warnings);
  }

  if (pod) {
    if (hasHostBits(pod.cidr)) {
      errors.push({ path: 'kubernetes.podSubnet', message: `${pod.cidr} has host bits set`, hint: `use the network address: ${intToIp(pod.first)}/${pod.prefix}` });
    }
    const nodes = workerCount === undefined ? undefined : workerCount + 1;
    if (pod.prefix > 24) {
      errors.push({
        path: 'kubernetes.podSubnet',
        message: `/${pod.prefix} is smaller than the /24 that every node gets for its pods`,
        hint: 'use a /16 such as 10.244.0.0/16',
      });
    } else if (nodes !== undefined && slash24Count(pod) < nodes) {
      errors.push({
        path: 'kubernetes.podSubnet',
        message: `${pod.cidr} holds ${slash24Count(pod)} /24 blocks but the cluster has ${nodes} nodes, each needing its own /24`,
        hint: 'use a larger pod subnet, such as a /16',
      });
    }
  }
  if (svc) {
    if (hasHostBits(svc.cidr)) {
      errors.push({ path: 'kubernetes.serviceSubnet', message: `${svc.cidr} has host bits set`, hint: `use the network address: ${intToIp(svc.first)}/${svc.prefix}` });
    }
    if (svc.prefix < 12) {
      errors.push({
        path: 'kubernetes.serviceSubnet',
        message: `/${svc.prefix} is larger than /12, the largest service range the API server accepts`,
        hint: 'use a /12 or smaller, such as 10.96.0.0/12',
      });
    }
    if (svc.prefix > 28) {
      errors.push({ path: 'kubernetes.serviceSubnet', message: `/${svc.prefix} leaves too few service addresses`, hint: 'use a /24 or larger, such as 10.96.0.0/12' });
    }
  }

  const named: { path: string; what: string; range: Range | undefined }[] = [
    { path: 'kubernetes.podSubnet', what: 'the pod subnet', range: pod },
    { path: 'kubernetes.serviceSubnet', what: 'the service subnet', range: svc },
    { path: 'network.masterIP', what: 'the node network', range: nodeNet },
  ];
  if (nat) named.push({ path: 'provider', what: nat.what, range: cidrRange(nat.cidr) });
  for (let i = 0; i < named.length; i++) {
    for (let j = i + 1; j < named.length; j++) {
      const a = named[i]!;
      const b = named[j]!;
      if (!a.range || !b.range || !overlaps(a.range, b.range)) continue;
      errors.push({
        path: a.path,
        message: `${a.what} ${a.range.cidr} overlaps ${b.what} ${b.range.cidr}`,
        hint: `the pod subnet, the service subnet, the node network and the provider's NAT network must not overlap; change ${a.path}`,
      });
    }
  }
  return { errors, warnings };
}
