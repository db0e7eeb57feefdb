import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { readGeneratedConfig, withExpectedArtifacts, type LoadOptions } from '../config/load.js';
import { updateState, readState } from '../state.js';
import { PROVIDER_SEEDS } from '../providers/seeds.js';
import { PLACEHOLDER_SECRETS } from '../secrets.js';
import { vagrantDestroy } from '../vagrant/commands.js';
import { planOf } from './cluster.js';
import { createRunner } from '../vagrant/runner.js';
import { HOST } from '../layout.js';
import { unmergeUserKubeconfig } from './kubeconfig.js';

export interface DestroyResult {
  dir: string;
  kubeconfigCleaned?: string;
  logFile: string;
}

/**
 * Destroys the cluster's machines and forgets what belonged to them (pinned host keys, the
 * kubeconfig and the merged context); keeps cluster.yaml and the secrets.
 */
export async function destroy(opts: { load: LoadOptions; dryRun: boolean; print: (l: string) => void }): Promise<DestroyResult> {
  // Nothing is installed: a cache pruned since (or an artifacts directory gone) does not keep the machines alive.
  const loaded = withExpectedArtifacts(readGeneratedConfig(opts.load));
  const { dir } = loaded;
  const runner = createRunner({ clusterDir: dir, dryRun: opts.dryRun, logName: 'destroy', print: opts.print });
  try {
    await runner.run(vagrantDestroy());
    // The machines' seeds, where their provider keeps them apart (libvirt's storage pool).
    const plan = planOf(loaded, readState(dir), PLACEHOLDER_SECRETS);
    if (plan.box.ours && !opts.dryRun) await PROVIDER_SEEDS[plan.provider].remove({ plan, dir, nodes: plan.nodes, runner, env: process.env });
  } finally {
    await runner.close();
  }
  if (opts.dryRun) return { dir, logFile: runner.logFile };
  const kubeconfigCleaned = unmergeUserKubeconfig(readState(dir).mergedKubeconfig);
  // Recreated machines get new host keys: keep no pins of destroyed ones.
  rmSync(join(dir, HOST.knownHosts), { force: true });
  rmSync(join(dir, HOST.kubeconfig), { force: true });
  // A destroyed cluster is made again from cluster.yaml: the version an upgrade brought it to goes too.
  updateState(dir, ({ lastVerify: _v, phase: _p, nodePhases: _n, mergedKubeconfig: _m, workers: _w, upgrade: _u, ...rest }) => rest);
  return { dir, logFile: runner.logFile, ...(kubeconfigCleaned ? { kubeconfigCleaned } : {}) };
}
