import type { Command } from 'commander';
import { ttlProblem } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../table.js';
import { DEFAULT_SSH_LIMITS, openCluster, requireControlPlane } from '../steps/cluster.js';
import { tokenId } from '../token.js';
import { configOnly, out, wholeNumber, withConfigFile, type ConfigCliOptions } from './common.js';

// Steps load when their command runs (ssh2, execa and ora are not needed for --help).
const nodesStep = () => Promise.all([import('../steps/nodes.js'), import('../steps/progress.js')]);
const tokensStep = () => import('../steps/tokens.js');

export function registerNodes(program: Command): void {
  const node = program.command('node').description('add or remove worker nodes on a live cluster');
  withConfigFile(node.command('add').description('add workers and take them through the phases the cluster has reached'))
    .option('--count <n>', 'how many workers to add', wholeNumber('--count'), 1)
    .action(async (opts: ConfigCliOptions & { count: number }) => {
      const [{ nodeAdd }, { createProgress }] = await nodesStep();
      const r = await nodeAdd({ load: configOnly(opts), count: opts.count, progress: createProgress(), print: out });
      out(`added ${r.added.join(', ')}; ${r.added.length === 1 ? 'it' : 'they'} reached phase ${r.up.reached} (log: ${r.up.logFile})`);
    });
  withConfigFile(node.command('remove').description('drain a worker, delete it from the cluster, destroy its machine'))
    .argument('<name>', 'worker-N or its hostname')
    .option('-f, --force', 'destroy the machine even when the cluster cannot be reached to drain it')
    .action(async (name: string, opts: ConfigCliOptions & { force?: boolean }) => {
      const [{ nodeRemove }, { createProgress }] = await nodesStep();
      const r = await nodeRemove({ load: configOnly(opts), name, force: opts.force === true, progress: createProgress(), print: out });
      const how = { drained: 'drained and deleted from the cluster', 'no-control-plane': 'the cluster has no control plane yet, so there was nothing to drain', forced: 'NOT drained: the cluster was not reachable (--force)' }[r.drain];
      out(`removed ${r.removed}: ${how}; its machine is destroyed`);
    });
}

export function registerLiveTokens(token: Command): void {
  withConfigFile(token.command('create').description('create a bootstrap token on the live cluster'))
    .option('--ttl <duration>', 'lifetime, e.g. 2h or 24h (0, never expiring, is refused)', '24h')
    .option('--print-join-command', 'print one join command (with the token and the CA hash) instead of the token ID')
    .action(async (opts: ConfigCliOptions & { ttl: string; printJoinCommand?: boolean }) => {
      const problem = ttlProblem(opts.ttl);
      if (problem) throw new UsageError(`--ttl ${opts.ttl}: ${problem}`);
      const { createToken, onControlPlane } = await tokensStep();
      const cluster = openCluster(configOnly(opts));
      requireControlPlane(cluster, 'token create');
      const token = await onControlPlane(cluster, DEFAULT_SSH_LIMITS, (s) => createToken(s, opts.ttl));
      if (opts.printJoinCommand) {
        out(`kubeadm join ${cluster.plan.network.masterIP}:6443 --token ${token} --discovery-token-ca-cert-hash ${cluster.plan.secrets.caCertHash}`);
      } else {
        out(`created token ${tokenId(token)} (TTL ${opts.ttl}); \`token create --print-join-command\` prints a join command with its secret`);
      }
    });
  withConfigFile(token.command('list').description('list the bootstrap tokens on the live cluster (IDs only)')).action(async (opts: ConfigCliOptions) => {
    const { listTokens, onControlPlane } = await tokensStep();
    const cluster = openCluster(configOnly(opts));
    requireControlPlane(cluster, 'token list');
    const tokens = await onControlPlane(cluster, DEFAULT_SSH_LIMITS, listTokens);
    const rows = [['ID', 'EXPIRES', 'USAGES', 'DESCRIPTION'], ...tokens.map((t) => [t.id, t.expires?.toISOString() ?? 'never', t.usages.join(','), t.description])];
    for (const line of formatTable(rows)) out(line);
  });
  withConfigFile(token.command('delete').description('delete a bootstrap token on the live cluster'))
    .argument('<id>', 'the token ID (the six characters before the dot)')
    .action(async (id: string, opts: ConfigCliOptions) => {
      const { deleteToken, onControlPlane } = await tokensStep();
      const cluster = openCluster(configOnly(opts));
      requireControlPlane(cluster, 'token delete');
      await onControlPlane(cluster, DEFAULT_SSH_LIMITS, (s) => deleteToken(s, id));
      out(`deleted token ${id}`);
    });
}
