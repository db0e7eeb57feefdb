import type { Command } from 'commander';
import { stringify } from 'yaml';
import { loadConfig } from '../config/load.js';
import { redactToken } from '../token.js';
import { loadOptions, out, printWarnings, withConfigFlags, type ConfigCliOptions } from './common.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('validate or print the cluster config');

  withConfigFlags(config.command('validate').description('check the config; prints `ok`, or every problem with its field and a hint (exit 2)'), { upFlags: true }).action(
    (opts: ConfigCliOptions) => {
      const loaded = loadConfig(loadOptions(opts));
      printWarnings(loaded.warnings);
      out('ok');
    },
  );

  withConfigFlags(config.command('print').description('print the effective config: file, environment and flags applied'), { upFlags: true })
    .option('--show-secrets', 'print the bootstrap token instead of redacting it')
    .action((opts: ConfigCliOptions & { showSecrets?: boolean }) => {
      const { config: effective, warnings } = loadConfig(loadOptions(opts));
      printWarnings(warnings);
      const shown = opts.showSecrets ? effective : { ...effective, kubernetes: { ...effective.kubernetes, token: redactToken(effective.kubernetes.token) } };
      out(stringify(shown, { lineWidth: 0 }));
    });
}
