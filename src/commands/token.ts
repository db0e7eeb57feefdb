import type { Command } from 'commander';
import { generateToken } from '../token.js';
import { out, withConfigFile } from './common.js';

export function registerToken(program: Command): Command {
  const token = program.command('token').description('kubeadm bootstrap tokens');
  withConfigFile(token.command('generate').description('print one new bootstrap token (offline)')).action(() => out(generateToken()));
  return token;
}
