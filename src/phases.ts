import { cniDef } from './cni/index.js';
import { GUEST, HOST, joinConfigPath, scriptPath } from './layout.js';
import type { ClusterPlan, NodePlan, Role } from './plan/plan.js';
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
 *
 * What a phase means to the rest of the tool is a property of its entry, never its id: the code
 * outside this table names no phase (the ids are a union type derived from the table, so a renamed
 * or removed id that is still used somewhere does not type-check). Three properties each mark
 * exactly one phase (checked when this module loads, and by the tests):
 * - `startsControlPlane`: kubeadm init; from it on the cluster answers (Kubernetes' view is
 *   verified, `up` fetches the kubeconfig, token, kubeconfig and node commands reach the API server,
 *   a workers-only `up` needs the control plane to have passed it);
 * - `joinsWorkers`: kubeadm join; the join token must stay valid before it runs, and a worker
 *   that passed it has joined;
 * - `verifyAtLeast`: the least `verify` checks, whatever the control plane has passed.
 */
export interface PhaseDef<Id extends string = string> {
  /** The name `up --until` takes, and what state.json records for each machine that passed it. */
  id: Id;
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
  /** kubeadm init: from this phase on the control plane answers, and verification also reads Kubernetes' view of the nodes. */
  startsControlPlane: boolean;
  /** kubeadm join: before it runs the join token must stay valid long enough; a worker that passed it has joined. */
  joinsWorkers: boolean;
  /** `verify` runs at least the checks up to this phase (a cluster not prepared yet fails them, which says so). */
  verifyAtLeast: boolean;
  /** Runs on every `up` on every selected machine, even those that passed it. */
  always: boolean;
  /**
   * What `box build --bake` does once for every machine: on a box whose bake matches the plan
   * (plan.box.baked), `up` runs nothing of these phases, only their checks, and installs after all
   * where those fail.
   */
  bakeable: boolean;
}

const BOTH: readonly Role[] = ['control-plane', 'worker'];

function phase<const Id extends string>(p: { id: Id } & Partial<Omit<PhaseDef<Id>, 'id'>>): PhaseDef<Id> {
  return { roles: BOTH, uploads: [], enabled: () => true, checks: () => [], startsControlPlane: false, joinsWorkers: false, verifyAtLeast: false, always: false, bakeable: false, ...p };
}

export const PHASES = [
  // Starts halted machines and creates missing ones (cheap when all run); the ssh-key script
  // replaces Vagrant's insecure key by the cluster's own.
  phase({ id: 'machines', script: 'ssh-key', always: true, checks: () => [...MACHINE_CHECKS] }),
  // The artifacts directory (the cache's or offline.dir's) is uploaded and its checksums checked in the guest.
  phase({
    id: 'artifacts',
    script: 'artifacts',
    uploads: [{ name: 'artifacts-files', source: (_node, plan) => plan.offline.dir, target: 'artifacts' }],
    bakeable: true,
    checks: (plan) => [artifactsCheck(GUEST.artifactsDir, plan.offline.sumsHash, plan.box.baked?.matches ? plan.box.baked.record.bakeHash : undefined)],
  }),
  phase({ id: 'prerequisites', script: 'prerequisites', verifyAtLeast: true, bakeable: true, checks: (_plan, node, peers) => prerequisiteChecks(node, peers) }),
  phase({
    id: 'packages',
    script: 'packages',
    bakeable: true,
    checks: (plan) => [kubeToolsCheck(plan.kubernetes.patch), sandboxImageCheck, imagesImportedCheck],
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
    startsControlPlane: true,
  }),
  phase({
    id: 'workers',
    script: 'worker',
    roles: ['worker'],
    uploads: [{ name: 'worker-files', source: (node) => joinConfigPath(node.name), target: 'join.yaml' }],
    joinsWorkers: true,
  }),
  // Nothing runs: every check again, on every node.
  phase({ id: 'verified', always: true }),
] as const;

/** A phase's id: one of the table's, and nothing else. */
export type PhaseId = (typeof PHASES)[number]['id'];
/** An entry of the table. */
export type Phase = PhaseDef<PhaseId>;

export const PHASE_IDS = PHASES.map((p) => p.id) as [PhaseId, ...PhaseId[]];

export function isPhaseId(id: unknown): id is PhaseId {
  return typeof id === 'string' && (PHASE_IDS as readonly string[]).includes(id);
}

export function phaseDef(id: PhaseId): Phase {
  const def = PHASES.find((p) => p.id === id);
  if (!def) throw new Error(`unknown phase ${id}`);
  return def;
}

/** Position in PHASES; -1 for none (a machine that has passed nothing yet). */
export function phaseIndex(id: PhaseId | undefined): number {
  return id === undefined ? -1 : PHASES.findIndex((p) => p.id === id);
}

/** The one phase a marking property marks (see PhaseDef); a table with none or several is refused when this module loads. */
function markedPhase(property: 'startsControlPlane' | 'joinsWorkers' | 'verifyAtLeast'): PhaseId {
  const marked = PHASES.filter((p) => p[property]);
  if (marked.length !== 1) throw new Error(`internal: exactly one phase must have ${property}, and ${marked.length} have it`);
  return marked[0]!.id;
}

/** The phase that brings up the control plane (kubeadm init). */
export const CONTROL_PLANE_PHASE: PhaseId = markedPhase('startsControlPlane');
/** The phase workers join the cluster in (kubeadm join). */
export const JOIN_PHASE: PhaseId = markedPhase('joinsWorkers');
/** The least `verify` checks. */
export const MIN_VERIFY_PHASE: PhaseId = markedPhase('verifyAtLeast');

/** The phases of `ids` in table order, each once. */
export function inTableOrder(ids: Iterable<PhaseId>): PhaseId[] {
  const set = new Set(ids);
  return PHASE_IDS.filter((id) => set.has(id));
}

/**
 * The phases a machine has passed, in table order, from what state.json recorded for it: the list
 * of the phases it passed; or, in a state.json written before those lists, one phase, its position
 * in the table of then (`positional`, POSITIONAL_PHASES): every phase of that table up to it. A
 * phase added to the table since is in neither, so it is not passed, wherever it sits, and `up`
 * runs it on every machine. Ids the table no longer has are dropped.
 */
export function passedFromRecord<Id extends string>(recorded: unknown, known: readonly Id[], positional: readonly string[]): Id[] {
  const isKnown = (id: unknown): id is Id => typeof id === 'string' && (known as readonly string[]).includes(id);
  let ids: unknown[] = [];
  if (Array.isArray(recorded)) ids = recorded;
  else if (typeof recorded === 'string' && positional.includes(recorded)) ids = positional.slice(0, positional.indexOf(recorded) + 1);
  const passed = new Set(ids.filter(isKnown));
  return known.filter((id) => passed.has(id));
}

/** The phase table when state.json recorded one position per machine (before the lists): never changes. */
export const POSITIONAL_PHASES: readonly string[] = ['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers', 'verified'];

/** The phases of a plan, in order (a disabled one is left out). */
export function planPhases(plan: ClusterPlan): Phase[] {
  return PHASES.filter((p) => p.enabled(plan));
}

/** The phases of a plan that run a script, in order: the scripts to render and the machines' provisioners. */
export function scriptPhases(plan: ClusterPlan): Phase[] {
  return planPhases(plan).filter((p) => p.script !== undefined);
}

/** The machines of the plan a phase runs on. */
export function phaseNodes(plan: ClusterPlan, p: Phase): NodePlan[] {
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
export function provisionerNames(p: Phase): string[] {
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
    clusterView: upTo.some((p) => p.startsControlPlane),
  };
}

/**
 * The phase whose checks `verify` runs for a cluster: the last phase of the table its control
 * plane passed, at least MIN_VERIFY_PHASE (a cluster that is not prepared yet fails those checks,
 * which says so). A phase added to the table that the control plane has not run yet is below
 * that one: its checks run, and fail until `up` has run it.
 */
export function reachedPhase(controlPlanePassed: Iterable<PhaseId>): PhaseId {
  const last = inTableOrder(controlPlanePassed).at(-1);
  return phaseIndex(last) > phaseIndex(MIN_VERIFY_PHASE) ? last! : MIN_VERIFY_PHASE;
}

/** The ids of every check verifying after a phase makes on a node, in report order: what `up --dry-run` prints. */
export function checkIdsAfter(phaseId: PhaseId, node: PlannedNode, plan: ClusterPlan, peers?: readonly PlannedNode[]): string[] {
  const v = verificationAfter(phaseId, plan, peers);
  const cluster = v.clusterView ? failedClusterChecks(node, cniDef(plan.kubernetes.cni).nodePod, '', plan.kubernetes.patch).map((c) => c.check) : [];
  return [SSH_CHECK.check, ...v.specs(node).map((s) => s.id), ...cluster, INSECURE_KEY_CHECK.check];
}
