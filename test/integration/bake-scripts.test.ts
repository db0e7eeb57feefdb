import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EMULATION_KERNEL_ARGS, finishScript, kernelArgsScript } from '../../src/boxes/bake.js';
import { testBakeRecord } from '../helpers/plans.js';
import { needTool } from '../helpers/tools.js';

/** What `box build --bake` runs as root on its machine last: shellcheck clean, and the boot loader edit tried on a file. */
describe("the bake's last step", () => {
  const work = mkdtempSync(join(tmpdir(), 'kv-bake-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('is a bash script shellcheck finds nothing in, for both families, with and without kernel arguments', (ctx) => {
    const shellcheck = needTool(ctx, 'shellcheck');
    for (const family of ['debian', 'rhel'] as const) {
      for (const record of [testBakeRecord(), testBakeRecord({ kernelArgs: [...EMULATION_KERNEL_ARGS] })]) {
        const file = join(work, `finish-${family}.sh`);
        writeFileSync(file, `#!/usr/bin/env bash\n${finishScript(record, family)}`);
        const r = spawnSync(shellcheck, ['-s', 'bash', file], { encoding: 'utf8' });
        expect(r.stdout + r.stderr, `${family} ${record.kernelArgs ? 'emulation' : 'plain'}`).toBe('');
        expect(spawnSync('bash', ['-n', file]).status).toBe(0);
        // The record goes in as written: the bake hash the artifacts check compares.
        expect(readFileSync(file, 'utf8')).toContain(`"bakeHash": "${record.bakeHash}"`);
      }
    }
  });

  it('adds the emulation arguments to every extlinux APPEND line once, however often it runs', () => {
    const root = join(work, 'root');
    mkdirSync(join(root, 'boot', 'extlinux'), { recursive: true });
    const conf = join(root, 'boot', 'extlinux', 'extlinux.conf');
    writeFileSync(conf, 'DEFAULT debian\nLABEL debian\n  LINUX /boot/vmlinuz\n  APPEND root=UUID=x ro console=ttyS0\n');
    // The script names /boot absolutely: run it with / mapped to the fake root by a sed of its paths.
    const script = kernelArgsScript(EMULATION_KERNEL_ARGS).replaceAll('/boot/', `${root}/boot/`);
    for (let i = 0; i < 2; i++) execFileSync('bash', ['-c', script]);
    expect(readFileSync(conf, 'utf8')).toBe('DEFAULT debian\nLABEL debian\n  LINUX /boot/vmlinuz\n  APPEND root=UUID=x ro console=ttyS0 mitigations=off tsc=reliable\n');
  });
});
