import type { Command } from 'commander';
import { readConfig } from '../config/load.js';
import { formatTable } from '../table.js';
import { generateToken, tokenId } from '../token.js';
import { loadOptions, out, withConfigFile, withConfigFlags, type ConfigCliOptions } from './common.js';

// Steps load when their command runs (ssh2 is not needed for `token generate` or --help).
const tokensStep = () => import('../steps/tokens.js');

/** Every `token` subcommand: one offline (generate), three on the live cluster over SSH. */
export function registerToken(program: Command): void {
  const token = program.command('token').description('kubeadm bootstrap tokens');
  // The token needs no cluster; a config named with -c is still checked, so a wrong path is never ignored.
  withConfigFile(token.command('generate').description('print one new bootstrap token (offline)')).action((opts: ConfigCliOptions) => {
    if (opts.config !== undefined) readConfig(loadOptions(opts));
    out(generateToken());
  });

  withConfigFlags(token.command('create').description('create a bootstrap token on the live cluster'))
    .option('--ttl <duration>', 'lifetime, e.g. 2h or 24h (0, never expiring, is refused)', '24h')
    .option('--print-join-command', 'print one join command (with the token and the CA hash) instead of the token ID')
    .action(async (opts: ConfigCliOptions & { ttl: string; printJoinCommand?: boolean }) => {
      const { tokenCreate } = await tokensStep();
      const r = await tokenCreate({ load: loadOptions(opts), ttl: opts.ttl });
      out(opts.printJoinCommand ? r.joinCommand : `created token ${tokenId(r.token)} (TTL ${opts.ttl}); \`token create --print-join-command\` prints a join command with its secret`);
    });

  withConfigFlags(token.command('list').description('list the bootstrap tokens on the live cluster (IDs only)')).action(async (opts: ConfigCliOptions) => {
    const { tokenList } = await tokensStep();
    const tokens = await tokenList({ load: loadOptions(opts) });
    const rows = [['ID', 'EXPIRES', 'USAGES', 'DESCRIPTION'], ...tokens.map((t) => [t.id, t.expires?.toISOString() ?? 'never', t.usages.join(','), t.description])];
    for (const line of formatTable(rows)) out(line);
  });

  withConfigFlags(token.command('delete').description('delete a bootstrap token on the live cluster'))
    .argument('<id>', 'the token ID (the six characters before the dot)')
    .action(async (id: string, opts: ConfigCliOptions) => {
      const { tokenDelete } = await tokensStep();
      await tokenDelete({ load: loadOptions(opts), id });
      out(`deleted token ${id}`);
    });
}
