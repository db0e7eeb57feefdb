import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readGeneratedConfig, withArtifacts, withExpectedArtifacts, type LoadOptions, type LoadedConfig } from '../config/load.js';
import { hostArch, loadCatalog } from '../distros.js';
import { UsageError } from '../errors.js';
import { GUEST, HOST } from '../layout.js';
import { CONTROL_PLANE_PHASE } from '../phases.js';
import { buildPlan, type ClusterPlan, type NodePlan, type PlanSecrets } from '../plan/plan.js';
import { PLACEHOLDER_SECRETS, readPlanSecrets, secretPaths, type SecretPaths } from '../secrets.js';
import type { SshOptions, SshTarget } from '../ssh/client.js';
import { passedPhases, readState, type ClusterState } from '../state.js';
import { storedBoxRecord } from '../vagrant/boxes.js';

/** Bounds for every SSH wait; `verify` flags can change them. */
export interface SshLimits {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  retries: number;
  backoffMs: number;
}

export const DEFAULT_SSH_LIMITS: SshLimits = { connectTimeoutMs: 10_000, commandTimeoutMs: 60_000, retries: 3, backoffMs: 1000 };

/** A generated cluster directory: its config, plan, secrets' paths and remembered state. */
export interface Cluster {
  loaded: LoadedConfig;
  dir: string;
  plan: ClusterPlan;
  secrets: SecretPaths;
  state: ClusterState;
}

/**
 * Opens a cluster that `generate` (or `up`) has already set up, as it was generated (see
 * loadGenerated); reads secrets, never makes them. Commands that talk to machines start here.
 * `expected`: artifacts the cache lacks are those it will hold once fetched (withExpectedArtifacts),
 * for a command that checks its request before it fetches them (`node add`).
 */
export function openCluster(opts: LoadOptions, artifacts: 'checked' | 'expected' = 'checked'): Cluster {
  const read = readGeneratedConfig(opts);
  const loaded = artifacts === 'checked' ? withArtifacts(read) : withExpectedArtifacts(read);
  const dir = loaded.dir;
  const secrets = secretPaths(dir);
  const missing = [secrets.sshPrivateKey, secrets.sshPublicKey, secrets.caCert].filter((f) => !existsSync(f));
  if (missing.length > 0 || !existsSync(join(dir, HOST.vagrantfile))) {
    throw new UsageError(`${dir} has no generated cluster (missing ${missing.length > 0 ? missing.join(', ') : HOST.vagrantfile}); run \`kubeadm-vagrant up\` (or \`generate\`) first`);
  }
  const state = readState(dir);
  // The keys and the CA exist (checked above); a token may not, when the config gives none.
  const plan = planOf(loaded, state, readPlanSecrets(dir, loaded.config.kubernetes.token, { ...PLACEHOLDER_SECRETS, token: '' }));
  return { loaded, dir, plan, secrets, state };
}

/**
 * The plan of a cluster directory: its config, the worker indices it remembers, this host's
 * architecture and catalog. The config was validated with those indices when it was loaded
 * (loadConfig reads them from the same directory): one code path decides, for `config validate`
 * and `generate` alike.
 */
export function planOf(loaded: Pick<LoadedConfig, 'config' | 'offline'>, state: ClusterState, secrets: PlanSecrets, env: NodeJS.ProcessEnv = process.env): ClusterPlan {
  const { config, offline } = loaded;
  const inputs = { config, secrets, catalog: loadCatalog(), arch: hostArch(), offline, ...(state.workers ? { workerIndices: state.workers } : {}) };
  const plan = buildPlan(inputs);
  // What is baked into a box of ours: its record in Vagrant's box store (see src/vagrant/boxes.ts).
  if (!plan.box.ours) return plan;
  const record = storedBoxRecord(plan.box.name, plan.provider, inputs.arch, env);
  return buildPlan({ ...inputs, boxBuilt: record !== undefined, ...(record?.baked ? { baked: record.baked } : {}) });
}

/** Nodes are reached on their planned private address: this also proves the private network works. */
export function sshTarget(node: NodePlan): SshTarget {
  return { name: node.name, host: node.ip, port: 22, username: GUEST.loginUser };
}

/**
 * The SSH options for a cluster's nodes. The limits are for machines at hardware speed: their
 * timeouts are multiplied by the plan's slowdown (software emulation), retries are not.
 */
export function sshOptions(cluster: Pick<Cluster, 'dir' | 'secrets' | 'plan'>, limits: SshLimits = DEFAULT_SSH_LIMITS): SshOptions {
  return {
    privateKey: readFileSync(cluster.secrets.sshPrivateKey),
    knownHostsFile: join(cluster.dir, HOST.knownHosts),
    ...limits,
    connectTimeoutMs: limits.connectTimeoutMs * cluster.plan.slowdown,
    commandTimeoutMs: limits.commandTimeoutMs * cluster.plan.slowdown,
  };
}

export function findNode(plan: ClusterPlan, name: string): NodePlan {
  const node = plan.nodes.find((n) => n.name === name || n.hostname === name);
  if (!node) throw new UsageError(`no node named ${name}; the nodes are ${plan.nodes.map((n) => n.name).join(', ')}`);
  return node;
}

/** Whether `up` has brought the control plane up (kubeadm init ran and was verified). */
export function hasControlPlane(cluster: Pick<Cluster, 'plan' | 'state'>): boolean {
  return passedPhases(cluster.state, cluster.plan.controlPlane.name).has(CONTROL_PLANE_PHASE);
}

/**
 * verify, ssh and node remove need machines that `up` has brought up (at least its first phase verified);
 * without them they would only wait for connections that cannot come.
 */
export function requireMachines(cluster: Cluster, what: string, otherwise = ''): void {
  if (Object.values(cluster.state.nodePhases ?? {}).every((passed) => passed.length === 0)) {
    throw new UsageError(
      `${what}: cluster ${cluster.plan.name} was never brought up, or was destroyed since (no machine has passed a phase of \`up\`, says ${join(cluster.dir, HOST.stateFile)}); run \`kubeadm-vagrant up\` first${otherwise}`,
    );
  }
}

/** Token commands and kubeconfig need a control plane that `up` has brought up. */
export function requireControlPlane(cluster: Cluster, what: string): void {
  if (!hasControlPlane(cluster)) {
    throw new UsageError(`${what} needs a running control plane, and cluster ${cluster.plan.name} has none yet; run \`kubeadm-vagrant up\` first`);
  }
}
