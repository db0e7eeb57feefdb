import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../config/load.js';
import { UsageError } from '../errors.js';
import { renderClusterYaml } from '../render/render.js';
import { writeFileAtomic } from '../write.js';
import { out } from './common.js';

/** Where `init` writes: --dir D (D/cluster.yaml) or -c FILE, never both (which one would win is a guess). */
function initTarget(opts: { dir?: string; config?: string }): string {
  if (opts.dir !== undefined && opts.config !== undefined) {
    throw new UsageError(`init writes DIR/${DEFAULT_CONFIG_FILE} with --dir, or the file -c names; give one of --dir ${opts.dir} and -c ${opts.config}`);
  }
  if (opts.config !== undefined) {
    if (opts.config.trim() === '') throw new UsageError('-c needs the path of the config file to write, and got an empty string');
    return resolve(opts.config);
  }
  const dir = resolve(opts.dir ?? '.');
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory (--dir names the directory to write ${DEFAULT_CONFIG_FILE} into)`);
  return resolve(dir, DEFAULT_CONFIG_FILE);
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a commented cluster.yaml with the defaults')
    .option('--dir <dir>', `directory to write ${DEFAULT_CONFIG_FILE} into (default: the current directory)`)
    .option('--force', 'overwrite an existing cluster.yaml')
    .option('-c, --config <file>', 'path of the config file to write (instead of DIR/cluster.yaml)')
    .action((opts: { dir?: string; force?: boolean; config?: string }) => {
      const target = initTarget(opts);
      if (existsSync(target) && !opts.force) {
        throw new UsageError(`${target} already exists; use --force to overwrite it`);
      }
      if (existsSync(target) && !statSync(target).isFile()) throw new UsageError(`${target} is not a file; init writes the config there`);
      writeFileAtomic(target, renderClusterYaml(), 0o644);
      out(`wrote ${target}`);
    });
}
