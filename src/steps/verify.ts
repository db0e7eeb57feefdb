import { cniDef } from '../cni/index.js';
import { type LoadOptions } from '../config/load.js';
import type { NodePlan } from '../plan/plan.js';
import { SSH_CHECK, type CheckResult, type PlannedNode } from '../verify/types.js';
import { reachedPhase, verificationAfter, type PhaseId } from '../phases.js';
import { forgetHost } from '../ssh/known-hosts.js';
import { backoffDelay, sleep } from '../ssh/retry.js';
import { passedPhases, updateState } from '../state.js';
import { insecureKeyChecks } from '../verify/insecure-key.js';
import { addChecks, toVerifySummary, verifyNodes, type VerifyReport } from '../verify/index.js';
import { findNode, openCluster, requireMachines, sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';
import { smokeTest } from './smoke.js';

/** How long cluster-level checks keep retrying while pods start (kubeadm init returns before they run), times the plan's slowdown. */
const CLUSTER_SETTLE_MS = 6 * 60_000;
/**
 * How long `verify` asks again while checks fail on a cluster whose nodes all answer over SSH,
 * times the slowdown: a pod can be momentarily unready on a busy control plane (the e2e saw the
 * API server "Running, not ready" for one reading under emulation). An unreachable node fails at once.
 */
export const VERIFY_SETTLE_MS = 60_000;
/** Waits between those tries: 5 s doubling up to 30 s. */
const SETTLE_BACKOFF = (attempt: number): number => backoffDelay(attempt, 5000, 30_000);

/**
 * Verifies nodes at a level; the cluster level reads Kubernetes on the control plane (which is then
 * always connected to) and retries with backoff, bounded, while pods settle. Remembers the result.
 */
export async function verifyCluster(
  cluster: Cluster,
  nodes: readonly NodePlan[],
  after: PhaseId,
  limits: SshLimits,
  opts: { settleMs?: number; peers?: readonly NodePlan[]; onlyWhileAnswering?: boolean } = {},
): Promise<VerifyReport> {
  const ssh = sshOptions(cluster, limits);
  const verification = verificationAfter(after, cluster.plan, opts.peers);
  const kube = verification.clusterView;
  const wanted = new Set(nodes.map((n) => n.name));
  const targets = kube && !wanted.has(cluster.plan.controlPlane.name) ? [cluster.plan.controlPlane, ...nodes] : [...nodes];
  // Every check runs commands on the nodes, which are slow enough already under emulation: a node
  // that is only there to read the cluster from runs none of its own, and a retry runs again only
  // the checks that have not passed yet (the cluster checks, read from the control plane, always).
  const passed: PassedChecks = new Map();
  const specs = (node: PlannedNode) => (wanted.has(node.name) ? verification.specs(node) : []).filter((s) => !passed.get(node.name)?.has(s.id));
  const run = async (): Promise<VerifyReport> => {
    const fresh = await verifyNodes(targets.map((n) => ({ planned: n, target: sshTarget(n) })), ssh, {
      phase: kube ? 'cluster' : 'node',
      cniPod: cniDef(cluster.plan.kubernetes.cni).nodePod,
      kubernetesVersion: cluster.plan.kubernetes.patch,
      specs,
    });
    return withPassedBefore(fresh, passed);
  };
  const settled = (r: VerifyReport) => r.nodes.filter((n) => wanted.has(n.name)).every((n) => n.ok);
  const deadline = Date.now() + (kube ? (opts.settleMs ?? CLUSTER_SETTLE_MS * cluster.plan.slowdown) : 0);
  let report = await run();
  for (let attempt = 1; !settled(report); attempt++) {
    if (opts.onlyWhileAnswering && !allAnswered(report)) break;
    const wait = SETTLE_BACKOFF(attempt);
    if (Date.now() + wait >= deadline) break;
    await sleep(wait);
    report = await run();
  }
  report.nodes = report.nodes.filter((n) => wanted.has(n.name));
  report.ok = report.nodes.every((n) => n.ok);
  addChecks(report, await insecureKeyChecks(nodes.map(sshTarget), ssh));
  updateState(cluster.dir, (s) => ({ ...s, lastVerify: toVerifySummary(report) }));
  return report;
}

/** Every node of the report logged in over SSH (its `ssh` check passed). */
export function allAnswered(report: VerifyReport): boolean {
  return report.nodes.every((n) => n.checks.some((c) => c.check === SSH_CHECK.check && c.ok));
}

/** The checks that passed in earlier tries of one verification: node name → check id → result. */
export type PassedChecks = Map<string, Map<string, CheckResult>>;

/**
 * A report with the checks that passed in earlier tries of the same verification put back (after
 * the SSH login, before this try's results); records the ones that pass now.
 */
export function withPassedBefore(report: VerifyReport, passed: PassedChecks): VerifyReport {
  const nodes = report.nodes.map((n) => {
    const before = passed.get(n.name) ?? new Map<string, CheckResult>();
    const fresh = new Set(n.checks.map((c) => c.check));
    const kept = [...before.values()].filter((c) => !fresh.has(c.check));
    const [login, ...rest] = n.checks;
    const checks = login ? [login, ...kept, ...rest] : kept;
    for (const c of n.checks) if (c.ok) before.set(c.check, c);
    passed.set(n.name, before);
    return { ...n, checks, ok: checks.every((c) => c.ok) };
  });
  return { ...report, nodes, ok: nodes.every((n) => n.ok) };
}

export interface VerifyOptions {
  load: LoadOptions;
  limits: SshLimits;
  smoke: boolean;
  /** Forget this node's pinned host key first (after deliberately recreating its machine). */
  repin?: string;
}

/**
 * `verify`: every node at the level the cluster has reached (the last phase its control plane
 * passed); the checks that fail are asked again for a bounded time while every node answers
 * (VERIFY_SETTLE_MS); optionally the smoke test too.
 */
export async function verify(opts: VerifyOptions): Promise<VerifyReport> {
  const cluster = openCluster(opts.load);
  requireMachines(cluster, 'verify');
  if (opts.repin) {
    const t = sshTarget(findNode(cluster.plan, opts.repin));
    await forgetHost(sshOptions(cluster, opts.limits).knownHostsFile, t.host, t.port);
  }
  const reached = reachedPhase(passedPhases(cluster.state, cluster.plan.controlPlane.name));
  const report = await verifyCluster(cluster, cluster.plan.nodes, reached, opts.limits, { settleMs: VERIFY_SETTLE_MS * cluster.plan.slowdown, onlyWhileAnswering: true });
  if (opts.smoke) addChecks(report, await smokeTest(cluster, opts.limits));
  return report;
}
