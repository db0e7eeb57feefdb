#!/usr/bin/env node
import { buildProgram } from './commands/program.js';
import { describeError, EXIT } from './errors.js';

// A reader that stops early (`kubeadm-vagrant up --dry-run | head`) is not an error of ours; an
// output that cannot be written (`> /dev/full`) is said once, on stderr, and the command exits 1.
let outputFailed = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || outputFailed) return;
    outputFailed = true;
    process.exitCode = EXIT.failed;
    if (stream === process.stdout) process.stderr.write(`error: cannot write to standard output: ${err.code ?? ''}${err.code ? ': ' : ''}${err.message.replace(/^\w+: /, '')}\n`);
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
