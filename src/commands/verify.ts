import type { Command } from 'commander';
import { DEFAULT_SSH_LIMITS, type SshLimits } from '../steps/cluster.js';
import { phaseIndex } from '../state.js';
import { loadOptions, out, withConfigFile, type ConfigCliOptions } from './common.js';

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 3_600_000) throw new Error(`${flag} takes a whole number (got ${v})`);
    return n;
  };
}

export function registerVerify(program: Command): void {
  withConfigFile(program.command('verify').description("check every node over SSH with the cluster's key; exit 0 only when everything passed"))
    .option('--json', 'print the report as JSON')
    .option('--smoke', 'also deploy a small web app behind a NodePort, reach it from every node, and clean up')
    .option('--repin <node>', "forget a node's pinned host key first (after deliberately recreating its machine)")
    .option('--connect-timeout <ms>', 'bound on connecting to one node', positiveInt('--connect-timeout'), DEFAULT_SSH_LIMITS.connectTimeoutMs)
    .option('--command-timeout <ms>', 'bound on one command on a node', positiveInt('--command-timeout'), DEFAULT_SSH_LIMITS.commandTimeoutMs)
    .option('--retries <n>', 'connection retries per node, with exponential backoff', positiveInt('--retries'), DEFAULT_SSH_LIMITS.retries)
    .option('--backoff <ms>', 'first wait between connection attempts', positiveInt('--backoff'), DEFAULT_SSH_LIMITS.backoffMs)
    .action(async (opts: ConfigCliOptions & { json?: boolean; smoke?: boolean; repin?: string; connectTimeout: number; commandTimeout: number; retries: number; backoff: number }) => {
      const [{ forgetHost }, { findNode, openCluster, sshOptions, sshTarget }, { smokeTest, verifyCluster }, { formatReportTable, reportToJson }] = await Promise.all([
        import('../ssh/known-hosts.js'),
        import('../steps/cluster.js'),
        import('../steps/checks.js'),
        import('../verify/index.js'),
      ]);
      const cluster = openCluster(loadOptions({ ...(opts.config ? { config: opts.config } : {}) }));
      const limits: SshLimits = { connectTimeoutMs: opts.connectTimeout, commandTimeoutMs: opts.commandTimeout, retries: opts.retries, backoffMs: opts.backoff };
      if (opts.repin) {
        const node = findNode(cluster.plan, opts.repin);
        const t = sshTarget(node);
        await forgetHost(sshOptions(cluster, limits).knownHostsFile, t.host, t.port);
      }
      // Kubernetes is checked once the control plane has been brought up.
      const reached = phaseIndex(cluster.state.nodePhases?.[cluster.plan.controlPlane.name]);
      const level = reached >= phaseIndex('control-plane') ? 'cluster' : reached >= phaseIndex('packages') ? 'packages' : 'node';
      const report = await verifyCluster(cluster, cluster.plan.nodes, level, limits, { settleMs: 0 });
      if (opts.smoke) {
        const smoke = await smokeTest(cluster, limits);
        for (const c of smoke) report.nodes.find((n) => n.name === c.node)?.checks.push(c);
        for (const n of report.nodes) n.ok = n.checks.every((c) => c.ok);
        report.ok = report.nodes.every((n) => n.ok);
      }
      out(opts.json ? reportToJson(report) : formatReportTable(report));
      if (!report.ok) process.exitCode = 1;
    });
}
