import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig, validateRaw } from '../../src/config/load.js';
import { API_VERSION, defaultConfig, KIND } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { thrownBy } from '../helpers/rejection.js';

const base = { apiVersion: API_VERSION, kind: KIND };
const problems = (mirrors: unknown) => validateRaw({ ...base, mirrors }).errors.map((p) => `${p.path}: ${p.message}${p.hint ? ` | ${p.hint}` : ''}`);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('mirrors:', () => {
  it('defaults to none', () => {
    expect(defaultConfig().mirrors).toEqual({ files: '', registries: {}, manifests: {} });
  });

  it('takes a files mirror, registry mirrors with path prefixes, and manifest pins', () => {
    const mirrors = { files: 'http://10.0.0.2:8080/files/', registries: { 'registry.k8s.io': 'http://10.0.0.2:5000/registry.k8s.io', 'localhost:5001': 'https://m.example' }, manifests: { 'tigera-operator.yaml': 'a'.repeat(64) } };
    const r = validateRaw({ ...base, mirrors });
    expect(r.errors).toEqual([]);
    expect(r.config!.mirrors).toEqual(mirrors);
  });

  it('refuses bad URLs, hosts and pins, naming the field', () => {
    expect(problems({ files: 'ftp://x/' })).toEqual([expect.stringMatching(/^mirrors\.files: "ftp:\/\/x\/" is not an http:\/\/ or https:\/\/ URL \| leave it empty/)]);
    expect(problems({ files: 'http://u:p@x/' })).toEqual([expect.stringMatching(/^mirrors\.files: .*no credentials/)]);
    expect(problems({ registries: { 'registry.k8s.io': 'registry.local:5000' } })).toEqual([expect.stringMatching(/^mirrors\.registries\.registry\.k8s\.io: "registry.local:5000" is not an http/)]);
    expect(problems({ registries: { 'http://registry.k8s.io': 'http://m/' } })).toEqual([expect.stringMatching(/^mirrors\.registries\.http:\/\/registry\.k8s\.io: is not a registry host such as registry\.k8s\.io/)]);
    expect(problems({ registries: 'http://m/' })).toEqual([expect.stringMatching(/^mirrors\.registries: must be a mapping of registry host to mirror URL/)]);
    expect(problems({ manifests: { 'tigera-operator.yaml': 'abc' } })).toEqual([expect.stringMatching(/^mirrors\.manifests\.tigera-operator\.yaml: must be a sha256/)]);
    expect(problems({ releases: 'http://x/' })).toEqual([expect.stringMatching(/^mirrors\.releases: unknown field/)]);
  });

  it('--files-mirror and --registry-mirror HOST=URL (repeatable) set them, and are checked like the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-mirrors-'));
    dirs.push(dir);
    const loaded = readConfig({ cwd: dir, env: {}, flags: { filesMirror: 'http://127.0.0.1:8080', registryMirror: ['registry.k8s.io=http://127.0.0.1:5000/registry.k8s.io', 'ghcr.io=http://127.0.0.1:5000/ghcr.io'] } });
    expect(loaded.config.mirrors).toEqual({
      files: 'http://127.0.0.1:8080',
      registries: { 'registry.k8s.io': 'http://127.0.0.1:5000/registry.k8s.io', 'ghcr.io': 'http://127.0.0.1:5000/ghcr.io' },
      manifests: {},
    });
    expect(loaded.sources.get('mirrors.registries')).toBe('--registry-mirror');
    const bad = thrownBy(() => readConfig({ cwd: dir, env: {}, flags: { registryMirror: ['registry.k8s.io'], filesMirror: 'nope' } }), ConfigError);
    expect(bad.message).toContain('mirrors.registries (from --registry-mirror): "registry.k8s.io" is not HOST=URL');
    expect(bad.message).toContain('mirrors.files (from --files-mirror): "nope" is not an http:// or https:// URL');
  });
});
