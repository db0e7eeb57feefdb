import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { boxesDir } from '../paths.js';
import type { ClusterConfig, Cni, Distro, Provider } from '../config/schema.js';
import { firstWorkerIP } from '../config/validate.js';
import { intToIp, ipToInt, slash24 } from './net.js';

export type Arch = 'amd64' | 'arm64';
export type Role = 'control-plane' | 'worker';

export interface NodePlan {
  /** Vagrant machine name: `master`, `worker-1`, ... (`vagrant ssh master` works in the cluster directory). */
  name: string;
  /** Guest hostname and Kubernetes node name: `<cluster>-master`, `<cluster>-worker-1`. */
  hostname: string;
  role: Role;
  /** 0 for the control plane, N for worker-N. */
  index: number;
  ip: string;
  cpus: number;
  memory: number;
}

/** Secrets and their derived values arrive as inputs, so planning and rendering stay pure. */
export interface PlanSecrets {
  token: string;
  /** `sha256:<hex>` of the CA's SubjectPublicKeyInfo; workers pin it on join. */
  caCertHash: string;
  /** The cluster's own public key, `ssh-rsa AAAA... comment`. */
  sshPublicKey: string;
}

export interface DistroInfo {
  id: Distro;
  family: 'debian' | 'rhel';
  packageManager: 'apt' | 'dnf';
}

export interface ClusterPlan {
  name: string;
  provider: Provider;
  libvirtDriver: 'kvm' | 'qemu';
  distro: DistroInfo;
  box: { name: string; version?: string };
  kubernetes: {
    /** The minor, `1.33`: selects the pkgs.k8s.io repository. */
    minor: string;
    /** The exact patch `1.33.2` when the config pins one; otherwise the repository's newest. */
    patch?: string;
    kubeadmApiVersion: 'kubeadm.k8s.io/v1beta3' | 'kubeadm.k8s.io/v1beta4';
    cni: Cni;
    podSubnet: string;
    serviceSubnet: string;
    tokenTTL: string;
    dashboard: boolean;
  };
  network: {
    masterIP: string;
    /** The master's /24, which holds every node. */
    nodeNetwork: string;
  };
  controlPlane: NodePlan;
  workers: NodePlan[];
  /** Control plane first, then workers by index. */
  nodes: NodePlan[];
  secrets: PlanSecrets;
}

export interface PlanInputs {
  config: ClusterConfig;
  secrets: PlanSecrets;
  arch: Arch;
  /**
   * The worker indices that exist (worker-N). Defaults to 1..workers.count; after a node is
   * removed the others keep their names and addresses.
   */
  workerIndices?: number[];
}

interface CatalogEntry {
  family: 'debian' | 'rhel';
  packageManager: 'apt' | 'dnf';
  boxes: Record<Provider, Record<Arch, string | null>>;
}

let catalogCache: Record<string, CatalogEntry> | undefined;
export function boxCatalog(): Record<string, CatalogEntry> {
  catalogCache ??= (JSON.parse(readFileSync(join(boxesDir, 'catalog.json'), 'utf8')) as { distros: Record<string, CatalogEntry> }).distros;
  return catalogCache;
}

export function hostArch(nodeArch: string = process.arch): Arch {
  return nodeArch === 'arm64' ? 'arm64' : 'amd64';
}

export function defaultWorkerIndices(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

/**
 * Reconciles the worker indices in use with the configured count: a raised count takes the lowest
 * free indices (names and addresses of removed workers come back only once their machines are
 * gone, which `node remove` guarantees), a lowered count drops the highest.
 */
export function workerIndicesFor(count: number, inUse?: readonly number[]): number[] {
  if (!inUse) return defaultWorkerIndices(count);
  const out = [...new Set(inUse)].sort((a, b) => a - b).slice(0, count);
  for (let i = 1; out.length < count; i++) if (!out.includes(i)) out.push(i);
  return out.sort((a, b) => a - b);
}

function resolveBox(config: ClusterConfig, arch: Arch): { name: string; version?: string } {
  if (typeof config.box === 'object') return config.box.version ? { name: config.box.name, version: config.box.version } : { name: config.box.name };
  if (config.box !== '') return { name: config.box };
  const name = boxCatalog()[config.distro]?.boxes[config.provider]?.[arch];
  if (!name) {
    throw new ConfigError([
      {
        path: 'box',
        message: `the catalog has no ${config.distro} box for ${config.provider} on ${arch}`,
        hint: 'set `box:` in cluster.yaml to a box that exists for your provider and architecture',
      },
    ]);
  }
  return { name };
}

/** The whole cluster as data: a pure function of config, secrets and architecture. */
export function buildPlan({ config, secrets, arch, workerIndices }: PlanInputs): ClusterPlan {
  const entry = boxCatalog()[config.distro]!;
  const [major, minor, patch] = config.kubernetes.version.split('.');
  const minorVersion = `${major}.${minor}`;
  const indices = workerIndicesFor(config.workers.count, workerIndices);
  const masterIP = config.network.masterIP;
  const nodeNetwork = slash24(masterIP);
  const firstWorker = ipToInt(firstWorkerIP(masterIP, config.network.workerIPStart));

  const controlPlane: NodePlan = {
    name: 'master',
    hostname: `${config.name}-master`,
    role: 'control-plane',
    index: 0,
    ip: masterIP,
    cpus: config.controlPlane.cpus,
    memory: config.controlPlane.memory,
  };
  const workers = indices.map((i): NodePlan => {
    const ip = firstWorker + i - 1;
    if (ip >= nodeNetwork.last || ip === ipToInt(masterIP)) {
      throw new ConfigError([{ path: 'workers.count', message: `worker-${i} would get ${intToIp(ip)}, outside ${nodeNetwork.cidr} or on the master`, hint: 'fewer workers, or an earlier network.workerIPStart' }]);
    }
    return {
      name: `worker-${i}`,
      hostname: `${config.name}-worker-${i}`,
      role: 'worker',
      index: i,
      ip: intToIp(ip),
      cpus: config.workers.cpus,
      memory: config.workers.memory,
    };
  });

  return {
    name: config.name,
    provider: config.provider,
    libvirtDriver: config.libvirt.driver,
    distro: { id: config.distro, family: entry.family, packageManager: entry.packageManager },
    box: resolveBox(config, arch),
    kubernetes: {
      minor: minorVersion,
      ...(patch !== undefined ? { patch: config.kubernetes.version } : {}),
      kubeadmApiVersion: Number(minor) >= 31 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3',
      cni: config.kubernetes.cni,
      podSubnet: config.kubernetes.podSubnet,
      serviceSubnet: config.kubernetes.serviceSubnet,
      tokenTTL: config.kubernetes.tokenTTL,
      dashboard: config.addons.dashboard,
    },
    network: { masterIP, nodeNetwork: nodeNetwork.cidr },
    controlPlane,
    workers,
    nodes: [controlPlane, ...workers],
    secrets,
  };
}
