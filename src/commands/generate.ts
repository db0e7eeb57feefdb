import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ROTATION_BREAKS } from '../secrets.js';
import { generate } from '../steps/generate.js';
import { loadOptions, out, withConfigFlags, type ConfigCliOptions } from './common.js';

export function registerGenerate(program: Command): void {
  withConfigFlags(program.command('generate').description('render the Vagrantfile, kubeadm configs and provisioning scripts'))
    .option('-o, --output <dir>', "output directory (default: the config file's directory, or the current directory)")
    .option('--force', "replace a Vagrantfile kubeadm-vagrant did not write, or take over the directory of another (destroyed) cluster")
    .option('--rotate-secrets', `make a new SSH key pair, CA and token: ${ROTATION_BREAKS}`)
    .action(async (opts: ConfigCliOptions & { output?: string; force?: boolean; rotateSecrets?: boolean }) => {
      const { output, force, rotateSecrets, ...rest } = opts;
      const result = await generate({ ...loadOptions(rest), ...(output !== undefined ? { outDir: resolve(output) } : {}), force: force === true, rotateSecrets: rotateSecrets === true });
      for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
      const nodes = result.plan.nodes.map((n) => `${n.name} ${n.ip}`).join(', ');
      out(`generated ${result.outDir} (${result.written.length} file${result.written.length === 1 ? '' : 's'} changed): ${nodes}`);
    });
}
