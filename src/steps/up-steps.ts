import { UsageError } from '../errors.js';
import { HOST, seedPath, sshKeyFilesOf } from '../layout.js';
import { checkIdsAfter, CONTROL_PLANE_PHASE, inTableOrder, JOIN_PHASE, phaseIndex, phaseNodes, planPhases, provisionerNames, reachedPhase, type Phase, type PhaseId } from '../phases.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';
import { passedPhases, type ClusterState } from '../state.js';
import { providerDef } from '../providers/index.js';
import { vagrantProvision, vagrantUp, type ExternalCommand } from '../vagrant/commands.js';

/**
 * `up` as data: a pure function from (plan, state, options) to the ordered list of steps. The
 * runner (./up.ts) executes them; `up --dry-run` prints the very same list.
 */
export type UpStep =
  /** The control plane that is already up (setup.controlPlane false) must answer as such over SSH: the checks of the phase it reached. */
  | { kind: 'control-plane-check'; node: NodePlan; phase: PhaseId; peers: NodePlan[] }
  /**
   * Vagrant runs a phase's provisioners on some machines: the groups run one after the other, the
   * commands of a group at once (one per machine where the provider allows it).
   */
  | { kind: 'vagrant'; phase: PhaseId; nodes: NodePlan[]; commands: ExternalCommand[][] }
  /** Machines about to be created from a box of ours get their cloud-init seed where the provider needs it (src/providers/seeds.ts). */
  | { kind: 'seeds'; nodes: NodePlan[] }
  /** The join token must stay valid long enough for workers to join (renewed otherwise). */
  | { kind: 'join-token'; phase: PhaseId }
  /** The phase's result is checked over SSH; passing records the phase for `record`; `peers` are the machines each must reach. */
  | { kind: 'verify'; phase: PhaseId; nodes: NodePlan[]; record: NodePlan[]; peers: NodePlan[] }
  /** The admin kubeconfig is fetched into the state directory. */
  | { kind: 'kubeconfig' };

export interface UpStepOptions {
  /** The last phase to run. */
  until: PhaseId;
  /** Only these machines (node add); the others are left alone. */
  only?: readonly string[];
  /** The caller (node add) has already made sure the join token is valid. */
  joinTokenChecked?: boolean;
  /** What to set up (SETUP_MASTER, SETUP_NODES); default both. */
  setup?: { controlPlane: boolean; workers: boolean };
}

/** Why a workers-only `up` cannot start, and how to get there. */
function noControlPlane(plan: ClusterPlan, reached: PhaseId | undefined): UsageError {
  return new UsageError(
    `setup.controlPlane is false (SETUP_MASTER=false or --setup-master false), so up only adds workers to a control plane that is up, ` +
      `but cluster ${plan.name} has none: its control plane ${plan.controlPlane.name} has ${reached ? `only reached phase ${reached}` : 'not been set up'}. ` +
      'Set it up first with `SETUP_MASTER=true SETUP_NODES=false kubeadm-vagrant up`; nothing was changed',
  );
}

/**
 * The machines `up` may touch, from what it is asked to set up. Workers only: the control plane
 * must have passed its phase (the state says so), and only the workers that have not joined are
 * taken; a control plane alone: no worker.
 */
function setupScope(plan: ClusterPlan, state: ClusterState, setup: UpStepOptions['setup']): { nodes: NodePlan[]; peers: NodePlan[]; workersOnly: boolean } {
  const nodes = machinesToSetUp(plan, state, setup);
  if (!setup || (setup.controlPlane && setup.workers)) return { nodes, peers: [...plan.nodes], workersOnly: false };
  // The workers do not exist yet: the control plane must not expect to reach them.
  if (setup.controlPlane) return { nodes, peers: [plan.controlPlane], workersOnly: false };
  const passed = passedPhases(state, plan.controlPlane.name);
  if (!passed.has(CONTROL_PLANE_PHASE)) throw noControlPlane(plan, inTableOrder(passed).at(-1));
  return { nodes, peers: [...plan.nodes], workersOnly: true };
}

/** The machines `up` sets up: all; the control plane alone; or the workers that have not joined. */
export function machinesToSetUp(plan: ClusterPlan, state: ClusterState, setup: UpStepOptions['setup']): NodePlan[] {
  if (!setup || (setup.controlPlane && setup.workers)) return [...plan.nodes];
  if (setup.controlPlane) return [plan.controlPlane];
  return plan.workers.filter((w) => !passedPhases(state, w.name).has(JOIN_PHASE));
}

/**
 * The machines that still need a phase: those that have not passed it (resuming after a failure
 * or after `up --until`; a phase added to the table since a machine went past its place, too); a
 * phase marked `always` runs on all of them.
 */
export function pendingNodes(phase: Phase, candidates: readonly NodePlan[], state: ClusterState = {}): NodePlan[] {
  if (phase.always) return [...candidates];
  return candidates.filter((n) => !passedPhases(state, n.name).has(phase.id));
}

export function upSteps(plan: ClusterPlan, state: ClusterState, opts: UpStepOptions): UpStep[] {
  const target = phaseIndex(opts.until);
  if (target < 0) throw new Error(`unknown phase ${opts.until}`);
  const scope = setupScope(plan, state, opts.setup);
  const inScope = new Set(scope.nodes.map((n) => n.name));
  const selected = (nodes: readonly NodePlan[]) => nodes.filter((n) => inScope.has(n.name) && (!opts.only || opts.only.includes(n.name)));
  const parallel = providerDef(plan.provider).runsInParallel;
  const steps: UpStep[] = [];
  const phases = planPhases(plan).filter((p) => phaseIndex(p.id) <= target);
  let joinTokenChecked = opts.joinTokenChecked === true;
  if (scope.workersOnly) {
    // As `node add` does: the control plane answers and the join token is good before any machine is touched.
    // Its peers are the machines that exist already: not the workers this run creates.
    const peers = plan.nodes.filter((n) => !inScope.has(n.name));
    steps.push({ kind: 'control-plane-check', node: plan.controlPlane, phase: reachedPhase(passedPhases(state, plan.controlPlane.name)), peers });
    const joins = phases.some((p) => p.joinsWorkers && pendingNodes(p, selected(phaseNodes(plan, p)), state).length > 0);
    if (joins && !joinTokenChecked) steps.push({ kind: 'join-token', phase: JOIN_PHASE });
    joinTokenChecked = true;
  }
  for (const phase of phases) {
    const nodes = pendingNodes(phase, selected(phaseNodes(plan, phase)), state);
    if (nodes.length === 0) continue;
    if (phase.joinsWorkers && !joinTokenChecked) steps.push({ kind: 'join-token', phase: phase.id });
    if (phase.script) {
      const all = nodes.length === plan.nodes.length;
      const provision = nodes.map((n) => vagrantProvision(n.name, provisionerNames(phase)));
      // The phase that runs every time (machines) first creates missing machines and starts halted ones.
      const boot = phase.always ? [[vagrantUp({ provider: plan.provider, machines: all ? [] : nodes.map((n) => n.name), parallel })]] : [];
      const commands = [...boot, ...(parallel ? [provision] : provision.map((c) => [c]))];
      if (boot.length > 0 && plan.box.ours) steps.push({ kind: 'seeds', nodes });
      steps.push({ kind: 'vagrant', phase: phase.id, nodes, commands });
    }
    // A phase that only verifies (verified) checks every selected machine, not only the pending ones.
    const checked = phase.script ? nodes : selected(plan.nodes);
    steps.push({ kind: 'verify', phase: phase.id, nodes: checked, record: selected(plan.nodes), peers: scope.peers });
  }
  // The control plane answers from its phase on: its kubeconfig can be fetched.
  if (target >= phaseIndex(CONTROL_PLANE_PHASE)) steps.push({ kind: 'kubeconfig' });
  return steps;
}

/** What a step does, in one line per machine where it has machines: the dry run's output. */
export function describeStep(step: UpStep, plan: ClusterPlan): string[] {
  switch (step.kind) {
    case 'control-plane-check':
      return [`would check over ssh that the control plane is up: vagrant@${step.node.ip}:22 (${step.node.name}) with ${sshKeyFilesOf(plan.secrets.sshPublicKey).privateKey}: ${checkIdsAfter(step.phase, step.node, plan, step.peers).join(', ')}`];
    case 'vagrant':
      return step.commands.flatMap((group) => group.map((c) => `would run: ${c.title}${group.length > 1 ? ' (at the same time as the others of its group)' : ''}`));
    case 'seeds':
      return [`would give ${step.nodes.map((n) => n.name).join(', ')} their cloud-init seeds (${step.nodes.map((n) => seedPath(n.name)).join(', ')}) where the ${plan.provider} provider attaches them, if not created yet`];
    case 'join-token':
      return [`would check over ssh on ${plan.controlPlane.name} that the join token stays valid (kubeadm token list), and create a fresh one if not`];
    case 'verify':
      return step.nodes.map((n) => `would verify over ssh: vagrant@${n.ip}:22 (${n.name}) with ${sshKeyFilesOf(plan.secrets.sshPublicKey).privateKey}: ${checkIdsAfter(step.phase, n, plan).join(', ')}`);
    case 'kubeconfig':
      return [`would fetch the admin kubeconfig over ssh from ${plan.controlPlane.name} into ${HOST.kubeconfig}`];
  }
}
