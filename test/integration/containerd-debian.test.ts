import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { renderAll } from '../../src/render/render.js';
import { containerdDefault, containerdDump, containerdVersion, effectiveCri } from '../helpers/containerd-config.js';
import { DEBIAN_CONTAINERD_CACHE, DEBIAN_CONTAINERD_SUITES, debianContainerds, type DebianContainerd, type DebianSuite } from '../helpers/debian-containerd.js';
import { testPlan } from '../helpers/plans.js';

/**
 * The prerequisites phase's containerd configuration, run on Debian's real packaged
 * /etc/containerd/config.toml and checked with Debian's real containerd binaries (1.6 of Debian
 * 12, 1.7 of Debian 13, 2.x of testing): after the phase, `containerd config dump` must show a
 * CRI plugin that can start pods (runc with its runtime_type, the systemd cgroup driver, the CNI
 * plugins in /opt/cni/bin). The packages come from `apt-get download` + `dpkg -x` through a
 * private apt configuration, cached in DEBIAN_CONTAINERD_CACHE (see test/helpers/debian-containerd.ts).
 * With CI=true a package that cannot be fetched fails the tests; elsewhere they are skipped.
 */

const IN_CI = process.env.CI === 'true';
const CNI_BIN_DIR = '/opt/cni/bin';
const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

let work: string;
let prerequisites: string;
let packages: string;
/** A real containerd binary: the directory holding it is put first on PATH. */
interface Containerd {
  binDir: string;
}
let containerds: Map<DebianSuite, DebianContainerd> | undefined;

/**
 * Other real containerd builds to check the same way, beyond Debian's: directories holding a
 * `containerd` binary, separated by colons (e.g. containerd 2.3 built from its upstream module for
 * the offline artifacts). Unset, there are none and no test is made for them.
 */
const EXTRA_CONTAINERDS = (process.env.KV_EXTRA_CONTAINERD_DIRS ?? '').split(':').filter(Boolean);
let unavailable = '';

/**
 * The scripts run with the awk of Debian's nodes, mawk (Rocky's gawk in one cross-check), put first
 * on PATH as `awk` through a directory of its own.
 */
type Awk = 'mawk' | 'gawk';
const awkDirs = new Map<Awk, string>();
function useAwks() {
  for (const awk of ['mawk', 'gawk'] as const) {
    const found = spawnSync('sh', ['-c', `command -v ${awk}`], { encoding: 'utf8' }).stdout.trim();
    if (!found) continue;
    const dir = join(work, `awk-${awk}`);
    mkdirSync(dir);
    symlinkSync(found, join(dir, 'awk'));
    awkDirs.set(awk, dir);
  }
}
function needAwk(ctx: TestContext, awk: Awk): Awk {
  if (awkDirs.has(awk)) return awk;
  if (IN_CI) throw new Error(`${awk} is not installed; CI must have it`);
  console.warn(`skipped: ${awk} is not installed`);
  ctx.skip(`${awk} is not installed`);
  throw new Error('unreachable');
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'kubeadm-vagrant-containerd-'));
  const files = renderAll(testPlan({ distro: 'debian-12' }));
  const script = (phase: string) => {
    const file = join(work, `${phase}.sh`);
    writeFileSync(file, files.find((f) => f.path === `provision/${phase}.sh`)!.content, { mode: 0o755 });
    return file;
  };
  prerequisites = script('prerequisites');
  packages = script('packages');
  useAwks();
  const started = Date.now();
  try {
    const found = debianContainerds();
    containerds = new Map(found.map((c) => [c.suite, c]));
    const how = found.map((c) => `${c.suite} ${c.packageVersion} (${c.fetched ? 'fetched' : 'cached'})`).join(', ');
    console.log(`Debian's containerd packages in ${DEBIAN_CONTAINERD_CACHE}: ${how}, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    unavailable = `Debian's containerd packages could not be had: ${(err as Error).message}`;
    if (IN_CI) throw new Error(`${unavailable}; CI must have them`);
  }
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Debian's containerd of the suite; skips the test when it cannot be had, except in CI (where beforeAll already failed). */
function need(ctx: TestContext, suite: DebianSuite): DebianContainerd {
  needAwk(ctx, 'mawk');
  const found = containerds?.get(suite);
  if (found) return found;
  console.warn(`skipped: ${unavailable}`);
  ctx.skip(unavailable);
  throw new Error('unreachable');
}

/** Runs `FUNCTION ARGS...` of a rendered script with bash, with Debian's containerd and the awk first on PATH. */
function call(script: string, c: Containerd, awk: Awk, ...args: string[]) {
  const driver = 'source "$1"; shift; "$@"; printf "KV_CHANGED=%s\\n" "${KV_CHANGED}"';
  const result = spawnSync('bash', ['-c', driver, 'driver', script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${c.binDir}:${awkDirs.get(awk)}:${process.env.PATH}` },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, changed: /KV_CHANGED=1\n$/.test(result.stdout) };
}

let count = 0;
/** A fresh directory holding config.toml with `text`, or no config.toml at all. */
function configFile(text: string | undefined): string {
  const dir = join(work, `case-${count++}`);
  mkdirSync(dir);
  const file = join(dir, 'config.toml');
  if (text !== undefined) writeFileSync(file, text, { mode: 0o644 });
  return file;
}

/** The checks of an effective config (a `config dump`) that decide whether kubeadm's pods can run. */
function expectSound(dump: string, label: string) {
  const cri = effectiveCri(dump);
  expect(cri.disabledPlugins.filter((p) => /(^|\.)cri(\.|$)/.test(p)), `${label}: CRI plugins disabled`).toEqual([]);
  expect(cri.defaultRuntimeName, `${label}: default runtime`).toBe('runc');
  expect(cri.runcRuntimeType, `${label}: runc's runtime_type`).toBe('io.containerd.runc.v2');
  expect(cri.runcSystemdCgroup, `${label}: runc's SystemdCgroup`).toBe(true);
  expect(cri.cniBinDirs, `${label}: CNI plugin directories`).toEqual([CNI_BIN_DIR]);
  return cri;
}

/**
 * Runs the phase's pure config step on `file` twice with Debian's containerd `c`: the first run
 * must leave a sound config (checked with c's own `config dump`), the second must change nothing.
 */
function prepareTwice(c: Containerd, file: string, label: string, awk: Awk = 'mawk') {
  const first = call(prerequisites, c, awk, 'containerd_config_prepare', file);
  expect(first.stderr, label).toBe('');
  expect(first.status, label).toBe(0);
  expect(first.changed, `${label}: the first run writes the config`).toBe(true);
  const once = readFileSync(file, 'utf8');
  const cri = expectSound(containerdDump(c.binDir, file), label);
  const second = call(prerequisites, c, awk, 'containerd_config_prepare', file);
  expect(second.status, label).toBe(0);
  expect(second.changed, `${label}: a second run changes nothing`).toBe(false);
  expect(readFileSync(file, 'utf8'), label).toBe(once);
  return { first, text: once, cri };
}

/** The packages phase's sandbox image edit on a prepared config, checked with the dump; the prerequisites step then leaves it be. */
function expectSandboxImageSticks(c: Containerd, file: string, label: string) {
  const set = call(packages, c, 'mawk', 'containerd_sandbox_image', file, PAUSE_IMAGE);
  expect(set.stderr, label).toBe('');
  expect(set.status, label).toBe(0);
  const withImage = readFileSync(file, 'utf8');
  expect(expectSound(containerdDump(c.binDir, file), label).sandboxImage, `${label}: effective sandbox image`).toBe(PAUSE_IMAGE);
  expect(call(prerequisites, c, 'mawk', 'containerd_config_prepare', file).changed, `${label}: prerequisites again after packages`).toBe(false);
  expect(readFileSync(file, 'utf8')).toBe(withImage);
}

describe.each(DEBIAN_CONTAINERD_SUITES)("Debian's containerd of $suite ($debian)", ({ suite, minor }) => {
  it(`is the real packaged containerd ${minor}x`, (ctx) => {
    const c = need(ctx, suite);
    expect(containerdVersion(c.binDir).startsWith(minor), containerdVersion(c.binDir)).toBe(true);
    expect(c.packageVersion.startsWith(minor)).toBe(true);
    // Debian 12 and 13 are released: their packages ship a config; testing may change.
    if (suite !== 'forky') expect(c.packagedConfig, 'the package ships /etc/containerd/config.toml').toBeDefined();
  });

  it("makes Debian's packaged /etc/containerd/config.toml sound, once", (ctx) => {
    const c = need(ctx, suite);
    if (!c.packagedConfig) return ctx.skip(`containerd ${c.packageVersion} ships no /etc/containerd/config.toml`);
    const packaged = readFileSync(c.packagedConfig, 'utf8');
    const file = configFile(packaged);
    const { text } = prepareTwice(c, file, `${suite} packaged config`);
    if (minor.startsWith('1.')) {
      // Edited, it would lose runc's runtime_type: it is replaced by containerd's default, and kept aside.
      expect(readFileSync(`${file}.kubeadm-vagrant.orig`, 'utf8')).toBe(packaged);
      expect(text).toContain('runtime_type = "io.containerd.runc.v2"');
    } else {
      // containerd 2.x reads the version 2 file with its own defaults beneath: edited, it is sound and kept.
      expect(existsSync(`${file}.kubeadm-vagrant.orig`)).toBe(false);
      expect(text.startsWith('version = 2\n')).toBe(true);
    }
    expectSandboxImageSticks(c, file, `${suite} packaged config`);
  });

  it('makes the config `containerd config default` writes sound, once, and keeps it', (ctx) => {
    const c = need(ctx, suite);
    const defaults = containerdDefault(c.binDir);
    const file = configFile(defaults);
    const { text } = prepareTwice(c, file, `${suite} default config`);
    expect(existsSync(`${file}.kubeadm-vagrant.orig`), 'a sound config is edited, not replaced').toBe(false);
    // Only the lines that set what kubeadm needs differ from containerd's own default.
    const [before, after] = [defaults.split('\n'), text.split('\n')];
    for (const line of after.filter((l) => !before.includes(l))) expect(line.trim(), line).toMatch(/^(SystemdCgroup = true|bin_dir = "\/opt\/cni\/bin"|bin_dirs = \["\/opt\/cni\/bin"\])$/);
    for (const line of before.filter((l) => !after.includes(l))) expect(line.trim(), line).toMatch(/^(SystemdCgroup = false|bin_dirs? = .*)$/);
    expectSandboxImageSticks(c, file, `${suite} default config`);
  });

  it('writes a sound config where there is none', (ctx) => {
    const c = need(ctx, suite);
    const file = configFile(undefined);
    const { text } = prepareTwice(c, file, `${suite} no config`);
    expect(existsSync(`${file}.kubeadm-vagrant.orig`)).toBe(false);
    expect(text.startsWith(containerdDefault(c.binDir).split('\n')[0]!), 'the file is made from `containerd config default`').toBe(true);
  });
});

describe.each(EXTRA_CONTAINERDS)('the containerd in %s', (binDir) => {
  const c: Containerd = { binDir };

  it('makes the config `containerd config default` writes sound, once, and the same as where there is none', (ctx) => {
    needAwk(ctx, 'mawk');
    console.log(`containerd ${containerdVersion(binDir)} in ${binDir}: config version ${effectiveCri(containerdDefault(binDir)).version}`);
    const file = configFile(containerdDefault(binDir));
    const { text } = prepareTwice(c, file, `${binDir} default config`);
    expect(existsSync(`${file}.kubeadm-vagrant.orig`)).toBe(false);
    expectSandboxImageSticks(c, file, `${binDir} default config`);
    const none = configFile(undefined);
    expect(prepareTwice(c, none, `${binDir} no config`).text).toBe(text);
  });

  it.for(DEBIAN_CONTAINERD_SUITES)("makes the packaged config of Debian's $suite sound, once", ({ suite }, ctx) => {
    const debian = need(ctx, suite);
    if (!debian.packagedConfig) return ctx.skip(`containerd ${debian.packageVersion} ships no /etc/containerd/config.toml`);
    prepareTwice(c, configFile(readFileSync(debian.packagedConfig, 'utf8')), `${binDir} with ${suite}'s packaged config`);
  });
});

describe("with Rocky's awk (gawk)", () => {
  it.for(DEBIAN_CONTAINERD_SUITES)('the packaged config of $suite: sound, once, and the same as with mawk', ({ suite }, ctx) => {
    const c = need(ctx, suite);
    needAwk(ctx, 'gawk');
    if (!c.packagedConfig) return ctx.skip(`containerd ${c.packageVersion} ships no /etc/containerd/config.toml`);
    const gawkFile = configFile(readFileSync(c.packagedConfig, 'utf8'));
    prepareTwice(c, gawkFile, `${suite} packaged config with gawk`, 'gawk');
    const mawkFile = configFile(readFileSync(c.packagedConfig, 'utf8'));
    expect(call(prerequisites, c, 'mawk', 'containerd_config_prepare', mawkFile).status).toBe(0);
    expect(readFileSync(gawkFile, 'utf8'), 'both awks write the same config').toBe(readFileSync(mawkFile, 'utf8'));
  });
});

describe('configs of another containerd', () => {
  it("replaces a containerd 2.x config (version 3), whose CRI tables containerd 1.x ignores, with 1.x's default", (ctx) => {
    const forky = need(ctx, 'forky');
    for (const suite of ['bookworm', 'trixie'] as const) {
      const c = need(ctx, suite);
      const v3 = containerdDefault(forky.binDir);
      const file = configFile(v3);
      const { text, cri } = prepareTwice(c, file, `${suite} with forky's default`);
      expect(cri.version).toBe(2);
      expect(text).toContain('version = 2');
      expect(readFileSync(`${file}.kubeadm-vagrant.orig`, 'utf8')).toBe(v3);
    }
  });

  it("keeps and edits containerd 1.7's default (version 2) under containerd 2.x, which migrates it", (ctx) => {
    const forky = need(ctx, 'forky');
    const trixie = need(ctx, 'trixie');
    const v2 = containerdDefault(trixie.binDir);
    const file = configFile(v2);
    const { cri } = prepareTwice(forky, file, "forky with trixie's default");
    expect(cri.version).toBe(3);
    expect(existsSync(`${file}.kubeadm-vagrant.orig`)).toBe(false);
  });

  it('refuses a config that containerd cannot load at all, keeping it aside', (ctx) => {
    const c = need(ctx, 'bookworm');
    const broken = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"\n';
    const file = configFile(broken);
    prepareTwice(c, file, 'bookworm with a broken file');
    expect(readFileSync(`${file}.kubeadm-vagrant.orig`, 'utf8')).toBe(broken);
  });
});

describe('what the phase says is wrong with a config', () => {
  // The CRI plugin disabled, another default runtime, Debian's CNI directory: each named, judged by
  // what containerd itself makes of the file.
  const v2 = [
    'version = 2',
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[plugins."io.containerd.grpc.v1.cri".containerd]',
    '  default_runtime_name = "crun"',
    '[plugins."io.containerd.grpc.v1.cri".cni]',
    '  bin_dir = "/usr/lib/cni"',
    '',
  ].join('\n');
  const problems = (c: DebianContainerd, text: string) => {
    const result = call(prerequisites, c, 'mawk', 'containerd_config_problems', configFile(text));
    expect(result.status).toBe(0);
    return result.stdout.replace(/KV_CHANGED=.*\n$/, '').split('\n').filter(Boolean);
  };

  it('with containerd 1.6, whose dump then has no CRI settings at all', (ctx) => {
    const c = need(ctx, 'bookworm');
    expect(problems(c, v2)).toEqual([
      'the CRI plugin is disabled (disabled_plugins = ["io.containerd.grpc.v1.cri"])',
      'the default runtime is unset, not "runc"',
      'runc\'s runtime_type is unset, not "io.containerd.runc.v2"',
      "runc's SystemdCgroup is unset, not true",
      'the CNI plugin directory is unset, not /opt/cni/bin',
    ]);
    const unloadable = problems(c, 'version = 2\ndisabled_plugins = ["cri"]\n');
    expect(unloadable).toHaveLength(1);
    expect(unloadable[0]).toMatch(/^containerd cannot load it \(.*invalid disabled plugin URI "cri"/);
    expect(problems(c, containerdDefault(c.binDir))).toEqual(["runc's SystemdCgroup is false, not true"]);
  });

  it('with containerd 2.x, bin_dir beside bin_dirs included', (ctx) => {
    const c = need(ctx, 'forky');
    expect(problems(c, v2)).toEqual([
      'the CRI plugin is disabled (disabled_plugins = ["io.containerd.grpc.v1.cri"])',
      'the default runtime is "crun", not "runc"',
      "runc's SystemdCgroup is false, not true",
      'the CNI plugin directories are bin_dirs = ["/usr/lib/cni"] with bin_dir = "", not /opt/cni/bin alone',
    ]);
    const v3 = "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dir = '/usr/lib/cni'\n";
    const found = problems(c, v3);
    expect(found).toContain("runc's SystemdCgroup is false, not true");
    expect(found.filter((p) => p.startsWith('the CNI plugin directories are bin_dirs = ') && p.endsWith(' with bin_dir = "/usr/lib/cni", not /opt/cni/bin alone'))).toHaveLength(1);
  });
});

/**
 * The defect the review found, reproduced through the phase's own configure_containerd exactly as
 * a Debian 12 node runs it, with Debian 12's packaged config and binary: only systemctl is a shell
 * function (no systemd here), and /etc is a private overlay in a mount namespace of its own, so the
 * host's /etc is never written. Needs root (unshare, mount); in CI a failure to set that up fails.
 */
describe('the prerequisites phase on a Debian 12 node', () => {
  it("gives runc its runtime_type and the CNI plugins /opt/cni/bin, starting from Debian's packaged config; once", (ctx) => {
    const c = need(ctx, 'bookworm');
    if (process.getuid?.() !== 0 || spawnSync('unshare', ['--mount', 'true']).status !== 0) {
      const reason = 'needs root and mount namespaces (unshare --mount)';
      if (IN_CI) throw new Error(`${reason}; CI runs as root`);
      return ctx.skip(reason);
    }
    const dir = join(work, 'node');
    mkdirSync(join(dir, 'overlay'), { recursive: true });
    mkdirSync(join(dir, 'out'));
    copyFileSync(c.packagedConfig!, join(dir, 'packaged.toml'));
    const hostConfig = '/etc/containerd/config.toml';
    const hostBefore = existsSync(hostConfig) ? readFileSync(hostConfig, 'utf8') : undefined;
    // The node: a private /etc over the host's, Debian's packaged config in place, then the phase's step.
    const node = [
      'set -euo pipefail',
      'node_dir=$1 script=$2',
      'mount -t tmpfs tmpfs "${node_dir}/overlay"',
      'mkdir "${node_dir}/overlay/upper" "${node_dir}/overlay/work"',
      'mount -t overlay overlay -o "lowerdir=/etc,upperdir=${node_dir}/overlay/upper,workdir=${node_dir}/overlay/work" /etc',
      'mkdir -p /etc/containerd',
      'cp "${node_dir}/packaged.toml" /etc/containerd/config.toml',
      // systemd's part: enable and restart are remembered, so a second run finds containerd enabled and running.
      'systemctl() {',
      '  echo "systemctl $*" >>"${node_dir}/out/systemctl.log"',
      '  case $1 in',
      '    enable) touch "${node_dir}/enabled" ;;',
      '    restart) touch "${node_dir}/active" ;;',
      '    is-enabled) [[ -e ${node_dir}/enabled ]] ;;',
      '    is-active) [[ -e ${node_dir}/active ]] ;;',
      '  esac',
      '}',
      'source "${script}"',
      'configure_containerd',
      'cp /etc/containerd/config.toml "${node_dir}/out/config.toml"',
      'configure_containerd',
      'cp /etc/containerd/config.toml "${node_dir}/out/config-again.toml"',
    ].join('\n');
    const result = spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', node, 'node', dir, prerequisites], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${c.binDir}:${awkDirs.get('mawk')}:${process.env.PATH}` },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const systemctl = readFileSync(join(dir, 'out', 'systemctl.log'), 'utf8');
    expect(systemctl.match(/^systemctl restart containerd$/gm), 'restarted by the first run only').toHaveLength(1);
    expect(readFileSync(join(dir, 'out', 'config-again.toml'), 'utf8'), 'the second run changes nothing').toBe(readFileSync(join(dir, 'out', 'config.toml'), 'utf8'));
    const cri = effectiveCri(containerdDump(c.binDir, join(dir, 'out', 'config.toml')));
    expect(cri.runcRuntimeType, "runc's runtime_type in `containerd config dump`").toBe('io.containerd.runc.v2');
    expect(cri.runcSystemdCgroup).toBe(true);
    expect(cri.cniBinDirs).toEqual([CNI_BIN_DIR]);
    expect(existsSync(hostConfig) ? readFileSync(hostConfig, 'utf8') : undefined, "the host's /etc is untouched").toBe(hostBefore);
  });
});
