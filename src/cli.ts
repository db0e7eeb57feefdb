#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerConfig } from './commands/config.js';
import { registerGenerate } from './commands/generate.js';
import { registerInit } from './commands/init.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerLiveTokens, registerNodes } from './commands/nodes.js';
import { registerToken } from './commands/token.js';
import { registerVerify } from './commands/verify.js';
import { CommandError, ConfigError, UsageError } from './errors.js';
import { packageRoot } from './paths.js';

export const EXIT = { ok: 0, failed: 1, config: 2 } as const;

function buildProgram(): Command {
  const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const program = new Command('kubeadm-vagrant')
    .description('A real multi-node Kubernetes cluster, built with kubeadm on Vagrant machines, in one command.')
    .version(version)
    .option('--verbose', 'show stack traces of internal errors')
    .showHelpAfterError()
    .exitOverride();
  registerInit(program);
  registerConfig(program);
  registerGenerate(program);
  registerLiveTokens(registerToken(program));
  registerLifecycle(program);
  registerVerify(program);
  registerNodes(program);
  program.commands.forEach(function override(c: Command) {
    c.exitOverride();
    c.commands.forEach(override);
  });
  return program;
}

/** The one place that maps errors to exit codes: config and usage 2, failed commands 1. */
function exitCodeFor(err: unknown, verbose: boolean): number {
  if (err instanceof CommanderError) {
    return err.exitCode === 0 ? EXIT.ok : EXIT.config;
  }
  if (err instanceof ConfigError || err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    return EXIT.config;
  }
  if (err instanceof CommandError) {
    const d = err.details;
    process.stderr.write(`error: ${err.message}\n`);
    if (d.command) process.stderr.write(`  command: ${d.command}\n`);
    if (d.output) process.stderr.write(`  last output:\n${d.output.replace(/^/gm, '    ')}\n`);
    if (d.logFile) process.stderr.write(`  full log: ${d.logFile}\n`);
    return EXIT.failed;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`internal error: ${e.message}\n${verbose ? `${e.stack}\n` : '  (run with --verbose for the stack trace)\n'}`);
  return EXIT.failed;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    process.exitCode ??= EXIT.ok;
  } catch (err) {
    process.exitCode = exitCodeFor(err, argv.includes('--verbose'));
  }
}

await main(process.argv);
