#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerConfig } from './commands/config.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGenerate } from './commands/generate.js';
import { registerInit } from './commands/init.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerNodes } from './commands/nodes.js';
import { registerToken } from './commands/token.js';
import { registerUpgrade } from './commands/upgrade.js';
import { registerVerify } from './commands/verify.js';
import { describeError, EXIT } from './errors.js';
import { packageRoot } from './layout.js';

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
  registerToken(program);
  registerDoctor(program);
  registerLifecycle(program);
  registerVerify(program);
  registerNodes(program);
  registerUpgrade(program);
  program.commands.forEach(function override(c: Command) {
    c.exitOverride();
    c.commands.forEach(override);
  });
  return program;
}

// A reader that stops early (`kubeadm-vagrant up --dry-run | head`) is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    process.exitCode ??= EXIT.ok;
  } catch (err) {
    const { exitCode, text } = describeError(err, argv.includes('--verbose'));
    process.stderr.write(text);
    process.exitCode = exitCode;
  }
}

await main(process.argv);
