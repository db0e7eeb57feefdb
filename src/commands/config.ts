import type { Command } from 'commander';
import { Document, isScalar } from 'yaml';
import { loadConfig, readConfig, type ReadConfig } from '../config/load.js';
import { redactToken } from '../token.js';
import { loadOptions, out, withConfigFlags, type ConfigCliOptions } from './common.js';

/** The effective config as YAML; each value a variable or flag set (now, or remembered from generate) says so in a comment. */
function printable(loaded: ReadConfig, showSecrets: boolean): string {
  const c = loaded.config;
  const doc = new Document(showSecrets ? c : { ...c, kubernetes: { ...c.kubernetes, token: redactToken(c.kubernetes.token) } });
  doc.commentBefore = ` effective config: ${loaded.file ?? 'the defaults (no config file)'}, then the variables and flags noted below`;
  for (const [path, source] of loaded.sources) {
    const node = doc.getIn(path.split('.'), true);
    if (isScalar(node)) node.comment = ` from ${source}`;
  }
  return doc.toString({ lineWidth: 0 });
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('validate or print the cluster config');

  withConfigFlags(config.command('validate').description('check the config; prints `ok`, or every problem with its field and a hint (exit 2)'), { upFlags: true }).action(
    (opts: ConfigCliOptions) => {
      loadConfig({ ...loadOptions(opts), forUp: true });
      out('ok');
    },
  );

  withConfigFlags(config.command('print').description('print the effective config: file, environment and flags applied'), { upFlags: true })
    .option('--show-secrets', 'print the bootstrap token instead of redacting it')
    .action((opts: ConfigCliOptions & { showSecrets?: boolean }) => {
      out(printable(readConfig(loadOptions(opts)), opts.showSecrets === true));
    });
}
