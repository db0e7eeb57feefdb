import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readConfig, withExpectedArtifacts, type LoadOptions } from '../config/load.js';
import { hostChecksFor } from '../doctor/checks.js';
import { runHostChecks } from '../doctor/run.js';
import type { DoctorReport, HostCheckResult, HostContext } from '../doctor/types.js';
import { hostArch, loadCatalog } from '../distros.js';
import { OperationError, type ConfigProblem } from '../errors.js';
import { vagrantMachineIdPath } from '../layout.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';
import type { ProviderId } from '../providers/index.js';
import { providerHost } from '../providers/hosts.js';
import { PLACEHOLDER_SECRETS } from '../secrets.js';
import { readState } from '../state.js';
import { storedBoxRecord } from '../vagrant/boxes.js';
import { planOf } from './cluster.js';
import type { Progress } from './progress.js';
import { machinesToSetUp } from './up-steps.js';

/** What the host checks know of a cluster directory: its plan, the machines to start, the ones Vagrant created. */
export function hostContext(plan: ClusterPlan, dir: string, machines: readonly NodePlan[], env: NodeJS.ProcessEnv = process.env): HostContext {
  const machineIds: Record<string, string> = {};
  for (const n of plan.nodes) {
    const file = join(dir, vagrantMachineIdPath(n.name, plan.provider));
    if (existsSync(file)) machineIds[n.name] = readFileSync(file, 'utf8').trim();
  }
  const boxRecord = plan.box.ours ? storedBoxRecord(plan.box.name, plan.provider, hostArch(), env) : undefined;
  return { plan, machines, machineIds, arch: hostArch(), catalog: loadCatalog(), env, ...(boxRecord ? { boxRecord } : {}) };
}

/** `kubeadm-vagrant doctor`: every host check for the config's provider and plan, and the config's warnings. Reads only; writes nothing. */
export async function doctor(opts: { load: LoadOptions; env?: NodeJS.ProcessEnv }): Promise<{ report: DoctorReport; warnings: ConfigProblem[] }> {
  // The host is checked before `up` fetches what the cache lacks: the plan takes the artifacts as they will be.
  const loaded = withExpectedArtifacts(readConfig(opts.load));
  const { config, dir, warnings } = loaded;
  const state = readState(dir);
  const plan = planOf(loaded, state, PLACEHOLDER_SECRETS);
  const ctx = hostContext(plan, dir, machinesToSetUp(plan, state, config.setup), opts.env);
  return { report: await runHostChecks(hostChecksFor(providerHost(plan.provider)), ctx, opts.env ? { env: opts.env } : {}), warnings };
}

/** The ids of the checks `up` runs first (the fatal ones), for its dry run. */
export function preflightCheckIds(provider: ProviderId): string[] {
  return hostChecksFor(providerHost(provider)).filter((c) => c.fatal).map((c) => c.id);
}

/** One check as printed: `✗ vagrant: vagrant is not installed (not found on PATH)` and its fix under it. */
export function formatHostCheck(c: HostCheckResult): string[] {
  const mark = c.verdict === 'ok' ? 'ok  ' : c.verdict === 'warn' ? 'WARN' : 'FAIL';
  return [`${mark} ${c.id}: ${c.seen}`, ...(c.verdict !== 'ok' && c.fix ? [`       fix: ${c.fix}`] : [])];
}

/**
 * What `up` runs before it generates or starts anything: the fatal host checks, for the machines
 * it is about to start. A failure stops it with every failed check and its fix; warnings are
 * shown and it goes on.
 */
export async function hostPreflight(opts: { plan: ClusterPlan; dir: string; machines: readonly NodePlan[]; progress: Progress; env?: NodeJS.ProcessEnv }): Promise<void> {
  const p = opts.progress.phase('host: check Vagrant, the provider and the host (as `kubeadm-vagrant doctor` does)');
  const specs = hostChecksFor(providerHost(opts.plan.provider)).filter((c) => c.fatal);
  const report = await runHostChecks(specs, hostContext(opts.plan, opts.dir, opts.machines, opts.env), opts.env ? { env: opts.env } : {});
  const failed = report.checks.filter((c) => c.verdict === 'fail');
  const warned = report.checks.filter((c) => c.verdict === 'warn');
  p.done(failed.length === 0, failed.length > 0 ? `${failed.length} failed` : `${report.checks.length - warned.length} passed${warned.length ? `, ${warned.length} warning${warned.length === 1 ? '' : 's'}` : ''}`);
  if (failed.length === 0) for (const c of warned) for (const line of formatHostCheck(c)) opts.progress.info(`  ${line}`);
  if (failed.length > 0) {
    const lines = failed.flatMap((c) => formatHostCheck(c).map((l) => `  ${l}`));
    throw new OperationError(`this host cannot run the cluster yet; nothing was generated or started:\n${lines.join('\n')}\n  (\`kubeadm-vagrant doctor\` shows every check)`);
  }
}
