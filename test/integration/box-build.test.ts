import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { TestGpg } from '../helpers/gpg.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { needTool, toolPath } from '../helpers/tools.js';

/**
 * `box build` as a user runs it, against a stand-in of a distro's mirror on 127.0.0.1: a small
 * qcow2 "cloud image" with its SHA512SUMS signed by a key the test makes (gpg), a catalog override
 * naming that mirror and key, the real qemu-img, and the real Vagrant adding the box to a VAGRANT_HOME
 * of the test's own. Then each way it must refuse: a wrong digest, a signature by another key, no
 * signature where one is required, a cut download, a 404, and a box name taken by a box that is
 * not ours — each with a clear error, no box added, nothing half-made left in the cache.
 */

const IMAGE = 'debian-12-genericcloud-amd64.qcow2';
const work = mkdtempSync(join(tmpdir(), 'kv-box-build-'));
const www = join(work, 'www');
let server: TestServer;
let gpg: TestGpg | undefined;
let fingerprint = '';
/** Per path, how the mirror misbehaves. */
const faults = new Map<string, 'truncate' | '404'>();

function catalog(name: string, image: Record<string, unknown>): string {
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify({
    version: 2,
    keys: { test: { file: 'test.asc', fingerprint, uid: 'kubeadm-vagrant test <test@example.invalid>', seen: ['made by this test'] } },
    distros: { 'debian-12': { family: 'debian', release: { version: '12', codename: 'bookworm' }, images: { amd64: { url: `${server.origin}/${IMAGE}`, checksums: { url: `${server.origin}/SHA512SUMS`, format: 'gnu', algorithm: 'sha512' }, seen: ['the test\'s mirror'], ...image } } } },
  }));
  return file;
}

/** The CLI as a process; asynchronous, since the mirror it talks to answers from this process. */
async function cli(args: string[], env: Record<string, string>) {
  const r = await execa(process.execPath, [CLI, ...args], { cwd: work, env: { CI: 'true', VAGRANT_CHECKPOINT_DISABLE: '1', ...env }, reject: false, stdin: 'ignore', timeout: 5 * 60_000 });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A fresh VAGRANT_HOME and cache for one case. */
function home(label: string): Record<string, string> {
  const dir = join(work, label);
  mkdirSync(join(dir, 'vagrant'), { recursive: true });
  return { VAGRANT_HOME: join(dir, 'vagrant'), KUBEADM_VAGRANT_CACHE: join(dir, 'cache') };
}

const boxDirs = (env: Record<string, string>) => (existsSync(join(env.VAGRANT_HOME!, 'boxes')) ? readdirSync(join(env.VAGRANT_HOME!, 'boxes')) : []);
/** Files left in the cache's images directory: only complete, verified images may be there. */
const cached = (env: Record<string, string>) => {
  const dir = join(env.KUBEADM_VAGRANT_CACHE!, 'images', 'debian-12', 'amd64');
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('box build against a mirror on loopback, with the real qemu-img and Vagrant', () => {
  beforeAll(async () => {
    const g = toolPath('gpg');
    if (!g || !toolPath('qemu-img') || !toolPath('vagrant')) {
      if (process.env.CI === 'true') throw new Error('box build tests need gpg, qemu-img and vagrant (.ci/run installs them)');
      return;
    }
    gpg = new TestGpg(g);
    fingerprint = gpg.genKey('kubeadm-vagrant test <test@example.invalid>', 'ed25519', 'sign');
    const other = gpg.genKey('someone else <else@example.invalid>', 'ed25519', 'sign');
    writeFileSync(join(work, 'test.asc'), gpg.exportKey(fingerprint));
    mkdirSync(www);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(www, IMAGE), '1G']);
    const sums = `${createHash('sha512').update(readFileSync(join(www, IMAGE))).digest('hex')}  ${IMAGE}\n`;
    writeFileSync(join(www, 'SHA512SUMS'), sums);
    writeFileSync(join(www, 'SHA512SUMS.sign'), gpg.detachSign(sums, fingerprint));
    writeFileSync(join(www, 'SHA512SUMS.other'), gpg.detachSign(sums, other));
    writeFileSync(join(www, 'SHA512SUMS.wrong'), `${'0'.repeat(128)}  ${IMAGE}\n`);
    writeFileSync(join(www, 'SHA512SUMS.wrong.sign'), gpg.detachSign(readFileSync(join(www, 'SHA512SUMS.wrong')), fingerprint));
    server = await startServer((req, res) => {
      const path = (req.url ?? '/').slice(1);
      const file = join(www, path);
      if (faults.get(path) === '404' || !existsSync(file)) {
        res.writeHead(404).end('not found');
        return;
      }
      const body = readFileSync(file);
      res.writeHead(200, { 'content-length': body.length });
      if (faults.get(path) === 'truncate') {
        res.write(body.subarray(0, body.length >> 1));
        res.destroy();
        return;
      }
      res.end(body);
    });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    gpg?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const signed = () => ({ signature: { url: `${server.origin}/SHA512SUMS.sign`, kind: 'detached', key: 'test' } });

  it('builds a libvirt box from a signed image, adds it with its record, and keeps it on a second build', async (ctx) => {
    needTool(ctx, 'vagrant');
    const env = home('good');
    const r = await cli(['box', 'build', 'debian-12', '--provider', 'libvirt', '--catalog', catalog('good', signed())], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^built kubeadm-vagrant\/debian-12 \(libvirt, amd64\) from http:\/\/127\.0\.0\.1:\d+\/debian-12-genericcloud-amd64\.qcow2 \(sha512:[0-9a-f]{128}\)$/m);
    expect(r.stderr).toContain(`signed by test (${fingerprint})`);
    const dir = join(env.VAGRANT_HOME!, 'boxes', 'kubeadm-vagrant-VAGRANTSLASH-debian-12', '0', 'libvirt');
    expect(readdirSync(dir).sort()).toEqual(['Vagrantfile', 'box.img', 'kubeadm-vagrant.json', 'metadata.json']);
    const record = JSON.parse(readFileSync(join(dir, 'kubeadm-vagrant.json'), 'utf8'));
    expect(record).toMatchObject({ builtBy: 'kubeadm-vagrant', name: 'kubeadm-vagrant/debian-12', distro: 'debian-12', provider: 'libvirt', arch: 'amd64', diskGiB: 20 });
    expect(record.source.digest).toBe(`sha512:${createHash('sha512').update(readFileSync(join(www, IMAGE))).digest('hex')}`);
    expect(JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'))).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 20 });
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(dir, 'box.img')], { encoding: 'utf8' }));
    expect([info.format, info['virtual-size']]).toEqual(['qcow2', 20 * 1024 ** 3]);
    const list = await cli(['box', 'list'], env);
    expect(list.stdout).toMatch(/^kubeadm-vagrant\/debian-12\s+libvirt\s+amd64\s+-\s+http:\/\/127/m);
    const again = await cli(['box', 'build', 'debian-12', '--provider', 'libvirt', '--catalog', catalog('good', signed())], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^kept kubeadm-vagrant\/debian-12/m);
    expect((await cli(['box', 'remove', 'kubeadm-vagrant/debian-12'], env)).code).toBe(0);
    expect(boxDirs(env)).toEqual([]);
  }, 120_000);

  it('builds a VirtualBox box: the OVF, the stream-optimized vmdk, base_mac in its Vagrantfile', async (ctx) => {
    needTool(ctx, 'vagrant');
    const env = home('vbox');
    // A stand-in VBoxManage (VirtualBox cannot be installed here): `vagrant box add` needs none.
    const r = await cli(['box', 'build', 'debian-12', '--provider', 'virtualbox', '--catalog', catalog('vbox', signed())], env);
    expect(r.code, r.stderr).toBe(0);
    const dir = join(env.VAGRANT_HOME!, 'boxes', 'kubeadm-vagrant-VAGRANTSLASH-debian-12', '0', 'virtualbox');
    expect(readdirSync(dir).sort()).toEqual(['Vagrantfile', 'box-disk001.vmdk', 'box.ovf', 'kubeadm-vagrant.json', 'metadata.json']);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(dir, 'box-disk001.vmdk')], { encoding: 'utf8' }));
    expect([info.format, info['format-specific'].data['create-type'], info['virtual-size']]).toEqual(['vmdk', 'streamOptimized', 20 * 1024 ** 3]);
    expect(readFileSync(join(dir, 'box.ovf'), 'utf8')).toContain('ovf:href="box-disk001.vmdk"');
    expect(readFileSync(join(dir, 'Vagrantfile'), 'utf8')).toMatch(/config\.vm\.base_mac = "080027[0-9A-F]{6}"/);
  }, 120_000);

  it('builds an arm64 box for libvirt: the architecture in its record, UEFI firmware and an emulated CPU model in its Vagrantfile, valid for Vagrant', async (ctx) => {
    needTool(ctx, 'vagrant');
    const env = home('arm64');
    const firmware = join(work, 'QEMU_EFI.fd');
    writeFileSync(firmware, 'not a real firmware: only its path goes into the box');
    const arm64Catalog = catalog('arm64', signed()).replace(/\.json$/, '-arm64.json');
    const text = JSON.parse(readFileSync(catalog('arm64', signed()), 'utf8'));
    text.distros['debian-12'].images = { arm64: text.distros['debian-12'].images.amd64 };
    writeFileSync(arm64Catalog, JSON.stringify(text));
    const missing = await cli(['box', 'build', 'debian-12', '--provider', 'libvirt', '--arch', 'arm64', '--catalog', arm64Catalog, '--firmware', join(work, 'nothing.fd')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--firmware .*nothing\.fd.* is not a file/);
    const r = await cli(['box', 'build', 'debian-12', '--provider', 'libvirt', '--arch', 'arm64', '--catalog', arm64Catalog, '--firmware', firmware], env);
    expect(r.code, r.stderr).toBe(0);
    const dir = join(env.VAGRANT_HOME!, 'boxes', 'kubeadm-vagrant-VAGRANTSLASH-debian-12', '0', 'libvirt');
    expect(JSON.parse(readFileSync(join(dir, 'kubeadm-vagrant.json'), 'utf8')).arch).toBe('arm64');
    const vagrantfile = readFileSync(join(dir, 'Vagrantfile'), 'utf8');
    expect(vagrantfile).toContain(`libvirt.loader = ${JSON.stringify(firmware)}`);
    expect(vagrantfile).toContain('libvirt.machine_arch = "aarch64"');
    if (process.arch !== 'arm64') expect(vagrantfile).toContain('libvirt.cpu_model = "cortex-a72"');
    // A project on the box: Vagrant reads the box's Vagrantfile (its settings are vagrant-libvirt's own).
    const project = join(work, 'arm64-project');
    mkdirSync(project);
    writeFileSync(join(project, 'Vagrantfile'), 'Vagrant.configure("2") { |c| c.vm.box = "kubeadm-vagrant/debian-12" }\n');
    const validate = await execa('vagrant', ['validate'], { cwd: project, env: { ...env, VAGRANT_DEFAULT_PROVIDER: 'libvirt', VAGRANT_CHECKPOINT_DISABLE: '1' }, reject: false });
    expect(validate.exitCode, validate.stderr).toBe(0);
  }, 120_000);

  it('an unsigned image with a pinned digest: built, and says it was the pin', async (ctx) => {
    needTool(ctx, 'vagrant');
    const env = home('pinned');
    const digest = `sha512:${createHash('sha512').update(readFileSync(join(www, IMAGE))).digest('hex')}`;
    const r = await cli(['box', 'build', 'debian-12', '--provider', 'libvirt', '--catalog', catalog('pinned', { digest })], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/trusted through the digest pinned in .*pinned\.json \(debian-12 signs no checksums of its cloud images\)/);
  }, 120_000);

  for (const [label, image, fault, message] of [
    ['a signature by another key', { signature: { url: 'OTHER', kind: 'detached', key: 'test' } }, undefined, /signed by .*not .*|not .*pinned|untrusted/i],
    ['no signature where one is required', { signature: { url: 'MISSING', kind: 'detached', key: 'test' } }, undefined, /404/],
    ['a checksum file whose digest does not match the image', { checksums: { url: 'WRONG', format: 'gnu', algorithm: 'sha512' }, signature: { url: 'WRONGSIG', kind: 'detached', key: 'test' } }, undefined, /sha512.*0{20}|expected/i],
    ['a cut download', { signature: { url: 'SIGN', kind: 'detached', key: 'test' } }, 'truncate', /debian-12-genericcloud-amd64\.qcow2/],
    ['an image URL that answers 404', { signature: { url: 'SIGN', kind: 'detached', key: 'test' } }, '404', /404/],
  ] as const) {
    it(`refuses ${label}: a clear error, no box, nothing half-made in the cache`, async (ctx) => {
      needTool(ctx, 'vagrant');
      const env = home(label.replace(/\W+/g, '-'));
      const url = (u: string) => ({ OTHER: 'SHA512SUMS.other', MISSING: 'SHA512SUMS.nothing', WRONG: 'SHA512SUMS.wrong', WRONGSIG: 'SHA512SUMS.wrong.sign', SIGN: 'SHA512SUMS.sign' })[u] ?? u;
      const resolved = JSON.parse(JSON.stringify(image), (k, v) => (k === 'url' ? `${server.origin}/${url(v as string)}` : v));
      if (fault) faults.set(IMAGE, fault);
      try {
        const r = await cli(['box', 'build', 'debian-12', '--provider', 'libvirt', '--catalog', catalog(label.replace(/\W+/g, '-'), resolved)], env);
        expect(r.code, r.stdout).not.toBe(0);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/internal error/);
        expect(boxDirs(env)).toEqual([]);
        expect(cached(env).filter((f) => !f.endsWith('.partial') && !f.endsWith('.partial.json'))).toEqual([]);
      } finally {
        faults.delete(IMAGE);
      }
    }, 180_000);
  }

  it('never replaces a box of the same name that kubeadm-vagrant did not build', async (ctx) => {
    needTool(ctx, 'vagrant');
    const env = home('foreign');
    // Someone else's box under our name: a plain libvirt box without our record.
    const foreign = join(work, 'foreign-box');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'metadata.json'), '{"provider":"libvirt","format":"qcow2","virtual_size":1}');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(foreign, 'box.img'), '1G']);
    execFileSync('tar', ['-C', foreign, '-cf', join(work, 'foreign.box'), 'metadata.json', 'box.img']);
    execFileSync('vagrant', ['box', 'add', '--name', 'kubeadm-vagrant/debian-12', join(work, 'foreign.box')], { env: { ...process.env, ...env }, stdio: 'ignore' });
    const r = await cli(['box', 'build', 'debian-12', '--provider', 'libvirt', '--catalog', catalog('foreign', signed())], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already has a box named kubeadm-vagrant\/debian-12 .*that kubeadm-vagrant did not build.*never replaced/);
    expect((await cli(['box', 'remove', 'kubeadm-vagrant/debian-12'], env)).stderr).toMatch(/did not build/);
    expect(readdirSync(join(env.VAGRANT_HOME!, 'boxes', 'kubeadm-vagrant-VAGRANTSLASH-debian-12', '0', 'libvirt')).sort()).toEqual(['box.img', 'metadata.json']);
  }, 120_000);

  it('an unknown distro or architecture is a usage error naming it', async () => {
    const env = home('unknown');
    const r = await cli(['box', 'build', 'plan9', '--provider', 'libvirt'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/plan9/);
    const arch = await cli(['box', 'build', 'debian-12', '--arch', 'sparc'], env);
    expect(arch.code).toBe(2);
    expect(arch.stderr).toMatch(/sparc/);
  });
});
