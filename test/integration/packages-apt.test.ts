import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAll } from '../../src/render/render.js';
import { shellQuote } from '../../src/shell.js';
import { testPlan } from '../helpers/plans.js';
import { runWithPrivateEtc } from '../helpers/private-etc.js';
import { needTool } from '../helpers/tools.js';

/**
 * The apt side of the packages phase, with the real apt-get, dpkg-deb and gpg. pkgs.k8s.io cannot be
 * reached here, so its place is taken by a local repository of packages named like its own and
 * versioned like them (a stand-in for the repository, not for apt: apt resolves every version
 * string exactly as on a node). The version revisions differ between pkgs.k8s.io repositories
 * (1.36.2-1.1, 1.36.2-2.1): this one has -2.1 only.
 */
const REPO_PACKAGES: [string, string][] = [
  ['kubelet', '1.36.2-2.1'],
  ['kubeadm', '1.36.2-2.1'],
  ['kubectl', '1.36.2-2.1'],
  ['cri-tools', '1.36.0-1.1'],
  ['kubernetes-cni', '1.9.1-1.1'],
];

let work = '';
let aptConf = '';

/** A script that sources a rendered packages.sh, then runs `body` (functions of the script are defined). */
function withScript(plan: ReturnType<typeof testPlan>, body: string): string {
  const file = join(work, `packages-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, renderAll(plan).find((f) => f.path === 'provision/packages.sh')!.content);
  return `source ${file}\n${body}`;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'kv-apt-'));
  const repo = join(work, 'repo');
  mkdirSync(repo);
  for (const [name, version] of REPO_PACKAGES) {
    const dir = join(work, 'build', name);
    mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
    writeFileSync(join(dir, 'DEBIAN', 'control'), `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: kubeadm-vagrant tests <tests@invalid>\nDescription: stands for pkgs.k8s.io's ${name} in this test\n`);
    execFileSync('dpkg-deb', ['--build', '--root-owner-group', dir, join(repo, `${name}_${version}_all.deb`)], { stdio: 'ignore' });
  }
  writeFileSync(join(repo, 'Packages'), execFileSync('dpkg-scanpackages', ['.', '/dev/null'], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  mkdirSync(join(work, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(work, 'cache', 'archives', 'partial'), { recursive: true });
  writeFileSync(join(work, 'sources.list'), `deb [trusted=yes] file:${repo} ./\n`);
  aptConf = join(work, 'apt.conf');
  writeFileSync(
    aptConf,
    [`Dir::Etc::sourcelist "${join(work, 'sources.list')}";`, 'Dir::Etc::sourceparts "-";', `Dir::State::lists "${join(work, 'lists')}";`, `Dir::Cache "${join(work, 'cache')}";`].join('\n') + '\n',
  );
  execFileSync('apt-get', ['-c', aptConf, '-q', 'update'], { stdio: 'ignore' });
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('installing a pinned patch from pkgs.k8s.io with apt', () => {
  it("takes the patch in whatever revision the repository has, with crictl and the CNI plugins", (ctx) => {
    needTool(ctx, 'dpkg-scanpackages');
    const script = withScript(
      testPlan({ distro: 'debian-12', kubernetes: { version: '1.36.2' } }),
      // The repository setup needs pkgs.k8s.io; what apt is asked to install is the point here.
      `kubernetes_repository() { :; }\ninstall_packages() { apt-get -c ${aptConf} --simulate install "$@"; }\ninstall_kubernetes`,
    );
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/E: /);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // `Inst NAME [the version installed on this host, if any] (VERSION ...`
    for (const [name, version] of REPO_PACKAGES) expect(r.stdout).toMatch(new RegExp(`^Inst ${name} (\\[[^\\]]*\\] )?\\(${version.replace(/\./g, '\\.')} `, 'm'));
  });

  it('a pin with a fixed revision, as before, is refused by apt when the repository has another', (ctx) => {
    needTool(ctx, 'apt-get');
    const r = spawnSync('apt-get', ['-c', aptConf, '--simulate', 'install', 'kubelet=1.36.2-1.1'], { encoding: 'utf8' });
    expect(r.status).toBe(100);
    expect(r.stderr).toMatch(/Version '1\.36\.2-1\.1' for 'kubelet' was not found/);
  });
});

describe("the repository's signing key", () => {
  it('is fetched again whenever the repository line changes (another minor), and only then', (ctx) => {
    needTool(ctx, 'gpg');
    // A real OpenPGP public key for gpg --dearmor; curl is replaced by a function that serves it
    // (pkgs.k8s.io is not reachable) and records what was asked for.
    const home = join(work, 'gnupg');
    mkdirSync(home, { mode: 0o700 });
    execFileSync('gpg', ['--batch', '--homedir', home, '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'kubeadm-vagrant test key', 'ed25519', 'sign', 'never'], { stdio: 'ignore' });
    const key = join(work, 'Release.key');
    writeFileSync(key, execFileSync('gpg', ['--batch', '--homedir', home, '--armor', '--export'], { encoding: 'utf8' }));
    const calls = join(work, 'curl.log');
    const curlStandIn = `curl() { echo "$*" >>${calls}; cat ${key}; }`;
    const repository = (minor: string) =>
      `bash -c ${shellQuote(withScript(testPlan({ distro: 'debian-12', kubernetes: { version: minor } }), `${curlStandIn}\nkubernetes_repository\ncat /etc/apt/sources.list.d/kubernetes.list`))}`;
    const r = runWithPrivateEtc(ctx, work, [repository('1.35'), repository('1.35'), repository('1.36'), 'test -s /etc/apt/keyrings/kubernetes-apt-keyring.gpg'].join('\n'));
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(calls, 'utf8').trim().split('\n').map((l) => l.match(/https:\S+/)?.[0])).toEqual([
      'https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key',
      'https://pkgs.k8s.io/core:/stable:/v1.36/deb/Release.key',
    ]);
    expect(r.stdout).toContain('deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.36/deb/ /');
  });
});
