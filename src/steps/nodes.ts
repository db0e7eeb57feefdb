import { setWorkerCount } from '../config/edit.js';
import { defaultValidationContext, validateRaw, type LoadOptions } from '../config/load.js';
import { ConfigError, errorMessage, OperationError, UsageError } from '../errors.js';
import { phaseIndex, PHASES, type PhaseId } from '../phases.js';
import { workerIndicesFor } from '../plan/plan.js';
import { remote } from '../remote.js';
import type { ExecResult } from '../ssh/client.js';
import { forgetHost } from '../ssh/known-hosts.js';
import { forgetRemembered, updateState } from '../state.js';
import { PROVIDER_SEEDS } from '../providers/seeds.js';
import { vagrantDestroy } from '../vagrant/commands.js';
import { createRunner } from '../vagrant/runner.js';
import { PLACEHOLDER_SECRETS } from '../secrets.js';
import { ensureArtifacts, type FetchFn } from './artifacts.js';
import { DEFAULT_SSH_LIMITS, findNode, hasControlPlane, openCluster, planOf, requireMachines, sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';
import { hostPreflight } from './doctor.js';
import { generate } from './generate.js';
import type { Progress } from './progress.js';
import { apiPatienceMs, checkJoinToken, onControlPlane, sudoUntilAnswered } from './tokens.js';
import { refuseDuringUpgrade, up, type UpResult } from './up.js';

/** `node add` and `node remove` change workers.count in cluster.yaml, so they need one, and no override of it. */
function editableCluster(load: LoadOptions, what: string, artifacts: 'checked' | 'expected' = 'checked'): Cluster & { file: string } {
  const cluster = openCluster(load, artifacts);
  const file = cluster.loaded.file;
  if (!file) throw new UsageError(`${what} records the new worker count in cluster.yaml, and this cluster has none; write one with \`kubeadm-vagrant init\``);
  if (load.env?.NODE_COUNT || load.flags?.workers !== undefined) {
    throw new UsageError(`${what} changes workers.count in ${file}, but NODE_COUNT or --workers overrides it; unset NODE_COUNT and drop --workers`);
  }
  return { ...cluster, file };
}

/** The new count goes into cluster.yaml; a --workers or NODE_COUNT remembered from generate would hide it, so it is forgotten. */
function recordWorkerCount(cluster: Cluster & { file: string }, count: number): void {
  setWorkerCount(cluster.file, count);
  forgetRemembered(cluster.dir, 'workers.count');
}

function currentIndices(cluster: Cluster): number[] {
  return cluster.plan.workers.map((w) => w.index);
}

/** The phase the cluster as a whole has reached (state.json's `phase`); new nodes are brought to the same one. */
function clusterPhase(cluster: Cluster): PhaseId {
  const phase = cluster.state.phase;
  if (!phase) throw new UsageError(`cluster ${cluster.plan.name} is not up; run \`kubeadm-vagrant up\` first`);
  return phase;
}

export interface NodeAddResult {
  added: string[];
  up: UpResult;
  freshToken: boolean;
}

/**
 * Raises the worker count, regenerates, and takes only the new machines through the phases the
 * cluster has reached; when it has a control plane, joins them with a token valid for at least
 * an hour (a fresh short-lived one if needed). Bad input changes nothing.
 */
export async function nodeAdd(opts: { load: LoadOptions; count: number; progress: Progress; print: (l: string) => void; limits?: SshLimits; fetch?: FetchFn }): Promise<NodeAddResult> {
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new UsageError(`--count must be a whole number, at least 1 (got ${opts.count})`);
  // Checked with the artifacts as they will be: a request that cannot go ahead fetches nothing.
  const cluster = editableCluster(opts.load, 'node add', 'expected');
  refuseDuringUpgrade(cluster, 'node add');
  const until = clusterPhase(cluster);
  const config = cluster.loaded.config;
  const newCount = config.workers.count + opts.count;
  const indices = workerIndicesFor(newCount, currentIndices(cluster));
  const checked = validateRaw({ ...config, workers: { ...config.workers, count: newCount } } as unknown as Record<string, unknown>, { ...defaultValidationContext(), workerIndices: indices });
  if (checked.errors.length > 0) throw new ConfigError(checked.errors.map((p) => ({ ...p, path: `${p.path} (with --count ${opts.count})` })), cluster.file);
  const added = indices.filter((i) => !currentIndices(cluster).includes(i)).map((i) => `worker-${i}`);

  // Checked before anything changes or is downloaded: a host that cannot start the machines, or an
  // unreachable control plane, leaves cluster.yaml as it was.
  const grown = planOf({ ...cluster.loaded, config: checked.config! }, { ...cluster.state, workers: indices }, PLACEHOLDER_SECRETS);
  await hostPreflight({ plan: grown, dir: cluster.dir, machines: grown.workers.filter((w) => added.includes(w.name)), progress: opts.progress });
  // What the new machines install, fetched into the cache first when it lacks it.
  const ensured = await ensureArtifacts(cluster.loaded, { dryRun: false, say: (line) => opts.progress.info(line), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  if (!ensured.artifacts) throw new ConfigError(ensured.problems, cluster.file);
  const joins = PHASES.slice(0, phaseIndex(until) + 1).some((p) => p.joinsWorkers);
  const freshToken = joins ? await checkJoinToken(cluster, opts.limits ?? DEFAULT_SSH_LIMITS, opts.progress) : false;
  recordWorkerCount(cluster, newCount);
  updateState(cluster.dir, (s) => ({ ...s, workers: indices }));
  const result = await up({ load: opts.load, until, dryRun: false, progress: opts.progress, print: opts.print, only: added, logName: 'node-add', joinTokenChecked: joins, hostChecked: true, ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  return { added, up: result, freshToken };
}

export interface NodeRemoveResult {
  removed: string;
  /** drained; no control plane yet, so nothing to drain; or not reachable and destroyed anyway (--force). */
  drain: 'drained' | 'no-control-plane' | 'forced';
  logFile: string;
}

/**
 * Drains the node and deletes it from the cluster (when there is one), destroys its machine,
 * forgets its host key and lowers the count. An unreachable cluster stops here unless forced.
 */
export async function nodeRemove(opts: { load: LoadOptions; name: string; force: boolean; progress: Progress; print: (l: string) => void; limits?: SshLimits }): Promise<NodeRemoveResult> {
  const cluster = editableCluster(opts.load, 'node remove');
  const node = findNode(cluster.plan, opts.name);
  if (node.role === 'control-plane') throw new UsageError(`${node.name} is the control plane; it cannot be removed (\`kubeadm-vagrant destroy\` removes the whole cluster)`);
  // Nothing to drain, and likely no machine: `vagrant destroy` at once would be a surprise. --force destroys anyway.
  if (!opts.force) requireMachines(cluster, 'node remove', `; nothing was changed (--force destroys ${node.name}'s machine anyway, if Vagrant made one)`);
  const limits = opts.limits ?? DEFAULT_SSH_LIMITS;
  let drain: NodeRemoveResult['drain'] = 'no-control-plane';
  if (hasControlPlane(cluster)) {
    const p = opts.progress.phase(`drain ${node.hostname} and delete it from the cluster`);
    try {
      await onControlPlane(cluster, limits, async (s) => {
        // A node that never joined cannot be drained; deleting it is then all there is to do.
        const neverJoined = (r: ExecResult) => /NotFound|not found/.test(r.stderr);
        // Bounded, and as much longer as the machines are slower (software emulation).
        const slowdown = cluster.plan.slowdown;
        // Both are idempotent: asked again when the API server answers that it is unavailable.
        const onRetry = (why: string) => opts.print(why);
        await sudoUntilAnswered(s, remote.drain(node.hostname, 120 * slowdown), `kubectl drain ${node.hostname}`, { timeoutMs: apiPatienceMs(cluster), tolerate: neverJoined, onRetry });
        await sudoUntilAnswered(s, remote.deleteNode(node.hostname), `kubectl delete node ${node.hostname}`, { timeoutMs: apiPatienceMs(cluster), onRetry });
      });
      drain = 'drained';
      p.done(true);
    } catch (err) {
      p.done(false, errorMessage(err));
      if (!opts.force) {
        throw new OperationError(`cannot drain ${node.name}: ${errorMessage(err)}; nothing was changed. Use --force to destroy the machine anyway`, err instanceof OperationError ? err.details : {});
      }
      drain = 'forced';
    }
  }
  const runner = createRunner({ clusterDir: cluster.dir, dryRun: false, logName: 'node-remove', print: opts.print });
  try {
    const p = opts.progress.phase(`destroy machine ${node.name}`);
    await runner.run(vagrantDestroy([node.name]));
    if (cluster.plan.box.ours) await PROVIDER_SEEDS[cluster.plan.provider].remove({ plan: cluster.plan, dir: cluster.dir, nodes: [node], runner, env: process.env });
    p.done(true);
  } finally {
    await runner.close();
  }
  const target = sshTarget(node);
  await forgetHost(sshOptions(cluster, limits).knownHostsFile, target.host, target.port);
  const indices = currentIndices(cluster).filter((i) => i !== node.index);
  recordWorkerCount(cluster, indices.length);
  updateState(cluster.dir, (s) => {
    const { [node.name]: _gone, ...nodePhases } = s.nodePhases ?? {};
    return { ...s, workers: indices, nodePhases };
  });
  await generate(opts.load);
  return { removed: node.name, drain, logFile: runner.logFile };
}
