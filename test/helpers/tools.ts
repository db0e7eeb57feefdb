import { execFileSync } from 'node:child_process';
import type { TestContext } from 'vitest';

/** The absolute path of a command on PATH (or in /usr/sbin, which root's tools live in), or undefined. */
export function toolPath(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name} || { test -x /usr/sbin/${name} && echo /usr/sbin/${name}; }`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The path of a tool a test needs. Missing: with CI=true the test FAILS (.ci/run installs every
 * tool); elsewhere it is skipped, saying why.
 */
export function needTool(ctx: TestContext, name: string): string {
  const path = toolPath(name);
  if (path) return path;
  if (process.env.CI === 'true') throw new Error(`this test needs \`${name}\`, which is not installed; .ci/run installs it`);
  ctx.skip(`\`${name}\` is not installed`);
  throw new Error('unreachable: skipped');
}
