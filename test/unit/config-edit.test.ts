import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { setWorkerCount, setWorkerCountText } from '../../src/config/edit.js';
import { renderClusterYaml } from '../../src/render/render.js';

describe('updating workers.count in cluster.yaml', () => {
  it('keeps every comment and every other line of the init template', () => {
    const text = renderClusterYaml();
    const out = setWorkerCountText(text, 5);
    expect((parse(out) as { workers: { count: number } }).workers.count).toBe(5);
    const before = text.split('\n');
    const after = out.split('\n');
    expect(after.length).toBe(before.length);
    const changed = before.map((l, i) => [l, after[i]]).filter(([a, b]) => a !== b);
    expect(changed).toEqual([['  count: 2', '  count: 5']]);
  });

  it('keeps a trailing comment on the count line and flow style', () => {
    expect(setWorkerCountText('workers:\n  count: 2   # two for now\n  cpus: 1\n', 3)).toBe('workers:\n  count: 3   # two for now\n  cpus: 1\n');
    expect(setWorkerCountText('# top\nworkers: {count: 2, cpus: 1}\n', 4)).toBe('# top\nworkers: {count: 4, cpus: 1}\n');
  });

  it('adds the field when absent', () => {
    expect(parse(setWorkerCountText('# mine\nname: x\n', 1))).toEqual({ name: 'x', workers: { count: 1 } });
  });

  it('keeps the file mode: a cluster.yaml that holds a token stays 0600', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-edit-'));
    try {
      const file = join(dir, 'cluster.yaml');
      writeFileSync(file, 'workers:\n  count: 2\n');
      chmodSync(file, 0o600);
      setWorkerCount(file, 3);
      expect(readFileSync(file, 'utf8')).toBe('workers:\n  count: 3\n');
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
