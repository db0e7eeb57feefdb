import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findChecksum, parseChecksumFile } from '../../src/download/checksums.js';
import { fileDigests, formatDigest, parseDigest } from '../../src/download/digest.js';

/** Deterministic hex of the right length (these samples keep upstream's layout, not its digests). */
const h = (seed: string, algorithm: 'sha256' | 'sha512' = 'sha256'): string => createHash(algorithm).update(seed).digest('hex');

// cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS: `sha256sum -b` output, a `*` before each name.
const UBUNTU_SHA256SUMS = [
  `${h('u1')} *ubuntu-24.04-server-cloudimg-amd64-azure.vhd.tar.gz`,
  `${h('u2')} *ubuntu-24.04-server-cloudimg-amd64.img`,
  `${h('u3')} *ubuntu-24.04-server-cloudimg-amd64.ova`,
  `${h('u4')} *ubuntu-24.04-server-cloudimg-arm64.img`,
  '',
].join('\n');

// cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS: text mode, two spaces.
const DEBIAN_SHA512SUMS = [
  `${h('d1', 'sha512')}  debian-12-genericcloud-amd64.json`,
  `${h('d2', 'sha512')}  debian-12-genericcloud-amd64.qcow2`,
  `${h('d3', 'sha512')}  debian-12-genericcloud-amd64.raw`,
  `${h('d4', 'sha512')}  debian-12-genericcloud-arm64.qcow2`,
  '',
].join('\n');

// dl.rockylinux.org/pub/rocky/9/images/x86_64/CHECKSUM: BSD lines with size comments.
const ROCKY_CHECKSUM = [
  '# Rocky-9-GenericCloud-Base-9.5-20241118.0.x86_64.qcow2: 609812480 bytes',
  `SHA256 (Rocky-9-GenericCloud-Base-9.5-20241118.0.x86_64.qcow2) = ${h('r1')}`,
  '# Rocky-9-GenericCloud-LVM-9.5-20241118.0.x86_64.qcow2: 631242752 bytes',
  `SHA256 (Rocky-9-GenericCloud-LVM-9.5-20241118.0.x86_64.qcow2) = ${h('r2')}`,
  '',
].join('\n');

// The signed text of a Fedora ...-CHECKSUM (after verifyClearsigned): BSD lines, CRLF-free, comments.
const FEDORA_SIGNED_TEXT = [
  '# Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2: 491716608 bytes',
  `SHA256 (Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2) = ${h('f1')}`,
  '# Fedora-Cloud-Base-Vagrant-libvirt-41-1.4.x86_64.vagrant.libvirt.box: 578437120 bytes',
  `SHA256 (Fedora-Cloud-Base-Vagrant-libvirt-41-1.4.x86_64.vagrant.libvirt.box) = ${h('f2')}`,
].join('\n');

// dl.k8s.io/release/v1.33.1/bin/linux/amd64/kubeadm.sha256: the bare hex, no newline.
const KUBEADM_SHA256 = h('kubeadm');

// github.com/containerd/containerd/releases/download/v2.1.1/containerd-2.1.1-linux-amd64.tar.gz.sha256sum
const CONTAINERD_SHA256SUM = `${h('containerd')}  containerd-2.1.1-linux-amd64.tar.gz\n`;

describe('parseChecksumFile', () => {
  it("reads Ubuntu's SHA256SUMS (binary-mode `*name`)", () => {
    const entries = parseChecksumFile(UBUNTU_SHA256SUMS);
    expect(entries).toHaveLength(4);
    expect(findChecksum(entries, 'ubuntu-24.04-server-cloudimg-amd64.img')).toEqual({ name: 'ubuntu-24.04-server-cloudimg-amd64.img', algorithm: 'sha256', hex: h('u2'), line: 2 });
  });

  it("reads Debian's SHA512SUMS (text-mode, two spaces), the algorithm from the hex length", () => {
    const e = findChecksum(parseChecksumFile(DEBIAN_SHA512SUMS), 'debian-12-genericcloud-arm64.qcow2');
    expect(e).toMatchObject({ algorithm: 'sha512', hex: h('d4', 'sha512') });
  });

  it("reads Rocky's BSD CHECKSUM, skipping its size comments", () => {
    const entries = parseChecksumFile(ROCKY_CHECKSUM);
    expect(entries.map((e) => [e.name, e.line])).toEqual([
      ['Rocky-9-GenericCloud-Base-9.5-20241118.0.x86_64.qcow2', 2],
      ['Rocky-9-GenericCloud-LVM-9.5-20241118.0.x86_64.qcow2', 4],
    ]);
  });

  it("reads Fedora's signed text (BSD lines) and refuses the clearsigned file itself", () => {
    expect(findChecksum(parseChecksumFile(FEDORA_SIGNED_TEXT), 'Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2')?.hex).toBe(h('f1'));
    const clearsigned = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${FEDORA_SIGNED_TEXT}\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n`;
    expect(() => parseChecksumFile(clearsigned, 'Fedora-Cloud-41-1.4-x86_64-CHECKSUM')).toThrow(/Fedora-Cloud-41-1.4-x86_64-CHECKSUM is clearsigned: verify its signature first/);
  });

  it("reads Kubernetes' bare .sha256 (no name, no newline), which answers for its one file", () => {
    const entries = parseChecksumFile(KUBEADM_SHA256);
    expect(entries).toEqual([{ name: undefined, algorithm: 'sha256', hex: KUBEADM_SHA256, line: 1 }]);
    expect(findChecksum(entries, 'kubeadm')?.hex).toBe(KUBEADM_SHA256);
  });

  it("reads containerd's .sha256sum", () => {
    expect(findChecksum(parseChecksumFile(CONTAINERD_SHA256SUM), 'containerd-2.1.1-linux-amd64.tar.gz')?.hex).toBe(h('containerd'));
  });

  it('tolerates CRLF, upper-case hex, ./ names, OpenSSL BSD spelling and GNU escapes; skips MD5 lines', () => {
    const text = [
      `${h('a').toUpperCase()}  ./dir/a.img\r`,
      `SHA2-512(b.img)= ${h('b', 'sha512')}`,
      `MD5 (b.img) = ${'0'.repeat(32)}`,
      `\\${h('c')}  c\\\\name`,
    ].join('\n');
    const entries = parseChecksumFile(text);
    expect(entries.map((e) => [e.name, e.algorithm, e.hex])).toEqual([
      ['dir/a.img', 'sha256', h('a')],
      ['b.img', 'sha512', h('b', 'sha512')],
      ['c\\name', 'sha256', h('c')],
    ]);
    expect(findChecksum(entries, './dir/a.img')?.hex).toBe(h('a'));
  });

  it('picks the strongest digest of a name unless asked for one', () => {
    const entries = parseChecksumFile(`${h('x')}  f\n${h('x', 'sha512')}  f\n`);
    expect(findChecksum(entries, 'f')?.algorithm).toBe('sha512');
    expect(findChecksum(entries, 'f', 'sha256')?.hex).toBe(h('x'));
    expect(findChecksum(entries, 'g')).toBeUndefined();
  });

  it('names the line of each problem', () => {
    expect(() => parseChecksumFile(`${h('a')}  a\nnot a checksum\n`, 'SHA256SUMS')).toThrow(/^SHA256SUMS line 2: not a checksum line .*"not a checksum"/);
    expect(() => parseChecksumFile(`${'a'.repeat(40)}  sha1-file\n`)).toThrow(/line 1: a digest of 40 hex digits is none we accept \(sha256 64, sha512 128\)/);
    expect(() => parseChecksumFile(`SHA256 (a) = ${h('a', 'sha512')}\n`)).toThrow(/line 1: a SHA256 digest has 64 hex digits, not 128/);
    expect(() => parseChecksumFile(`WHIRLPOOL (a) = ${h('a')}\n`)).toThrow(/line 1: unknown algorithm WHIRLPOOL/);
    expect(() => parseChecksumFile(`${h('a')}  a\n${h('b')}  a\n`)).toThrow(/line 2: a second, different sha256 for a \(line 1 has another\)/);
    expect(() => parseChecksumFile(`${h('a')}\n${h('b')}  b\n`)).toThrow(/line 1: a bare digest \(no file name\) must be the only entry/);
  });
});

describe('digests', () => {
  it('parses and formats algorithm:hex, refusing anything else', () => {
    const d = parseDigest(`sha256:${h('x').toUpperCase()}`);
    expect(d).toEqual({ algorithm: 'sha256', hex: h('x') });
    expect(formatDigest(d)).toBe(`sha256:${h('x')}`);
    for (const bad of [`md5:${'0'.repeat(32)}`, `sha256:${h('x', 'sha512')}`, h('x'), `constructor:${h('x')}`]) {
      expect(() => parseDigest(bad)).toThrow(/not a digest/);
    }
  });

  it('hashes a file once for several algorithms', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-digest-'));
    try {
      const file = join(dir, 'f');
      writeFileSync(file, 'hello\n');
      expect(await fileDigests(file, ['sha256', 'sha512'])).toEqual({ sha256: h('hello\n'), sha512: h('hello\n', 'sha512') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
