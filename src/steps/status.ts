import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadGenerated, type LoadOptions } from '../config/load.js';
import { HOST } from '../layout.js';
import { readState, type ClusterState } from '../state.js';
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
}

export interface StatusResult {
  rows: StatusRow[];
  state: ClusterState;
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
    };
  });
  for (const m of machines) if (!plan.nodes.some((n) => n.name === m.name)) rows.push({ name: m.name, hostname: '', ip: '', state: m.state });
  return { rows, state };
}
