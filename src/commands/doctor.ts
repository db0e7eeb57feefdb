import type { Command } from 'commander';
import { ConfigError, describeError } from '../errors.js';
import { loadOptions, out, printWarnings, withConfigFlags, type ConfigCliOptions } from './common.js';

/**
 * What `doctor --json` prints when it cannot check the host at all (a config error, a damaged
 * state file): a report with no checks and the error, so that a script reading stdout always gets JSON.
 */
export function doctorErrorJson(err: unknown): string {
  const { exitCode, text } = describeError(err, false);
  const error = {
    kind: err instanceof ConfigError ? 'config' : exitCode === 2 ? 'usage' : 'failed',
    exitCode,
    message: text.replace(/^(error|internal error): /, '').trimEnd(),
    ...(err instanceof ConfigError ? { problems: err.problems, ...(err.file ? { file: err.file } : {}) } : {}),
  };
  return JSON.stringify({ ok: false, checks: [], error }, null, 2);
}

export function registerDoctor(program: Command): void {
  withConfigFlags(
    program.command('doctor').description('check this host before anything starts: Vagrant, the provider and its version, networks, memory, clashes; each check with a fix'),
    { upFlags: true },
  )
    .option('--json', 'print the report as JSON (also when the config has errors: then with no checks and the error)')
    .action(async (opts: ConfigCliOptions & { json?: boolean }) => {
      const { doctor, formatHostCheck } = await import('../steps/doctor.js');
      let result: Awaited<ReturnType<typeof doctor>>;
      try {
        result = await doctor({ load: loadOptions(opts) });
      } catch (err) {
        // Said on stderr as usual (and the exit code is the error's); stdout still gets JSON.
        if (opts.json) out(doctorErrorJson(err));
        throw err;
      }
      const { report, warnings } = result;
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
