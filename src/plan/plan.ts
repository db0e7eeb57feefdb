import type { ClusterConfig } from '../config/schema.js';
import { bakedBoxName, isOurBoxName } from '../boxes/catalog.js';
import { catalogBox, type Arch, type Catalog, type Family } from '../distros.js';
import { firstWorkerIP, intToIp, ipToInt, slash24 } from '../net.js';
import type { OfflineArtifacts } from '../offline/artifacts.js';
import type { BakeRecord } from '../vagrant/boxes.js';
import { providerOptionsFrom, slowdownOf, type ProviderId, type ProviderOptions } from '../providers/index.js';
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

/** Secrets and their derived values arrive as inputs, so planning stays pure and rendering deterministic. */
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
  provider: ProviderId;
  /** Every provider's own config section by provider id (`libvirt: {driver}`; undefined for one without), for its Vagrantfile block and host checks. */
  providerOptions: ProviderOptions;
  distro: { id: string; family: Family; cpu?: 'x86-64-v3' };
  /**
   * The box. `ours`: built by `kubeadm-vagrant box build` from a distro's official image (named
   * kubeadm-vagrant/...): it has no login user and no key, so every machine gets a cloud-init seed
   * that creates `vagrant` with the cluster's own key, and Vagrant's insecure key is never offered.
   * `baked`: what `box build --bake` put into it, when the box store says so (planOf reads it).
   */
  box: { name: string; version?: string; ours: boolean; baked?: BakedBox; built?: boolean };
  kubernetes: {
    /** The minor, `1.33`. */
    minor: string;
    /** The patch `1.33.2` the artifacts hold: what every node installs and is verified at. */
    patch: string;
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
   * Where containerd comes from: the artifacts (its release archives, fetched and verified on the
   * host), or the distro's package (installed by the guest's package manager).
   */
  containerd: 'artifacts' | 'distro';
  /**
   * The artifacts every machine installs from: this host directory (the patch's own, in the cache or
   * offline.dir), uploaded and checked in each guest; workers import every image archive but
   * `controlPlaneArchives`. The guests download nothing from it.
   */
  offline: { dir: string; patch: string; sumsHash: string; controlPlaneArchives: readonly string[]; bakeHash?: string };
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

/** What is baked into a box of ours, and whether it is exactly what this plan installs (then `up` installs nothing). */
export interface BakedBox {
  record: BakeRecord;
  matches: boolean;
  /** Why it does not match, in words (said when `up` installs anyway). */
  mismatch?: string;
}

/** Whether a baked box holds what the plan installs: the same files (bake set), from the same patch. */
export function bakedBox(record: BakeRecord, offline: OfflineArtifacts): BakedBox {
  if (!offline.bake) return { record, matches: false, mismatch: 'the artifacts of this cluster are not fetched yet' };
  if (record.kubernetes !== offline.patch) return { record, matches: false, mismatch: `it holds Kubernetes ${record.kubernetes}, the plan ${offline.patch}` };
  if (record.bakeHash === offline.bake.bakeHash) return { record, matches: true };
  const want = offline.bake.files;
  const differ = [...new Set([...Object.keys(want), ...Object.keys(record.files)])].filter((f) => want[f] !== record.files[f]).sort();
  return { record, matches: false, mismatch: `its files differ from the plan's: ${differ.slice(0, 5).join(', ')}${differ.length > 5 ? `, and ${differ.length - 5} more` : ''}` };
}

export interface PlanInputs {
  config: ClusterConfig;
  secrets: PlanSecrets;
  /** The host's architecture: it picks the catalog's box. */
  arch: Arch;
  catalog: Catalog;
  /** The resolved artifacts directory (src/offline/source.ts): the version's and this architecture's. */
  offline: OfflineArtifacts;
  /** What is baked into the configured box, when it is one of ours and baked (src/vagrant/boxes.ts reads it). */
  baked?: BakeRecord;
  /** Whether the configured box, one of ours, is built on this host (up builds it first otherwise). */
  boxBuilt?: boolean;
  /**
   * The worker indices that exist (worker-N). Defaults to 1..workers.count; after a node is
   * removed the others keep their names and addresses.
   */
  workerIndices?: number[];
}

/** The address of worker-N: N-1 after the first worker address. */
export function workerIP(config: ClusterConfig, index: number): string {
  return intToIp(ipToInt(firstWorkerIP(config.network.masterIP, config.network.workerIPStart)) + index - 1);
}

function resolveBox(config: ClusterConfig, catalog: Catalog, arch: Arch, baked: BakeRecord | undefined, offline: OfflineArtifacts, emulation: boolean): ClusterPlan['box'] {
  const named = (name: string, version?: string): ClusterPlan['box'] => ({ name, ...(version ? { version } : {}), ours: isOurBoxName(name), ...(baked && isOurBoxName(name) ? { baked: bakedBox(baked, offline) } : {}) });
  if (typeof config.box === 'object') return named(config.box.name, config.box.version);
  if (config.box !== '') return named(config.box);
  const name = catalogBox(catalog, config.distro, config.provider, arch);
  // Validation refuses a config whose distro has no catalog box for the provider and architecture.
  if (!name) throw new Error(`internal: the catalog has no ${config.distro} box for ${config.provider} on ${arch}`);
  // bake: the catalog's box with the patch the artifacts hold baked in (one per patch; under emulation its own).
  return named(config.bake ? bakedBoxName(config.distro, offline.patch, { emulation }) : name);
}

/**
 * The whole cluster as data: a pure function of config, secrets, catalog and architecture.
 * Its input is a validated config (every node fits its network); it makes no I/O and reports no
 * config errors.
 */
export function buildPlan({ config, secrets, arch, catalog, offline, baked, boxBuilt, workerIndices }: PlanInputs): ClusterPlan {
  // The version is the one of the artifacts directory (a minor took a patch there).
  const [major, minor] = offline.patch.split('.');
  const indices = workerIndicesFor(config.workers.count, workerIndices);
  const masterIP = config.network.masterIP;
  const providerOptions = providerOptionsFrom(config);
  const slowdown = slowdownOf(config.provider, providerOptions);

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
    providerOptions,
    distro: { id: config.distro, family: catalog.distros[config.distro]!.family, ...(catalog.distros[config.distro]!.cpu ? { cpu: catalog.distros[config.distro]!.cpu! } : {}) },
    box: { ...resolveBox(config, catalog, arch, baked, offline, slowdown > 1), ...(boxBuilt !== undefined ? { built: boxBuilt } : {}) },
    kubernetes: {
      minor: `${major}.${minor}`,
      patch: offline.patch,
      kubeadmApiVersion: 'kubeadm.k8s.io/v1beta4',
      proxyMode: config.kubernetes.proxyMode,
      cni: config.kubernetes.cni,
      podSubnet: config.kubernetes.podSubnet,
      serviceSubnet: config.kubernetes.serviceSubnet,
      tokenTTL: config.kubernetes.tokenTTL,
      dashboard: config.addons.dashboard,
    },
    network: { masterIP, nodeNetwork: slash24(masterIP).cidr },
    // An artifacts directory of the user's own may leave containerd out: the distro's is used then.
    containerd: config.runtime.containerd === 'release' && offline.containerd ? 'artifacts' : 'distro',
    offline: { dir: offline.dir, patch: offline.patch, sumsHash: offline.sumsHash, controlPlaneArchives: offline.controlPlaneArchives ?? [], ...(offline.bake ? { bakeHash: offline.bake.bakeHash } : {}) },
    slowdown,
    controlPlane,
    workers,
    nodes: [controlPlane, ...workers],
    secrets,
  };
}
