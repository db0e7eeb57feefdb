import { Option, type Command } from 'commander';
import { hostArch } from '../distros.js';
import { readConfig } from '../config/load.js';
import { loadOptions, out, wholeNumber, withConfigFile, withConfigFlags, type ConfigCliOptions } from './common.js';

// The steps load when their command runs: the CLI's start loads no registry client, tar-stream nor openpgp.
const steps = () => import('../steps/artifacts.js');

/** Aborts on Ctrl-C, so a download keeps its partial for a later resume and the cache's lock is released. */
function interruptSignal(): AbortSignal {
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort(new Error('interrupted')));
  return ctl.signal;
}

/** artifacts fetch | list | verify | prune: the host-side cache every cluster installs from unless offline.dir names a directory of its own. */
export function registerArtifacts(program: Command): void {
  const artifacts = program.command('artifacts').description('the host-side cache of binaries, images and manifests every cluster installs from');

  withConfigFlags(artifacts.command('fetch').description("fetch and verify what the config's version, CNI and add-ons need into the cache ($KUBEADM_VAGRANT_CACHE/artifacts or ~/.cache/kubeadm-vagrant/artifacts); `up` fetches what is missing itself"))
    .addOption(new Option('--arch <arches>', 'architectures, comma-separated: amd64, arm64').default(hostArch()))
    .addOption(new Option('--trust-manifest <name=sha256>', "pin a CNI manifest this project does not pin (Calico's), after checking the file yourself; repeatable").argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .action(async (opts: ConfigCliOptions & { arch: string; trustManifest?: string[] }) => {
      const s = await steps();
      await s.artifactsFetch({ load: loadOptions(opts), arches: s.parseArches(opts.arch), trust: s.parseTrust(opts.trustManifest ?? []), print: out, signal: interruptSignal() });
    });

  // -c like every command (checked when given), though what the cache holds does not depend on a config.
  withConfigFile(artifacts.command('list').description('what the cache holds: per patch and architecture, files, size, complete or not')).action(async (opts: ConfigCliOptions) => {
    if (opts.config !== undefined) readConfig(loadOptions(opts));
    (await steps()).artifactsList({ print: out });
  });

  withConfigFlags(artifacts.command('verify').description('re-hash every cached file against SHA256SUMS and the lock file, and check every image archive blob by blob and its platform'))
    .option('--fix', 'fetch again what is wrong (with the mirrors of the config)')
    .action(async (opts: ConfigCliOptions & { fix?: boolean }) => {
      const ok = await (await steps()).artifactsVerify({ load: loadOptions(opts), fix: opts.fix === true, print: out, signal: interruptSignal() });
      if (!ok) process.exitCode = 1;
    });

  withConfigFlags(artifacts.command('prune').description('remove cached patches no config in use needs: keeps the config\'s and the N newest'))
    .addOption(new Option('--keep <n>', 'how many of the newest patches to keep besides the config\'s').argParser(wholeNumber('--keep', { min: 0, max: 1000 })).default(1))
    .option('--dry-run', 'say what would be removed, and remove nothing')
    .action(async (opts: ConfigCliOptions & { keep: number; dryRun?: boolean }) => {
      await (await steps()).artifactsPrune({ load: loadOptions(opts), keepNewest: opts.keep, dryRun: opts.dryRun === true, print: out });
    });
}
