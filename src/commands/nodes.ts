import type { Command } from 'commander';
import { loadOptions, out, wholeNumber, withConfigFlags, type ConfigCliOptions } from './common.js';

// Steps load when their command runs (ssh2, execa and ora are not needed for --help).
const nodesStep = () => Promise.all([import('../steps/nodes.js'), import('../steps/progress.js')]);

export function registerNodes(program: Command): void {
  const node = program.command('node').description('add or remove worker nodes on a live cluster');
  withConfigFlags(node.command('add').description('add workers and take them through the phases the cluster has reached'))
    .option('--count <n>', 'how many workers to add', wholeNumber('--count'), 1)
    .action(async (opts: ConfigCliOptions & { count: number }) => {
      const [{ nodeAdd }, { createProgress }] = await nodesStep();
      const r = await nodeAdd({ load: loadOptions(opts), count: opts.count, progress: createProgress(), print: out });
      out(`added ${r.added.join(', ')}; ${r.added.length === 1 ? 'it' : 'they'} reached phase ${r.up.reached} (log: ${r.up.logFile})`);
    });
  withConfigFlags(node.command('remove').description('drain a worker, delete it from the cluster, destroy its machine'))
    .argument('<name>', 'worker-N or its hostname')
    .option('-f, --force', 'destroy the machine even when the cluster cannot be reached to drain it')
    .action(async (name: string, opts: ConfigCliOptions & { force?: boolean }) => {
      const [{ nodeRemove }, { createProgress }] = await nodesStep();
      const r = await nodeRemove({ load: loadOptions(opts), name, force: opts.force === true, progress: createProgress(), print: out });
      const how = { drained: 'drained and deleted from the cluster', 'no-control-plane': 'the cluster has no control plane yet, so there was nothing to drain', forced: 'NOT drained: the cluster was not reachable (--force)' }[r.drain];
      out(`removed ${r.removed}: ${how}; its machine is destroyed`);
    });
}
