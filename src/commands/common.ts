import { Command, Option } from 'commander';
import { flagHelp, optionKey, OVERRIDES, type FlagValues } from '../config/flags.js';
import type { LoadOptions } from '../config/load.js';
import { formatProblems, UsageError, type ConfigProblem } from '../errors.js';

/** `-c FILE` and any config-overriding flags, as commander hands them to an action. */
export interface ConfigCliOptions {
  config?: string;
  [flag: string]: unknown;
}

/** `-c FILE`, which every command takes. */
export function withConfigFile(cmd: Command): Command {
  return cmd.addOption(new Option('-c, --config <file>', 'cluster config file (default: ./cluster.yaml when it exists)'));
}

/**
 * `-c FILE` and the flags that override config fields (strongest of all sources), from the flag
 * table; `up` flags (what `up` sets up) only where asked.
 */
export function withConfigFlags(cmd: Command, opts: { upFlags?: boolean } = {}): Command {
  withConfigFile(cmd);
  for (const o of OVERRIDES) {
    if (!o.flag || (o.upOnly && !opts.upFlags)) continue;
    const option = new Option(o.flag, flagHelp(o));
    if (o.type === 'host-map') option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(option);
  }
  return cmd;
}

/** The config-overriding flags among commander's options. */
function flagValues(opts: ConfigCliOptions): FlagValues {
  const values: FlagValues = {};
  for (const o of OVERRIDES) {
    if (!o.flag) continue;
    const v = opts[optionKey(o.flag)];
    if (typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'))) values[optionKey(o.flag)] = v as string | string[];
  }
  return values;
}

/** Load options from `-c FILE`, the environment and the config-overriding flags; warnings go to stderr. */
export function loadOptions(opts: ConfigCliOptions): LoadOptions {
  return { ...(opts.config !== undefined ? { file: opts.config } : {}), flags: flagValues(opts), env: process.env, cwd: process.cwd(), onWarnings: printWarnings };
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

/** Warnings already printed: a command that loads the config more than once (up, node add) says each once. */
const printed = new Set<string>();

export function printWarnings(warnings: ConfigProblem[]): void {
  const fresh = warnings.filter((w) => !printed.has(JSON.stringify(w)));
  for (const w of fresh) printed.add(JSON.stringify(w));
  if (fresh.length > 0) process.stderr.write(`${formatProblems(fresh, 'config', 'warning')}\n`);
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
