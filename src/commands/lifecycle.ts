import { createInterface } from 'node:readline/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { PHASE_IDS, type PhaseId } from '../phases.js';
import { formatTable } from '../table.js';
import { loadOptions, out, withConfigFlags, type ConfigCliOptions } from './common.js';

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

// Steps load when their command runs, so `--help` and `generate` do not pay for ssh2, execa and ora.
const steps = {
  destroy: () => import('../steps/destroy.js'),
  kubeconfig: () => import('../steps/kubeconfig.js'),
  progress: () => import('../steps/progress.js'),
  ssh: () => import('../steps/ssh.js'),
  status: () => import('../steps/status.js'),
  up: () => import('../steps/up.js'),
};

/** up, destroy, status, kubeconfig, ssh: flags in, one step out, its result printed. */
export function registerLifecycle(program: Command): void {
  withConfigFlags(program.command('up').description('generate when needed, vagrant up phase by phase, verify every phase over SSH, write the kubeconfig'), { upFlags: true })
    .addOption(new Option('--until <phase>', 'stop once this phase is verified').choices(PHASE_IDS).default('verified'))
    .option('--dry-run', 'print every external command (vagrant, ssh) it would run, and run none')
    .action(async (opts: ConfigCliOptions & { until: PhaseId; dryRun?: boolean }) => {
      const [{ up }, { createProgress }] = await Promise.all([steps.up(), steps.progress()]);
      const result = await up({ load: loadOptions(opts), until: opts.until, dryRun: opts.dryRun === true, progress: createProgress(), print: out });
      if (opts.dryRun) return;
      out(`cluster ${result.cluster.plan.name} reached phase ${result.reached} (log: ${result.logFile})`);
      if (result.kubeconfigFile) out(`kubeconfig: ${result.kubeconfigFile}\n  export KUBECONFIG=${result.kubeconfigFile}; kubectl get nodes -o wide`);
    });

  withConfigFlags(program.command('destroy').description('destroy the machines and remove the kubeconfig context it added; keeps cluster.yaml'))
    .option('-f, --force', 'do not ask')
    .option('--dry-run', 'print the vagrant command it would run, and run none')
    .action(async (opts: ConfigCliOptions & { force?: boolean; dryRun?: boolean }) => {
      if (!opts.force && !opts.dryRun) {
        if (!process.stdin.isTTY) throw new UsageError('destroy needs confirmation and there is no terminal to ask on; pass -f to destroy without asking');
        if (!(await confirm('Destroy every machine of this cluster? [y/N] '))) {
          out('not destroyed');
          return;
        }
      }
      const { destroy } = await steps.destroy();
      const r = await destroy({ load: loadOptions(opts), dryRun: opts.dryRun === true, print: out });
      if (opts.dryRun) return;
      out(`destroyed the machines of ${r.dir}${r.kubeconfigCleaned ? `; removed the context from ${r.kubeconfigCleaned}` : ''}`);
    });

  withConfigFlags(program.command('status').description("each machine's Vagrant state and the last verify result"))
    .option('--dry-run', 'print the vagrant command it would run, and run none')
    .action(async (opts: ConfigCliOptions & { dryRun?: boolean }) => {
      const { status } = await steps.status();
      const r = await status({ load: loadOptions(opts), dryRun: opts.dryRun === true, print: out });
      if (opts.dryRun) return;
      const rows = [['NODE', 'HOSTNAME', 'ADDRESS', 'STATE', 'KUBELET', 'LAST VERIFY'], ...r.rows.map((x) => [x.name, x.hostname, x.ip, x.state, x.kubelet ?? '-', x.verify ?? '-'])];
      for (const line of formatTable(rows)) out(line);
      for (const x of r.rows) if (x.controlPlane) out(`control plane (${x.name}), at the last verify: ${x.controlPlane}`);
      out(`phase reached: ${r.state.phase ?? 'none'}${r.state.lastVerify ? `; last verify ${r.state.lastVerify.at}: ${r.state.lastVerify.ok ? 'pass' : 'FAIL'}` : ''}`);
      out(r.kubernetesLine);
    });

  withConfigFlags(program.command('kubeconfig').description('fetch the admin kubeconfig over SSH (context kubeadm-vagrant-<name>, written 0600)'))
    .option('--output <file>', 'write it to this file (default: .kubeadm-vagrant/kubeconfig)')
    .option('--merge', 'add it to $KUBECONFIG or ~/.kube/config without touching other entries')
    .action(async (opts: ConfigCliOptions & { output?: string; merge?: boolean }) => {
      const { kubeconfigCommand } = await steps.kubeconfig();
      const r = await kubeconfigCommand({ load: loadOptions(opts), merge: opts.merge === true, ...(opts.output ? { output: resolve(opts.output) } : {}) });
      out(r.merged ? `merged context ${r.context} into ${r.file}` : r.file);
    });

  withConfigFlags(program.command('ssh').description("an interactive shell or a command on a node, with the cluster's key"))
    .argument('<node>', 'master, worker-N, or a hostname')
    .argument('[command...]', 'a command to run instead of a shell (after --)')
    .action(async (node: string, command: string[], opts: ConfigCliOptions) => {
      const { sshInto } = await steps.ssh();
      process.exitCode = await sshInto({ load: loadOptions(opts), node, command, interactive: process.stdin.isTTY === true });
    });
}
