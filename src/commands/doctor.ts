import type { Command } from 'commander';
import { loadOptions, out, printWarnings, withConfigFlags, type ConfigCliOptions } from './common.js';

export function registerDoctor(program: Command): void {
  withConfigFlags(
    program.command('doctor').description('check this host before anything starts: Vagrant, the provider and its version, networks, memory, clashes; each check with a fix'),
    { upFlags: true },
  )
    .option('--json', 'print the report as JSON')
    .action(async (opts: ConfigCliOptions & { json?: boolean }) => {
      const { doctor, formatHostCheck } = await import('../steps/doctor.js');
      const { report, warnings } = await doctor({ load: loadOptions(opts) });
      printWarnings(warnings);
      if (opts.json) out(JSON.stringify(report, null, 2));
      else {
        for (const c of report.checks) for (const line of formatHostCheck(c)) out(line);
        const count = (v: string) => report.checks.filter((c) => c.verdict === v).length;
        out(`${report.ok ? 'ready' : 'NOT ready'} for provider ${report.provider}: ${count('ok')} ok, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('fail')} failed`);
      }
      if (!report.ok) process.exitCode = 1;
    });
}
