import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadGenerated, type LoadOptions } from '../config/load.js';
import { HOST } from '../layout.js';
import { readState, type ClusterState, type UpgradeRecord } from '../state.js';
import { parseMachineReadable, vagrantStatus, type MachineStatus } from '../vagrant/commands.js';
import { createRunner } from '../vagrant/runner.js';
import { PLACEHOLDER_SECRETS } from '../secrets.js';
import { planOf } from './cluster.js';

export interface StatusRow {
  name: string;
  hostname: string;
  ip: string;
  state: string;
  verify?: string;
  /** The kubelet version the last verify saw. */
  kubelet?: string;
  /** kubeadm's components on the control plane as the last verify saw them. */
  controlPlane?: string;
}

export interface StatusResult {
  rows: StatusRow[];
  state: ClusterState;
  /** The Kubernetes version the cluster runs, and its last upgrade: done, or how far it got. */
  kubernetesLine: string;
}

/** `kubernetes: 1.37.2 (upgraded from 1.36.3, <when>)`, or how far an unfinished upgrade got. */
export function kubernetesLine(version: string, upgrade: UpgradeRecord | undefined): string {
  if (!upgrade) return `kubernetes: ${version}`;
  if (upgrade.finishedAt) return `kubernetes: ${version} (upgraded from ${upgrade.from}, ${upgrade.finishedAt})`;
  const nodes = Object.entries(upgrade.nodes).map(([name, n]) => `${name} ${n.upgraded ? 'upgraded' : n.staged ? 'staged' : 'not yet'}`);
  return `kubernetes: upgrade from ${upgrade.from} to ${upgrade.to} in progress (${upgrade.mode}${nodes.length ? `: ${nodes.join(', ')}` : ''}); \`kubeadm-vagrant upgrade --to ${upgrade.to}\` carries on`;
}

/** Each machine's Vagrant state (machines Vagrant knows but the plan does not are listed too) and the last verify. */
export async function status(opts: { load: LoadOptions; dryRun: boolean; print: (l: string) => void }): Promise<StatusResult> {
  const loaded = loadGenerated(opts.load);
  const dir = loaded.dir;
  const state = readState(dir);
  const plan = planOf(loaded, state, PLACEHOLDER_SECRETS);
  const runner = createRunner({ clusterDir: dir, dryRun: opts.dryRun, logName: 'status', print: opts.print });
  let machines: MachineStatus[] = [];
  const generated = existsSync(join(dir, HOST.vagrantfile));
  try {
    if (generated) machines = parseMachineReadable((await runner.run(vagrantStatus())).stdout);
  } finally {
    await runner.close();
  }
  const verified = new Map(state.lastVerify?.nodes.map((n) => [n.name, n]) ?? []);
  const rows: StatusRow[] = plan.nodes.map((n) => {
    const v = verified.get(n.name);
    return {
      name: n.name,
      hostname: n.hostname,
      ip: n.ip,
      state: machines.find((m) => m.name === n.name)?.state ?? (!generated ? 'not generated' : opts.dryRun ? '?' : 'not in Vagrantfile'),
      ...(v ? { verify: v.ok ? 'pass' : `fail: ${v.failed.join(', ')}` } : {}),
      // What the kubelet reported (not why it could not be read).
      ...(v?.kubelet?.startsWith('kubelet v') ? { kubelet: v.kubelet.slice('kubelet '.length) } : {}),
      ...(v?.controlPlane ? { controlPlane: v.controlPlane } : {}),
    };
  });
  for (const m of machines) if (!plan.nodes.some((n) => n.name === m.name)) rows.push({ name: m.name, hostname: '', ip: '', state: m.state });
  return { rows, state, kubernetesLine: kubernetesLine(plan.kubernetes.patch, state.upgrade) };
}
