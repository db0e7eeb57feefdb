import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { parse } from 'yaml';
import { BOX_LAYOUTS, boxMetadata, boxVagrantfile, ovfDescriptor, virtualBoxMac, type BoxArch, type BoxProvider } from '../../src/boxes/formats.js';
import { iso9660Image } from '../../src/boxes/iso9660.js';
import { convertDisk, diskInfo, writeBoxArchive, type BoxArchiveFile } from '../../src/boxes/package.js';
import { seedDocuments, seedImage, type SeedInput } from '../../src/boxes/seed.js';
import { CommandError, OperationError } from '../../src/errors.js';
import { cloudInitPython, debianCloudInit, DEBIAN_PYTHON, type DebianCloudInit } from '../helpers/debian-cloud-init.js';
import { needTool, toolPath } from '../helpers/tools.js';

/**
 * The box formats read back by tools that are not ours:
 * - the NoCloud seed ISO by blkid, isoinfo (with and without Rock Ridge), xorriso, 7-Zip,
 *   libarchive (bsdtar), Linux's own isofs where this kernel has it, and Debian's cloud-init
 *   (its seed reader and `cloud-init schema`);
 * - the disks made by convertDisk by qemu-img (info, compare, check);
 * - the OVF by xmllint; the box archives by GNU tar and bsdtar (what Vagrant unpacks boxes with),
 *   then by Vagrant itself: `vagrant box add` and `vagrant validate` of a project using the box,
 *   which loads the box's own Vagrantfile.
 * With CI=true a missing tool fails (needTool); elsewhere its test is skipped.
 */

const IN_CI = process.env.CI === 'true';
let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'kubeadm-vagrant-boxes-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function run(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Every file below a directory (relative path → bytes). */
function filesIn(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.set(join(e.parentPath, e.name).slice(dir.length + 1), readFileSync(join(e.parentPath, e.name)));
  }
  return out;
}

function expectSameFiles(dir: string, expected: Record<string, Buffer | string>) {
  const found = filesIn(dir);
  expect([...found.keys()].sort()).toEqual(Object.keys(expected).sort());
  for (const [name, data] of Object.entries(expected)) expect(found.get(name)?.equals(Buffer.from(data)), `${name} byte for byte`).toBe(true);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('the NoCloud seed ISO, read by other readers', () => {
  let seedIso: string;
  let fourIso: string;
  let docs: Record<string, string>;
  let publicKey: string;
  /** The four files NoCloud reads, for the image that has them all. */
  const four: Record<string, string> = {};

  beforeAll(() => {
    // A real key whose comment tries to break out of the YAML string.
    const keyFile = join(work, 'id_ed25519');
    const keygen = toolPath('ssh-keygen');
    if (keygen) {
      execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', `x" #: ssh_pwauth: true {a: 'b'} - root`, '-f', keyFile]);
      publicKey = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    } else {
      publicKey = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderWithoutSshKeygen000000000000000 x" #: ssh_pwauth: true {a: 'b'} - root`;
    }
    const input: SeedInput = { instanceId: 'kv-boxes-test-master-1', hostname: 'master-1', user: 'vagrant', authorizedKeys: [publicKey], timezone: 'UTC' };
    docs = { ...seedDocuments(input) };
    seedIso = join(work, 'seed.iso');
    writeFileSync(seedIso, seedImage(input));
    Object.assign(four, docs, { 'network-config': 'version: 2\nethernets: {}\n', 'vendor-data': '#cloud-config\n{}\n' });
    fourIso = join(work, 'four.iso');
    writeFileSync(fourIso, iso9660Image({ volumeId: 'cidata', files: Object.entries(four).map(([name, data]) => ({ name, data })) }));
  });

  it('blkid: TYPE=iso9660, LABEL=cidata (what NoCloud looks for)', (ctx) => {
    const blkid = needTool(ctx, 'blkid');
    const fields = Object.fromEntries(
      run(blkid, ['-p', '-o', 'export', seedIso])
        .trim()
        .split('\n')
        .map((l) => l.split('=')),
    );
    expect(fields).toMatchObject({ TYPE: 'iso9660', LABEL: 'cidata', USAGE: 'filesystem' });
  });

  it('isoinfo: Rock Ridge names, the plain ISO 9660 names, and the bytes', (ctx) => {
    const isoinfo = needTool(ctx, 'isoinfo');
    const info = run(isoinfo, ['-d', '-i', fourIso]);
    expect(info).toContain('Volume id: cidata');
    expect(info).toContain('Rock Ridge signatures version 1 found');
    expect(info).toContain('Logical block size is: 2048');
    expect(run(isoinfo, ['-R', '-f', '-i', fourIso]).trim().split('\n')).toEqual(['/meta-data', '/network-config', '/user-data', '/vendor-data']);
    expect(run(isoinfo, ['-f', '-i', fourIso]).trim().split('\n')).toEqual(['/META-DATA.;1', '/NETWORK-CONFIG.;1', '/USER-DATA.;1', '/VENDOR-DATA.;1']);
    for (const [name, data] of Object.entries(four)) expect(run(isoinfo, ['-R', '-x', `/${name}`, '-i', fourIso])).toBe(data);
    // Read-only files and directory, owned by root (Rock Ridge PX).
    expect(run(isoinfo, ['-R', '-l', '-i', seedIso])).toMatch(/-r--r--r-- +1 +0 +0 +\d+ Jan +1 2000 \[ +\d+ 00\] +user-data/);
  });

  it('xorriso: lists and extracts the exact names and bytes', (ctx) => {
    const xorriso = needTool(ctx, 'xorriso');
    const listing = run(xorriso, ['-indev', fourIso, '-ls', '/', '--'], {});
    expect(listing.trim().split('\n')).toEqual(["'meta-data'", "'network-config'", "'user-data'", "'vendor-data'"]);
    const out = join(work, 'xorriso-out');
    run(xorriso, ['-osirrox', 'on', '-indev', fourIso, '-extract', '/', out]);
    expectSameFiles(out, four);
  });

  it('7-Zip: extracts the exact names and bytes', (ctx) => {
    const sevenZip = needTool(ctx, '7z');
    const out = join(work, '7z-out');
    run(sevenZip, ['x', '-y', `-o${out}`, fourIso]);
    expectSameFiles(out, four);
  });

  it('libarchive (bsdtar): extracts the exact names and bytes', (ctx) => {
    const bsdtar = needTool(ctx, 'bsdtar');
    const out = join(work, 'bsdtar-out');
    mkdirSync(out);
    run(bsdtar, ['-xf', fourIso, '-C', out]);
    expectSameFiles(out, four);
  });

  describe("Debian's cloud-init", () => {
    let ci: DebianCloudInit | undefined;
    let problem = '';
    beforeAll(() => {
      try {
        ci = debianCloudInit();
      } catch (err) {
        problem = (err as Error).message;
      }
    });
    function needCloudInit(ctx: TestContext): DebianCloudInit {
      if (!existsSync(DEBIAN_PYTHON)) problem ||= `${DEBIAN_PYTHON} is not installed`;
      if (ci && !problem) return ci;
      if (IN_CI) throw new Error(`Debian's cloud-init could not be had: ${problem}`);
      ctx.skip(`Debian's cloud-init could not be had: ${problem}`);
      throw new Error('unreachable');
    }

    it('reads the seed as NoCloud does: the instance, the host name and the one user with the one key', (ctx) => {
      const cloudInit = needCloudInit(ctx);
      const xorriso = needTool(ctx, 'xorriso');
      const mountPoint = join(work, 'nocloud-seed');
      run(xorriso, ['-osirrox', 'on', '-indev', seedIso, '-extract', '/', mountPoint]);
      // What DataSourceNoCloud._get_data does with a mounted seed: pathprefix2dict with its
      // required and optional files, then _merge_new_seed into its empty start; user-data is a
      // #cloud-config YAML.
      const script = [
        'import json, sys',
        'from cloudinit import util',
        'from cloudinit.sources import DataSourceNoCloud as nc',
        "seeded = util.pathprefix2dict(sys.argv[1], required=['user-data', 'meta-data'], optional=['vendor-data', 'network-config'])",
        "merged = nc._merge_new_seed({'meta-data': {}, 'user-data': '', 'vendor-data': '', 'network-config': None}, seeded)",
        "print(json.dumps({'files': sorted(seeded), 'meta': merged['meta-data'], 'user': util.load_yaml(merged['user-data'])}))",
      ].join('\n');
      const seen = JSON.parse(cloudInitPython(cloudInit, ['-c', script, mountPoint])) as { files: string[]; meta: unknown; user: { users: { ssh_authorized_keys: string[] }[] } };
      expect(seen.files).toEqual(['meta-data', 'user-data']);
      expect(seen.meta).toEqual({ 'instance-id': 'kv-boxes-test-master-1', 'local-hostname': 'master-1' });
      expect(seen.user).toEqual(parse(docs['user-data']!));
      expect(seen.user.users[0]!.ssh_authorized_keys).toEqual([publicKey]);
    });

    it('cloud-init schema accepts the user-data, and would refuse a user with an unknown key', (ctx) => {
      const cloudInit = needCloudInit(ctx);
      const file = join(work, 'user-data');
      writeFileSync(file, docs['user-data']!);
      expect(cloudInitPython(cloudInit, [cloudInit.cli, 'schema', '--config-file', file])).toContain('Valid cloud-config');
      const bad = join(work, 'user-data-bad');
      writeFileSync(bad, docs['user-data']!.replace('    lock_passwd: true\n', '    lock_passwd: true\n    no_such_key: 1\n'));
      expect(() => cloudInitPython(cloudInit, [cloudInit.cli, 'schema', '--config-file', bad])).toThrow(/schema errors/);
    });
  });
});

describe('disk conversion with qemu-img', () => {
  let source: string;
  let sourceBytes: number;
  const MIB = 1 << 20;

  beforeAll(() => {
    if (!toolPath('qemu-img')) return;
    // A stand-in for a distribution's qcow2: 64 MiB, some compressible data, some not, made by qemu-img itself.
    const raw = join(work, 'source.raw');
    const buf = Buffer.alloc(64 * MIB);
    buf.write('kubeadm-vagrant '.repeat(4 * 65536), 5 * MIB);
    createHash('sha512').update('seed').digest().copy(buf, 40 * MIB);
    for (let i = 0; i < 256; i++) createHash('sha512').update(String(i)).digest().copy(buf, 50 * MIB + i * 64);
    writeFileSync(raw, buf);
    source = join(work, 'source.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
    sourceBytes = statSync(source).size;
  });

  const info = (file: string) => JSON.parse(run('qemu-img', ['info', '--output=json', file])) as Record<string, unknown> & { 'format-specific'?: { data?: Record<string, unknown> } };

  it('a stream-optimized vmdk: what qemu-img reads in it, and the same disk', async (ctx) => {
    needTool(ctx, 'qemu-img');
    const vmdk = join(work, 'box-disk001.vmdk');
    const ours = await convertDisk(source, vmdk, 'vmdk-stream');
    expect(ours).toMatchObject({ format: 'vmdk', virtualSizeBytes: 64 * MIB, vmdkCreateType: 'streamOptimized' });
    const theirs = info(vmdk);
    expect(theirs.format).toBe('vmdk');
    expect(theirs['virtual-size']).toBe(64 * MIB);
    expect(theirs['format-specific']?.data?.['create-type']).toBe('streamOptimized');
    expect(run('qemu-img', ['compare', source, vmdk])).toContain('Images are identical.');
    expect(existsSync(`${vmdk}.partial`)).toBe(false);
  });

  it('a compressed qcow2: the same disk, in compressed clusters', async (ctx) => {
    needTool(ctx, 'qemu-img');
    const img = join(work, 'box.img');
    expect(await convertDisk(source, img, 'qcow2-compressed')).toMatchObject({ format: 'qcow2', virtualSizeBytes: 64 * MIB });
    expect(run('qemu-img', ['compare', source, img])).toContain('Images are identical.');
    const check = JSON.parse(run('qemu-img', ['check', '--output=json', img])) as { 'compressed-clusters'?: number; 'check-errors': number };
    expect(check['check-errors']).toBe(0);
    expect(check['compressed-clusters']).toBeGreaterThan(0);
    expect(statSync(img).size).toBeLessThan(sourceBytes / 2);
    expect((await diskInfo(img)).virtualSizeBytes).toBe(64 * MIB);
  });

  it('refuses an image that reads from another file on this host, and leaves nothing', async (ctx) => {
    needTool(ctx, 'qemu-img');
    const overlay = join(work, 'overlay.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', source, '-F', 'qcow2', overlay]);
    const dest = join(work, 'from-overlay.img');
    await expect(convertDisk(overlay, dest, 'qcow2-compressed')).rejects.toThrow(new RegExp(`reads from another file \\(${source}\\)`));
    expect(existsSync(dest) || existsSync(`${dest}.partial`)).toBe(false);
  });

  it('a failed conversion names qemu-img and leaves no partial disk', async (ctx) => {
    needTool(ctx, 'qemu-img');
    const dest = join(work, 'no-such-dir', 'box.img');
    const err = await convertDisk(source, dest, 'qcow2-compressed').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as Error).message).toMatch(/^qemu-img failed with exit code 1 converting .*source\.qcow2 to qcow2-compressed: qemu-img: .*no-such-dir\/box\.img\.partial/);
    expect((err as CommandError).details.command).toMatch(/^qemu-img convert -f qcow2 -O qcow2 -c /);
    const failing = await convertDisk(join(work, 'not-there.qcow2'), join(work, 'x.img'), 'vmdk-stream').catch((e: unknown) => e);
    expect(failing).toBeInstanceOf(CommandError);
    expect((failing as Error).message).toMatch(/^qemu-img failed with exit code 1 reading .*not-there\.qcow2: qemu-img: Could not open/);
    expect(existsSync(join(work, 'x.img.partial'))).toBe(false);
  });

  it('without qemu-img on PATH: an error naming it and how to install it', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(work, 'empty-path');
    try {
      const err = await diskInfo(join(work, 'anything.img')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OperationError);
      expect((err as Error).message).toMatch(/^qemu-img is not installed \(not found on PATH\), and reading .* needs it: install QEMU's disk image tool \(Debian\/Ubuntu: apt-get install qemu-utils/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('the OVF descriptor', () => {
  it('is well-formed XML naming the vmdk, its capacity, the SATA controller and the disk on its port 0', (ctx) => {
    const xmllint = needTool(ctx, 'xmllint');
    const ovf = join(work, 'box.ovf');
    writeFileSync(ovf, ovfDescriptor({ name: 'kv "test" <box>', osType: 'Debian_64', cpus: 2, memoryMiB: 2048, disk: { file: 'box-disk001.vmdk', capacityBytes: 64 << 20 }, arch: 'amd64' }));
    run(xmllint, ['--noout', ovf]);
    const xpath = (expr: string) => run(xmllint, ['--xpath', expr, ovf]).trim();
    const el = (name: string) => `*[local-name()='${name}']`;
    expect(xpath(`string(//${el('References')}/${el('File')}/@*[local-name()='href'])`)).toBe('box-disk001.vmdk');
    expect(xpath(`string(//${el('Disk')}/@*[local-name()='capacity'])`)).toBe(String(64 << 20));
    expect(xpath(`string(//${el('Disk')}/@*[local-name()='format'])`)).toBe('http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized');
    expect(xpath(`string(//${el('VirtualSystem')}/@*[local-name()='id'])`)).toBe('kv "test" <box>');
    const controller = `//${el('Item')}[${el('ResourceType')}='20']`;
    expect(xpath(`string(${controller}/${el('ResourceSubType')})`)).toBe('AHCI');
    expect(xpath(`string(${controller}/${el('Description')})`)).toBe('SATA Controller');
    const disk = `//${el('Item')}[${el('ResourceType')}='17']`;
    expect(xpath(`string(${disk}/${el('Parent')})`)).toBe(xpath(`string(${controller}/${el('InstanceID')})`));
    expect(xpath(`string(${disk}/${el('AddressOnParent')})`)).toBe('0');
    expect(xpath(`string(${disk}/${el('HostResource')})`)).toBe(`/disk/${xpath(`string(//${el('Disk')}/@*[local-name()='diskId'])`)}`);
    expect(xpath(`string(//${el('Item')}[${el('ResourceType')}='10']/${el('Connection')})`)).toBe('NAT');
  });
});

describe('box archives', () => {
  /** A tiny disk made by qemu-img (its content does not matter to Vagrant's box add). */
  function tinyDisk(ctx: TestContext, name: string, format: 'qcow2' | 'vmdk'): string {
    const qemuImg = needTool(ctx, 'qemu-img');
    const file = join(work, name);
    if (!existsSync(file)) run(qemuImg, ['create', '-q', '-f', format, ...(format === 'vmdk' ? ['-o', 'subformat=streamOptimized'] : []), file, '16M']);
    return file;
  }

  function boxFiles(ctx: TestContext, provider: BoxProvider, arch: BoxArch, vagrantVersion = '2.3.4'): BoxArchiveFile[] {
    const layout = BOX_LAYOUTS[provider];
    const disk = tinyDisk(ctx, `${provider}-${layout.disk}`, provider === 'libvirt' ? 'qcow2' : 'vmdk');
    const metadata = JSON.stringify(boxMetadata({ provider, arch, virtualSizeBytes: 16 << 20, vagrantVersion }));
    const mac = virtualBoxMac(`test-${arch}`);
    const byName: Record<string, BoxArchiveFile> = {
      [layout.disk]: { name: layout.disk, path: disk },
      'metadata.json': { name: 'metadata.json', data: metadata },
      Vagrantfile: { name: 'Vagrantfile', data: boxVagrantfile({ provider, arch, baseMac: mac, uefiLoader: '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd' }) },
      'box.ovf': {
        name: 'box.ovf',
        data: ovfDescriptor({ name: 'kv-test', osType: arch === 'arm64' ? 'Debian12_arm64' : 'Debian_64', cpus: 1, memoryMiB: 1024, disk: { file: layout.disk, capacityBytes: 16 << 20 }, arch }),
      },
    };
    return layout.files.map((f) => byName[f]!);
  }

  it('libvirt: exactly metadata.json, Vagrantfile and box.img, as GNU tar and bsdtar read it', async (ctx) => {
    const tar = needTool(ctx, 'tar');
    const bsdtar = needTool(ctx, 'bsdtar');
    const files = boxFiles(ctx, 'libvirt', 'amd64');
    const out = join(work, 'libvirt.box');
    const written = await writeBoxArchive(out, files);
    expect(written).toEqual({ path: out, bytes: statSync(out).size });
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect(run(tar, ['-tf', out]).trim().split('\n')).toEqual(['metadata.json', 'Vagrantfile', 'box.img']);
    expect(run(tar, ['--numeric-owner', '-tvf', out])).toMatch(/^-rw-r--r-- 0\/0 +\d+ 2000-01-01 00:00 metadata\.json$/m);
    // As Vagrant unpacks a box (lib/vagrant/box_collection.rb).
    const unpacked = join(work, 'libvirt-unpacked');
    mkdirSync(unpacked);
    run(bsdtar, ['--no-same-owner', '--no-same-permissions', '-v', '-x', '-m', '-C', unpacked, '-f', out]);
    expect(readdirSync(unpacked).sort()).toEqual(['Vagrantfile', 'box.img', 'metadata.json']);
    expect(sha256(join(unpacked, 'box.img'))).toBe(sha256((files[2] as { path: string }).path));
    expect(JSON.parse(readFileSync(join(unpacked, 'metadata.json'), 'utf8'))).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 1 });
    // The same inputs, the same bytes.
    const again = join(work, 'libvirt-again.box');
    await writeBoxArchive(again, files);
    expect(sha256(again)).toBe(sha256(out));
  });

  it('virtualbox: exactly box.ovf, box-disk001.vmdk, metadata.json and Vagrantfile', async (ctx) => {
    const tar = needTool(ctx, 'tar');
    const out = join(work, 'virtualbox.box');
    await writeBoxArchive(out, boxFiles(ctx, 'virtualbox', 'amd64'));
    expect(run(tar, ['-tf', out]).trim().split('\n')).toEqual(['box.ovf', 'box-disk001.vmdk', 'metadata.json', 'Vagrantfile']);
  });

  it('a file that cannot be read: an error naming it, and neither a box nor a partial one', async () => {
    const out = join(work, 'cut.box');
    const missing = join(work, 'no-such-disk.img');
    await expect(writeBoxArchive(out, [{ name: 'metadata.json', data: '{}' }, { name: 'box.img', path: missing }])).rejects.toThrow(`cannot read ${missing}: it does not exist`);
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
    await expect(writeBoxArchive(out, [{ name: '../x', data: '' }])).rejects.toThrow(/not a plain file name/);
  });

  it('a full disk: the box and the converted disk each fail naming the cause, and leave nothing', async (ctx) => {
    // A 1 MiB tmpfs of the test's own (mounting needs root, which the tests run as here and in CI).
    if (process.getuid?.() !== 0) ctx.skip('mounting a small tmpfs needs root');
    const small = join(work, 'full-disk');
    mkdirSync(small);
    run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const big = join(work, 'two-mib.bin');
      writeFileSync(big, Buffer.alloc(2 << 20, 7));
      const out = join(small, 'full.box');
      await expect(writeBoxArchive(out, [{ name: 'metadata.json', data: '{}' }, { name: 'box.img', path: big }])).rejects.toThrow(`cannot write the box ${out}: no space left on the device`);
      expect(readdirSync(small)).toEqual([]);
      if (toolPath('qemu-img')) {
        const raw = join(work, 'incompressible.raw');
        // 2 MiB that no compression shrinks: more than the 1 MiB file system holds.
        writeFileSync(raw, Buffer.concat(Array.from({ length: 32768 }, (_, i) => createHash('sha512').update(String(i)).digest())));
        const err = await convertDisk(raw, join(small, 'disk.vmdk'), 'vmdk-stream').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CommandError);
        expect((err as Error).message).toMatch(/^qemu-img failed with exit code 1 converting .*incompressible\.raw to vmdk-stream: /);
        expect(readdirSync(small)).toEqual([]);
      } else if (IN_CI) throw new Error('qemu-img is not installed; .ci/run installs it');
    } finally {
      run('umount', [small]);
    }
  });

  describe('Vagrant adds the boxes and validates a project using them', () => {
    let vagrantHome: string;
    let fakeVirtualBox: string;
    beforeAll(() => {
      vagrantHome = join(work, 'vagrant-home');
      mkdirSync(vagrantHome);
      // A stand-in VBoxManage (VirtualBox cannot be installed here) lets the VirtualBox provider validate.
      fakeVirtualBox = join(work, 'fake-virtualbox');
      mkdirSync(fakeVirtualBox);
      writeFileSync(join(fakeVirtualBox, 'VBoxManage'), '#!/bin/sh\n[ "$1" = --version ] && echo 7.0.20r163906\nexit 0\n', { mode: 0o755 });
    });

    function vagrant(args: string[], provider: BoxProvider, cwd = work) {
      const env = { ...process.env, VAGRANT_HOME: vagrantHome, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_DEFAULT_PROVIDER: provider, PATH: `${fakeVirtualBox}:${process.env.PATH}` };
      return spawnSync('vagrant', args, { cwd, env, encoding: 'utf8' });
    }

    function needVagrant(ctx: TestContext, provider: BoxProvider) {
      needTool(ctx, 'vagrant');
      if (provider === 'libvirt' && !run('vagrant', ['plugin', 'list']).includes('vagrant-libvirt')) {
        if (IN_CI) throw new Error('the vagrant-libvirt plugin is not installed; .ci/run installs it');
        ctx.skip('vagrant-libvirt is not installed');
      }
    }

    async function addAndValidate(ctx: TestContext, name: string, provider: BoxProvider, files: BoxArchiveFile[]) {
      needVagrant(ctx, provider);
      const box = join(work, `${name.replace('/', '-')}.box`);
      await writeBoxArchive(box, files);
      const added = vagrant(['box', 'add', '--name', name, box], provider);
      expect(added.status, `${added.stdout}${added.stderr}`).toBe(0);
      expect(added.stdout).toContain(`Successfully added box '${name}' (v0) for '${provider}'!`);
      const project = join(work, `project-${name.replace('/', '-')}`);
      mkdirSync(project);
      writeFileSync(join(project, 'Vagrantfile'), `Vagrant.configure("2") do |config|\n  config.vm.box = "${name}"\nend\n`);
      return vagrant(['validate'], provider, project);
    }

    it('libvirt amd64 and arm64: the box Vagrantfile has only settings vagrant-libvirt knows', async (ctx) => {
      for (const arch of ['amd64', 'arm64'] as const) {
        const validated = await addAndValidate(ctx, `kv-test/libvirt-${arch}`, 'libvirt', boxFiles(ctx, 'libvirt', arch));
        expect(validated.status, `${arch}: ${validated.stdout}${validated.stderr}`).toBe(0);
        expect(validated.stdout).toContain('Vagrantfile validated successfully.');
      }
    });

    it("virtualbox: base_mac is a setting Vagrant's VirtualBox provider takes", async (ctx) => {
      const validated = await addAndValidate(ctx, 'kv-test/virtualbox', 'virtualbox', boxFiles(ctx, 'virtualbox', 'amd64'));
      expect(validated.status, `${validated.stdout}${validated.stderr}`).toBe(0);
      expect(validated.stdout).toContain('Vagrantfile validated successfully.');
    });

    it("validate does read the box's Vagrantfile: a setting vagrant-libvirt does not know fails it", async (ctx) => {
      const files = boxFiles(ctx, 'libvirt', 'amd64').map((f) =>
        f.name === 'Vagrantfile' ? { name: 'Vagrantfile', data: boxVagrantfile({ provider: 'libvirt', arch: 'amd64' }).replace('    libvirt.nic_model_type', '    libvirt.no_such_setting = 1\n    libvirt.nic_model_type') } : f,
      );
      const validated = await addAndValidate(ctx, 'kv-test/libvirt-bogus', 'libvirt', files);
      expect(validated.status).toBe(1);
      expect(validated.stdout + validated.stderr).toContain("The following settings shouldn't exist: no_such_setting");
    });

    it('a Vagrant before 2.4 keeps an architecture in metadata.json without complaint (it reads only provider)', async (ctx) => {
      needVagrant(ctx, 'libvirt');
      const version = /Vagrant (\d+\.\d+\.\d+)/.exec(run('vagrant', ['--version']))?.[1] ?? '';
      if (!version.startsWith('2.3.')) ctx.skip(`this is Vagrant ${version}, not 2.3.x`);
      const files = boxFiles(ctx, 'libvirt', 'amd64', '2.4.0');
      expect(JSON.parse((files.find((f) => f.name === 'metadata.json') as { data: string }).data)).toMatchObject({ architecture: 'amd64' });
      const validated = await addAndValidate(ctx, 'kv-test/libvirt-architecture', 'libvirt', files);
      expect(validated.status, `${validated.stdout}${validated.stderr}`).toBe(0);
    });
  });
});
