import { errorMessage } from '../errors.js';
import { endpointOf } from '../ssh/known-hosts.js';
import { mapConcurrent, runAll, SshTimeoutError, type ExecResult, type SshOptions, type SshSession, type SshTarget } from '../ssh/client.js';
import { batchCommand, batchNonce, parseBatchOutput } from './batch.js';
import { clusterChecks, failedClusterChecks, KUBECTL_NODES, KUBECTL_PODS, parseNodeList, parsePodList, type KubeNode, type KubePod, type PodMatcher } from './kube.js';
import { nodeCheckSpecs } from './node-checks.js';
import { SSH_CHECK, type CheckOutcome, type CheckResult, type NodeCheckSpec, type NodeReport, type PlannedNode, type VerifyPhase, type VerifyReport } from './types.js';

export interface VerifyNode {
  planned: PlannedNode;
  target: SshTarget;
}

export interface VerifyOptions {
  /** `node`: node-level checks; `cluster`: those plus the Kubernetes checks, read on the control plane. */
  phase: VerifyPhase;
  /** In the cluster phase: the pod the CNI runs on every node (src/cni). */
  cniPod?: PodMatcher;
  /** In the cluster phase: the cluster's Kubernetes version (a patch or a minor), which each kubelet and kubeadm's components must run. */
  kubernetesVersion?: string;
  /** Nodes verified at once (default DEFAULT_VERIFY_CONCURRENCY). */
  concurrency?: number;
  /**
   * Commands in flight on one node's connection when the checks run one per session (only after
   * the batch of all of them timed out); OpenSSH allows 10 sessions per connection.
   */
  checksPerNode?: number;
  /** The port peers are probed on (default 22, the SSH port every node listens on). */
  probePort?: number;
  /** Replaces the node-level check list, e.g. for a subset. */
  specs?: (node: PlannedNode, all: readonly PlannedNode[]) => NodeCheckSpec[];
}

/**
 * Nodes verified at once. Verification waits on the network far more than it computes, so every
 * node of a large cluster (at most 253) is connected to at once rather than in waves.
 */
export const DEFAULT_VERIFY_CONCURRENCY = 256;

type KubeView = { ok: true; nodes: KubeNode[]; pods: KubePod[] } | { ok: false; reason: string };

interface NodeRun {
  checks: CheckResult[];
  kube?: KubeView;
}

const firstLine = (s: string): string => s.trim().split('\n')[0]?.trim() ?? '';

function resultOf(node: PlannedNode, spec: NodeCheckSpec, outcome: CheckOutcome): CheckResult {
  return { node: node.name, check: spec.id, title: spec.title, expected: spec.expected(node), ...outcome };
}

/** A failed command's first stderr line often says why (`containerd: command not found`). */
function withExitDetail(outcome: CheckOutcome, r: ExecResult): CheckOutcome {
  if (outcome.ok || r.code === 0 || firstLine(r.stderr) === '') return outcome;
  return { ok: false, seen: `${outcome.seen} [exit ${r.code}: ${firstLine(r.stderr).slice(0, 120)}]` };
}

async function runCheck(session: SshSession, node: PlannedNode, spec: NodeCheckSpec): Promise<CheckResult> {
  try {
    const r = await session.exec(spec.command, { sudo: true });
    return resultOf(node, spec, withExitDetail(spec.parse(r.stdout, r.code, node), r));
  } catch (err) {
    return resultOf(node, spec, { ok: false, seen: `not checked: ${errorMessage(err)}` });
  }
}

/**
 * Every check of a node in one remote command (./batch.ts): one session, one sudo, one round
 * trip. When the batch times out (a command hangs), the checks it did not finish run again one
 * per session, so a hung command fails only its own check.
 */
async function runChecks(session: SshSession, node: PlannedNode, specs: readonly NodeCheckSpec[], checksPerNode: number): Promise<CheckResult[]> {
  if (specs.length === 0) return [];
  const nonce = batchNonce();
  let parts: ReturnType<typeof parseBatchOutput>;
  try {
    const r = await session.exec(batchCommand(specs.map((s) => s.command), nonce), { sudo: true, label: `the ${specs.length} checks of ${node.name}` });
    parts = parseBatchOutput(r.stdout, specs.length, nonce);
  } catch (err) {
    if (!(err instanceof SshTimeoutError)) return specs.map((spec) => resultOf(node, spec, { ok: false, seen: `not checked: ${errorMessage(err)}` }));
    parts = specs.map(() => undefined);
  }
  return mapConcurrent(specs, checksPerNode, async (spec, i) => {
    const part = parts[i];
    if (!part) return runCheck(session, node, spec);
    const r: ExecResult = { code: part.code, stdout: part.stdout, stderr: part.stderr };
    return resultOf(node, spec, withExitDetail(spec.parse(r.stdout, r.code, node), r));
  });
}

async function kubectlJson(session: SshSession, command: string): Promise<string> {
  const r = await session.exec(command, { sudo: true });
  if (r.code !== 0) throw new Error(`\`${command.split(' --')[0]} ...\` failed (exit ${r.code}): ${firstLine(r.stderr) || 'no error output'}`);
  return r.stdout;
}

async function readKube(session: SshSession): Promise<KubeView> {
  try {
    const nodes = parseNodeList(await kubectlJson(session, KUBECTL_NODES));
    const pods = parsePodList(await kubectlJson(session, KUBECTL_PODS));
    return { ok: true, nodes, pods };
  } catch (err) {
    return { ok: false, reason: `not checked: ${errorMessage(err)}` };
  }
}

function sshResult(node: PlannedNode, ok: boolean, seen: string): CheckResult {
  return { node: node.name, ...SSH_CHECK, ok, seen };
}

function nodeReport(node: PlannedNode, checks: CheckResult[]): NodeReport {
  return { name: node.name, hostname: node.hostname, ip: node.ip, role: node.role, ok: checks.every((c) => c.ok), checks };
}

/**
 * Connects to every node in parallel, runs the node-level checks (and in the cluster phase reads
 * `kubectl get nodes/pods` on the control plane), and reports every check of every node. Never
 * rejects for a node's failure: an unreachable node is a failed `ssh` check.
 */
export async function verifyNodes(nodes: readonly VerifyNode[], ssh: SshOptions, options: VerifyOptions): Promise<VerifyReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const planned = nodes.map((n) => n.planned);
  const specsFor = options.specs ?? ((node: PlannedNode, all: readonly PlannedNode[]) => nodeCheckSpecs(node, all, options.probePort));
  const byTarget = new Map(nodes.map((n) => [n.target, n.planned]));
  const wantKube = (node: PlannedNode): boolean => options.phase === 'cluster' && node.role === 'control-plane';

  const outcomes = await runAll(
    nodes.map((n) => n.target),
    ssh,
    async (session, target): Promise<NodeRun> => {
      const node = byTarget.get(target)!;
      const login = sshResult(node, true, `logged in as ${target.username}@${endpointOf(target.host, target.port)}`);
      const checks = await runChecks(session, node, specsFor(node, planned), options.checksPerNode ?? 4);
      return { checks: [login, ...checks], ...(wantKube(node) ? { kube: await readKube(session) } : {}) };
    },
    { concurrency: options.concurrency ?? DEFAULT_VERIFY_CONCURRENCY },
  );

  const runs = outcomes.map((o, i): NodeRun => (o.ok ? o.value : { checks: [sshResult(planned[i]!, false, o.error.message)] }));
  const reports = planned.map((node, i) => nodeReport(node, [...runs[i]!.checks, ...clusterPart(node, planned, runs, options)]));
  return {
    phase: options.phase,
    ok: reports.every((r) => r.ok),
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    nodes: reports,
  };
}

function clusterPart(node: PlannedNode, planned: readonly PlannedNode[], runs: readonly NodeRun[], options: VerifyOptions): CheckResult[] {
  if (options.phase !== 'cluster') return [];
  const cni = options.cniPod;
  if (!cni) throw new Error('internal: a cluster-phase verification needs the CNI pod matcher');
  const cpIndex = planned.findIndex((p) => p.role === 'control-plane');
  const view: KubeView =
    cpIndex < 0
      ? { ok: false, reason: 'not checked: no control-plane node to read the cluster from' }
      : (runs[cpIndex]!.kube ?? { ok: false, reason: `not checked: control plane ${planned[cpIndex]!.name} unreachable over SSH` });
  if (!view.ok) return failedClusterChecks(node, cni, view.reason, options.kubernetesVersion);
  return clusterChecks([node], view.nodes, view.pods, cni, options.kubernetesVersion).get(node.name) ?? [];
}
