import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * vitest globalSetup of the projects that run the CLI as a process (package.json's bin, dist/cli/): build
 * today's sources first, so a test never runs a stale build.
 */
export default function buildCli(): void {
  const root = join(import.meta.dirname, '..', '..');
  const started = Date.now();
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  process.stdout.write(`[build-cli] compiled dist/ from today's sources in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
