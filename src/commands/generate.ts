import type { Command } from 'commander';
import { resolve } from 'node:path';
import { generate } from '../steps/generate.js';
import { loadOptions, out, printWarnings, withConfigFlags, type ConfigCliOptions } from './common.js';

export function registerGenerate(program: Command): void {
  withConfigFlags(program.command('generate').description('render the Vagrantfile, kubeadm configs and provisioning scripts'))
    .option('-o, --output <dir>', "output directory (default: the config file's directory, or the current directory)")
    .action(async (opts: ConfigCliOptions & { output?: string }) => {
      const { output, ...rest } = opts;
      const result = await generate({ ...loadOptions(rest), ...(output ? { outDir: resolve(output) } : {}) });
      printWarnings(result.loaded.warnings);
      const nodes = result.plan.nodes.map((n) => `${n.name} ${n.ip}`).join(', ');
      out(`generated ${result.outDir} (${result.written.length} file${result.written.length === 1 ? '' : 's'} changed): ${nodes}`);
    });
}
