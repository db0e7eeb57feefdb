import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../config/load.js';
import { UsageError } from '../errors.js';
import { renderClusterYaml } from '../render/render.js';
import { writeFileAtomic } from '../write.js';
import { out } from './common.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a commented cluster.yaml with the defaults')
    .option('--dir <dir>', 'directory to write cluster.yaml into', '.')
    .option('--force', 'overwrite an existing cluster.yaml')
    .option('-c, --config <file>', 'path of the config file to write (instead of DIR/cluster.yaml)')
    .action((opts: { dir: string; force?: boolean; config?: string }) => {
      const target = opts.config ? resolve(opts.config) : resolve(opts.dir, DEFAULT_CONFIG_FILE);
      if (existsSync(target) && !opts.force) {
        throw new UsageError(`${target} already exists; use --force to overwrite it`);
      }
      writeFileAtomic(target, renderClusterYaml(), 0o644);
      out(`wrote ${target}`);
    });
}
