import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { editDistance } from '../config/flags.js';
import { packageRoot } from '../layout.js';
import { registerConfig } from './config.js';
import { registerDoctor } from './doctor.js';
import { registerGenerate } from './generate.js';
import { registerInit } from './init.js';
import { registerLifecycle } from './lifecycle.js';
import { registerArtifacts } from './artifacts.js';
import { registerBox } from './box.js';
import { registerUpgrade } from './upgrade.js';
import { registerNodes } from './nodes.js';
import { registerToken } from './token.js';
import { registerVerify } from './verify.js';

/** Every command a user can run, as the words they type (`config validate`), in help order; groups (`config`) themselves not. */
export function commandPaths(program: Command): string[][] {
  const walk = (cmd: Command, prefix: string[]): string[][] =>
    cmd.commands.flatMap((c) => (c.commands.length > 0 ? walk(c, [...prefix, c.name()]) : [[...prefix, c.name()]]));
  return walk(program, []);
}

/** Words people type for a command that has another name here. */
const SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  check: ['validate', 'verify', 'doctor'],
  create: ['add', 'generate', 'init'],
  delete: ['remove', 'destroy'],
  rm: ['remove'],
  new: ['add', 'init'],
  show: ['print', 'status'],
  render: ['generate'],
  start: ['up'],
  down: ['destroy'],
};

/**
 * What to say about an unknown command `word` typed after `group` (empty: at the top): the command
 * a user most likely meant, by its name elsewhere (`validate` is `config validate`), a word people
 * use for it (`node delete` is `node remove`) or a typo (`verfy`); else the commands there are.
 * Under a group only that group's commands are suggested.
 */
export function unknownCommandMessage(program: Command, group: readonly string[], word: string): string {
  const paths = commandPaths(program);
  const typed = [...group, word].join(' ');
  const within = group.length > 0 ? paths.filter((p) => p.length > group.length && group.every((g, i) => p[i] === g)) : paths;
  const close = (name: string) => editDistance(name, word) <= Math.max(1, Math.floor(word.length / 3));
  const names = (p: string[]) => (group.length > 0 ? [p[group.length]!] : [p.at(-1)!, p[0]!]);
  const meant = [
    within.filter((p) => names(p).includes(word)),
    within.filter((p) => names(p).some((n) => SYNONYMS[word]?.includes(n))),
    within.filter((p) => names(p).some(close)),
  ].find((c) => c.length > 0) ?? [];
  const show = (p: string[]) => `\`kubeadm-vagrant ${p.join(' ')}\``;
  if (meant.length > 0) return `unknown command '${typed}'; did you mean ${meant.map(show).join(' or ')}?`;
  return `unknown command '${typed}'; the commands${group.length > 0 ? ` of ${group.join(' ')}` : ''} are ${within.map((p) => p.join(' ')).join(', ')} (\`kubeadm-vagrant --help\`)`;
}

/** The whole command line: every command, its flags and its help (src/cli.ts runs it). */
export function buildProgram(): Command {
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
  registerBox(program);
  registerUpgrade(program);
  registerArtifacts(program);
  const group = (c: Command): string[] => (c.parent && c.parent !== program ? [...group(c.parent), c.name()] : c === program ? [] : [c.name()]);
  (function configure(c: Command) {
    c.exitOverride();
    // An unknown command is a usage error that names the command meant.
    if (c.commands.length > 0) c.on('command:*', (operands: string[]) => { throw new UsageError(unknownCommandMessage(program, group(c), operands[0] ?? '')); });
    c.commands.forEach(configure);
  })(program);
  return program;
}
