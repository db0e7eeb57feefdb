import { versionProblem } from '../config/schema.js';
import type { ConfigProblem } from '../errors.js';
import type { UpgradeRecord } from '../state.js';
import type { PlannedNode } from '../verify/types.js';
import { compareVersions, formatVersion, minorOf, minorsBetween, parseVersion } from './versions.js';

/**
 * The rules an upgrade must pass before anything changes, as kubeadm and Kubernetes' version skew
 * policy set them, as one pure function: every rule that fails is reported at once, each with what
 * to do; otherwise the answer says why the upgrade is allowed (what `--plan` prints) or that there
 * is nothing to do.
 */

/** How many minors a kubelet may trail the API server (kubeadm's MinimumKubeletVersion: current - 3). */
export const KUBELET_SKEW_MINORS = 3;

/** What the cluster runs, read from the control plane (kubectl version, kubectl get nodes). */
export interface LiveVersions {
  /** The API server's version, `1.36.3`. */
  apiServer: string;
  /** Each registered node's kubelet version, by Kubernetes node name (the planned hostname). */
  kubelets: Record<string, string>;
}

/** The target's artifacts as the host found them (src/offline/source.ts), and its checksums checked here. */
export interface TargetArtifacts {
  /** The patch `--to` resolves to (a minor takes the newest patch the artifacts hold). */
  patch?: string;
  dir?: string;
  /** Files SHA256SUMS lists (all verified on this host when `problems` is empty). */
  files?: number;
  /** Missing, unlisted or mismatching files, a missing directory, a version the cache cannot hold. */
  problems: readonly ConfigProblem[];
}

export interface UpgradeInput {
  /** What `--to` said: `1.37` or `1.37.2`. */
  asked: string;
  nodes: readonly PlannedNode[];
  live: LiveVersions;
  target: TargetArtifacts;
  /** An upgrade that started and has not finished, from the state. */
  inProgress?: UpgradeRecord;
}

export type UpgradeDecision =
  | { kind: 'refused'; problems: string[] }
  | { kind: 'no-op'; version: string; reasons: string[] }
  | {
      kind: 'upgrade';
      from: string;
      to: string;
      /** Why it is allowed, one rule a line. */
      reasons: string[];
      /** The planned nodes (machine names) whose kubelet runs the target already. */
      atTarget: string[];
    };

const v = (version: string) => `v${version}`;
const plain = (version: string) => formatVersion(parseVersion(version)!);

/** `1.35 → 1.36 → 1.37`: every minor on the way. */
function minorPath(from: string, to: string): string {
  const a = parseVersion(from)!;
  const b = parseVersion(to)!;
  const minors: string[] = [];
  for (let m = a.minor; m <= b.minor; m++) minors.push(`${a.major}.${m}`);
  return minors.join(' → ');
}

/**
 * The rules this host decides alone, before the cluster is asked anything: `--to` is a version, its
 * artifacts are there and verified, no other upgrade is half done.
 */
export function localProblems(input: Pick<UpgradeInput, 'asked' | 'target' | 'inProgress'>): string[] {
  const syntax = versionProblem(input.asked);
  if (syntax) return [`--to ${input.asked}: ${syntax}`];
  const problems: string[] = [];
  if (input.inProgress && !input.inProgress.finishedAt && input.target.patch && input.inProgress.to !== input.target.patch) {
    problems.push(`an upgrade to ${input.inProgress.to} (from ${input.inProgress.from}, started ${input.inProgress.startedAt}) has not finished: finish it first with \`kubeadm-vagrant upgrade --to ${input.inProgress.to}\``);
  }
  for (const p of input.target.problems) problems.push(`the artifacts of ${input.asked}: ${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);
  return problems;
}

export function decideUpgrade(input: UpgradeInput): UpgradeDecision {
  const problems = localProblems(input);
  if (versionProblem(input.asked)) return { kind: 'refused', problems };

  const api = parseVersion(input.live.apiServer) ? plain(input.live.apiServer) : undefined;
  if (!api) problems.push(`the API server reports the version "${input.live.apiServer}", which is not one`);
  const kubelets = new Map<string, string>();
  for (const node of input.nodes) {
    const k = input.live.kubelets[node.hostname];
    if (!k) problems.push(`${node.name} (${node.hostname}) is not registered in the cluster: \`kubeadm-vagrant up\` brings it up, or \`kubeadm-vagrant node remove ${node.name}\` removes it`);
    else kubelets.set(node.name, plain(k));
  }
  const to = input.target.patch;
  if (!api || !to || problems.length > 0) return { kind: 'refused', problems };

  const named = (pred: (version: string) => boolean) => input.nodes.filter((n) => kubelets.has(n.name) && pred(kubelets.get(n.name)!));
  const list = (nodes: readonly PlannedNode[]) => nodes.map((n) => `${n.name} ${v(kubelets.get(n.name)!)}`).join(', ');
  if (compareVersions(to, api) < 0) problems.push(`no downgrade: the API server runs ${v(api)}, and kubeadm cannot take a cluster back to ${v(to)}`);
  const newerKubelets = named((k) => compareVersions(k, to) > 0);
  if (newerKubelets.length > 0) problems.push(`no downgrade: the kubelet of ${list(newerKubelets)} is newer than ${v(to)}`);
  const skipped = minorsBetween(api, to);
  if (skipped > 1) problems.push(`one minor at a time: kubeadm upgrades ${minorOf(api)} to ${minorOf(to)} only through every minor between, ${minorPath(api, to)}: run \`kubeadm-vagrant upgrade --to ${minorPath(api, to).split(' → ')[1]}\` first`);
  const aheadOfApi = named((k) => compareVersions(k, api) > 0);
  if (aheadOfApi.length > 0) problems.push(`the kubelet is never newer than the API server: ${list(aheadOfApi)} run ahead of the API server's ${v(api)}; upgrade the control plane to that version first`);
  const tooOld = named((k) => minorsBetween(k, to) > KUBELET_SKEW_MINORS);
  if (tooOld.length > 0) problems.push(`kubeadm ${minorOf(to)} works with kubelets ${KUBELET_SKEW_MINORS} minors older at most: ${list(tooOld)} must be upgraded to ${minorOf(api)} first`);
  if (problems.length > 0) return { kind: 'refused', problems };

  const atTarget = input.nodes.filter((n) => kubelets.get(n.name) === to).map((n) => n.name);
  if (compareVersions(api, to) === 0 && atTarget.length === input.nodes.length) {
    return { kind: 'no-op', version: to, reasons: [`the API server and every kubelet (${list(input.nodes)}) run ${v(to)} already`] };
  }
  const from = input.inProgress && !input.inProgress.finishedAt ? input.inProgress.from : api;
  const step =
    compareVersions(api, to) === 0
      ? `the control plane runs ${v(to)} already: the upgrade carries on (${atTarget.length ? `${atTarget.join(', ')} ${atTarget.length === 1 ? 'is' : 'are'} done; ` : ''}kubeadm's upgrade commands do what is left when run again)`
      : skipped === 1
        ? `one minor at a time: ${minorOf(api)} → ${minorOf(to)}`
        : `a patch release within ${minorOf(to)}: ${v(api)} → ${v(to)}`;
  return {
    kind: 'upgrade',
    from,
    to,
    atTarget,
    reasons: [
      step,
      `no downgrade: the API server (${v(api)}) and the kubelets (${list(input.nodes)}) are not newer than ${v(to)}`,
      `the kubelet never newer than the API server: the control plane first (kubeadm upgrade apply), then each worker, one at a time; every kubelet is within kubeadm ${minorOf(to)}'s skew (${KUBELET_SKEW_MINORS} minors)`,
      `the artifacts of ${v(to)} are there and verified: ${input.target.dir}, every file the cluster needs present, SHA256SUMS checked on this host (${input.target.files} files) and again on each node before anything is installed`,
    ],
  };
}
