import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { QEMU_CPU } from '../../src/providers/libvirt.js';
import { renderAll } from '../../src/render/render.js';
import { testPlan } from '../helpers/plans.js';
import { needTool } from '../helpers/tools.js';

/** Real qemu's answers over QMP to `commands`, for a machine that is never started (-S, no disk, no network). */
async function qmp(qemu: string, args: string[], commands: object[]): Promise<unknown[]> {
  const input = [{ execute: 'qmp_capabilities' }, ...commands, { execute: 'quit' }].map((c) => JSON.stringify(c)).join('\n') + '\n';
  const child = execFile(qemu, [...args, '-S', '-qmp', 'stdio', '-display', 'none', '-nodefaults', '-nic', 'none'], { encoding: 'utf8', timeout: 60_000 });
  child.stdin!.end(input);
  const stdout = await new Promise<string>((done, fail) => {
    let out = '';
    child.stdout!.on('data', (d: string) => (out += d));
    child.on('error', fail);
    child.on('close', () => done(out));
  });
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{"return"'))
    .map((l) => (JSON.parse(l) as { return: unknown }).return)
    .slice(1, 1 + commands.length);
}

describe('the guest CPU under software emulation (libvirt driver qemu), asked of the real qemu', () => {
  it('the Vagrantfile asks for QEMU_CPU: its model, and every flag it disables', () => {
    const vagrantfile = renderAll(testPlan({ provider: 'libvirt', libvirt: { driver: 'qemu' } })).find((f) => f.path === 'Vagrantfile')!.content;
    expect(vagrantfile).toContain(`lv.cpu_model = "${QEMU_CPU.model}"`);
    expect([...vagrantfile.matchAll(/lv\.cpu_feature name: "([^"]+)", policy: "disable"/g)].map((m) => m[1])).toEqual([...QEMU_CPU.disable]);
  });

  it('TCG emulates the model once those flags are off, and its vendor is Intel (whose TSC Linux keeps as its clock)', async (ctx) => {
    const qemu = needTool(ctx, 'qemu-system-x86_64');
    const cpu = [QEMU_CPU.model, ...QEMU_CPU.disable.map((f) => `-${f}`)].join(',');
    const [definitions] = await qmp(qemu, ['-accel', 'tcg', '-machine', 'none'], [{ execute: 'query-cpu-definitions' }]);
    // The CPU as the guest sees it: a machine built (not started) with the model and flags.
    const [vendor] = await qmp(qemu, ['-accel', 'tcg', '-machine', 'pc', '-cpu', cpu], [{ execute: 'qom-get', arguments: { path: '/machine/unattached/device[0]', property: 'vendor' } }]);
    const model = (definitions as { name: string; 'unavailable-features'?: string[] }[]).find((d) => d.name === QEMU_CPU.model);
    expect(model, `qemu knows no CPU model ${QEMU_CPU.model}`).toBeDefined();
    // What TCG lacks is exactly what the Vagrantfile disables: nothing more to disable, nothing disabled needlessly.
    expect([...(model!['unavailable-features'] ?? [])].sort()).toEqual([...QEMU_CPU.disable].sort());
    expect(vendor).toBe('GenuineIntel');
  }, 90_000);
});
