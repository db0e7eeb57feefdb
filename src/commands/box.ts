import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { out, withConfigFile, type ConfigCliOptions } from './common.js';

interface BuildFlags extends ConfigCliOptions {
  bake?: boolean;
  firmware?: string;
  provider?: string;
  arch?: string;
  catalog?: string;
  force?: boolean;
}

/** `box build|list|remove`: boxes made locally from the distros' own cloud images (src/boxes/). */
export function registerBox(program: Command): void {
  const box = program.command('box').description("boxes built on this host from the distros' own cloud images, verified; no Vagrant Cloud");

  withConfigFile(
    box
      .command('build <distro>')
      .description("download the distro's official cloud image (checked against its signed checksums, or the catalog's pinned digest), make a Vagrant box of it and add it as kubeadm-vagrant/<distro>")
      .addOption(new Option('--provider <provider>', 'the box\'s provider (default: the config\'s)').choices(['libvirt', 'virtualbox']))
      .addOption(new Option('--arch <arch>', "the box's architecture (default: this host's)").choices(['amd64', 'arm64']))
      .option('--catalog <file>', 'a catalog file overriding boxes/catalog.json entries (a mirror of the images, other keys)')
      .option('--firmware <file>', "an arm64 libvirt box's UEFI firmware on this host (default: the first of the usual paths that exists)")
      .option('--bake', "also boot it once and install this cluster's Kubernetes, containerd, CNI and images from its artifacts (the cache, fetched first when it lacks them, or offline.dir), then package that as kubeadm-vagrant/<distro>-k8s-<patch>: up installs nothing on it")
      .option('--force', 'build again even when the box was built from the same image (or baked with the same artifacts)'),
  ).action(async (distro: string, opts: BuildFlags) => {
    const { boxBuildCommand } = await import('../steps/box.js');
    await boxBuildCommand({ distro, ...opts, print: out });
  });

  withConfigFile(box
    .command('list'))
    .description('the boxes kubeadm-vagrant built: name, provider, architecture, what is baked in, the image each came from (URL, digest) and when')
    .option('--json', 'print them as JSON')
    .action(async (opts: { json?: boolean }) => {
      const { boxListCommand } = await import('../steps/box.js');
      await boxListCommand({ json: opts.json === true, print: out });
    });

  withConfigFile(box
    .command('remove <name>'))
    .description('remove a box kubeadm-vagrant built (boxes it did not build are left alone)')
    .addOption(new Option('--provider <provider>', 'only this provider\'s box of that name').choices(['libvirt', 'virtualbox']))
    .action(async (name: string, opts: { provider?: string }) => {
      if (name.trim() === '') throw new UsageError('box remove needs a box name, e.g. kubeadm-vagrant/debian-12 (see `kubeadm-vagrant box list`)');
      const { boxRemoveCommand } = await import('../steps/box.js');
      await boxRemoveCommand({ name, ...(opts.provider ? { provider: opts.provider } : {}), print: out });
    });
}
