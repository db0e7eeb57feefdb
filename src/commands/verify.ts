import type { Command } from 'commander';
import { DEFAULT_SSH_LIMITS, type SshLimits } from '../steps/cluster.js';
import { phaseIndex } from '../state.js';
import { configOnly, out, wholeNumber, withConfigFile, type ConfigCliOptions } from './common.js';

/** Bounds of the SSH limit options: milliseconds up to an hour (and as many retries). */
const LIMIT = { min: 0, max: 3_600_000 };

export function registerVerify(program: Command): void {
  withConfigFile(program.command('verify').description("check every node over SSH with the cluster's key; exit 0 only when everything passed"))
    .option('--json', 'print the report as JSON')
    .option('--smoke', 'also deploy a small web app behind a NodePort, reach it from every node, and clean up')
    .option('--repin <node>', "forget a node's pinned host key first (after deliberately recreating its machine)")
    .option('--connect-timeout <ms>', 'bound on connecting to one node', wholeNumber('--connect-timeout', LIMIT), DEFAULT_SSH_LIMITS.connectTimeoutMs)
    .option('--command-timeout <ms>', 'bound on one command on a node', wholeNumber('--command-timeout', LIMIT), DEFAULT_SSH_LIMITS.commandTimeoutMs)
    .option('--retries <n>', 'connection retries per node, with exponential backoff', wholeNumber('--retries', LIMIT), DEFAULT_SSH_LIMITS.retries)
    .option('--backoff <ms>', 'first wait between connection attempts', wholeNumber('--backoff', LIMIT), DEFAULT_SSH_LIMITS.backoffMs)
    .action(async (opts: ConfigCliOptions & { json?: boolean; smoke?: boolean; repin?: string; connectTimeout: number; commandTimeout: number; retries: number; backoff: number }) => {
      const [{ forgetHost }, { findNode, openCluster, sshOptions, sshTarget }, { smokeTest, verifyCluster }, { addChecks, formatReportTable, reportToJson }] = await Promise.all([
        import('../ssh/known-hosts.js'),
        import('../steps/cluster.js'),
        import('../steps/checks.js'),
        import('../verify/index.js'),
      ]);
      const cluster = openCluster(configOnly(opts));
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
        addChecks(report, await smokeTest(cluster, limits));
      }
      out(opts.json ? reportToJson(report) : formatReportTable(report));
      if (!report.ok) process.exitCode = 1;
    });
}
