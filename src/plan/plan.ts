import type { ClusterConfig } from '../config/schema.js';
import { catalogBox, type Arch, type Catalog, type Family } from '../distros.js';
import { firstWorkerIP, intToIp, ipToInt, slash24 } from '../net.js';
import type { OfflineArtifacts } from '../offline/artifacts.js';
import { PROVIDER_OPTIONS, providerDef } from '../providers/index.js';
import { machineName, nodeHostname, workerIndicesFor } from '../worker-indices.js';

export { defaultWorkerIndices, workerIndicesFor } from '../worker-indices.js';

export type { Arch } from '../distros.js';
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

export interface ClusterPlan {
  name: string;
  /** A provider id of src/providers. */
  provider: string;
  /** Each provider's own config section (e.g. `libvirt: {driver}`), for its Vagrantfile block. */
  providerOptions: Record<string, unknown>;
  distro: { id: string; family: Family; cpu?: 'x86-64-v3' };
  box: { name: string; version?: string };
  kubernetes: {
    /** The minor, `1.33`: selects the pkgs.k8s.io repository. */
    minor: string;
    /** The exact patch `1.33.2` when the config pins one; otherwise the repository's newest. */
    patch?: string;
    /** v1beta4 exists in every supported minor (1.31+); 1.37 refuses v1beta3. */
    kubeadmApiVersion: 'kubeadm.k8s.io/v1beta4';
    proxyMode: 'iptables' | 'nftables';
    /** A CNI id of src/cni. */
    cni: string;
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
  /**
   * Where containerd comes from: its release archives (downloaded on the guests), the offline
   * artifacts, or the distro's package.
   */
  containerd: 'release' | 'artifacts' | 'distro';
  /**
   * Offline installs: the guests take everything from this host directory (the patch's own);
   * workers import every image archive but `controlPlaneArchives`.
   */
  offline?: { dir: string; patch: string; sumsHash: string; controlPlaneArchives: readonly string[] };
  /**
   * How much slower than real hardware the machines run (software emulation): kubeadm's waits,
   * the static pods' probes and up's and verify's waits are multiplied by it.
   */
  slowdown: number;
  controlPlane: NodePlan;
  workers: NodePlan[];
  /** Control plane first, then workers by index. */
  nodes: NodePlan[];
  secrets: PlanSecrets;
}

export interface PlanInputs {
  config: ClusterConfig;
  secrets: PlanSecrets;
  /** The host's architecture: it picks the catalog's box. */
  arch: Arch;
  catalog: Catalog;
  /** The resolved offline artifacts directory, when offline.dir is set. */
  offline?: OfflineArtifacts;
  /**
   * The worker indices that exist (worker-N). Defaults to 1..workers.count; after a node is
   * removed the others keep their names and addresses.
   */
  workerIndices?: number[];
}

/** The Kubernetes version a plan installs and verifies: its patch, or its minor (`1.37`: the repository's newest). */
export function kubernetesVersionOf(plan: Pick<ClusterPlan, 'kubernetes'>): string {
  return plan.kubernetes.patch ?? plan.kubernetes.minor;
}

/** The address of worker-N: N-1 after the first worker address. */
export function workerIP(config: ClusterConfig, index: number): string {
  return intToIp(ipToInt(firstWorkerIP(config.network.masterIP, config.network.workerIPStart)) + index - 1);
}

function resolveBox(config: ClusterConfig, catalog: Catalog, arch: Arch): { name: string; version?: string } {
  if (typeof config.box === 'object') return config.box.version ? { name: config.box.name, version: config.box.version } : { name: config.box.name };
  if (config.box !== '') return { name: config.box };
  const name = catalogBox(catalog, config.distro, config.provider, arch);
  // Validation refuses a config whose distro has no catalog box for the provider and architecture.
  if (!name) throw new Error(`internal: the catalog has no ${config.distro} box for ${config.provider} on ${arch}`);
  return { name };
}

/**
 * The whole cluster as data: a pure function of config, secrets, catalog and architecture.
 * Its input is a validated config (every node fits its network); it makes no I/O and reports no
 * config errors.
 */
export function buildPlan({ config, secrets, arch, catalog, offline, workerIndices }: PlanInputs): ClusterPlan {
  // Offline, the version is the one of the artifacts directory (a minor takes its newest patch there).
  const version = offline?.patch ?? config.kubernetes.version;
  const [major, minor, patch] = version.split('.');
  const indices = workerIndicesFor(config.workers.count, workerIndices);
  const masterIP = config.network.masterIP;

  const controlPlane: NodePlan = {
    name: machineName(0),
    hostname: nodeHostname(config.name, 0),
    role: 'control-plane',
    index: 0,
    ip: masterIP,
    cpus: config.controlPlane.cpus,
    memory: config.controlPlane.memory,
  };
  const workers = indices.map(
    (i): NodePlan => ({
      name: machineName(i),
      hostname: nodeHostname(config.name, i),
      role: 'worker',
      index: i,
      ip: workerIP(config, i),
      cpus: config.workers.cpus,
      memory: config.workers.memory,
    }),
  );

  return {
    name: config.name,
    provider: config.provider,
    providerOptions: Object.fromEntries(Object.keys(PROVIDER_OPTIONS).map((id) => [id, config[id as keyof typeof PROVIDER_OPTIONS]])),
    distro: { id: config.distro, family: catalog.distros[config.distro]!.family, ...(catalog.distros[config.distro]!.cpu ? { cpu: catalog.distros[config.distro]!.cpu! } : {}) },
    box: resolveBox(config, catalog, arch),
    kubernetes: {
      minor: `${major}.${minor}`,
      ...(patch !== undefined ? { patch: version } : {}),
      kubeadmApiVersion: 'kubeadm.k8s.io/v1beta4',
      proxyMode: config.kubernetes.proxyMode,
      cni: config.kubernetes.cni,
      podSubnet: config.kubernetes.podSubnet,
      serviceSubnet: config.kubernetes.serviceSubnet,
      tokenTTL: config.kubernetes.tokenTTL,
      dashboard: config.addons.dashboard,
    },
    network: { masterIP, nodeNetwork: slash24(masterIP).cidr },
    containerd: config.runtime.containerd === 'distro' ? 'distro' : !offline ? 'release' : offline.containerd ? 'artifacts' : 'distro',
    ...(offline ? { offline: { dir: offline.dir, patch: offline.patch, sumsHash: offline.sumsHash, controlPlaneArchives: offline.controlPlaneArchives ?? [] } } : {}),
    slowdown: providerDef(config.provider).slowdown?.(config[config.provider as keyof typeof config]) ?? 1,
    controlPlane,
    workers,
    nodes: [controlPlane, ...workers],
    secrets,
  };
}
