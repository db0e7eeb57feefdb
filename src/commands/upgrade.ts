import type { Command } from 'commander';
import { formatElapsed } from '../steps/progress.js';
import { loadOptions, out, withConfigFlags, type ConfigCliOptions } from './common.js';

// The step loads when the command runs (ssh2 is not needed for --help).
const upgradeStep = () => Promise.all([import('../steps/upgrade.js'), import('../steps/progress.js')]);

export function registerUpgrade(program: Command): void {
  withConfigFlags(program.command('upgrade').description("upgrade the cluster's Kubernetes one minor at a time, the control plane first, then each worker, each verified before the next"))
    .requiredOption('--to <version>', 'the version to go to: a minor (from the cache: its newest patch this version knows; from offline.dir: the newest there) or a patch, e.g. 1.37 or 1.37.2; the cache is fetched into first when it lacks it')
    .option('--plan', 'print what would run on which node and why it is allowed; change nothing')
    .option('--dry-run', 'the same as --plan')
    .option('--manual', "stage the target's artifacts on every node, then print the commands a person types on each node (kubeadm's procedure, for practice)")
    .action(async (opts: ConfigCliOptions & { to: string; plan?: boolean; dryRun?: boolean; manual?: boolean }) => {
      const [{ upgrade }, { createProgress }] = await upgradeStep();
      const r = await upgrade({ load: loadOptions(opts), to: opts.to, plan: opts.plan === true || opts.dryRun === true, manual: opts.manual === true, progress: createProgress(), print: out });
      if (r.outcome === 'upgraded') {
        const nodes = r.nodes.map((n) => `${n.name} ${formatElapsed(n.seconds * 1000)}`).join(', ');
        out(`cluster upgraded from ${r.from} to ${r.version}${nodes ? `: ${nodes}` : ''}; ${formatElapsed(r.seconds * 1000)} in all (log: ${r.logFile})`);
      }
      if (r.outcome === 'manual') out(`\nthe artifacts of ${r.version} are staged on every node (log: ${r.logFile}); \`kubeadm-vagrant verify\` checks the nodes against ${r.version}`);
    });
}
