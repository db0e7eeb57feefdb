/**
 * Debian's real containerd packages for tests: `apt-get download containerd/<suite>` from the
 * mirror this machine's own apt sources name, through a private apt configuration (its own
 * sources, lists and download cache; the host's apt configuration and state are never changed),
 * then `dpkg -x` into a per-suite, per-version directory of a cache outside the repository. A
 * suite already in the cache is used as it is, without any network access.
 *
 * Cache layout (default /var/cache/kubeadm-vagrant/debian-containerd, or $KV_DEBIAN_CONTAINERD_CACHE):
 *   <suite>/current              the package version last fetched for the suite
 *   <suite>/<version>/root/      the package's files (`dpkg -x`): usr/bin/containerd, etc/containerd/...
 *   <suite>/<version>/source.txt where it came from: the .deb's name, size and SHA-256, the mirror, the date
 * Each version directory is complete or absent: it is filled beside its final name and renamed into
 * place, so two test runs at once never see half a package.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const DEBIAN_CONTAINERD_CACHE = process.env.KV_DEBIAN_CONTAINERD_CACHE ?? '/var/cache/kubeadm-vagrant/debian-containerd';

/** The Debian suites whose containerd the tests use, with the upstream minor each one packages. */
export const DEBIAN_CONTAINERD_SUITES = [
  { suite: 'bookworm', debian: 'Debian 12', minor: '1.6' },
  { suite: 'trixie', debian: 'Debian 13', minor: '1.7' },
  { suite: 'forky', debian: 'Debian testing (forky)', minor: '2.' },
] as const;
export type DebianSuite = (typeof DEBIAN_CONTAINERD_SUITES)[number]['suite'];

/** The keyring Debian's own apt sources trust (from the debian-archive-keyring package). */
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
/** The suite by which the host's mirror is found in its apt sources: this machine is Debian 12. */
const HOST_SUITE = 'bookworm';

export interface DebianContainerd {
  suite: DebianSuite;
  /** The Debian package version, e.g. `1.6.20~ds1-1+deb12u3`. */
  packageVersion: string;
  /** Where the package's files were extracted. */
  root: string;
  /** The directory holding the package's `containerd` binary, to put first on PATH. */
  binDir: string;
  /** The /etc/containerd/config.toml the package installs, when it ships one. */
  packagedConfig: string | undefined;
  /** True when this call fetched the package, false when it came from the cache. */
  fetched: boolean;
}

/** The private apt configuration: everything apt reads or writes lives under `dir`, except its keyring and apt.conf.d. */
function aptOptions(dir: string): string[] {
  return [
    `Dir::Etc::SourceList=${join(dir, 'sources.list')}`,
    `Dir::Etc::SourceParts=${join(dir, 'sources.list.d')}`,
    `Dir::Etc::Preferences=${join(dir, 'preferences')}`,
    `Dir::Etc::PreferencesParts=${join(dir, 'preferences.d')}`,
    `Dir::State::Lists=${join(dir, 'lists')}`,
    `Dir::Cache=${join(dir, 'cache')}`,
    // No installed packages matter here: the host's dpkg status is not read.
    'Dir::State::status=/dev/null',
    'Acquire::Languages=none',
    // The cache is root's; apt's _apt user could not write the download there.
    'APT::Sandbox::User=root',
  ].flatMap((option) => ['-o', option]);
}

export function run(command: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim().split('\n').slice(-5).join('\n')}`);
  }
}

/** The mirror the host's apt sources use for Debian's main archive (found by the bookworm suite, which this machine runs). */
export function hostDebianMirror(): string {
  const uris = run('apt-get', ['indextargets', '--no-release-info', '--format', '$(REPO_URI)', `Release: ${HOST_SUITE}`, 'Created-By: Packages', 'Component: main'])
    .split('\n')
    .filter(Boolean);
  const unique = [...new Set(uris)];
  if (unique.length === 0) throw new Error(`the host's apt sources name no mirror for ${HOST_SUITE} main`);
  return unique[0]!;
}

/** A private apt for the suites in a new directory of the cache, with its package lists fetched. */
function privateApt(): string {
  mkdirSync(DEBIAN_CONTAINERD_CACHE, { recursive: true });
  const dir = mkdtempSync(join(DEBIAN_CONTAINERD_CACHE, '.apt-'));
  for (const sub of ['sources.list.d', 'preferences.d', 'lists/partial', 'cache/archives/partial', 'download']) mkdirSync(join(dir, sub), { recursive: true });
  const mirror = hostDebianMirror();
  const lines = DEBIAN_CONTAINERD_SUITES.map(({ suite }) => `deb [signed-by=${DEBIAN_KEYRING} target=Packages] ${mirror} ${suite} main`);
  writeFileSync(join(dir, 'sources.list'), `${lines.join('\n')}\n`);
  // --error-on=any: a suite that could not be fetched fails here, not later as "Unable to locate package".
  run('apt-get', [...aptOptions(dir), '-q', '--error-on=any', 'update']);
  return dir;
}

function cachedVersion(suite: DebianSuite): string | undefined {
  const current = join(DEBIAN_CONTAINERD_CACHE, suite, 'current');
  if (!existsSync(current)) return undefined;
  const version = readFileSync(current, 'utf8').trim();
  return existsSync(join(DEBIAN_CONTAINERD_CACHE, suite, version, 'root', 'usr', 'bin', 'containerd')) ? version : undefined;
}

function located(suite: DebianSuite, packageVersion: string, fetched: boolean): DebianContainerd {
  const root = join(DEBIAN_CONTAINERD_CACHE, suite, packageVersion, 'root');
  const config = join(root, 'etc', 'containerd', 'config.toml');
  return { suite, packageVersion, root, binDir: join(root, 'usr', 'bin'), packagedConfig: existsSync(config) ? config : undefined, fetched };
}

/** A .deb's package version. */
export function debVersion(deb: string): string {
  return run('dpkg-deb', ['--field', deb, 'Version']).trim();
}

/**
 * Extracts a .deb (`dpkg -x`: its files only, no maintainer script runs) into `<final>/root`,
 * with `<final>/source.txt` saying what it was and where it came from. The directory is filled
 * beside its final name and renamed into place, so a reader never sees half a package; when
 * `final` exists already it is kept as it is.
 */
export function unpackDeb(deb: string, final: string, from: string): void {
  if (existsSync(final)) return;
  const parent = dirname(final);
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(final)}-`));
  chmodSync(staging, 0o755);
  run('dpkg', ['-x', deb, join(staging, 'root')]);
  const sha256 = createHash('sha256').update(readFileSync(deb)).digest('hex');
  writeFileSync(join(staging, 'source.txt'), `package: ${basename(deb)}\nsize: ${statSync(deb).size}\nsha256: ${sha256}\nfrom: ${from}\nfetched: ${new Date().toISOString()}\n`);
  try {
    renameSync(staging, final);
  } catch (err) {
    // Another test run put the same version in place first: use that one.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(final)) throw err;
  }
}

/** Downloads the suite's containerd package with the private apt `apt` and extracts it into the cache. */
function fetch(apt: string, suite: DebianSuite): string {
  const download = mkdtempSync(join(apt, 'download', `${suite}-`));
  run('apt-get', [...aptOptions(apt), '-q', 'download', `containerd/${suite}`], download);
  const debs = readdirSync(download).filter((f) => f.endsWith('.deb'));
  if (debs.length !== 1) throw new Error(`apt-get download containerd/${suite} left ${debs.length} .deb files`);
  const deb = join(download, debs[0]!);
  const packageVersion = debVersion(deb);
  const suiteDir = join(DEBIAN_CONTAINERD_CACHE, suite);
  unpackDeb(deb, join(suiteDir, packageVersion), `${hostDebianMirror()} ${suite} main (apt-get download)`);
  const current = join(suiteDir, `.current-${process.pid}`);
  writeFileSync(current, `${packageVersion}\n`);
  renameSync(current, join(suiteDir, 'current'));
  rmSync(download, { recursive: true, force: true });
  return packageVersion;
}

/**
 * Debian's containerd of each suite, from the cache or fetched into it (the package lists are
 * fetched only when a suite is missing, once for all). Throws, with apt's or dpkg's message, when
 * one cannot be had: the caller decides whether that skips or fails a test.
 */
export function debianContainerds(suites: readonly DebianSuite[] = DEBIAN_CONTAINERD_SUITES.map((s) => s.suite)): DebianContainerd[] {
  const found = new Map<DebianSuite, DebianContainerd>();
  for (const suite of suites) {
    const cached = cachedVersion(suite);
    if (cached) found.set(suite, located(suite, cached, false));
  }
  const missing = suites.filter((suite) => !found.has(suite));
  if (missing.length > 0) {
    const apt = privateApt();
    try {
      for (const suite of missing) found.set(suite, located(suite, fetch(apt, suite), true));
    } finally {
      rmSync(apt, { recursive: true, force: true });
    }
  }
  return suites.map((suite) => found.get(suite)!);
}
