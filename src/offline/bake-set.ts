import { createHash } from 'node:crypto';
import { ARTIFACTS, readSums, type ArtifactNeeds, type BakeSet, type OfflineArtifacts } from './artifacts.js';

export type { BakeSet };

/**
 * Exactly the files of an artifacts directory that a cluster installs (its binaries, its CNI
 * plugins, containerd where the directory brings it, its manifests, the archives of every image it
 * runs, the control plane's included), with their sha256 from SHA256SUMS. A box baked from them
 * records the same set; `up` compares the two, so a baked box is used only when it holds exactly
 * what the plan would install (another patch, CNI or add-on gives another set).
 */

export function bakeHashOf(files: Readonly<Record<string, string>>): string {
  const lines = Object.keys(files)
    .sort()
    .map((path) => `${files[path]}  ${path}\n`)
    .join('');
  return createHash('sha256').update(lines).digest('hex');
}

export function bakeSet(artifacts: Pick<OfflineArtifacts, 'dir' | 'containerd'>, needs: ArtifactNeeds, images: ReadonlyMap<string, string>): BakeSet {
  const sums = readSums(artifacts.dir);
  const paths = [
    ...ARTIFACTS.bin.map((b) => `bin/${b}`),
    ...[...ARTIFACTS.cniBase, ...needs.cniPlugins].map((p) => `cni/${p}`),
    ...(artifacts.containerd ? ARTIFACTS.containerd.map((c) => `containerd/${c}`) : []),
    ...needs.manifests.map((m) => `${ARTIFACTS.manifestsDir}/${m}`),
    ...[...new Set(needs.images.map((ref) => images.get(ref)).filter((a): a is string => a !== undefined))].map((a) => `${ARTIFACTS.imagesDir}/${a}`),
  ];
  const files: Record<string, string> = {};
  for (const path of [...new Set(paths)].sort()) {
    const hex = sums.get(path);
    // checkArtifacts has refused a directory where a needed file is not listed.
    if (hex) files[path] = hex;
  }
  return { files, bakeHash: bakeHashOf(files) };
}
