import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildBox, notOursError } from '../boxes/build.js';
import { readCatalogFile, type Arch, type Catalog } from '../boxes/catalog.js';
import type { BoxProvider } from '../boxes/formats.js';
import { cacheRoot } from '../cache.js';
import { loadOptions, printWarnings, type ConfigCliOptions } from '../commands/common.js';
import { readConfig } from '../config/load.js';
import { hostArch, loadCatalog } from '../distros.js';
import { createTransferProgress } from '../download/progress.js';
import { createProgress } from './progress.js';
import { UsageError } from '../errors.js';
import { formatTable } from '../table.js';
import { listBoxes, removeBox, type StoredBox } from '../vagrant/boxes.js';

/** The shipped catalog, or it with an override file's entries (`--catalog FILE`). */
export function catalogWith(file: string | undefined, cwd = process.cwd()): Catalog {
  const base = loadCatalog();
  return file === undefined ? base : readCatalogFile(resolve(cwd, file), base);
}

export async function boxBuildCommand(o: ConfigCliOptions & { distro: string; provider?: string; arch?: string; catalog?: string; force?: boolean; bake?: boolean; firmware?: string; print: (line: string) => void }): Promise<void> {
  // The provider the cluster's config names, unless --provider says otherwise.
  const loaded = o.provider ? undefined : readConfig({ ...loadOptions(o), onWarnings: printWarnings });
  const provider = (o.provider ?? loaded!.config.provider) as BoxProvider;
  const arch = (o.arch ?? hostArch()) as Arch;
  const catalog = catalogWith(o.catalog);
  const progress = await createTransferProgress({ files: 1 });
  try {
    const firmware = o.firmware === undefined ? {} : { uefiLoader: firmwareFile(o.firmware) };
    const common = { distro: o.distro, provider, arch, catalog, cache: cacheRoot(), force: o.force === true, info: (l: string) => process.stderr.write(`${l}\n`), progress, ...firmware };
    if (o.bake) {
      const { bakeBox } = await import('../boxes/bake.js');
      const baked = await bakeBox({ ...common, load: { ...loadOptions(o), onWarnings: printWarnings }, steps: createProgress() });
      o.print(`${baked.built ? 'baked' : 'kept'} ${baked.name} (${provider}, ${arch}): Kubernetes ${baked.record.baked!.kubernetes} on ${baked.record.source.url} (${baked.record.source.digest})`);
      return;
    }
    const built = await buildBox(common);
    o.print(`${built.built ? 'built' : 'kept'} ${built.name} (${provider}, ${arch}) from ${built.record.source.url} (${built.record.source.digest})`);
  } finally {
    progress.finish();
  }
}

/** --firmware: an existing file, absolute in the box's Vagrantfile. */
function firmwareFile(given: string): string {
  const file = resolve(given);
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`--firmware ${given}: ${file} is not a file (the UEFI firmware an arm64 libvirt guest boots with, e.g. /usr/share/AAVMF/AAVMF_CODE.fd)`);
  return file;
}

const ours = (boxes: readonly StoredBox[]) => boxes.filter((b) => b.record);

export async function boxListCommand(o: { json: boolean; print: (line: string) => void }): Promise<void> {
  const boxes = ours(await listBoxes());
  if (o.json) {
    o.print(JSON.stringify(boxes.map((b) => ({ name: b.name, provider: b.provider, version: b.version, ...b.record })), null, 2));
    return;
  }
  if (boxes.length === 0) {
    o.print('no boxes built by kubeadm-vagrant yet (`kubeadm-vagrant box build DISTRO`, or `up`, builds one)');
    return;
  }
  const rows = boxes.map((b) => {
    const r = b.record!;
    return [b.name, b.provider, r.arch, r.baked ? `Kubernetes ${r.baked.kubernetes}, ${r.baked.cni}` : '-', r.source.url, r.source.digest.slice(0, 19) + '…', r.builtAt.slice(0, 16).replace('T', ' ')];
  });
  for (const line of formatTable([['NAME', 'PROVIDER', 'ARCH', 'BAKED', 'IMAGE', 'DIGEST', 'BUILT'], ...rows])) o.print(line);
}

export async function boxRemoveCommand(o: { name: string; provider?: string; print: (line: string) => void }): Promise<void> {
  const named = (await listBoxes()).filter((b) => b.name === o.name && (!o.provider || b.provider === o.provider));
  if (named.length === 0) throw new UsageError(`Vagrant has no box named ${o.name}${o.provider ? ` for ${o.provider}` : ''} (\`kubeadm-vagrant box list\` shows the boxes kubeadm-vagrant built)`);
  const foreign = named.find((b) => !b.record);
  if (foreign) throw notOursError(foreign);
  for (const b of named) {
    await removeBox(b);
    o.print(`removed ${b.name} (${b.provider}${b.record ? `, ${b.record.arch}` : ''}, version ${b.version})`);
  }
}
