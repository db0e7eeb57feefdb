import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { caCertHash } from '../../src/ssh/keys.js';
import { generate } from '../../src/steps/generate.js';
import { TOKEN_PATTERN } from '../../src/token.js';
import { cacheEnv } from '../helpers/artifacts.js';

const dirs: string[] = [];
function clusterDir(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-gen-'));
  dirs.push(dir);
  if (yaml !== undefined) writeFileSync(join(dir, 'cluster.yaml'), yaml);
  return dir;
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const mode = (f: string) => statSync(f).mode & 0o777;
const CONFIG = 'apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: gen\nprovider: libvirt\n';

// Key generation is CPU-bound: allow for a loaded machine.
describe('generate writes files and secrets', { timeout: 30_000 }, () => {
  it('makes the secrets once, 0600 in a 0700 state directory, and pins the CA hash', async () => {
    const dir = clusterDir(CONFIG);
    const first = await generate({ cwd: dir, env: cacheEnv() });
    const state = join(dir, '.kubeadm-vagrant');
    expect(mode(state)).toBe(0o700);
    for (const f of ['token', 'ssh/id_ecdsa', 'ssh/id_ecdsa.pub', 'generated.json', 'pki/ca.crt', 'pki/ca.key', 'kubeadm/init.yaml', 'kubeadm/join-worker-1.yaml']) {
      expect(mode(join(state, f)), f).toBe(0o600);
    }
    const token = readFileSync(join(state, 'token'), 'utf8').trim();
    expect(token).toMatch(TOKEN_PATTERN);
    expect(readFileSync(join(state, 'ssh/id_ecdsa'), 'utf8')).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    const hash = caCertHash(readFileSync(join(state, 'pki/ca.crt'), 'utf8'));
    expect(first.plan.secrets.caCertHash).toBe(hash);
    expect(readFileSync(join(state, 'kubeadm/join-worker-1.yaml'), 'utf8')).toContain(hash);
    expect(first.written.length).toBeGreaterThan(5);

    const keyBefore = readFileSync(join(state, 'ssh/id_ecdsa'), 'utf8');
    const second = await generate({ cwd: dir, env: cacheEnv() });
    expect(second.written).toEqual([]);
    expect(readFileSync(join(state, 'ssh/id_ecdsa'), 'utf8')).toBe(keyBefore);
    expect(readFileSync(join(state, 'token'), 'utf8').trim()).toBe(token);
  });

  it('a token from the config (or KUBETOKEN) wins over the stored one', async () => {
    const dir = clusterDir(CONFIG);
    await generate({ cwd: dir, env: cacheEnv() });
    const r = await generate({ cwd: dir, env: { ...cacheEnv(), KUBETOKEN: 'zzzzzz.0123456789abcdef' } });
    expect(r.plan.secrets.token).toBe('zzzzzz.0123456789abcdef');
    expect(readFileSync(join(dir, '.kubeadm-vagrant/kubeadm/init.yaml'), 'utf8')).toContain('zzzzzz.0123456789abcdef');
  });

  it('writes into -o DIR, and without a config into the current directory', async () => {
    const out = clusterDir();
    await generate({ cwd: clusterDir(CONFIG), env: cacheEnv(), outDir: out });
    expect(readdirSync(out).sort()).toEqual(['.kubeadm-vagrant', 'Vagrantfile', 'provision']);
    const bare = clusterDir();
    await generate({ cwd: bare, env: { ...cacheEnv(), NODE_COUNT: '0' } });
    expect(readFileSync(join(bare, 'Vagrantfile'), 'utf8')).toContain('"master"');
  });

  it('an invalid config writes nothing (a catalog gap is a config error too: see plan.test.ts)', async () => {
    const bad = clusterDir(CONFIG + 'workers: {count: -2}\n');
    await expect(generate({ cwd: bad, env: cacheEnv() })).rejects.toThrow(ConfigError);
    expect(readdirSync(bad)).toEqual(['cluster.yaml']);
  });
});
