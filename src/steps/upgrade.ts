import { statSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readGeneratedConfig, type LoadOptions } from '../config/load.js';
import { CommandError, ConfigError, errorMessage, OperationError, UsageError } from '../errors.js';
import { GUEST_UPGRADE } from '../layout.js';
import { readSums, verifyChecksums, type OfflineArtifacts } from '../offline/artifacts.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';
import { Redactor } from '../redact.js';
import { renderUpgrade } from '../render/render.js';
import { connect, type SshSession, type UploadFile } from '../ssh/client.js';
import { forgetRemembered, updateState, type UpgradeRecord } from '../state.js';
import { describeUpgrade, manualCommands, upgradeSteps, type RemoteCommand, type StageUpload, type UpgradeStep } from '../upgrade/plan.js';
import { decideUpgrade, localProblems, type LiveVersions, type TargetArtifacts, type UpgradeDecision } from '../upgrade/rules.js';
import { versionProblem } from '../config/schema.js';
import { upgradeInProgress } from '../upgrade/versions.js';
import { KUBECTL_NODES, KUBECTL_VERSION, parseNodeList, parseServerVersion } from '../verify/kube.js';
import { logFileFor, openLogFile } from '../vagrant/runner.js';
import { ensureArtifacts, type FetchFn } from './artifacts.js';
import { DEFAULT_SSH_LIMITS, openCluster, planOf, requireControlPlane, sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';
import { generate } from './generate.js';
import { formatElapsed, type Progress } from './progress.js';
import { API_UNAVAILABLE, apiPatienceMs, onControlPlane, sudoUntilAnswered } from './tokens.js';
import { verifyCluster, VERIFY_SETTLE_MS } from './verify.js';

/**
 * `upgrade --to VERSION`: every rule checked before anything changes (src/upgrade/rules.ts), then
 * the steps of src/upgrade/plan.ts run node by node over SSH, each node verified before the next,
 * the state recording each node's progress, so that running it again carries on at the node it
 * stopped on. `--plan` prints the steps and touches nothing; `--manual` stages the artifacts and
 * prints what a person types.
 */

export interface UpgradeOptions {
  load: LoadOptions;
  /** `--to`: a minor (the cache: its newest known patch; offline.dir: the newest there) or a patch. */
  to: string;
  /** `--plan` / `--dry-run`: print, change nothing. */
  plan: boolean;
  /** `--manual`: stage the artifacts, then print the commands for a person. */
  manual: boolean;
  progress: Progress;
  print: (line: string) => void;
  limits?: SshLimits;
  /** What fetches the artifacts the cache lacks (tests inject their own). */
  fetch?: FetchFn;
}

export interface UpgradeResult {
  /** no-op: the cluster ran the target already; planned: --plan; manual: commands printed; upgraded: done. */
  outcome: 'no-op' | 'planned' | 'manual' | 'upgraded';
  version: string;
  from?: string;
  /** Each node upgraded now, with how long it took (seconds). */
  nodes: { name: string; seconds: number }[];
  seconds: number;
  logFile?: string;
}

/** The slowest rate an upload may go at on hardware (bytes per second), times the slowdown: its bound. */
const UPLOAD_MIN_RATE = 1 << 20;

/** What the cluster runs: the API server's version and each node's kubelet's, read on the control plane. */
export async function readLiveVersions(cluster: Cluster, limits: SshLimits): Promise<LiveVersions> {
  return onControlPlane(cluster, limits, async (s) => {
    const patience = apiPatienceMs(cluster);
    const apiServer = parseServerVersion(await sudoUntilAnswered(s, KUBECTL_VERSION, 'kubectl version', { timeoutMs: patience }));
    const nodes = parseNodeList(await sudoUntilAnswered(s, KUBECTL_NODES, 'kubectl get nodes', { timeoutMs: patience }));
    return { apiServer, kubelets: Object.fromEntries(nodes.flatMap((n) => (n.kubeletVersion ? [[n.name, n.kubeletVersion]] : []))) };
  });
}

/**
 * The target's artifacts from the cluster's source (src/offline/source.ts), fetched into the cache
 * first when it lacks them (not for `--plan`, which downloads nothing), every checksum verified on
 * this host.
 */
async function targetArtifacts(cluster: Cluster, to: string, opts: Pick<UpgradeOptions, 'plan' | 'progress' | 'fetch'>): Promise<{ target: TargetArtifacts; artifacts?: OfflineArtifacts; bytes: number }> {
  const found = await ensureArtifacts(cluster.loaded, { version: to, dryRun: opts.plan, say: opts.plan ? () => {} : (line) => opts.progress.info(line), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  if (!found.artifacts) return { target: { problems: found.problems }, bytes: 0 };
  const sums = await verifyChecksums(found.artifacts.dir);
  return { target: { patch: found.artifacts.patch, dir: found.artifacts.dir, files: sums.files, problems: sums.problems }, artifacts: found.artifacts, bytes: sums.bytes };
}

/** The files a stage uploads: the artifacts SHA256SUMS lists (and itself), the script, its configuration. */
function stageFiles(artifacts: OfflineArtifacts, rendered: { script: string; config: string }): UploadFile[] {
  const base = `${GUEST_UPGRADE.upload}/v${artifacts.patch}`;
  const files: UploadFile[] = ['SHA256SUMS', ...readSums(artifacts.dir).keys()].map((rel) => {
    const local = join(artifacts.dir, rel);
    const st = statSync(local);
    return { local, size: st.size, remote: `${base}/${rel}`, mode: st.mode & 0o777 };
  });
  // The script and its configuration last: a stage never finds them without the artifacts they go with.
  files.push({ data: Buffer.from(rendered.script), remote: `${GUEST_UPGRADE.upload}/upgrade.sh`, mode: 0o600 });
  files.push({ data: Buffer.from(rendered.config), remote: `${GUEST_UPGRADE.upload}/upgrade.yaml`, mode: 0o600 });
  return files;
}

/** Records a change to the upgrade in the state (the record exists once the upgrade started). */
function recordUpgrade(cluster: Cluster, change: (u: UpgradeRecord) => UpgradeRecord): void {
  cluster.state = updateState(cluster.dir, (s) => (s.upgrade ? { ...s, upgrade: change(s.upgrade) } : s));
}

/** The run's log: every command, its output and exit status, redacted. */
class UpgradeLog {
  readonly file: string;
  private stream: WriteStream | undefined;
  constructor(
    private readonly dir: string,
    private readonly redactor: Redactor,
  ) {
    this.file = logFileFor(dir, 'upgrade');
  }
  write(text: string): void {
    this.stream ??= openLogFile(this.dir, this.file);
    this.stream.write(this.redactor.text(text.endsWith('\n') ? text : `${text}\n`));
  }
  close(): Promise<void> {
    return new Promise((resolve) => (this.stream ? this.stream.end(() => resolve()) : resolve()));
  }
}

interface Runner {
  cluster: Cluster;
  limits: SshLimits;
  log: UpgradeLog;
  progress: Progress;
  print: (line: string) => void;
}

/** The last lines of a command's output, for an error. */
const tail = (text: string, lines = 15) => text.trimEnd().split('\n').slice(-lines).join('\n');

/**
 * Runs one command with sudo on its node, output to the log; one that may run again is asked
 * again (every 15 s, within its bound) while the API server answers as unavailable.
 */
async function runRemote(r: Runner, c: RemoteCommand, session?: SshSession): Promise<string> {
  const plan = r.cluster.plan;
  const timeoutMs = c.timeoutS * plan.slowdown * 1000;
  const deadline = Date.now() + timeoutMs;
  const own = session ?? (await connect(sshTarget(c.on), sshOptions(r.cluster, r.limits)));
  try {
    for (let attempt = 1; ; attempt++) {
      r.log.write(`\n$ [${c.on.name}] sudo ${c.command}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
      const result = await own.exec(c.command, { sudo: true, timeoutMs: Math.max(1000, deadline - Date.now()) });
      const output = `${result.stdout}${result.stderr ? `\n${result.stderr}` : ''}`;
      r.log.write(`${output}\n# exit ${result.code}`);
      if (result.code === 0) return result.stdout;
      const why = c.retry ? API_UNAVAILABLE.exec(output) : null;
      if (!why || Date.now() + 15_000 >= deadline) {
        throw new CommandError(`on ${c.on.name}: \`${c.command}\` failed (exit ${result.code})`, { command: c.command, output: tail(output), logFile: r.log.file });
      }
      r.print(`${c.on.name}: ${c.command.split(' ').slice(0, 3).join(' ')}: the API server answered "${why[0]}"; asking again`);
      await sleep(15_000);
    }
  } finally {
    if (!session) await own.close();
  }
}

/** Uploads the target's artifacts (carrying on where an earlier upload stopped) and runs `upgrade.sh stage`. */
async function stage(r: Runner, step: Extract<UpgradeStep, { kind: 'stage' }>, files: UploadFile[]): Promise<void> {
  const p = r.progress.phase(`stage ${step.node.name}: upload the artifacts, check them there, import the images`);
  try {
    const session = await connect(sshTarget(step.node), sshOptions(r.cluster, r.limits));
    try {
      const staged = await session.exec(`cat ${GUEST_UPGRADE.staged}/v${r.cluster.plan.kubernetes.patch}/.verified 2>/dev/null || true`, { sudo: true });
      if (staged.stdout.trim() === r.cluster.plan.offline.sumsHash) {
        p.update('staged already: only the script and its configuration');
        await session.upload(files.filter((f) => 'data' in f), { timeoutMs: () => 60_000 * r.cluster.plan.slowdown });
      } else {
        let done = 0;
        const sent = await session.upload(files, {
          timeoutMs: (bytes) => (60 + bytes / UPLOAD_MIN_RATE) * r.cluster.plan.slowdown * 1000,
          onFile: (f, wasSent) => p.update(`${++done}/${files.length} files${wasSent ? '' : ' (one there already)'}: ${f.remote.split('/').pop()}`),
        });
        r.log.write(`# ${step.node.name}: uploaded ${sent.sent} files (${sent.bytes} bytes), ${sent.skipped} there already`);
      }
      await runRemote(r, step.command, session);
    } finally {
      await session.close();
    }
    recordUpgrade(r.cluster, (u) => ({ ...u, nodes: { ...u.nodes, [step.node.name]: { ...u.nodes[step.node.name], staged: new Date().toISOString() } } }));
    p.done(true);
  } catch (err) {
    p.done(false, errorMessage(err));
    throw err;
  }
}

/** Verifies nodes at the target (the cluster's plan is the target's once the upgrade started); throws when one does not pass. */
async function verifyAtTarget(r: Runner, nodes: readonly NodePlan[], what: string): Promise<void> {
  const p = r.progress.phase(`verify ${what} at v${r.cluster.plan.kubernetes.patch}`);
  const report = await verifyCluster(r.cluster, nodes, 'verified', r.limits, { peers: r.cluster.plan.nodes });
  for (const n of report.nodes) {
    const failed = n.checks.filter((c) => !c.ok);
    p.node(n.name, failed.length === 0, failed.length === 0 ? `${n.checks.length} checks passed` : failed.map((c) => `${c.check}: saw ${c.seen}`).join('; '));
  }
  p.done(report.ok);
  if (!report.ok) {
    throw new OperationError(`${nodes.map((n) => n.name).join(', ')} did not verify at v${r.cluster.plan.kubernetes.patch}; \`kubeadm-vagrant verify\` shows the details, and \`kubeadm-vagrant upgrade --to ${r.cluster.plan.kubernetes.patch}\` carries on from here`, { logFile: r.log.file });
  }
}

/** One node: its commands in order, then it is verified; the state records it done. */
async function upgradeNode(r: Runner, step: Extract<UpgradeStep, { kind: 'node' }>): Promise<number> {
  const started = Date.now();
  r.progress.info(`${step.node.name}: upgrading to v${r.cluster.plan.kubernetes.patch}`);
  for (const c of step.commands) {
    const p = r.progress.phase(`${step.node.name}: ${c.what}${c.on.name !== step.node.name ? ` (on ${c.on.name})` : ''}`);
    try {
      await runRemote(r, c);
      p.done(true);
    } catch (err) {
      p.done(false, errorMessage(err));
      throw err;
    }
  }
  await verifyAtTarget(r, [step.node], step.node.name);
  const seconds = Math.round((Date.now() - started) / 1000);
  recordUpgrade(r.cluster, (u) => ({ ...u, nodes: { ...u.nodes, [step.node.name]: { ...u.nodes[step.node.name], upgraded: new Date().toISOString(), seconds } } }));
  r.progress.info(`${step.node.name}: upgraded to v${r.cluster.plan.kubernetes.patch} in ${formatElapsed(seconds * 1000)}`);
  return seconds;
}

/** Every node's artifacts directory switched, every node verified, the upgrade recorded as finished, the files generated for it. */
async function finish(r: Runner, step: Extract<UpgradeStep, { kind: 'finish' }>, load: LoadOptions): Promise<void> {
  const p = r.progress.phase(`every node's artifacts directory: v${r.cluster.plan.kubernetes.patch}`);
  try {
    for (const c of step.commands) await runRemote(r, c);
    p.done(true);
  } catch (err) {
    p.done(false, errorMessage(err));
    throw err;
  }
  await verifyAtTarget(r, r.cluster.plan.nodes, 'every node');
  recordUpgrade(r.cluster, (u) => ({ ...u, finishedAt: new Date().toISOString() }));
  // A version remembered from a flag would otherwise say the old one at every generate.
  forgetRemembered(r.cluster.dir, 'kubernetes.version');
  try {
    await generate(load);
  } catch (err) {
    throw new OperationError(`cluster ${r.cluster.plan.name} runs ${r.cluster.plan.kubernetes.patch}, but generating its files for it failed: ${errorMessage(err)}; run \`kubeadm-vagrant generate\``);
  }
}

/** The refusal of every rule that failed, at once. */
function refusal(cluster: Cluster, decision: Extract<UpgradeDecision, { kind: 'refused' }>): UsageError {
  return new UsageError(`cannot upgrade cluster ${cluster.plan.name}; nothing was changed:\n${decision.problems.map((p) => `  - ${p}`).join('\n')}`);
}

export async function upgrade(opts: UpgradeOptions): Promise<UpgradeResult> {
  const started = Date.now();
  const limits = opts.limits ?? DEFAULT_SSH_LIMITS;
  // The artifacts of the version the cluster runs (the nodes are verified against them), fetched first when the cache lacks them.
  if (!opts.plan) {
    const read = readGeneratedConfig(opts.load);
    const running = await ensureArtifacts(read, { dryRun: false, say: (line) => opts.progress.info(line), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    if (!running.artifacts) throw new ConfigError(running.problems, read.file);
  }
  let cluster = openCluster(opts.load);
  requireControlPlane(cluster, 'upgrade');
  const inProgress = upgradeInProgress(cluster.state);
  // What this host decides alone comes first: no connection for a request that cannot go ahead.
  const found = versionProblem(opts.to) ? { target: { problems: [] }, bytes: 0 } : await targetArtifacts(cluster, opts.to, opts);
  const local = localProblems({ asked: opts.to, target: found.target, ...(inProgress ? { inProgress } : {}) });
  if (local.length > 0) throw refusal(cluster, { kind: 'refused', problems: local });
  const live = await readLiveVersions(cluster, limits);
  const decision = decideUpgrade({ asked: opts.to, nodes: cluster.plan.nodes, live, target: found.target, ...(inProgress ? { inProgress } : {}) });
  if (decision.kind === 'refused') throw refusal(cluster, decision);
  const seconds = () => Math.round((Date.now() - started) / 1000);
  const finishing = decision.kind === 'no-op' && inProgress?.to === decision.version;
  if (decision.kind === 'no-op' && !finishing) {
    opts.print(`cluster ${cluster.plan.name} runs ${decision.version} already: nothing to do (${decision.reasons.join('; ')})`);
    return { outcome: 'no-op', version: decision.version, nodes: [], seconds: seconds() };
  }
  const artifacts = found.artifacts!;
  const to = artifacts.patch;
  const target: ClusterPlan = planOf({ config: { ...cluster.loaded.config, kubernetes: { ...cluster.loaded.config.kubernetes, version: to } }, offline: artifacts }, cluster.state, cluster.plan.secrets);
  const upgrading = decision.kind === 'upgrade' ? decision : { kind: 'upgrade' as const, from: inProgress!.from, to, reasons: decision.reasons, atTarget: target.nodes.map((n) => n.name) };
  const recorded = inProgress ? Object.entries(inProgress.nodes).filter(([, n]) => n.upgraded).map(([name]) => name) : undefined;
  const steps = upgradeSteps(target, upgrading, recorded);
  const upload: StageUpload = { dir: artifacts.dir, files: found.target.files ?? 0, bytes: found.bytes };
  if (opts.plan) {
    // --manual --plan: the staging --manual does, then the commands it prints.
    const lines = opts.manual ? [...describeUpgrade(target, upgrading, steps.filter((s) => s.kind === 'stage'), upload), '', ...manualCommands(target, upgrading)] : describeUpgrade(target, upgrading, steps, upload);
    for (const line of lines) opts.print(line);
    return { outcome: 'planned', version: to, from: upgrading.from, nodes: [], seconds: seconds() };
  }

  const log = new UpgradeLog(cluster.dir, new Redactor([cluster.plan.secrets.token]));
  try {
    // A fresh upgrade starts from a healthy cluster: every node verified at the version it runs.
    if (!inProgress) {
      const p = opts.progress.phase(`verify the cluster at ${live.apiServer} before anything changes`);
      const report = await verifyCluster(cluster, cluster.plan.nodes, 'verified', limits, { settleMs: VERIFY_SETTLE_MS * cluster.plan.slowdown, onlyWhileAnswering: true });
      const failed = report.nodes.flatMap((n) => n.checks.filter((c) => !c.ok).map((c) => `${n.name} ${c.check}: saw ${c.seen}`));
      p.done(report.ok, report.ok ? undefined : failed.join('; '));
      if (!report.ok) throw new OperationError(`cluster ${cluster.plan.name} does not verify as it is, so it is not upgraded (nothing was changed): ${failed.join('; ')}; \`kubeadm-vagrant verify\` shows the details`);
      updateState(cluster.dir, (s) => ({
        ...s,
        upgrade: { from: upgrading.from, to, sumsHash: artifacts.sumsHash, mode: opts.manual ? 'manual' : 'automatic', startedAt: new Date().toISOString(), nodes: {} },
      }));
    } else if (opts.manual !== (inProgress.mode === 'manual')) {
      updateState(cluster.dir, (s) => ({ ...s, upgrade: { ...s.upgrade!, mode: opts.manual ? 'manual' : 'automatic' } }));
    }
    // From here the cluster's plan is the target's: what the nodes are verified against.
    cluster = openCluster(opts.load);
    const r: Runner = { cluster, limits, log, progress: opts.progress, print: opts.print };
    const files = stageFiles(artifacts, renderUpgrade(target));
    for (const step of steps.filter((s): s is Extract<UpgradeStep, { kind: 'stage' }> => s.kind === 'stage')) await stage(r, step, files);
    if (opts.manual) {
      for (const line of manualCommands(target, upgrading)) opts.print(line);
      return { outcome: 'manual', version: to, from: upgrading.from, nodes: [], seconds: seconds(), logFile: log.file };
    }
    const nodes: { name: string; seconds: number }[] = [];
    for (const step of steps) {
      if (step.kind === 'node') nodes.push({ name: step.node.name, seconds: await upgradeNode(r, step) });
      if (step.kind === 'finish') await finish(r, step, opts.load);
    }
    return { outcome: 'upgraded', version: to, from: upgrading.from, nodes, seconds: seconds(), logFile: log.file };
  } finally {
    await log.close();
  }
}
