import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/layout.js';
import { needTool } from '../helpers/tools.js';

/**
 * The end-to-end test's stand-in for a distro's official cloud image (test/boxes/build-standin-image.sh):
 * checked without root or a build. Its recipe hash names what it builds (the suite and the kernel's
 * arguments are part of it), and shellcheck finds nothing in it.
 */
const script = join(packageRoot, 'test', 'boxes', 'build-standin-image.sh');
const hash = (...args: string[]) => execFileSync('bash', [script, ...args, '--recipe-hash'], { encoding: 'utf8' }).trim();

describe("the stand-in of a distro's cloud image", () => {
  it('has one recipe hash per suite and kernel arguments, stable from run to run', () => {
    const bookworm = hash();
    expect(bookworm).toMatch(/^[0-9a-f]{64}$/);
    expect(hash('--suite', 'bookworm')).toBe(bookworm);
    expect(hash('--suite', 'trixie')).not.toBe(bookworm);
    expect(hash('--kernel-args', 'mitigations=off')).not.toBe(bookworm);
  });

  it('refuses an unknown suite (exit 2, naming it)', () => {
    const r = spawnSync('bash', [script, '--suite', 'sid', '--recipe-hash'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown suite 'sid'/);
  });

  it('is a bash script shellcheck finds nothing in', (ctx) => {
    const shellcheck = needTool(ctx, 'shellcheck');
    const r = spawnSync(shellcheck, ['-x', script], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('lists no vagrant user, no key and no container runtime in what it installs', () => {
    const packages = execFileSync('sed', ['-e', 's/#.*//', '-e', '/^[[:space:]]*$/d', join(packageRoot, 'test', 'boxes', 'standin', 'packages.txt')], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(packages).toEqual(expect.arrayContaining(['cloud-init', 'cloud-guest-utils', 'openssh-server', 'sudo', 'linux-image-cloud-amd64']));
    expect(packages.filter((p) => /containerd|runc|docker|kube/.test(p))).toEqual([]);
  });
});
