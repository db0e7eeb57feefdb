import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STATE_DIR } from '../../src/layout.js';
import { renderAll } from '../../src/render/render.js';
import { casePlan, PLAN_CASES } from '../helpers/plans.js';

/**
 * Golden files of the rendered output, one directory per case. They change only on purpose:
 * `UPDATE_GOLDEN=1 npx vitest run --project unit test/golden` (or `vitest -u`) rewrites them; in CI
 * they are never rewritten.
 */
const EXPECTED_DIR = join(dirname(fileURLToPath(import.meta.url)), 'expected');
// The state directory is git-ignored everywhere, so its files are stored under a visible name.
const STORED_STATE_DIR = 'state-dir';

/** True when asked to rewrite the golden files: UPDATE_GOLDEN=1 or `vitest -u`, never in CI. */
function updating(): boolean {
  if (process.env.CI === 'true') return false;
  if (process.env.UPDATE_GOLDEN === '1') return true;
  return expect.getState().snapshotState?.snapshotUpdateState === 'all';
}

function storedPath(path: string): string {
  return path.startsWith(`${STATE_DIR}/`) ? `${STORED_STATE_DIR}/${path.slice(STATE_DIR.length + 1)}` : path;
}

/** What is stored of a rendered file: its text, or for bytes (a seed image) a line with their sha256 under `<path>.sha256`. */
function stored(f: { path: string; content: string | Buffer }): { stored: string; text: string } {
  if (typeof f.content === 'string') return { stored: storedPath(f.path), text: f.content };
  return { stored: `${storedPath(f.path)}.sha256`, text: `${createHash('sha256').update(f.content).digest('hex')}\n` };
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('golden rendered files', () => {
  for (const name of Object.keys(PLAN_CASES)) {
    it(name, () => {
      const caseDir = join(EXPECTED_DIR, name);
      const files = renderAll(casePlan(name)).map((f) => ({ ...f, ...stored(f) }));
      if (updating()) {
        rmSync(caseDir, { recursive: true, force: true });
        for (const f of files) {
          mkdirSync(dirname(join(caseDir, f.stored)), { recursive: true });
          writeFileSync(join(caseDir, f.stored), f.text);
        }
      }
      expect(listFiles(caseDir), `the files stored for ${name} (regenerate with UPDATE_GOLDEN=1)`).toEqual(
        files.map((f) => f.stored).sort(),
      );
      for (const f of files) {
        const expected = readFileSync(join(caseDir, f.stored), 'utf8');
        expect(f.text, `${name}/${f.stored} differs from its golden file (regenerate with UPDATE_GOLDEN=1 if intended)`).toBe(expected);
      }
    });
  }

  it('has no stored case that is not rendered any more', () => {
    const stored = existsSync(EXPECTED_DIR) ? readdirSync(EXPECTED_DIR).sort() : [];
    expect(stored).toEqual(Object.keys(PLAN_CASES).sort());
  });
});
