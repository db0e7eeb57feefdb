import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterConfig } from './config/schema.js';
import { errorMessage, UsageError } from './errors.js';
import { HOST } from './layout.js';
import { inTableOrder, isPhaseId, PHASE_IDS, passedFromRecord, phaseIndex, POSITIONAL_PHASES, type PhaseId } from './phases.js';
import { ensureStateDir, fileSystemError, writeFileAtomic, type FileToWrite } from './write.js';

export interface VerifySummary {
  at: string;
  ok: boolean;
  phase: 'node' | 'cluster';
  /** Per node: what failed, and the versions seen (the kubelet's; on the control plane, kubeadm's components'). */
  nodes: { name: string; ok: boolean; failed: string[]; kubelet?: string; controlPlane?: string }[];
}

/** One node's part of an upgrade (ISO times). */
export interface NodeUpgrade {
  /** The target's artifacts are on the node, their checksums verified there, its images imported. */
  staged?: string;
  /** The node runs the target: kubeadm upgraded, its kubelet and kubectl, uncordoned and verified. */
  upgraded?: string;
  /** How long its upgrade took, from installing kubeadm to its verification (seconds). */
  seconds?: number;
}

/**
 * The last `kubeadm-vagrant upgrade` of the cluster. From the moment it starts, `to` is the version
 * the cluster runs (src/upgrade/versions.ts says what that means for kubernetes.version); it is
 * finished when every node runs `to` and was verified.
 */
export interface UpgradeRecord {
  from: string;
  to: string;
  /** sha256 of the target's SHA256SUMS: the artifacts each node verified. */
  sumsHash: string;
  /** automatic: `upgrade` runs it; manual: `upgrade --manual` printed the commands for a person to type. */
  mode: 'automatic' | 'manual';
  startedAt: string;
  finishedAt?: string;
  /** By machine name. */
  nodes: Record<string, NodeUpgrade>;
}

/** What the tool remembers about a cluster between commands: `.kubeadm-vagrant/state.json`. */
export interface ClusterState {
  /** Worker indices in use (worker-N); absent until the first `node add` / `node remove`. */
  workers?: number[];
  /** The furthest phase `up` completed and verified for the cluster as a whole (`node add` brings new machines to it). */
  phase?: PhaseId;
  /**
   * The phases each machine has passed (verified), in table order; a machine added later starts
   * from none. A file written before recorded one phase per machine: readState turns it into
   * these lists (see passedFromRecord).
   */
  nodePhases?: Record<string, PhaseId[]>;
  lastVerify?: VerifySummary;
  /** The kubeconfig file and context that `kubeconfig --merge` added, so `destroy` can remove them. */
  mergedKubeconfig?: { file: string; context: string };
  /** The last upgrade; its `to` is the version the cluster runs. */
  upgrade?: UpgradeRecord;
}

/** A state as state.json holds it, in today's form or an older one: the phases as lists of today's ids. */
export function normalizeState(raw: unknown): ClusterState {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
  const { phase, nodePhases, ...rest } = raw as Record<string, unknown>;
  const state: ClusterState = rest;
  if (isPhaseId(phase)) state.phase = phase;
  if (typeof nodePhases === 'object' && nodePhases !== null) {
    state.nodePhases = Object.fromEntries(Object.entries(nodePhases).map(([node, recorded]) => [node, passedFromRecord(recorded, PHASE_IDS, POSITIONAL_PHASES)]));
  }
  return state;
}

export function readState(clusterDir: string): ClusterState {
  const file = join(clusterDir, HOST.stateFile);
  if (!existsSync(file)) return {};
  try {
    return normalizeState(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new UsageError(`${file} is damaged (${errorMessage(fileSystemError(err, 'read', file))}); remove it, and \`up\` starts again from the first phase (each phase leaves a healthy node as it is)`);
  }
}

/** The phases a machine has passed. */
export function passedPhases(state: ClusterState, machine: string): ReadonlySet<PhaseId> {
  return new Set(state.nodePhases?.[machine] ?? []);
}

/**
 * The state after `up` verified a phase on some machines: each of them has passed it, and the
 * cluster's phase moves on to it unless it is further already. Pure: `up` writes the result.
 */
export function recordPassed(state: ClusterState, phase: PhaseId, machines: readonly string[]): ClusterState {
  const nodePhases = { ...state.nodePhases };
  for (const m of machines) nodePhases[m] = inTableOrder([...(nodePhases[m] ?? []), phase]);
  return { ...state, nodePhases, phase: phaseIndex(state.phase) < phaseIndex(phase) ? phase : state.phase! };
}

export function updateState(clusterDir: string, change: (s: ClusterState) => ClusterState): ClusterState {
  const next = change(readState(clusterDir));
  ensureStateDir(clusterDir);
  writeFileAtomic(join(clusterDir, HOST.stateFile), JSON.stringify(next, null, 2) + '\n', 0o600);
  return next;
}

/** One variable or flag value a generate used: the field (dotted), the variable or flag, the value. */
export interface RememberedOverride {
  path: string;
  source: string;
  value: unknown;
}

/**
 * What the last `generate` (or `up`) used and wrote, `.kubeadm-vagrant/generated.json` (0600: the
 * config may hold the token). The other commands act on this, not on whatever the flags and
 * variables of the moment say.
 */
export interface GeneratedRecord {
  /** The cluster whose directory this is. */
  name: string;
  /**
   * The config file it was generated from, relative to the cluster directory (an older version wrote
   * it absolute: see rememberedConfigFile); none when only defaults, variables and flags were used.
   */
  file?: string;
  /** SHA-256 of the config file's text then, to tell that it has changed since. */
  fileSha256?: string;
  /** Variables and flags given then or remembered from before, where they differ from the file. */
  overrides: RememberedOverride[];
  /** The effective config generated. */
  config: ClusterConfig;
  /** The files generated (relative), so those no longer needed can be removed. */
  outputs: string[];
}

export function readGenerated(clusterDir: string): GeneratedRecord | undefined {
  const file = join(clusterDir, HOST.generatedFile);
  if (!existsSync(file)) return undefined;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as GeneratedRecord;
    if (typeof record.name !== 'string' || !Array.isArray(record.overrides) || !Array.isArray(record.outputs) || typeof record.config !== 'object') throw new Error('fields missing');
    return record;
  } catch (err) {
    throw new UsageError(`${file} is damaged (${errorMessage(fileSystemError(err, 'read', file))}); remove it and run \`kubeadm-vagrant generate\` again (the flags and variables it remembered are then forgotten)`);
  }
}

/** The record as the file generate writes (deterministic: generating twice writes it once). */
export function generatedRecordFile(record: GeneratedRecord): FileToWrite {
  return { path: HOST.generatedFile, content: JSON.stringify(record, null, 2) + '\n', mode: 0o600 };
}

/** Forgets a remembered variable or flag (node add/remove record the worker count in cluster.yaml instead). */
export function forgetRemembered(clusterDir: string, path: string): void {
  const record = readGenerated(clusterDir);
  if (!record?.overrides.some((o) => o.path === path)) return;
  const file = generatedRecordFile({ ...record, overrides: record.overrides.filter((o) => o.path !== path) });
  writeFileAtomic(join(clusterDir, file.path), file.content, file.mode);
}
