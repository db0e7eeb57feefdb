import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, describe, expect, it } from 'vitest';
import { DIGEST_HEX_LENGTH } from '../../src/download/digest.js';
import {
  ARCHES,
  boxName,
  imageSource,
  parseCatalog,
  readCatalogFile,
  trustedKeys,
  type Arch,
  type Catalog,
} from '../../src/boxes/catalog.js';
import { catalogBox, distroIds, loadCatalog } from '../../src/distros.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { boxesDir } from '../../src/layout.js';

const shipped = loadCatalog();
const SHIPPED_FILE = join(boxesDir, 'catalog.json');
const images = Object.entries(shipped.distros).flatMap(([distro, d]) => ARCHES.flatMap((arch) => (d.images[arch] ? [{ distro, arch, image: d.images[arch]! }] : [])));

const tmp = mkdtempSync(join(tmpdir(), 'kv-catalog-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The message of what `fn` throws (sync or async), with its class. */
async function thrown(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('the shipped catalog', () => {
  it('validates, and covers every distro on both architectures', () => {
    expect(() => readCatalogFile(SHIPPED_FILE)).not.toThrow();
    expect(shipped.version).toBe(2);
    expect(distroIds()).toEqual(['ubuntu-22.04', 'ubuntu-24.04', 'ubuntu-26.04', 'debian-12', 'debian-13', 'rocky-9', 'almalinux-10']);
    for (const d of distroIds()) for (const a of ARCHES) expect(shipped.distros[d]!.images[a], `${d} ${a}`).toBeDefined();
    expect(shipped.distros['almalinux-10']!.cpu).toBe('x86-64-v3');
  });

  it('every key file holds exactly its pinned key (full fingerprint and user ID)', async () => {
    expect(Object.keys(shipped.keys).sort()).toEqual(['almalinux-10', 'ubuntu-cloudimage']);
    for (const [name, key] of Object.entries(shipped.keys)) {
      expect(key.path).toBe(join(boxesDir, 'keys', `${name}.asc`));
      const [trusted, ...more] = await trustedKeys(shipped, name);
      expect(more).toEqual([]);
      expect(trusted!.fingerprint).toBe(key.fingerprint);
      // Read again here, independently of the loader's checks.
      const parsed = await openpgp.readKey({ armoredKey: readFileSync(key.path, 'utf8') });
      expect(parsed.getFingerprint().toUpperCase()).toBe(key.fingerprint);
      expect(parsed.isPrivate()).toBe(false);
    }
  });

  it('boxes/keys/README.md gives every pinned fingerprint', () => {
    const readme = readFileSync(join(boxesDir, 'keys', 'README.md'), 'utf8');
    for (const [name, key] of Object.entries(shipped.keys)) {
      expect(readme, name).toContain(key.fingerprint);
      expect(readme, name).toContain(key.file.replace(/^keys\//, ''));
    }
  });

  it('every signature names a declared key; every unsigned image pins a digest of its algorithm\'s length', () => {
    let signed = 0;
    let pinned = 0;
    for (const { distro, arch, image } of images) {
      if (image.signature) {
        signed++;
        expect(shipped.keys[image.signature.key], `${distro} ${arch}`).toBeDefined();
      } else {
        pinned++;
        const [algorithm, hex] = image.digest!.split(':') as [keyof typeof DIGEST_HEX_LENGTH, string];
        expect(algorithm, `${distro} ${arch}`).toBe(image.checksums.algorithm);
        expect(hex, `${distro} ${arch}`).toMatch(new RegExp(`^[0-9a-f]{${DIGEST_HEX_LENGTH[algorithm]}}$`));
      }
    }
    expect({ signed, pinned }).toEqual({ signed: 8, pinned: 6 });
  });

  it('every entry says where it was confirmed, with a dated source', () => {
    for (const { distro, arch, image } of images) expect(image.seen.some((s) => /\b20\d\d-\d\d-\d\d\b/.test(s)), `${distro} ${arch}`).toBe(true);
    for (const [name, key] of Object.entries(shipped.keys)) expect(key.seen.some((s) => /\b20\d\d-\d\d-\d\d\b/.test(s)), name).toBe(true);
  });

  const ARCH_IN_URL: Record<Arch, string> = { amd64: '(?:amd64|x86_64)', arm64: '(?:arm64|aarch64)' };
  const SHAPES: Record<string, (arch: Arch, codename?: string) => RegExp> = {
    ubuntu: (arch, codename) => new RegExp(`^https://cloud-images\\.ubuntu\\.com/releases/${codename}/release/ubuntu-\\d\\d\\.04-server-cloudimg-${arch}\\.img$`),
    debian: (arch, codename) => new RegExp(`^https://cloud\\.debian\\.org/images/cloud/${codename}/(\\d{8}-\\d+)/debian-\\d+-genericcloud-${arch}-\\1\\.qcow2$`),
    rocky: (arch) => new RegExp(`^https://dl\\.rockylinux\\.org/pub/rocky/9\\.\\d+/images/(${ARCH_IN_URL[arch]})/Rocky-9-GenericCloud-Base-9\\.\\d+-\\d{8}\\.\\d+\\.\\1\\.qcow2$`),
    almalinux: (arch) => new RegExp(`^https://repo\\.almalinux\\.org/almalinux/10/cloud/(${ARCH_IN_URL[arch]})/images/AlmaLinux-10-GenericCloud-latest\\.\\1\\.qcow2$`),
  };

  it('URL shapes per distro: https, the architecture in the URL, checksums and signature beside the image', () => {
    for (const { distro, arch, image } of images) {
      const d = shipped.distros[distro]!;
      const shape = SHAPES[distro.split('-')[0]!]!;
      expect(image.url, `${distro} ${arch}`).toMatch(shape(arch, d.release.codename));
      expect(image.url).toMatch(new RegExp(`/[^/]*${ARCH_IN_URL[arch]}[^/]*$`));
      const dir = image.url.slice(0, image.url.lastIndexOf('/') + 1);
      for (const url of [image.checksums.url, image.signature?.url].filter((u): u is string => u !== undefined)) {
        expect(url, `${distro} ${arch}`).toMatch(/^https:\/\//);
        expect(url.startsWith(dir), `${url} beside ${image.url}`).toBe(true);
      }
    }
  });

  it('the checksum file formats and algorithms of each distro', () => {
    const by = (prefix: string) => images.filter((i) => i.distro.startsWith(prefix)).map((i) => [i.image.checksums.format, i.image.checksums.algorithm, i.image.signature?.kind ?? 'pinned']);
    expect(new Set(by('ubuntu').map(String))).toEqual(new Set(['gnu,sha256,detached']));
    expect(new Set(by('debian').map(String))).toEqual(new Set(['gnu,sha512,pinned']));
    expect(new Set(by('rocky').map(String))).toEqual(new Set(['bsd,sha256,pinned']));
    expect(new Set(by('almalinux').map(String))).toEqual(new Set(['gnu,sha256,detached']));
  });

  it('the box of every distro is kubeadm-vagrant/<distro>, for every provider and architecture', () => {
    for (const d of distroIds()) {
      for (const a of ARCHES) for (const p of ['virtualbox', 'libvirt']) expect(catalogBox(shipped, d, p, a)).toBe(`kubeadm-vagrant/${d}`);
    }
  });
});

describe('imageSource', () => {
  it('a signed image: URL, file name, checksum file, signature with the pinned fingerprint', () => {
    expect(imageSource(shipped, 'ubuntu-24.04', 'arm64')).toEqual({
      distro: 'ubuntu-24.04',
      arch: 'arm64',
      box: 'kubeadm-vagrant/ubuntu-24.04',
      url: 'https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-arm64.img',
      fileName: 'ubuntu-24.04-server-cloudimg-arm64.img',
      checksums: { url: 'https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS', format: 'gnu', algorithm: 'sha256' },
      signature: { url: 'https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS.gpg', kind: 'detached', key: 'ubuntu-cloudimage', fingerprint: 'D2EB44626FDDC30B513D5BB71A5D6C4C7DB87C81' },
      catalogFile: SHIPPED_FILE,
    });
  });

  it('an unsigned image: its pinned digest, parsed', () => {
    const source = imageSource(shipped, 'debian-12', 'amd64');
    expect(source.signature).toBeUndefined();
    expect(source.digest).toEqual({ algorithm: 'sha512', hex: expect.stringMatching(/^6c2607f1846ee860[0-9a-f]{112}$/) });
    expect(source.fileName).toBe('debian-12-genericcloud-amd64-20260712-2537.qcow2');
    expect(imageSource(shipped, 'rocky-9', 'arm64').digest?.algorithm).toBe('sha256');
  });

  it('says what could not be confirmed', () => {
    expect(imageSource(shipped, 'almalinux-10', 'amd64').unverified).toMatch(/CHECKSUM\.asc/);
    expect(imageSource(shipped, 'ubuntu-22.04', 'amd64').unverified).toBeUndefined();
  });

  it('an unknown distro, or an architecture without an image, is a usage error saying what there is', async () => {
    const unknown = await thrown(() => imageSource(shipped, 'gentoo', 'amd64'));
    expect(unknown).toBeInstanceOf(UsageError);
    expect(unknown.message).toMatch(/^unknown distro "gentoo": the catalog \(.*catalog\.json\) has ubuntu-22\.04, .*almalinux-10$/);
    const amd64Only = structuredClone(shipped);
    delete amd64Only.distros['rocky-9']!.images.arm64;
    const noArm = await thrown(() => imageSource(amd64Only, 'rocky-9', 'arm64'));
    expect(noArm).toBeInstanceOf(UsageError);
    expect(noArm.message).toMatch(/has no arm64 image of rocky-9, only amd64/);
  });
});

/** A catalog file written into a fresh directory under the test's temp dir. */
function writeCatalog(name: string, content: string | object): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'catalog.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

/** An override catalog for debian-12 from a local mirror, with the given image entry. */
function override(image: Record<string, unknown>, keys: Record<string, unknown> = {}): object {
  const { seen, family, release } = shipped.distros['debian-12']!;
  return {
    version: 2,
    keys,
    distros: {
      'debian-12': {
        family,
        release,
        seen,
        images: {
          amd64: {
            url: 'http://127.0.0.1:8080/debian/debian-12-genericcloud-amd64.qcow2',
            checksums: { url: 'http://127.0.0.1:8080/debian/SHA512SUMS', format: 'gnu', algorithm: 'sha512' },
            seen: ['made by the test'],
            ...image,
          },
        },
      },
    },
  };
}

async function configError(fn: () => unknown): Promise<ConfigError> {
  const err = await thrown(fn);
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('an override catalog', () => {
  const DIGEST = `sha512:${'ab'.repeat(64)}`;

  it('replaces the distros it names, keeps the others, and may use the shipped keys', () => {
    const file = writeCatalog('mirror', override({ signature: { url: 'http://127.0.0.1:8080/debian/SHA512SUMS.sign', kind: 'detached', key: 'ubuntu-cloudimage' } }));
    const merged = readCatalogFile(file, shipped);
    expect(merged.source).toBe(file);
    expect(imageSource(merged, 'debian-12', 'amd64')).toMatchObject({ url: 'http://127.0.0.1:8080/debian/debian-12-genericcloud-amd64.qcow2', catalogFile: file, signature: { fingerprint: 'D2EB44626FDDC30B513D5BB71A5D6C4C7DB87C81' } });
    expect(merged.distros['debian-12']!.images.arm64).toBeUndefined();
    expect(imageSource(merged, 'ubuntu-24.04', 'amd64').catalogFile).toBe(SHIPPED_FILE);
  });

  it('resolves its own keys relative to its file, and checks them like the shipped ones', async () => {
    const { publicKey, privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Test Mirror', email: 'mirror@example.test' }], format: 'armored' });
    const fingerprint = (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase();
    const file = writeCatalog('own-key', override({ signature: { url: 'http://127.0.0.1:8080/debian/SHA512SUMS.sign', kind: 'detached', key: 'mirror' } }, {
      mirror: { file: 'keys/mirror.asc', fingerprint, uid: 'Test Mirror <mirror@example.test>', seen: ['made by the test'] },
    }));
    mkdirSync(join(tmp, 'own-key', 'keys'));
    writeFileSync(join(tmp, 'own-key', 'keys', 'mirror.asc'), publicKey);
    const merged = readCatalogFile(file, shipped);
    expect(merged.keys.mirror!.path).toBe(join(tmp, 'own-key', 'keys', 'mirror.asc'));
    expect(await trustedKeys(merged, 'mirror')).toEqual([{ fingerprint, armoredKey: publicKey }]);
    // The private half in its place: refused, never read as a key to trust.
    writeFileSync(join(tmp, 'own-key', 'keys', 'mirror.asc'), privateKey);
    expect((await configError(() => trustedKeys(merged, 'mirror'))).message).toMatch(/keys\.mirror\.file: .*mirror\.asc holds a PRIVATE KEY BLOCK: a key file holds exactly the pinned key/);
    expect(Object.keys(merged.keys).sort()).toEqual(['almalinux-10', 'mirror', 'ubuntu-cloudimage']);
  });

  it('a key file holding another key than the pinned one is refused, naming the file and field', async () => {
    const file = writeCatalog('swapped-key', override({ signature: { url: 'http://127.0.0.1:8080/s.asc', kind: 'detached', key: 'mirror' } }, {
      mirror: { file: 'mirror.asc', fingerprint: shipped.keys['ubuntu-cloudimage']!.fingerprint, uid: 'AlmaLinux OS 10 <packager@almalinux.org>', seen: ['made by the test'] },
    }));
    copyFileSync(shipped.keys['almalinux-10']!.path, join(tmp, 'swapped-key', 'mirror.asc'));
    const err = await configError(() => trustedKeys(readCatalogFile(file, shipped), 'mirror'));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/keys\.mirror\.fingerprint: the key in .*mirror\.asc is EE6DB7B98F5BF5EDD9DA0DE5DEE5C11CC2A1E572, the catalog pins D2EB44626FDDC30B513D5BB71A5D6C4C7DB87C81/);
  });

  it('a missing key file, a key file with two keys, a wrong user ID: each refused', async () => {
    const keyed = (name: string, keyFile: string, uid = 'UEC Image Automatic Signing Key <cdimage@ubuntu.com>') =>
      readCatalogFile(writeCatalog(name, override({ signature: { url: 'http://127.0.0.1:8080/s.asc', kind: 'detached', key: 'k' } }, {
        k: { file: keyFile, fingerprint: shipped.keys['ubuntu-cloudimage']!.fingerprint, uid, seen: ['made by the test'] },
      })), shipped);
    expect((await configError(() => trustedKeys(keyed('no-file', 'absent.asc'), 'k'))).message).toMatch(/keys\.k\.file: cannot read .*absent\.asc: ENOENT/);
    const two = keyed('two-keys', 'two.asc');
    writeFileSync(join(tmp, 'two-keys', 'two.asc'), readFileSync(shipped.keys['ubuntu-cloudimage']!.path, 'utf8') + readFileSync(shipped.keys['almalinux-10']!.path, 'utf8'));
    expect((await configError(() => trustedKeys(two, 'k'))).message).toMatch(/keys\.k\.file: .*two\.asc holds 2 armored blocks/);
    const wrongUid = keyed('wrong-uid', 'k.asc', 'Someone Else <x@example.test>');
    copyFileSync(shipped.keys['ubuntu-cloudimage']!.path, join(tmp, 'wrong-uid', 'k.asc'));
    expect((await configError(() => trustedKeys(wrongUid, 'k'))).message).toMatch(/keys\.k\.uid: the key in .* is "UEC Image Automatic Signing Key <cdimage@ubuntu\.com>", the catalog pins "Someone Else/);
    expect((await configError(() => trustedKeys(shipped, 'nobody'))).message).toMatch(/keys\.nobody: no such key in the catalog/);
  });

  it('a signature naming an unknown key fails, naming the file and the field', async () => {
    const file = writeCatalog('unknown-key', override({ signature: { url: 'http://127.0.0.1:8080/s.asc', kind: 'detached', key: 'debian-cloud' } }));
    const err = await configError(() => readCatalogFile(file, shipped));
    expect(err.file).toBe(file);
    expect(err.message).toContain(`${file}: 1 problem\n  distros["debian-12"].images.amd64.signature.key: names the key "debian-cloud", which the catalog does not declare`);
    expect(err.problems[0]!.hint).toMatch(/almalinux-10, ubuntu-cloudimage|ubuntu-cloudimage, almalinux-10/);
  });

  it('an unsigned image without a digest fails, naming the file and the field', async () => {
    const err = await configError(() => readCatalogFile(writeCatalog('no-digest', override({})), shipped));
    expect(err.message).toMatch(/no-digest\/catalog\.json: 1 problem\n {2}distros\["debian-12"\]\.images\.amd64\.digest: is required: the image has no signature, so its digest must be pinned/);
    expect(err.problems[0]!.hint).toMatch(/sha512:<128 hex digits>/);
  });

  it('a digest of the wrong length or algorithm fails', async () => {
    const short = await configError(() => readCatalogFile(writeCatalog('short-digest', override({ digest: `sha512:${'ab'.repeat(32)}` })), shipped));
    expect(short.message).toMatch(/distros\["debian-12"\]\.images\.amd64\.digest: a sha512 digest has 128 hex digits, this one 64/);
    const other = await configError(() => readCatalogFile(writeCatalog('sha256-digest', override({ digest: `sha256:${'ab'.repeat(32)}` })), shipped));
    expect(other.message).toMatch(/digest: must be a sha512 digest, the checksum file's algorithm/);
    const bare = await configError(() => readCatalogFile(writeCatalog('bare-digest', override({ digest: 'ab'.repeat(64) })), shipped));
    expect(bare.message).toMatch(/digest: must be sha256:<64 hex digits> or sha512:<128 hex digits>/);
  });

  it('bad JSON fails, naming the file and where', async () => {
    const file = writeCatalog('bad-json', '{\n  "version": 2,\n  "keys": {}\n  "distros": {}\n}\n');
    const err = await configError(() => readCatalogFile(file, shipped));
    expect(err.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 1 problem\\n {2}\\(file\\): is not valid JSON at line 4, column 3`));
  });

  it('unknown fields, a wrong version, an unknown family, a distro the tool does not know: all at once', async () => {
    const bad = override({ digest: DIGEST, mirror: 'x' }) as { distros: Record<string, Record<string, unknown>> };
    bad.distros['debian-12']!.family = 'arch';
    const err = await configError(() => readCatalogFile(writeCatalog('many', { ...bad, version: 1 }), shipped));
    expect(err.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'version: must be 2 (this tool\'s catalog format)',
      'distros["debian-12"].family: must be one of debian, rhel (src/families.ts)',
      'distros["debian-12"].images.amd64.mirror: unknown field',
    ]);
    const gentoo = { version: 2, keys: {}, distros: { gentoo: (override({ digest: DIGEST }) as { distros: Record<string, unknown> }).distros['debian-12'] } };
    expect((await configError(() => readCatalogFile(writeCatalog('gentoo', gentoo), shipped))).message).toMatch(/distros\.gentoo: is not a distro of the shipped catalog/);
  });

  it('an unreadable file is a config error naming it', async () => {
    const err = await configError(() => readCatalogFile(join(tmp, 'absent.json')));
    expect(err.message).toMatch(/absent\.json: 1 problem\n {2}\(file\): cannot be read: ENOENT/);
  });

  it('without a base, a catalog stands alone (the shipped one is read that way)', () => {
    const alone: Catalog = parseCatalog(JSON.stringify(override({ digest: DIGEST })), join(tmp, 'alone.json'));
    expect(Object.keys(alone.distros)).toEqual(['debian-12']);
    expect(boxName('debian-12')).toBe('kubeadm-vagrant/debian-12');
  });
});
