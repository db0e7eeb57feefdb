import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { checkArtifacts, controlPlaneArchives, resolveArtifactsDir, type ArtifactNeeds } from '../../src/offline/artifacts.js';
import { offlineNeeds } from '../../src/offline/needs.js';
import { imageRefsOf, readTarMembers } from '../../src/offline/tar.js';
import { isControlPlaneImage, kubeadmImages, SMOKE_IMAGE } from '../../src/versions.js';
import { elf, fakeArtifactsDir, ociArchive, tarOf } from '../helpers/artifacts.js';
import { testConfig } from '../helpers/plans.js';

/**
 * The offline artifacts directory as the validator sees it. The files here are inputs for the
 * validator, which reads names, ELF headers, the version string and the archives' index.json or
 * manifest.json, never runs anything: a binary is an ELF header with the version string in it,
 * an image archive a real tar holding a real OCI index (or docker manifest) without layers.
 */
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const NEEDS: ArtifactNeeds = offlineNeeds(testConfig({ kubernetes: { version: '1.37' } }), '1.37.2');

/** A complete directory for v1.37.2/amd64 with flannel; `change` breaks it afterwards. */
function artifactsRoot(change: (dir: string) => void = () => {}): string {
  const root = mkdtempSync(join(tmpdir(), 'kv-artifacts-'));
  dirs.push(root);
  change(fakeArtifactsDir(root, '1.37.2'));
  return root;
}

function problemsOf(root: string, version = '1.37'): string[] {
  const { artifacts, problems } = resolveArtifactsDir(root, version, 'amd64');
  if (artifacts) problems.push(...checkArtifacts(artifacts, NEEDS));
  return problems.map((p) => p.message);
}

describe('image archives', () => {
  it('reads the references of an OCI layout and of a docker archive, without reading the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-img-'));
    dirs.push(dir);
    ociArchive(join(dir, 'a.tar'), ['registry.k8s.io/pause:3.10.2', 'registry.k8s.io/pause:3.10.2-again']);
    expect(imageRefsOf(join(dir, 'a.tar'))).toEqual(['registry.k8s.io/pause:3.10.2', 'registry.k8s.io/pause:3.10.2-again']);
    ociArchive(join(dir, 'b.tar'), ['ghcr.io/flannel-io/flannel:v0.28.10'], 'org.opencontainers.image.ref.name');
    expect(imageRefsOf(join(dir, 'b.tar'))).toEqual(['ghcr.io/flannel-io/flannel:v0.28.10']);
    // A bare tag names no repository: ctr would need --base-name, so it does not count.
    ociArchive(join(dir, 'c.tar'), ['3.10.2'], 'org.opencontainers.image.ref.name');
    expect(imageRefsOf(join(dir, 'c.tar'))).toEqual([]);
    tarOf(join(dir, 'd.tar'), { 'manifest.json': JSON.stringify([{ Config: 'x.json', RepoTags: ['registry.k8s.io/etcd:3.7.0-0'], Layers: [] }]) });
    expect(imageRefsOf(join(dir, 'd.tar'))).toEqual(['registry.k8s.io/etcd:3.7.0-0']);
    writeFileSync(join(dir, 'e.tar'), 'not a tar archive at all, just text that is long enough to fill a header block'.repeat(10));
    expect(() => imageRefsOf(join(dir, 'e.tar'))).toThrow(/not a tar archive/);
  });

  it('walks past big members to the one it wants', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-img-'));
    dirs.push(dir);
    tarOf(join(dir, 'big.tar'), { 'blob': 'x'.repeat(3 * 1024 * 1024 + 7), 'index.json': '{"manifests":[]}' });
    expect(readTarMembers(join(dir, 'big.tar'), ['index.json']).get('index.json')?.toString()).toBe('{"manifests":[]}');
  });
});

describe('the archives a worker does not import', () => {
  it('are those whose every image is a control-plane image, by repository name', () => {
    const images = new Map([
      ['registry.k8s.io/etcd:3.7.0-0', 'etcd.tar'],
      ['registry.k8s.io/kube-apiserver:v1.37.2', 'control-plane.tar'],
      ['registry.k8s.io/kube-scheduler:v1.37.2', 'control-plane.tar'],
      ['registry.k8s.io/kube-controller-manager:v1.37.2', 'mixed.tar'],
      ['registry.k8s.io/kube-proxy:v1.37.2', 'mixed.tar'],
      ['example.com/etcd-operator:1.0', 'lookalike.tar'],
      ['registry.k8s.io/pause:3.10.2', 'pause.tar'],
    ]);
    expect(controlPlaneArchives(images)).toEqual(['control-plane.tar', 'etcd.tar']);
    expect(isControlPlaneImage('registry.k8s.io/etcd@sha256:' + 'a'.repeat(64))).toBe(true);
    expect(isControlPlaneImage('localhost:5000/kube-scheduler:v1.37.2')).toBe(true);
    expect(isControlPlaneImage('localhost:5000/kube-proxy:v1.37.2')).toBe(false);
  });
});

describe('the artifacts directory', () => {
  it('a complete directory passes; a minor takes its newest patch there', () => {
    const root = artifactsRoot((dir) => mkdirSync(join(dir, '..', '..', 'v1.37.1', 'amd64'), { recursive: true }));
    expect(problemsOf(root)).toEqual([]);
    expect(resolveArtifactsDir(root, '1.37', 'amd64').artifacts).toMatchObject({ patch: '1.37.2', containerd: true, dir: join(root, 'v1.37.2', 'amd64') });
    expect(resolveArtifactsDir(root, '1.37.1', 'amd64').artifacts?.patch).toBe('1.37.1');
  });

  it('needs every image kubeadm names for the patch, the CNI image and the smoke image', () => {
    expect(NEEDS.images).toEqual([...kubeadmImages('1.37.2')!, 'ghcr.io/flannel-io/flannel:v0.28.10', SMOKE_IMAGE]);
    expect(NEEDS.images).toContain('registry.k8s.io/etcd:3.7.0-0');
    expect(NEEDS.cniPlugins).toEqual(['flannel']);
    expect(NEEDS.manifests).toEqual(['kube-flannel.yml']);
  });

  it('names what is missing or wrong, file by file', () => {
    const at = (root: string, rel: string) => join(root, 'v1.37.2', 'amd64', rel);
    let root = artifactsRoot((d) => rmSync(join(d, 'bin', 'kubeadm')));
    expect(problemsOf(root)).toContain(`${at(root, 'bin/kubeadm')} is missing`);
    root = artifactsRoot((d) => writeFileSync(join(d, 'cni', 'flannel'), elf(183)));
    expect(problemsOf(root)).toContain(`${at(root, 'cni/flannel')} is built for another architecture (ELF machine 183), not amd64`);
    root = artifactsRoot((d) => writeFileSync(join(d, 'bin', 'kubelet'), elf(62, 'gitVersion v1.36.5')));
    expect(problemsOf(root)).toContain(`${at(root, 'bin/kubelet')} is not Kubernetes v1.37.2`);
    root = artifactsRoot((d) => writeFileSync(join(d, 'cni', 'extra'), elf(62)));
    expect(problemsOf(root)).toEqual([]);
    root = artifactsRoot((d) => appendFileSync(join(d, 'SHA256SUMS'), `${'0'.repeat(64)}  ./gone\n`));
    expect(problemsOf(root)).toContain(`${at(root, 'gone')} is listed in SHA256SUMS but missing`);
    root = artifactsRoot((d) => execFileSync('sh', ['-c', "grep -v 'images/image-5.tar' SHA256SUMS > S && mv S SHA256SUMS"], { cwd: d }));
    expect(problemsOf(root)).toContain(`${at(root, 'images/image-5.tar')} is not listed in ${at(root, 'SHA256SUMS')}`);
    root = artifactsRoot((d) => rmSync(join(d, 'images', 'image-6.tar')));
    expect(problemsOf(root).find((p) => p.includes('has no archive of'))).toBe(`${at(root, 'images')} has no archive of registry.k8s.io/etcd:3.7.0-0`);
    root = artifactsRoot((d) => rmSync(join(d, 'SHA256SUMS')));
    expect(problemsOf(root)).toEqual([`${at(root, 'SHA256SUMS')} is missing`]);
  }, 60_000);

  it('without containerd/ the distro runtime is used; a partial containerd/ is an error', () => {
    let root = artifactsRoot((d) => {
      rmSync(join(d, 'containerd'), { recursive: true });
      execFileSync('sh', ['-c', "grep -v ' ./containerd/' SHA256SUMS > S && mv S SHA256SUMS"], { cwd: d });
    });
    expect(problemsOf(root)).toEqual([]);
    expect(resolveArtifactsDir(root, '1.37', 'amd64').artifacts?.containerd).toBe(false);
    root = artifactsRoot((d) => rmSync(join(d, 'containerd', 'runc')));
    expect(problemsOf(root)).toContain(`${join(root, 'v1.37.2', 'amd64', 'containerd/runc')} is missing`);
  });

  it('a version or architecture the directory does not hold is named with what it has', () => {
    const root = artifactsRoot();
    expect(problemsOf(root, '1.36')).toEqual([`${root} has no v1.36.* directory for Kubernetes 1.36 (it has v1.37.2)`]);
    expect(problemsOf(root, '1.37.5')).toEqual([`${root} has no v1.37.5 directory for Kubernetes 1.37.5 (it has v1.37.2)`]);
    expect(resolveArtifactsDir(root, '1.37', 'arm64').problems.map((p) => p.message)).toEqual([`${join(root, 'v1.37.2')} has no arm64/ directory for this host's architecture (it has amd64)`]);
    expect(resolveArtifactsDir(join(root, 'nowhere'), '1.37', 'amd64').problems.map((p) => p.message)).toEqual([`${join(root, 'nowhere')} does not exist`]);
  });

  it('loading a config resolves offline.dir against the config file and refuses a bad directory before anything starts', () => {
    const root = artifactsRoot();
    const cfg = join(root, 'cluster.yaml');
    writeFileSync(cfg, 'apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nkubernetes: {version: "1.37"}\noffline: {dir: .}\n');
    expect(loadConfig({ file: cfg, env: {} }).offline).toMatchObject({ root, patch: '1.37.2' });
    // The archives a worker skips: those of etcd, the API server, the controller manager and the scheduler alone.
    expect(loadConfig({ file: cfg, env: {} }).offline?.controlPlaneArchives).toEqual(['image-0.tar', 'image-1.tar', 'image-2.tar', 'image-6.tar']);
    rmSync(join(root, 'v1.37.2', 'amd64', 'manifests', 'kube-flannel.yml'));
    expect(() => loadConfig({ file: cfg, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file: cfg, env: {} })).toThrow(/offline\.dir: .*manifests\/kube-flannel\.yml is missing/);
  });
});
