import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, loadGenerated } from '../../src/config/load.js';
import { ConfigError, type ConfigProblem } from '../../src/errors.js';
import { generate } from '../../src/steps/generate.js';
import { cacheEnv } from '../helpers/artifacts.js';

/** Item 1 of issue 18: a cluster directory works wherever it is; what it remembers is relative to it. */

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'kv-remembered-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const CONFIG = 'apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: moved\nprovider: libvirt\nworkers: {count: 1}\n';
const record = (dir: string) => JSON.parse(readFileSync(join(dir, '.kubeadm-vagrant', 'generated.json'), 'utf8')) as { file?: string };
// The cache holds the default cluster's artifacts, as after `up` or `artifacts fetch`.
const quiet = { env: cacheEnv() };

/** A generated cluster directory inside a fresh parent; returns the parent and the directory. */
async function cluster(): Promise<{ parent: string; dir: string }> {
  const parent = temp();
  const dir = join(parent, 'lab');
  mkdirSync(dir);
  writeFileSync(join(dir, 'cluster.yaml'), CONFIG);
  await generate({ cwd: dir, ...quiet });
  return { parent, dir };
}

describe('the remembered config file', { timeout: 30_000 }, () => {
  it('is recorded relative to the cluster directory', async () => {
    const { dir } = await cluster();
    expect(record(dir).file).toBe('cluster.yaml');
  });

  it('a copied directory reads its own config, not the original one', async () => {
    const { parent, dir } = await cluster();
    const copy = join(parent, 'copy');
    cpSync(dir, copy, { recursive: true });
    writeFileSync(join(copy, 'cluster.yaml'), CONFIG.replace('count: 1', 'count: 3'));
    const loaded = loadConfig({ cwd: copy, ...quiet });
    expect(loaded.file).toBe(join(copy, 'cluster.yaml'));
    expect(loaded.config.workers.count).toBe(3);
    expect(loadConfig({ cwd: dir, ...quiet }).config.workers.count).toBe(1);
  });

  it('a moved directory works for every command: generate, and those acting on the cluster as generated', async () => {
    const { parent, dir } = await cluster();
    const moved = join(parent, 'elsewhere');
    renameSync(dir, moved);
    expect(loadGenerated({ cwd: moved, ...quiet }).file).toBe(join(moved, 'cluster.yaml'));
    const again = await generate({ cwd: moved, ...quiet });
    expect(again.loaded.file).toBe(join(moved, 'cluster.yaml'));
    expect(again.written).toEqual([]);
  });

  it('an absolute path an older version recorded: kept while the directory stays, its own file once moved or copied (said)', async () => {
    const { parent, dir } = await cluster();
    const file = join(dir, '.kubeadm-vagrant', 'generated.json');
    writeFileSync(file, JSON.stringify({ ...record(dir), file: join(dir, 'cluster.yaml') }));
    expect(loadConfig({ cwd: dir, ...quiet }).warnings).toEqual([]);
    const copy = join(parent, 'copy');
    cpSync(dir, copy, { recursive: true });
    writeFileSync(join(copy, 'cluster.yaml'), CONFIG.replace('count: 1', 'count: 2'));
    const loaded = loadConfig({ cwd: copy, ...quiet });
    expect(loaded.config.workers.count).toBe(2);
    expect(loaded.warnings).toEqual([expect.objectContaining({ path: '.kubeadm-vagrant/generated.json', message: expect.stringContaining(`names ${join(dir, 'cluster.yaml')}`) })]);
    expect(loadGenerated({ cwd: copy, ...quiet }).file).toBe(join(copy, 'cluster.yaml'));
    // generate records it relative from then on.
    await generate({ cwd: copy, ...quiet });
    expect(record(copy).file).toBe('cluster.yaml');
  });

  it('a remembered config that is gone gives way to ./cluster.yaml, saying so; with none, an error saying exactly that', async () => {
    const parent = temp();
    const dir = join(parent, 'lab');
    mkdirSync(join(parent, 'configs'));
    mkdirSync(dir);
    writeFileSync(join(parent, 'configs', 'lab.yaml'), CONFIG);
    await generate({ cwd: dir, file: join(parent, 'configs', 'lab.yaml'), outDir: dir, ...quiet });
    expect(record(dir).file).toBe('../configs/lab.yaml');
    rmSync(join(parent, 'configs'), { recursive: true });

    let problems: ConfigProblem[] = [];
    try {
      loadConfig({ cwd: dir, ...quiet });
    } catch (e) {
      problems = (e as ConfigError).problems;
    }
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toBe(`${join(parent, 'configs', 'lab.yaml')}, the config file ${dir} was generated from (.kubeadm-vagrant/generated.json), is gone, and there is no ./cluster.yaml`);
    // No hint about a -c that was never given.
    expect(problems[0]!.hint).not.toMatch(/leave out -c/);

    writeFileSync(join(dir, 'cluster.yaml'), CONFIG.replace('count: 1', 'count: 2'));
    const loaded = loadConfig({ cwd: dir, ...quiet });
    expect(loaded.file).toBe(join(dir, 'cluster.yaml'));
    expect(loaded.config.workers.count).toBe(2);
    expect(loaded.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/is gone: .*cluster\.yaml is read instead$/)]);
  });
});
