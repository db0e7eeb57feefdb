import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'vitest';

/**
 * Runs a bash script as a node would, with /etc (and any other directories asked for) replaced by
 * private overlays of the host's, in a mount namespace of its own: the script may write
 * /etc/apt/keyrings or /etc/containerd, and the host's files are never touched. Needs root and
 * `unshare --mount`; without them the test fails in CI and is skipped elsewhere.
 */
export function runWithPrivateEtc(
  ctx: TestContext,
  workDir: string,
  script: string,
  opts: { args?: string[]; env?: NodeJS.ProcessEnv; overlay?: string[] } = {},
): SpawnSyncReturns<string> {
  if (process.getuid?.() !== 0 || spawnSync('unshare', ['--mount', 'true']).status !== 0) {
    const reason = 'needs root and mount namespaces (unshare --mount)';
    if (process.env.CI === 'true') throw new Error(`${reason}; CI runs as root`);
    ctx.skip(reason);
  }
  const dirs = ['/etc', ...(opts.overlay ?? [])];
  const base = join(workDir, 'overlays');
  mkdirSync(base, { recursive: true });
  const mounts = [
    'set -euo pipefail',
    `mount -t tmpfs tmpfs ${base}`,
    ...dirs.flatMap((dir, i) => [
      `mkdir -p ${base}/${i}/upper ${base}/${i}/work`,
      `mount -t overlay overlay -o lowerdir=${dir},upperdir=${base}/${i}/upper,workdir=${base}/${i}/work ${dir}`,
    ]),
  ].join('\n');
  return spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', `${mounts}\n${script}`, 'node', ...(opts.args ?? [])], {
    encoding: 'utf8',
    env: opts.env ?? process.env,
  });
}
