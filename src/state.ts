import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST } from './layout.js';
import type { PhaseId } from './phases.js';
import { ensureStateDir, writeFileAtomic } from './write.js';

export interface VerifySummary {
  at: string;
  ok: boolean;
  phase: 'node' | 'cluster';
  nodes: { name: string; ok: boolean; failed: string[] }[];
}

/** What the tool remembers about a cluster between commands: `.kubeadm-vagrant/state.json`. */
export interface ClusterState {
  /** Worker indices in use (worker-N); absent until the first `node add` / `node remove`. */
  workers?: number[];
  /** The last phase `up` completed and verified for the cluster as a whole. */
  phase?: PhaseId;
  /** The last phase each machine has passed (a machine added later starts from nothing). */
  nodePhases?: Record<string, PhaseId>;
  lastVerify?: VerifySummary;
  /** The kubeconfig file and context that `kubeconfig --merge` added, so `destroy` can remove them. */
  mergedKubeconfig?: { file: string; context: string };
}

export function readState(clusterDir: string): ClusterState {
  const file = join(clusterDir, HOST.stateFile);
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
}

export function updateState(clusterDir: string, change: (s: ClusterState) => ClusterState): ClusterState {
  const next = change(readState(clusterDir));
  ensureStateDir(clusterDir);
  writeFileAtomic(join(clusterDir, HOST.stateFile), JSON.stringify(next, null, 2) + '\n', 0o600);
  return next;
}
