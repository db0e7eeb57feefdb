import { execa } from 'execa';
import type { LoadOptions } from '../config/load.js';
import { connect, sshArgs } from '../ssh/client.js';
import { findNode, openCluster, requireMachines, sshOptions, sshTarget } from './cluster.js';

/**
 * `ssh NODE [-- COMMAND]`: OpenSSH with the cluster's key and the pinned host key. The host key is
 * pinned on first contact (or a changed one refused) by our own client first, since OpenSSH is
 * strict about it. Returns ssh's exit code.
 */
export async function sshInto(opts: { load: LoadOptions; node: string; command: string[]; interactive: boolean }): Promise<number> {
  const cluster = openCluster(opts.load);
  requireMachines(cluster, 'ssh');
  const target = sshTarget(findNode(cluster.plan, opts.node));
  const o = sshOptions(cluster);
  await (await connect(target, o)).close();
  const args = sshArgs(target, { identityFile: cluster.secrets.sshPrivateKey, knownHostsFile: o.knownHostsFile, interactive: opts.interactive, ...(opts.command.length ? { command: opts.command } : {}) });
  const r = await execa('ssh', args, { stdio: 'inherit', reject: false });
  return r.exitCode ?? 1;
}
