import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../distros.js';
import type { ConfigProblem } from '../errors.js';
import { isControlPlaneImage } from '../versions.js';
import { imageRefsOf } from './tar.js';

/**
 * An artifacts directory (the cache, or `offline.dir`: ./source.ts decides which): everything the
 * guests install, so that they download nothing. One directory per Kubernetes patch and architecture:
 *
 *   <root>/v1.37.2/amd64/
 *     SHA256SUMS        `sha256sum` lines over every other file below, paths relative to this directory
 *     bin/              kubeadm kubelet kubectl crictl
 *     cni/              the CNI plugins for /opt/cni/bin (bridge host-local loopback portmap, and the CNI's own)
 *     containerd/       optional, all or nothing: containerd containerd-shim-runc-v2 ctr runc
 *     images/*.tar      image archives (OCI image layout, or `docker save`), any file names
 *     manifests/        the CNI's manifests as released upstream (e.g. kube-flannel.yml)
 */
export const ARTIFACTS = {
  sums: 'SHA256SUMS',
  bin: ['kubeadm', 'kubelet', 'kubectl', 'crictl'],
  cniBase: ['bridge', 'host-local', 'loopback', 'portmap'],
  containerd: ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc'],
  imagesDir: 'images',
  manifestsDir: 'manifests',
} as const;

/** What a cluster needs from the directory, besides the fixed parts above. */
export interface ArtifactNeeds {
  /** Every image reference the guests run. */
  images: readonly string[];
  /** Extra CNI plugins under cni/ (flannel's own). */
  cniPlugins: readonly string[];
  /** Manifest file names under manifests/. */
  manifests: readonly string[];
}

/** The files a config installs from a directory, with their sha256 (./bake-set.ts makes it). */
export interface BakeSet {
  /** Path in v<patch>/<arch>/ → sha256. */
  files: Record<string, string>;
  /** sha256 over the sorted `<hex>  <path>` lines of files: one value to compare (in the guest too). */
  bakeHash: string;
}

/** A resolved artifacts directory: the one for the planned version and this architecture. */
export interface OfflineArtifacts {
  /** The directory that holds `v<patch>/<arch>/` (offline.dir, or the cache's), absolute. */
  root: string;
  /** `<root>/v<patch>/<arch>`. */
  dir: string;
  /** The Kubernetes patch the directory holds, `1.37.2`. */
  patch: string;
  arch: Arch;
  /** Whether it brings containerd and runc (otherwise the distro's runtime is used). */
  containerd: boolean;
  /** sha256 of its SHA256SUMS: names this set of artifacts (a guest records it once it verified them). */
  sumsHash: string;
  /** The archives under images/ that hold control-plane images alone (workers skip them); known once checked. */
  controlPlaneArchives?: readonly string[];
  /** The files the config installs from it and their sha256, once checked (src/offline/bake-set.ts): what a baked box must hold. */
  bake?: BakeSet;
}

const PATCH_DIR = /^v(\d+)\.(\d+)\.(\d+)$/;
/** ELF e_machine of each architecture. */
const ELF_MACHINE: Record<Arch, number> = { amd64: 62, arm64: 183 };

function problem(path: string, message: string, hint: string): ConfigProblem {
  return { path, message, hint };
}

/**
 * Finds the directory for a version (a minor takes its newest patch present) and architecture.
 * Problems name the directory and what to put there.
 */
export function resolveArtifactsDir(root: string, version: string, arch: Arch): { artifacts?: OfflineArtifacts; problems: ConfigProblem[] } {
  const path = 'offline.dir';
  if (!existsSync(root)) return { problems: [problem(path, `${root} does not exist`, 'create it with the layout in the README ("Artifacts"), or leave offline.dir empty to install from the cache (`kubeadm-vagrant artifacts fetch` fills it)')] };
  if (!statSync(root).isDirectory()) return { problems: [problem(path, `${root} is not a directory`, 'offline.dir names the directory that holds v<version>/<arch>/')] };
  const [major, minor, patch] = version.split('.');
  const candidates = readdirSync(root)
    .map((name) => ({ name, m: PATCH_DIR.exec(name) }))
    .filter((c) => c.m && c.m[1] === major && c.m[2] === minor && (patch === undefined || c.m[3] === patch))
    .sort((a, b) => Number(b.m![3]) - Number(a.m![3]));
  const wanted = patch === undefined ? `v${major}.${minor}.*` : `v${version}`;
  if (candidates.length === 0) {
    const present = readdirSync(root).filter((n) => PATCH_DIR.test(n));
    return { problems: [problem(path, `${root} has no ${wanted} directory for Kubernetes ${version}${present.length ? ` (it has ${present.join(', ')})` : ''}`, `add ${join(root, wanted)}/${arch}/, or set kubernetes.version to a version the directory holds`)] };
  }
  const chosen = candidates[0]!;
  const dir = join(root, chosen.name, arch);
  if (!existsSync(dir)) {
    const arches = readdirSync(join(root, chosen.name));
    return { problems: [problem(path, `${join(root, chosen.name)} has no ${arch}/ directory for this host's architecture${arches.length ? ` (it has ${arches.join(', ')})` : ''}`, `add the ${arch} artifacts under ${dir}`)] };
  }
  const containerd = existsSync(join(dir, 'containerd'));
  const sums = join(dir, ARTIFACTS.sums);
  const sumsHash = existsSync(sums) ? createHash('sha256').update(readFileSync(sums)).digest('hex') : '';
  return { artifacts: { root, dir, patch: chosen.name.slice(1), arch, containerd, sumsHash }, problems: [] };
}

/** The relative paths SHA256SUMS lists. */
export function readSums(dir: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of readFileSync(join(dir, ARTIFACTS.sums), 'utf8').split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sums.set(m[2]!.replace(/^\.\//, ''), m[1]!);
  }
  return sums;
}

/**
 * Every file SHA256SUMS lists, hashed on this host: a missing file or a digest that differs is a
 * problem naming the file. Returns the count and size of the files (what an upload sends).
 */
export async function verifyChecksums(dir: string): Promise<{ problems: ConfigProblem[]; files: number; bytes: number }> {
  const sums = readSums(dir);
  const problems: ConfigProblem[] = [];
  let bytes = 0;
  for (const [rel, expected] of sums) {
    const file = join(dir, rel);
    if (!existsSync(file)) {
      problems.push(problem('offline.dir', `${file} is listed in SHA256SUMS but missing`, 'copy it back, or build the directory again'));
      continue;
    }
    bytes += statSync(file).size;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    const seen = hash.digest('hex');
    if (seen !== expected) problems.push(problem('offline.dir', `${file} does not match SHA256SUMS (sha256 ${seen.slice(0, 12)}..., listed ${expected.slice(0, 12)}...)`, 'replace it with the file SHA256SUMS names, or build the directory again'));
  }
  return { problems, files: sums.size, bytes };
}

/** The ELF machine of a file, or undefined when it is not an ELF binary. */
function elfMachine(file: string): number | undefined {
  const head = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, head, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  if (head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
}

/** Every image reference in images/*.tar, with the archive that holds it. */
export function imagesIn(dir: string): { images: Map<string, string>; problems: ConfigProblem[] } {
  const images = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  const imagesDir = join(dir, ARTIFACTS.imagesDir);
  if (!existsSync(imagesDir)) return { images, problems };
  for (const name of readdirSync(imagesDir).filter((n) => n.endsWith('.tar')).sort()) {
    try {
      const refs = imageRefsOf(join(imagesDir, name));
      if (refs.length === 0) problems.push(problem('offline.dir', `${join(imagesDir, name)} names no image (no full reference in index.json or manifest.json)`, 'save images with their full reference, e.g. registry.k8s.io/pause:3.10.2'));
      for (const ref of refs) images.set(ref, name);
    } catch (err) {
      problems.push(problem('offline.dir', `${join(imagesDir, name)}: ${err instanceof Error ? err.message : String(err)}`, 'replace it with an OCI or docker image archive (an uncompressed tar)'));
    }
  }
  return { images, problems };
}

/**
 * Everything a cluster needs is in the directory, listed in SHA256SUMS, built for this
 * architecture and of the planned version. Each problem names the file. The checksums themselves
 * are checked by `up` on the host (verifyChecksums) and again in each guest before anything is
 * installed.
 */
export function checkArtifacts(a: OfflineArtifacts, needs: ArtifactNeeds, found = imagesIn(a.dir)): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (rel: string) => join(a.dir, rel);
  if (!existsSync(at(ARTIFACTS.sums))) {
    return [problem('offline.dir', `${at(ARTIFACTS.sums)} is missing`, `write it in ${a.dir} with: find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS`)];
  }
  const sums = readSums(a.dir);
  const binaries = [
    ...ARTIFACTS.bin.map((b) => `bin/${b}`),
    ...[...ARTIFACTS.cniBase, ...needs.cniPlugins].map((p) => `cni/${p}`),
    ...(a.containerd ? ARTIFACTS.containerd.map((c) => `containerd/${c}`) : []),
  ];
  for (const rel of [...binaries, ...needs.manifests.map((m) => `${ARTIFACTS.manifestsDir}/${m}`)]) {
    if (!existsSync(at(rel))) problems.push(problem('offline.dir', `${at(rel)} is missing`, 'see the layout in the README ("Artifacts")'));
    else if (!sums.has(rel)) problems.push(problem('offline.dir', `${at(rel)} is not listed in ${at(ARTIFACTS.sums)}`, 'write SHA256SUMS again over every file'));
  }
  for (const rel of binaries) {
    if (!existsSync(at(rel))) continue;
    const machine = elfMachine(at(rel));
    if (machine !== ELF_MACHINE[a.arch]) problems.push(problem('offline.dir', `${at(rel)} is ${machine === undefined ? 'not a Linux executable' : `built for another architecture (ELF machine ${machine})`}, not ${a.arch}`, `put the linux/${a.arch} build there`));
  }
  // kubeadm picks its image tags from its own version: it must be the directory's.
  for (const tool of ['kubeadm', 'kubelet']) {
    const file = at(`bin/${tool}`);
    if (existsSync(file) && !readFileSync(file).includes(`v${a.patch}`)) problems.push(problem('offline.dir', `${file} is not Kubernetes v${a.patch}`, `put ${tool} v${a.patch} there (the directory is named for that version)`));
  }
  for (const rel of sums.keys()) if (!existsSync(at(rel))) problems.push(problem('offline.dir', `${at(rel)} is listed in SHA256SUMS but missing`, 'copy it back, or write SHA256SUMS again'));
  problems.push(...found.problems);
  for (const name of new Set(found.images.values())) {
    if (!sums.has(`${ARTIFACTS.imagesDir}/${name}`)) problems.push(problem('offline.dir', `${at(`${ARTIFACTS.imagesDir}/${name}`)} is not listed in ${at(ARTIFACTS.sums)}`, 'write SHA256SUMS again over every file'));
  }
  const missing = needs.images.filter((ref) => !found.images.has(ref));
  if (missing.length > 0) {
    problems.push(problem('offline.dir', `${at(ARTIFACTS.imagesDir)} has no archive of ${missing.join(', ')}`, 'save each image to an archive there (skopeo copy docker://REF oci-archive:FILE:REF, or ctr/docker save)'));
  }
  return problems;
}

/** The archives (file names under images/) whose every image is a control-plane image (isControlPlaneImage). */
export function controlPlaneArchives(images: ReadonlyMap<string, string>): string[] {
  const byArchive = new Map<string, boolean>();
  for (const [ref, archive] of images) byArchive.set(archive, (byArchive.get(archive) ?? true) && isControlPlaneImage(ref));
  return [...byArchive].filter(([, only]) => only).map(([archive]) => archive).sort();
}
