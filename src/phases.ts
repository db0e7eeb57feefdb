import { HOST, joinConfigPath, scriptPath } from './layout.js';
import type { ClusterPlan, NodePlan, Role } from './plan/plan.js';
import type { VerifyLevel } from './verify/levels.js';

/** A file a Vagrant file provisioner uploads into the guest's upload directory before a phase's script runs. */
export interface Upload {
  /** The Vagrant provisioner's name (Vagrant merges provisioners of one name, so one per file). */
  name: string;
  /** The host file, relative to the cluster directory. */
  source: (node: NodePlan) => string;
  /** The file name inside the guest's upload directory (GUEST.uploadDir). */
  target: string;
}

/**
 * One phase of `up`. The list below is the only definition of the phases: rendering (which
 * scripts exist), the Vagrantfile (which provisioners each machine has, in order), `up` and
 * `node add` (what runs where, and what proves it), `verify` (which level a cluster has reached)
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
  /** What proves it, checked over SSH once it ran. */
  verify: VerifyLevel;
  /** Runs on every `up` on every selected machine, even those that passed it. */
  always: boolean;
  /** Before it runs, the join token must stay valid long enough (workers join with it). */
  needsJoinToken: boolean;
}

const BOTH: readonly Role[] = ['control-plane', 'worker'];

function phase(p: Pick<PhaseDef, 'id' | 'verify'> & Partial<PhaseDef>): PhaseDef {
  return { roles: BOTH, uploads: [], always: false, needsJoinToken: false, ...p };
}

export const PHASES: readonly PhaseDef[] = [
  // Starts halted machines and creates missing ones (cheap when all run); the ssh-key script
  // replaces Vagrant's insecure key by the cluster's own.
  phase({ id: 'machines', script: 'ssh-key', verify: 'machines', always: true }),
  phase({ id: 'prerequisites', script: 'prerequisites', verify: 'node' }),
  phase({ id: 'packages', script: 'packages', verify: 'packages' }),
  phase({
    id: 'control-plane',
    script: 'control-plane',
    roles: ['control-plane'],
    uploads: [
      { name: 'control-plane-files', source: () => HOST.initConfig, target: 'init.yaml' },
      { name: 'control-plane-ca-cert', source: () => HOST.caCert, target: 'ca.crt' },
      { name: 'control-plane-ca-key', source: () => HOST.caKey, target: 'ca.key' },
    ],
    verify: 'cluster',
  }),
  phase({
    id: 'workers',
    script: 'worker',
    roles: ['worker'],
    uploads: [{ name: 'worker-files', source: (node) => joinConfigPath(node.name), target: 'join.yaml' }],
    verify: 'cluster',
    needsJoinToken: true,
  }),
  // Nothing runs: every check again, on every node.
  phase({ id: 'verified', verify: 'cluster', always: true }),
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

/** The phases that run a script, in order: the scripts to render and the machines' provisioners. */
export function scriptPhases(): PhaseDef[] {
  return PHASES.filter((p) => p.script !== undefined);
}

/** The machines of the plan a phase runs on. */
export function phaseNodes(plan: ClusterPlan, p: PhaseDef): NodePlan[] {
  return plan.nodes.filter((n) => p.roles.includes(n.role));
}

/** One Vagrant provisioner of a machine: a file upload, or a phase's shell script. */
export type Provisioner =
  | { name: string; type: 'file'; source: string; destination: string }
  | { name: string; type: 'shell'; path: string };

/** A machine's provisioners in Vagrantfile order: for each of its phases, the uploads, then the script. */
export function provisionersOf(node: NodePlan, uploadDir: string): Provisioner[] {
  return scriptPhases()
    .filter((p) => p.roles.includes(node.role))
    .flatMap((p): Provisioner[] => [
      ...p.uploads.map((u): Provisioner => ({ name: u.name, type: 'file', source: u.source(node), destination: `${uploadDir}/${u.target}` })),
      { name: p.script!, type: 'shell', path: scriptPath(p.script!) },
    ]);
}

/** The provisioner names that run exactly one phase, for `vagrant up --provision-with`. */
export function provisionerNames(p: PhaseDef): string[] {
  return p.script ? [...p.uploads.map((u) => u.name), p.script] : [];
}

/**
 * The verify level a cluster has reached: the level of the last phase its control plane passed,
 * never below `node` (a cluster that is not prepared yet fails the node checks, which says so).
 */
export function reachedVerifyLevel(controlPlanePhase: PhaseId | undefined): VerifyLevel {
  const reached = phaseIndex(controlPlanePhase);
  const level = reached < 0 ? 'node' : PHASES[reached]!.verify;
  return level === 'machines' ? 'node' : level;
}
