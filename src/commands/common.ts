import { Command, Option } from 'commander';
import type { ConfigFlags, LoadOptions } from '../config/load.js';
import { formatProblems, UsageError, type ConfigProblem } from '../errors.js';

export interface ConfigCliOptions extends ConfigFlags {
  config?: string;
}

/** `-c FILE`, which every command takes. */
export function withConfigFile(cmd: Command): Command {
  return cmd.addOption(new Option('-c, --config <file>', 'cluster config file (default: ./cluster.yaml when it exists)'));
}

/** `-c FILE` and the flags that override config fields (strongest of all sources). */
export function withConfigFlags(cmd: Command): Command {
  return withConfigFile(cmd)
    .option('--master-ip <ip>', 'network.masterIP')
    .option('--workers <n>', 'workers.count')
    .option('--pod-cidr <cidr>', 'kubernetes.podSubnet')
    .option('--token <token>', 'kubernetes.token')
    .option('--box <box>', 'box')
    .option('--provider <provider>', 'provider: virtualbox | libvirt')
    .option('--distro <distro>', 'distro: ubuntu-22.04 | ubuntu-24.04 | debian-12 | rocky-9')
    .option('--k8s-version <version>', 'kubernetes.version, e.g. 1.33 or 1.33.2')
    .option('--cni <cni>', 'kubernetes.cni: flannel | calico');
}

export function loadOptions(opts: ConfigCliOptions): LoadOptions {
  const { config, ...flags } = opts;
  return { ...(config !== undefined ? { file: config } : {}), flags, env: process.env, cwd: process.cwd() };
}

/** Load options from `-c FILE` alone, for commands that take no config-overriding flags. */
export function configOnly(opts: ConfigCliOptions): LoadOptions {
  return loadOptions({ ...(opts.config ? { config: opts.config } : {}) });
}

/** A commander argument parser for a whole-number option, optionally within [min, max]; a bad value is a usage error. */
export function wholeNumber(flag: string, range?: { min: number; max: number }) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || (range && (n < range.min || n > range.max))) {
      throw new UsageError(`${flag} takes a whole number${range ? ` from ${range.min} to ${range.max}` : ''} (got "${v}")`);
    }
    return n;
  };
}

export function printWarnings(warnings: ConfigProblem[]): void {
  if (warnings.length > 0) process.stderr.write(`${formatProblems(warnings, 'config', 'warning')}\n`);
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
