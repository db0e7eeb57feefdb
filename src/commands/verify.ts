import type { Command } from 'commander';
import { DEFAULT_SSH_LIMITS } from '../steps/cluster.js';
import { loadOptions, out, wholeNumber, withConfigFlags, type ConfigCliOptions } from './common.js';

/** Bounds of the SSH limit options: milliseconds up to an hour (and as many retries). */
const LIMIT = { min: 0, max: 3_600_000 };

export function registerVerify(program: Command): void {
  withConfigFlags(program.command('verify').description("check every node over SSH with the cluster's key; exit 0 only when everything passed"))
    .option('--json', 'print the report as JSON')
    .option('--smoke', 'also deploy a small web app behind a NodePort, reach it from every node, and clean up')
    .option('--repin <node>', "forget a node's pinned host key first (after deliberately recreating its machine)")
    .option('--connect-timeout <ms>', 'bound on connecting to one node', wholeNumber('--connect-timeout', LIMIT), DEFAULT_SSH_LIMITS.connectTimeoutMs)
    .option('--command-timeout <ms>', 'bound on one command on a node', wholeNumber('--command-timeout', LIMIT), DEFAULT_SSH_LIMITS.commandTimeoutMs)
    .option('--retries <n>', 'connection retries per node, with exponential backoff', wholeNumber('--retries', LIMIT), DEFAULT_SSH_LIMITS.retries)
    .option('--backoff <ms>', 'first wait between connection attempts', wholeNumber('--backoff', LIMIT), DEFAULT_SSH_LIMITS.backoffMs)
    .action(async (opts: ConfigCliOptions & { json?: boolean; smoke?: boolean; repin?: string; connectTimeout: number; commandTimeout: number; retries: number; backoff: number }) => {
      const [{ verify }, { formatReportTable, reportToJson }] = await Promise.all([import('../steps/verify.js'), import('../verify/report.js')]);
      const limits = { connectTimeoutMs: opts.connectTimeout, commandTimeoutMs: opts.commandTimeout, retries: opts.retries, backoffMs: opts.backoff };
      const report = await verify({ load: loadOptions(opts), limits, smoke: opts.smoke === true, ...(opts.repin ? { repin: opts.repin } : {}) });
      out(opts.json ? reportToJson(report) : formatReportTable(report));
      if (!report.ok) process.exitCode = 1;
    });
}
