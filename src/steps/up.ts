import { readConfig, withExpectedArtifacts, type LoadedConfig, type LoadOptions } from '../config/load.js';
import { CommandError, ConfigError, OperationError, UsageError } from '../errors.js';
import type { PhaseId } from '../phases.js';
import type { NodePlan } from '../plan/plan.js';
import { Redactor } from '../redact.js';
import { readPlanSecrets, secretPaths } from '../secrets.js';
import { readState, recordPassed, updateState } from '../state.js';
import type { BoxProvider } from '../boxes/formats.js';
import { cacheRoot } from '../cache.js';
import { hostArch, loadCatalog } from '../distros.js';
import { PROVIDER_SEEDS } from '../providers/seeds.js';
import { upgradeInProgress } from '../upgrade/versions.js';
import { createRunner, type Runner } from '../vagrant/runner.js';
import { ensureArtifacts, type FetchFn } from './artifacts.js';
import { DEFAULT_SSH_LIMITS, openCluster, planOf, type Cluster, type SshLimits } from './cluster.js';
import { generate } from './generate.js';
import { fetchKubeconfig } from './kubeconfig.js';
import type { Progress } from './progress.js';
import { checkJoinToken } from './tokens.js';
import { hostPreflight, preflightCheckIds } from './doctor.js';
import { describeStep, upSteps, type UpStep } from './up-steps.js';
import { verifyCluster } from './verify.js';

/**
 * While an upgrade has not finished, the nodes run two versions: `up` (and `node add`) would bring
 * machines to the target's binaries outside kubeadm's procedure.
 */
export function refuseDuringUpgrade(cluster: Pick<Cluster, 'state' | 'plan'>, what: string): void {
  const u = upgradeInProgress(cluster.state);
  if (u) {
    throw new UsageError(
      `${what}: cluster ${cluster.plan.name} is being upgraded from ${u.from} to ${u.to} (${u.mode}, started ${u.startedAt}); finish that first with \`kubeadm-vagrant upgrade --to ${u.to}\`; nothing was changed`,
    );
  }
}

export interface UpOptions {
  load: LoadOptions;
  until: PhaseId;
  dryRun: boolean;
  progress: Progress;
  print: (line: string) => void;
  limits?: SshLimits;
  /** Only these machines (node add); the others are left alone. */
  only?: string[];
  logName?: string;
  /** The caller (node add) has already made sure the join token is valid. */
  joinTokenChecked?: boolean;
  /** The caller (node add) has already run the host checks. */
  hostChecked?: boolean;
  /** What fetches the artifacts the cache lacks (default: src/artifacts/fetch.ts fetchArtifacts; tests inject their own). */
  fetch?: FetchFn;
}

export interface UpResult {
  cluster: Cluster;
  reached: PhaseId;
  kubeconfigFile?: string;
  logFile: string;
}

/** A cluster planned in memory, nothing written: the secrets that exist, placeholders for the rest. */
function plannedCluster(loaded: LoadedConfig): Cluster {
  const state = readState(loaded.dir);
  const plan = planOf(loaded, state, readPlanSecrets(loaded.dir, loaded.config.kubernetes.token));
  return { loaded, dir: loaded.dir, plan, secrets: secretPaths(loaded.dir), state };
}

/** `==> worker-1: Running provisioner: prerequisites (shell)...` → worker-1. */
function machineOf(line: string): string | undefined {
  return /^==> ([\w.-]+):/.exec(line)?.[1];
}

async function runVagrant(step: Extract<UpStep, { kind: 'vagrant' }>, runner: Runner, progress: Progress): Promise<void> {
  const p = progress.phase(`${step.phase}: vagrant on ${step.nodes.map((n) => n.name).join(', ')}`);
  let lastMachine: string | undefined;
  const onLine = (line: string) => {
    const m = machineOf(line);
    if (m) {
      lastMachine = m;
      p.update(`${m}: ${line.slice(line.indexOf(':') + 2, line.indexOf(':') + 70)}`);
    }
  };
  try {
    for (const group of step.commands) {
      // Every command of a group runs to its end; the first failure is reported.
      const results = await Promise.allSettled(group.map((command) => runner.run(command, { onLine })));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        const machine = group[results.indexOf(failed)]?.args[1];
        if (machine && group.length > 1) lastMachine = machine;
        throw failed.reason;
      }
    }
    p.done(true);
  } catch (err) {
    p.done(false, lastMachine ? `failed on ${lastMachine}` : 'failed');
    if (err instanceof CommandError) {
      throw new CommandError(`phase ${step.phase} failed${lastMachine ? ` on node ${lastMachine}` : ''}: ${err.message}`, err.details);
    }
    throw err;
  }
}

/** The configured box of ours, built (and baked, for a baked one) from the shipped catalog's image. */
async function buildConfiguredBox(cluster: Cluster, opts: UpOptions): Promise<void> {
  const { plan } = cluster;
  const { buildBox } = await import('../boxes/build.js');
  const { isBakedBoxName } = await import('../boxes/catalog.js');
  const common = { distro: plan.distro.id, provider: plan.provider as BoxProvider, arch: hostArch(), catalog: loadCatalog(), cache: cacheRoot(), info: (l: string) => opts.progress.info(`  ${l}`) };
  const p = opts.progress.phase(`box: ${plan.box.name} is not built on this host: building it from ${plan.distro.id}'s official image`);
  try {
    if (isBakedBoxName(plan.box.name)) {
      const { bakeBox } = await import('../boxes/bake.js');
      await bakeBox({ ...common, load: opts.load, steps: opts.progress });
    } else {
      await buildBox(common);
    }
    p.done(true);
  } catch (err) {
    p.done(false);
    throw err;
  }
}

/** The seeds of the machines about to be created, where their provider attaches them. */
async function runSeeds(step: Extract<UpStep, { kind: 'seeds' }>, cluster: Cluster, runner: Runner, progress: Progress): Promise<void> {
  const p = progress.phase(`machines: cloud-init seeds for ${step.nodes.map((n) => n.name).join(', ')}`);
  try {
    await PROVIDER_SEEDS[cluster.plan.provider].prepare({ plan: cluster.plan, dir: cluster.dir, nodes: step.nodes, runner, env: process.env });
    p.done(true);
  } catch (err) {
    p.done(false);
    throw err;
  }
}

/** A workers-only `up` starts from a control plane that is up: it must pass the checks of the phase it reached. */
async function checkControlPlane(step: Extract<UpStep, { kind: 'control-plane-check' }>, cluster: Cluster, opts: UpOptions): Promise<void> {
  const p = opts.progress.phase(`control plane: check that ${step.node.name} is up`);
  const report = await verifyCluster(cluster, [step.node], step.phase, opts.limits ?? DEFAULT_SSH_LIMITS, { settleMs: 0, peers: step.peers });
  const failed = report.nodes.flatMap((n) => n.checks.filter((c) => !c.ok));
  p.done(failed.length === 0, failed.length === 0 ? 'up' : failed.map((c) => `${c.check}: saw ${c.seen}`).join('; '));
  if (failed.length > 0) {
    throw new OperationError(
      `setup.controlPlane is false, so up only adds workers, but the control plane ${step.node.name} (${step.node.ip}) does not answer as up ` +
        `(${failed.map((c) => c.check).join(', ')} failed); start it with \`vagrant up master\` in ${cluster.dir}, or set it up again with \`SETUP_NODES=false kubeadm-vagrant up\`. No worker was touched`,
    );
  }
}

async function runVerify(step: Extract<UpStep, { kind: 'verify' }>, cluster: Cluster, opts: UpOptions, runner: Runner): Promise<void> {
  const verifyOnce = async (nodes: NodePlan[], title: string) => {
    const p = opts.progress.phase(`${title}: verify ${nodes.map((n) => n.name).join(', ')}`);
    const report = await verifyCluster(cluster, nodes, step.phase, opts.limits ?? DEFAULT_SSH_LIMITS, { peers: step.peers });
    for (const n of report.nodes) {
      const failed = n.checks.filter((c) => !c.ok);
      p.node(n.name, failed.length === 0, failed.length === 0 ? `${n.checks.length} checks passed` : failed.map((c) => `${c.check}: saw ${c.seen}`).join('; '));
    }
    p.done(report.ok);
    return report;
  };
  const title = step.baked ? `${step.baked.phases.join(', ')} (baked into ${cluster.plan.box.name})` : step.phase;
  let report = await verifyOnce(step.nodes, title);
  if (!report.ok && step.baked) {
    // The box holds less than its record says (or a machine changed): install, as on any box.
    const failed = report.nodes.filter((n) => n.checks.some((c) => !c.ok)).map((n) => n.name);
    opts.progress.info(`the box's baked ${step.baked.phases.join(', ')} did not verify on ${failed.join(', ')}: installing from the artifacts instead`);
    for (const phase of step.baked.install) {
      const commands = failed.map((m) => phase.commands[m]!).filter(Boolean);
      const groups = step.baked.parallel ? [commands] : commands.map((c) => [c]);
      await runVagrant({ kind: 'vagrant', phase: phase.phase, nodes: step.nodes.filter((n) => failed.includes(n.name)), commands: groups }, runner, opts.progress);
    }
    report = await verifyOnce(step.nodes, step.phase);
  }
  if (!report.ok) {
    const bad = report.nodes.filter((n) => n.checks.some((c) => !c.ok)).map((n) => n.name);
    throw new OperationError(`phase ${step.phase} did not verify on ${bad.join(', ')}; run \`kubeadm-vagrant verify\` for the details`);
  }
  for (const phase of step.baked?.phases ?? [step.phase]) {
    cluster.state = updateState(cluster.dir, (s) => recordPassed(s, phase, step.record.map((n) => n.name)));
  }
}

/**
 * generate → the steps of upSteps, in order: for each phase up to `until`, vagrant runs the
 * phase's provisioners on the machines that have not passed it yet, then the phase is verified
 * over SSH. Re-running carries on where it stopped; phases are idempotent, so a healthy node is
 * never reset.
 */
export async function up(opts: UpOptions): Promise<UpResult> {
  // The steps are planned from what exists before anything is fetched or written (with the
  // artifacts as they will be when the cache lacks them): a request that cannot start (workers
  // only, with no control plane) is refused with the directory and the cache as they were.
  // What `up` sets up is checked here (not by generate): SETUP_MASTER=false SETUP_NODES=false sets up nothing.
  const read = readConfig(opts.only ? opts.load : { ...opts.load, forUp: true });
  const before = plannedCluster(withExpectedArtifacts(read));
  refuseDuringUpgrade(before, 'up');
  const stepOptions = {
    until: opts.until,
    ...(opts.only ? { only: opts.only } : { setup: before.loaded.config.setup }),
    ...(opts.joinTokenChecked ? { joinTokenChecked: true } : {}),
  };
  let steps = upSteps(before.plan, before.state, stepOptions);
  let cluster = before;
  // The host first (a host that cannot run the machines downloads nothing): the machines Vagrant is
  // about to start or create, what the host must hold.
  const machines = [...new Map(steps.flatMap((s) => (s.kind === 'vagrant' ? s.nodes : [])).map((n) => [n.name, n])).values()];
  if (opts.dryRun && !opts.hostChecked) opts.print(`would check the host first, as \`kubeadm-vagrant doctor\` does: ${preflightCheckIds(before.plan.provider).join(', ')}`);
  if (!opts.dryRun && !opts.hostChecked) await hostPreflight({ plan: before.plan, dir: before.dir, machines, progress: opts.progress });
  // Then what every machine installs, fetched into the cache first when it lacks it: before any machine.
  const ensured = await ensureArtifacts(read, { dryRun: opts.dryRun, say: opts.dryRun ? opts.print : (line) => opts.progress.info(line), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  if (!ensured.artifacts && !(opts.dryRun && ensured.missing)) throw new ConfigError(ensured.problems, read.file);
  if (!opts.dryRun) {
    cluster = await generateCluster(opts.load);
    // A box of ours that is not built yet is built first: then the steps know what it holds (a bake).
    if (steps.some((s) => s.kind === 'box')) {
      await buildConfiguredBox(cluster, opts);
      cluster = openCluster(opts.load);
    }
    steps = upSteps(cluster.plan, cluster.state, stepOptions);
  }
  const runner = createRunner({ clusterDir: cluster.dir, dryRun: opts.dryRun, logName: opts.logName ?? 'up', redactor: new Redactor([cluster.plan.secrets.token]), print: opts.print });
  let kubeconfigFile: string | undefined;
  try {
    for (const step of steps) {
      if (opts.dryRun) {
        for (const line of describeStep(step, cluster.plan)) opts.print(line);
        continue;
      }
      switch (step.kind) {
        case 'control-plane-check':
          await checkControlPlane(step, cluster, opts);
          break;
        case 'box':
          // Built before the steps were planned again (above); only a dry run lists it.
          break;
        case 'seeds':
          await runSeeds(step, cluster, runner, opts.progress);
          break;
        case 'vagrant':
          await runVagrant(step, runner, opts.progress);
          break;
        case 'join-token':
          // A fresh token means the join configs must be rendered again.
          if (await checkJoinToken(cluster, opts.limits ?? DEFAULT_SSH_LIMITS, opts.progress)) cluster = await generateCluster(opts.load);
          break;
        case 'verify':
          await runVerify(step, cluster, opts, runner);
          break;
        case 'kubeconfig':
          kubeconfigFile = await fetchKubeconfig(cluster, opts.limits ?? DEFAULT_SSH_LIMITS);
          break;
      }
    }
    return { cluster, reached: opts.until, logFile: runner.logFile, ...(kubeconfigFile ? { kubeconfigFile } : {}) };
  } finally {
    await runner.close();
  }
}

async function generateCluster(load: LoadOptions): Promise<Cluster> {
  await generate(load);
  return openCluster(load);
}
