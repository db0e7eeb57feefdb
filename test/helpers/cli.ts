import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/layout.js';
import { testCache } from './artifacts.js';

/**
 * The CLI users run: package.json's `bin`, the bundle `npm run build` makes (the integration
 * project's globalSetup builds it from today's sources); KV_CLI points the tests at another
 * build, e.g. an older one to show what a test catches.
 */
export const CLI = process.env.KV_CLI ?? join(packageRoot, (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['kubeadm-vagrant']!);

/** The user the unprivileged runs drop to: root ignores file permissions, `nobody` does not. */
export const NOBODY = 65534;

export interface RunOptions {
  cwd: string;
  /**
   * The environment besides PATH and HOME (HOME is the working directory) and KUBEADM_VAGRANT_CACHE
   * (a cache holding a default cluster's artifacts, testCache(), as after `up` or `artifacts fetch`;
   * give another to run with an empty one).
   */
  env?: Record<string, string>;
  /** Run under this umask (e.g. 0 to prove the modes do not depend on it). */
  umask?: number;
  /** Run as `nobody` when the tests run as root, so that permissions apply. */
  unprivileged?: boolean;
  /** Run in a new network namespace with no interfaces up: no packet can leave this machine. */
  isolatedNetwork?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `kubeadm-vagrant ARGS` as a process; stdin is empty (no terminal). */
export function runCli(args: string[], opts: RunOptions): RunResult {
  let argv = [process.execPath, CLI, ...args];
  if (opts.umask !== undefined) argv = ['sh', '-c', `umask ${opts.umask.toString(8).padStart(3, '0')} && exec "$@"`, 'sh', ...argv];
  if (opts.unprivileged && process.getuid?.() === 0) argv = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...argv];
  if (opts.isolatedNetwork) argv = ['unshare', '--net', ...argv];
  const started = Date.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd, encoding: 'utf8', input: '', env: { PATH: process.env.PATH ?? '', HOME: opts.cwd, KUBEADM_VAGRANT_CACHE: testCache(), ...opts.env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

/** Every file and directory below a directory: relative path → mode and content (directories: mode only). */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, path));
      const mode = (st.mode & 0o777).toString(8);
      if (st.isDirectory()) {
        out[`${path}/`] = mode;
        walk(path);
      } else {
        out[path] = `${mode} ${readFileSync(join(dir, path)).toString('base64')}`;
      }
    }
  };
  walk('');
  return out;
}

/** Temporary directories that are removed by cleanup(). */
export function tempDirs(prefix: string): { make: () => string; cleanup: () => void } {
  const made: string[] = [];
  return {
    make: () => {
      const d = mkdtempSync(join(tmpdir(), prefix));
      made.push(d);
      return d;
    },
    cleanup: () => made.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })),
  };
}
