/**
 * Debian's own cloud-init for tests, without installing it: installing the package would enable
 * its systemd units, and on a machine that boots with systemd cloud-init would then run at the
 * next boot and act on the host (its host name, SSH host keys, network). So the package is
 * fetched with `apt-get download` (this machine's apt sources and lists; its state is not
 * changed) and its files extracted with `dpkg -x` (no maintainer script runs) into a cache outside
 * the repository; its Python modules then run with Debian's python3 and the libraries .ci/run
 * installs (python3-yaml, python3-jsonschema, python3-jinja2, python3-configobj, ...).
 * Nothing of it writes to the host: `cloud-init schema` and the seed reader only read files.
 *
 * Cache layout (default /var/cache/kubeadm-vagrant/debian-cloud-init, or $KV_DEBIAN_CLOUD_INIT_CACHE):
 *   current                the package version last fetched
 *   <version>/root/        the package's files: usr/bin/cloud-init, usr/lib/python3/dist-packages/cloudinit/...
 *   <version>/source.txt   where it came from
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debVersion, run, unpackDeb } from './debian-containerd.js';

export const DEBIAN_CLOUD_INIT_CACHE = process.env.KV_DEBIAN_CLOUD_INIT_CACHE ?? '/var/cache/kubeadm-vagrant/debian-cloud-init';
/** Debian's interpreter, with Debian's Python libraries (a python3 earlier on PATH may be another one). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

export interface DebianCloudInit {
  packageVersion: string;
  /** Runs Debian's cloud-init CLI or a Python snippet with its modules importable. */
  env: NodeJS.ProcessEnv;
  /** The `cloud-init` entry point, to run with DEBIAN_PYTHON. */
  cli: string;
}

function located(packageVersion: string): DebianCloudInit {
  const root = join(DEBIAN_CLOUD_INIT_CACHE, packageVersion, 'root');
  return { packageVersion, env: { ...process.env, PYTHONPATH: join(root, 'usr', 'lib', 'python3', 'dist-packages'), LC_ALL: 'C.UTF-8' }, cli: join(root, 'usr', 'bin', 'cloud-init') };
}

/**
 * Debian's cloud-init, from the cache or fetched into it. Throws, with apt's or dpkg's message,
 * when it cannot be had: the caller decides whether that skips or fails a test.
 */
export function debianCloudInit(): DebianCloudInit {
  const current = join(DEBIAN_CLOUD_INIT_CACHE, 'current');
  if (existsSync(current)) {
    const version = readFileSync(current, 'utf8').trim();
    if (existsSync(join(DEBIAN_CLOUD_INIT_CACHE, version, 'root', 'usr', 'bin', 'cloud-init'))) return located(version);
  }
  mkdirSync(DEBIAN_CLOUD_INIT_CACHE, { recursive: true });
  const download = mkdtempSync(join(DEBIAN_CLOUD_INIT_CACHE, '.download-'));
  try {
    // apt's _apt user could not write into root's cache directory.
    run('apt-get', ['-q', '-o', 'APT::Sandbox::User=root', 'download', 'cloud-init'], download);
    const debs = readdirSync(download).filter((f) => f.endsWith('.deb'));
    if (debs.length !== 1) throw new Error(`apt-get download cloud-init left ${debs.length} .deb files`);
    const deb = join(download, debs[0]!);
    const version = debVersion(deb);
    unpackDeb(deb, join(DEBIAN_CLOUD_INIT_CACHE, version), "this machine's apt sources (apt-get download cloud-init)");
    const next = join(DEBIAN_CLOUD_INIT_CACHE, `.current-${process.pid}`);
    writeFileSync(next, `${version}\n`);
    renameSync(next, current);
    return located(version);
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
}

/** Runs Debian's python3 with cloud-init's modules; returns stdout, or throws with the output. */
export function cloudInitPython(ci: DebianCloudInit, args: string[]): string {
  try {
    return execFileSync(DEBIAN_PYTHON, args, { env: ci.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${DEBIAN_PYTHON} ${args.slice(0, 3).join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}
