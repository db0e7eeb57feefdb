import { loadConfig, type LoadOptions } from '../config/load.js';
import { CommandError } from '../errors.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';
import { Redactor } from '../redact.js';
import { provisionersFor, SSH_PRIVATE_KEY } from '../render/render.js';
import { readPlanSecrets, secretPaths } from '../secrets.js';
import { phaseIndex, readState, updateState, UP_PHASES, type UpPhase } from '../state.js';
import { providerRunsInParallel, vagrantUp } from '../vagrant/commands.js';
import { createRunner, type Runner } from '../vagrant/runner.js';
import { DEFAULT_SSH_LIMITS, openCluster, planOf, type Cluster, type SshLimits } from './cluster.js';
import { describeChecks, verifyCluster, type VerifyLevel } from './checks.js';
import { generate } from './generate.js';
import { fetchKubeconfig } from './kubeconfig.js';
import type { Progress } from './progress.js';
import { checkJoinToken } from './tokens.js';

/** The Vagrantfile provisioners each phase runs, uploads included (see templates/Vagrantfile.ejs). */
export const PHASE_PROVISIONERS: Record<Exclude<UpPhase, 'verified'>, string[]> = {
  machines: provisionersFor(['ssh-key']),
  prerequisites: provisionersFor(['prerequisites']),
  packages: provisionersFor(['packages']),
  'control-plane': provisionersFor(['control-plane']),
  workers: provisionersFor(['worker']),
};

/** What a phase's result is checked with, over SSH, once Vagrant has run it. */
export const PHASE_VERIFY_LEVEL: Record<UpPhase, VerifyLevel> = {
  machines: 'machines',
  prerequisites: 'node',
  packages: 'packages',
  'control-plane': 'cluster',
  workers: 'cluster',
  verified: 'cluster',
};

/** The nodes a phase applies to: the control-plane phase is the master's, the workers phase the workers'. */
export function phaseNodes(plan: ClusterPlan, phase: UpPhase): NodePlan[] {
  if (phase === 'control-plane') return [plan.controlPlane];
  if (phase === 'workers') return plan.workers;
  return plan.nodes;
}

export interface UpOptions {
  load: LoadOptions;
  until: UpPhase;
  dryRun: boolean;
  progress: Progress;
  print: (line: string) => void;
  limits?: SshLimits;
  /** Only these machines (node add); the others are left alone. */
  only?: string[];
  logName?: string;
  /** The caller (node add) has already made sure the join token is valid. */
  joinTokenChecked?: boolean;
}

export interface UpResult {
  cluster: Cluster;
  reached: UpPhase;
  kubeconfigFile?: string;
  logFile: string;
}

/** In a dry run nothing is written: plan in memory with the secrets that exist, placeholders for the rest. */
function dryRunCluster(load: LoadOptions): Cluster {
  const loaded = loadConfig(load);
  const state = readState(loaded.dir);
  const plan = planOf(loaded.config, state, readPlanSecrets(loaded.dir, loaded.config.kubernetes.token));
  return { loaded, dir: loaded.dir, plan, secrets: secretPaths(loaded.dir), state };
}

/** `==> worker-1: Running provisioner: prerequisites (shell)...` → worker-1. */
function machineOf(line: string): string | undefined {
  return /^==> ([\w.-]+):/.exec(line)?.[1];
}

async function runPhase(phase: Exclude<UpPhase, 'verified'>, nodes: NodePlan[], cluster: Cluster, runner: Runner, progress: Progress): Promise<void> {
  const p = progress.phase(`${phase}: vagrant on ${nodes.map((n) => n.name).join(', ')}`);
  let lastMachine: string | undefined;
  const all = nodes.length === cluster.plan.nodes.length;
  try {
    await runner.run(
      vagrantUp({
        provider: cluster.plan.provider,
        machines: all ? [] : nodes.map((n) => n.name),
        provisionWith: PHASE_PROVISIONERS[phase],
        parallel: providerRunsInParallel(cluster.plan.provider),
      }),
      {
        onLine: (line) => {
          const m = machineOf(line);
          if (m) {
            lastMachine = m;
            p.update(`${m}: ${line.slice(line.indexOf(':') + 2, line.indexOf(':') + 70)}`);
          }
        },
      },
    );
    p.done(true);
  } catch (err) {
    p.done(false, lastMachine ? `failed on ${lastMachine}` : 'failed');
    if (err instanceof CommandError) {
      throw new CommandError(`phase ${phase} failed${lastMachine ? ` on node ${lastMachine}` : ''}: ${err.message}`, err.details);
    }
    throw err;
  }
}

async function verifyPhase(phase: UpPhase, nodes: NodePlan[], cluster: Cluster, opts: UpOptions): Promise<void> {
  const level = PHASE_VERIFY_LEVEL[phase];
  if (opts.dryRun) {
    for (const n of nodes) opts.print(`would verify over ssh: vagrant@${n.ip}:22 (${n.name}) with ${SSH_PRIVATE_KEY}: ${describeChecks(level, n, cluster).join(', ')}`);
    return;
  }
  const p = opts.progress.phase(`${phase}: verify ${nodes.map((n) => n.name).join(', ')}`);
  const report = await verifyCluster(cluster, nodes, level, opts.limits ?? DEFAULT_SSH_LIMITS);
  for (const n of report.nodes) {
    const failed = n.checks.filter((c) => !c.ok);
    p.node(n.name, failed.length === 0, failed.length === 0 ? `${n.checks.length} checks passed` : failed.map((c) => `${c.check}: saw ${c.seen}`).join('; '));
  }
  p.done(report.ok);
  if (!report.ok) {
    const bad = report.nodes.filter((n) => n.checks.some((c) => !c.ok)).map((n) => n.name);
    throw new CommandError(`phase ${phase} did not verify on ${bad.join(', ')}; run \`kubeadm-vagrant verify\` for the details`, {});
  }
}

/**
 * generate → for each phase up to `until`: vagrant runs the phase's provisioners on the nodes that
 * have not passed it yet, then the phase is verified over SSH. Re-running carries on where it
 * stopped; phases are idempotent, so a healthy node is never reset.
 */
export async function up(opts: UpOptions): Promise<UpResult> {
  let cluster = opts.dryRun ? dryRunCluster(opts.load) : await generateCluster(opts.load);
  const runner = createRunner({ clusterDir: cluster.dir, dryRun: opts.dryRun, logName: opts.logName ?? 'up', redactor: new Redactor([cluster.plan.secrets.token]), print: opts.print });
  const target = phaseIndex(opts.until);
  const selected = (nodes: NodePlan[]) => (opts.only ? nodes.filter((n) => opts.only!.includes(n.name)) : nodes);
  try {
    for (const phase of UP_PHASES.slice(0, target + 1)) {
      const done = cluster.state.nodePhases ?? {};
      const nodes = selected(phaseNodes(cluster.plan, phase));
      // machines always runs: it starts halted machines and creates missing ones, cheaply when all run.
      const pending = phase === 'machines' || phase === 'verified' ? nodes : nodes.filter((n) => phaseIndex(done[n.name]) < phaseIndex(phase));
      if (pending.length === 0) continue;
      if (phase === 'workers' && !opts.joinTokenChecked) cluster = await joinTokenReady(cluster, opts);
      if (phase !== 'verified') await runPhase(phase, pending, cluster, runner, opts.progress);
      await verifyPhase(phase, phase === 'verified' ? selected(cluster.plan.nodes) : pending, cluster, opts);
      if (!opts.dryRun) {
        cluster.state = updateState(cluster.dir, (s) => {
          const nodePhases = { ...s.nodePhases };
          for (const n of selected(cluster.plan.nodes)) if (phaseIndex(nodePhases[n.name]) < phaseIndex(phase)) nodePhases[n.name] = phase;
          return { ...s, nodePhases, phase: phaseIndex(s.phase) < phaseIndex(phase) ? phase : s.phase };
        });
      }
    }
    let kubeconfigFile: string | undefined;
    if (target >= phaseIndex('control-plane') && !opts.dryRun) kubeconfigFile = await fetchKubeconfig(cluster, opts.limits ?? DEFAULT_SSH_LIMITS);
    return { cluster, reached: opts.until, logFile: runner.logFile, ...(kubeconfigFile ? { kubeconfigFile } : {}) };
  } finally {
    await runner.close();
  }
}

/**
 * Workers may join long after kubeadm init (`up --until control-plane` yesterday, `up` today):
 * their token must still be valid. A fresh one means rendering the join configs again.
 */
async function joinTokenReady(cluster: Cluster, opts: UpOptions): Promise<Cluster> {
  if (opts.dryRun) {
    opts.print(`would check over ssh on ${cluster.plan.controlPlane.name} that the join token stays valid (kubeadm token list), and create a fresh one if not`);
    return cluster;
  }
  return (await checkJoinToken(cluster, opts.limits ?? DEFAULT_SSH_LIMITS, opts.progress)) ? generateCluster(opts.load) : cluster;
}

async function generateCluster(load: LoadOptions): Promise<Cluster> {
  await generate(load);
  return openCluster(load);
}
