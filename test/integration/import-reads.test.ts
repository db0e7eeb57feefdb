import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/layout.js';

/**
 * Importing the middle of the flow reads nothing from the disk: the modules of dist/src/ (built by
 * the integration project's globalSetup) are imported in a fresh node whose fs functions record
 * every call (patched before anything loads, and synced into the ESM bindings).
 */
const dir = mkdtempSync(join(tmpdir(), 'kv-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PRELOAD = `
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const calls = [];
for (const name of ['readFileSync', 'existsSync', 'statSync', 'lstatSync', 'readdirSync', 'openSync', 'accessSync', 'readFile', 'stat']) {
  const original = fs[name];
  fs[name] = function (...args) { calls.push(name + ' ' + String(args[0])); return original.apply(this, args); };
}
syncBuiltinESMExports();
globalThis.kvFsCalls = calls;
`;

/** The fs calls importing a module of dist/src/ makes (module files themselves are the loader's, not the module's). */
function readsOnImport(module: string): string[] {
  writeFileSync(join(dir, 'preload.mjs'), PRELOAD);
  const url = pathToFileURL(join(packageRoot, 'dist', 'src', module)).href;
  const main = `globalThis.kvFsCalls.length = 0; await import(${JSON.stringify(url)}); console.log(JSON.stringify(globalThis.kvFsCalls));`;
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'preload.mjs')).href, '--input-type=module', '-e', main], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as string[]).filter((c) => !/\.js$/.test(c));
}

describe('importing the plan reads nothing', () => {
  it.each(['plan/plan.js', 'render/render.js', 'config/load.js', 'phases.js', 'steps/up-steps.js', 'providers/index.js', 'distros.js', 'layout.js'])('%s', (module) => {
    expect(readsOnImport(module)).toEqual([]);
  });

  it('the check itself sees reads (a module that reads at import)', () => {
    writeFileSync(join(dir, 'reads.mjs'), `import { readFileSync } from 'node:fs'; readFileSync(${JSON.stringify(join(packageRoot, 'package.json'))});`);
    writeFileSync(join(dir, 'preload.mjs'), PRELOAD);
    const main = `globalThis.kvFsCalls.length = 0; await import(${JSON.stringify(pathToFileURL(join(dir, 'reads.mjs')).href)}); console.log(JSON.stringify(globalThis.kvFsCalls));`;
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'preload.mjs')).href, '--input-type=module', '-e', main], { encoding: 'utf8' });
    expect(JSON.parse(r.stdout)).toContain(`readFileSync ${join(packageRoot, 'package.json')}`);
  });
});
