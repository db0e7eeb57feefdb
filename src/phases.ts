import { cniDef } from './cni/index.js';
import { GUEST, HOST, joinConfigPath, scriptPath } from './layout.js';
import { kubernetesVersionOf, type ClusterPlan, type NodePlan, type Role } from './plan/plan.js';
import { failedClusterChecks } from './verify/kube.js';
import { MACHINE_CHECKS, prerequisiteChecks } from './verify/node-checks.js';
import { artifactsCheck, imagesImportedCheck, kubeToolsCheck, sandboxImageCheck } from './verify/package-checks.js';
import { INSECURE_KEY_CHECK, SSH_CHECK, type NodeCheckSpec, type PlannedNode } from './verify/types.js';

/** A file (or directory) a Vagrant file provisioner uploads into the guest's upload directory before a phase's script runs. */
export interface Upload {
  /** The Vagrant provisioner's name (Vagrant merges provisioners of one name, so one per file). */
  name: string;
  /** The host path, relative to the cluster directory or absolute. */
  source: (node: NodePlan, plan: ClusterPlan) => string;
  /** The name inside the guest's upload directory (GUEST.uploadDir). */
  target: string;
}

/**
 * One phase of `up`. The list below is the only definition of the phases: rendering (which
 * scripts exist), the Vagrantfile (which provisioners each machine has, in order), `up` and
 * `node add` (what runs where, and what proves it), `verify` (which checks a cluster has reached)
 * and the dry run all read it. A new phase is one entry plus its template.
 */
export interface PhaseDef {
  /** The name `up --until` takes. */
  id: string;
  /** Its provisioning script, templates/provision/<script>.sh.ejs, which is also the shell provisioner's name. */
  script?: string;
  /** The machines it runs on. */
  roles: readonly Role[];
  /** Files uploaded before the script runs on a machine (file provisioners). */
  uploads: readonly Upload[];
  /** Whether the plan has this phase at all (default: always). */
  enabled: (plan: ClusterPlan) => boolean;
  /**
   * The node-level checks that prove it; verifying after a phase runs those of every phase up to
   * it. `peers` are the machines a node must reach: every planned node, unless `up` sets up part
   * of the plan (the control plane alone).
   */
  checks: (plan: ClusterPlan, node: PlannedNode, peers: readonly PlannedNode[]) => NodeCheckSpec[];
  /** From this phase on, verification also reads Kubernetes' view of the nodes on the control plane. */
  clusterView: boolean;
  /** Runs on every `up` on every selected machine, even those that passed it. */
  always: boolean;
  /** Before it runs, the join token must stay valid long enough (workers join with it). */
  needsJoinToken: boolean;
}

const BOTH: readonly Role[] = ['control-plane', 'worker'];

function phase(p: Pick<PhaseDef, 'id'> & Partial<PhaseDef>): PhaseDef {
  return { roles: BOTH, uploads: [], enabled: () => true, checks: () => [], clusterView: false, always: false, needsJoinToken: false, ...p };
}

export const PHASES: readonly PhaseDef[] = [
  // Starts halted machines and creates missing ones (cheap when all run); the ssh-key script
  // replaces Vagrant's insecure key by the cluster's own.
  phase({ id: 'machines', script: 'ssh-key', always: true, checks: () => [...MACHINE_CHECKS] }),
  // Offline installs: the artifacts directory is uploaded and its checksums checked in the guest.
  phase({
    id: 'artifacts',
    script: 'artifacts',
    uploads: [{ name: 'artifacts-files', source: (_node, plan) => plan.offline!.dir, target: 'artifacts' }],
    enabled: (plan) => plan.offline !== undefined,
    checks: (plan) => [artifactsCheck(GUEST.artifactsDir, plan.offline!.sumsHash)],
  }),
  phase({ id: 'prerequisites', script: 'prerequisites', checks: (_plan, node, peers) => prerequisiteChecks(node, peers) }),
  phase({
    id: 'packages',
    script: 'packages',
    checks: (plan) => [kubeToolsCheck(plan.kubernetes.minor, plan.kubernetes.patch), sandboxImageCheck, ...(plan.offline ? [imagesImportedCheck] : [])],
  }),
  phase({
    id: 'control-plane',
    script: 'control-plane',
    roles: ['control-plane'],
    uploads: [
      { name: 'control-plane-files', source: () => HOST.initConfig, target: 'init.yaml' },
      { name: 'control-plane-ca-cert', source: () => HOST.caCert, target: 'ca.crt' },
      { name: 'control-plane-ca-key', source: () => HOST.caKey, target: 'ca.key' },
    ],
    clusterView: true,
  }),
  phase({
    id: 'workers',
    script: 'worker',
    roles: ['worker'],
    uploads: [{ name: 'worker-files', source: (node) => joinConfigPath(node.name), target: 'join.yaml' }],
    needsJoinToken: true,
  }),
  // Nothing runs: every check again, on every node.
  phase({ id: 'verified', always: true }),
];

export const PHASE_IDS = PHASES.map((p) => p.id) as [string, ...string[]];
export type PhaseId = string;

export function phaseDef(id: PhaseId): PhaseDef {
  const def = PHASES.find((p) => p.id === id);
  if (!def) throw new Error(`unknown phase ${id}`);
  return def;
}

/** Position in PHASES; -1 for none (a machine that has passed nothing yet). */
export function phaseIndex(id: PhaseId | undefined): number {
  return id === undefined ? -1 : PHASES.findIndex((p) => p.id === id);
}

/** The phases of a plan, in order (a disabled one, e.g. artifacts when online, is left out). */
export function planPhases(plan: ClusterPlan): PhaseDef[] {
  return PHASES.filter((p) => p.enabled(plan));
}

/** The phases of a plan that run a script, in order: the scripts to render and the machines' provisioners. */
export function scriptPhases(plan: ClusterPlan): PhaseDef[] {
  return planPhases(plan).filter((p) => p.script !== undefined);
}

/** The machines of the plan a phase runs on. */
export function phaseNodes(plan: ClusterPlan, p: PhaseDef): NodePlan[] {
  return plan.nodes.filter((n) => p.roles.includes(n.role));
}

/** One Vagrant provisioner of a machine: an upload, or a phase's shell script. */
export type Provisioner = { name: string; type: 'file'; source: string; destination: string } | { name: string; type: 'shell'; path: string };

/** A machine's provisioners in Vagrantfile order: for each of its phases, the uploads, then the script. */
export function provisionersOf(node: NodePlan, plan: ClusterPlan): Provisioner[] {
  return scriptPhases(plan)
    .filter((p) => p.roles.includes(node.role))
    .flatMap((p): Provisioner[] => [
      ...p.uploads.map((u): Provisioner => ({ name: u.name, type: 'file', source: u.source(node, plan), destination: `${GUEST.uploadDir}/${u.target}` })),
      { name: p.script!, type: 'shell', path: scriptPath(p.script!) },
    ]);
}

/** The provisioner names that run exactly one phase, for `vagrant up --provision-with`. */
export function provisionerNames(p: PhaseDef): string[] {
  return p.script ? [...p.uploads.map((u) => u.name), p.script] : [];
}

/** What verifying after a phase covers: the node checks of every phase up to it, and whether Kubernetes is read. */
export interface Verification {
  phase: PhaseId;
  specs: (node: PlannedNode) => NodeCheckSpec[];
  clusterView: boolean;
}

export function verificationAfter(phaseId: PhaseId, plan: ClusterPlan, peers: readonly PlannedNode[] = plan.nodes): Verification {
  const upTo = planPhases(plan).filter((p) => phaseIndex(p.id) <= phaseIndex(phaseId));
  return {
    phase: phaseId,
    specs: (node) => upTo.flatMap((p) => p.checks(plan, node, peers)),
    clusterView: upTo.some((p) => p.clusterView),
  };
}

/**
 * The phase whose checks `verify` runs: the last one the control plane passed, at least
 * prerequisites (a cluster that is not prepared yet fails those checks, which says so).
 */
export function reachedPhase(controlPlanePhase: PhaseId | undefined): PhaseId {
  return phaseIndex(controlPlanePhase) > phaseIndex('prerequisites') ? controlPlanePhase! : 'prerequisites';
}

/** The ids of every check verifying after a phase makes on a node, in report order: what `up --dry-run` prints. */
export function checkIdsAfter(phaseId: PhaseId, node: PlannedNode, plan: ClusterPlan, peers?: readonly PlannedNode[]): string[] {
  const v = verificationAfter(phaseId, plan, peers);
  const cluster = v.clusterView ? failedClusterChecks(node, cniDef(plan.kubernetes.cni).nodePod, '', kubernetesVersionOf(plan)).map((c) => c.check) : [];
  return [SSH_CHECK.check, ...v.specs(node).map((s) => s.id), ...cluster, INSECURE_KEY_CHECK.check];
}
