import { HOST, sshKeyFilesOf } from '../layout.js';
import { checkIdsAfter, phaseIndex, phaseNodes, planPhases, provisionerNames, type PhaseDef, type PhaseId } from '../phases.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';
import type { ClusterState } from '../state.js';
import { providerDef } from '../providers/index.js';
import { vagrantProvision, vagrantUp, type ExternalCommand } from '../vagrant/commands.js';

/**
 * `up` as data: a pure function from (plan, state, options) to the ordered list of steps. The
 * runner (./up.ts) executes them; `up --dry-run` prints the very same list.
 */
export type UpStep =
  /**
   * Vagrant runs a phase's provisioners on some machines: the groups run one after the other, the
   * commands of a group at once (one per machine where the provider allows it).
   */
  | { kind: 'vagrant'; phase: PhaseId; nodes: NodePlan[]; commands: ExternalCommand[][] }
  /** The join token must stay valid long enough for workers to join (renewed otherwise). */
  | { kind: 'join-token'; phase: PhaseId }
  /** The phase's result is checked over SSH; passing records the phase for `record`. */
  | { kind: 'verify'; phase: PhaseId; nodes: NodePlan[]; record: NodePlan[] }
  /** The admin kubeconfig is fetched into the state directory. */
  | { kind: 'kubeconfig' };

export interface UpStepOptions {
  /** The last phase to run. */
  until: PhaseId;
  /** Only these machines (node add); the others are left alone. */
  only?: readonly string[];
  /** The caller (node add) has already made sure the join token is valid. */
  joinTokenChecked?: boolean;
}

/**
 * The machines that still need a phase: those that have not passed it (resuming after a failure
 * or after `up --until`); a phase marked `always` runs on all of them.
 */
export function pendingNodes(phase: PhaseDef, candidates: readonly NodePlan[], nodePhases: Readonly<Record<string, PhaseId>> = {}): NodePlan[] {
  if (phase.always) return [...candidates];
  return candidates.filter((n) => phaseIndex(nodePhases[n.name]) < phaseIndex(phase.id));
}

export function upSteps(plan: ClusterPlan, state: ClusterState, opts: UpStepOptions): UpStep[] {
  const target = phaseIndex(opts.until);
  if (target < 0) throw new Error(`unknown phase ${opts.until}`);
  const selected = (nodes: readonly NodePlan[]) => (opts.only ? nodes.filter((n) => opts.only!.includes(n.name)) : [...nodes]);
  const parallel = providerDef(plan.provider).runsInParallel;
  const steps: UpStep[] = [];
  for (const phase of planPhases(plan).filter((p) => phaseIndex(p.id) <= target)) {
    const nodes = pendingNodes(phase, selected(phaseNodes(plan, phase)), state.nodePhases);
    if (nodes.length === 0) continue;
    if (phase.needsJoinToken && !opts.joinTokenChecked) steps.push({ kind: 'join-token', phase: phase.id });
    if (phase.script) {
      const all = nodes.length === plan.nodes.length;
      const provision = nodes.map((n) => vagrantProvision(n.name, provisionerNames(phase)));
      // The phase that runs every time (machines) first creates missing machines and starts halted ones.
      const boot = phase.always ? [[vagrantUp({ provider: plan.provider, machines: all ? [] : nodes.map((n) => n.name), parallel })]] : [];
      const commands = [...boot, ...(parallel ? [provision] : provision.map((c) => [c]))];
      steps.push({ kind: 'vagrant', phase: phase.id, nodes, commands });
    }
    // A phase that only verifies (verified) checks every selected machine, not only the pending ones.
    const checked = phase.script ? nodes : selected(plan.nodes);
    steps.push({ kind: 'verify', phase: phase.id, nodes: checked, record: selected(plan.nodes) });
  }
  if (target >= phaseIndex('control-plane')) steps.push({ kind: 'kubeconfig' });
  return steps;
}

/** What a step does, in one line per machine where it has machines: the dry run's output. */
export function describeStep(step: UpStep, plan: ClusterPlan): string[] {
  switch (step.kind) {
    case 'vagrant':
      return step.commands.flatMap((group) => group.map((c) => `would run: ${c.title}${group.length > 1 ? ' (at the same time as the others of its group)' : ''}`));
    case 'join-token':
      return [`would check over ssh on ${plan.controlPlane.name} that the join token stays valid (kubeadm token list), and create a fresh one if not`];
    case 'verify':
      return step.nodes.map((n) => `would verify over ssh: vagrant@${n.ip}:22 (${n.name}) with ${sshKeyFilesOf(plan.secrets.sshPublicKey).privateKey}: ${checkIdsAfter(step.phase, n, plan).join(', ')}`);
    case 'kubeconfig':
      return [`would fetch the admin kubeconfig over ssh from ${plan.controlPlane.name} into ${HOST.kubeconfig}`];
  }
}
