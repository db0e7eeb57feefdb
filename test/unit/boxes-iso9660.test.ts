import { describe, expect, it } from 'vitest';
import { ISO_LAYOUT, isoIdentifier, iso9660Image, SECTOR } from '../../src/boxes/iso9660.js';

/**
 * The ISO 9660 writer's structures, read back byte by byte with ECMA-119's offsets (and SUSP/RRIP
 * for the Rock Ridge entries). The independent readers (blkid, isoinfo, xorriso, 7z, libarchive)
 * read the same images in test/integration/boxes.test.ts.
 */

const sector = (img: Buffer, n: number) => img.subarray(n * SECTOR, (n + 1) * SECTOR);
const both32 = (b: Buffer, at: number) => {
  const le = b.readUInt32LE(at);
  expect(b.readUInt32BE(at + 4), `both-endian field at ${at}`).toBe(le);
  return le;
};
const both16 = (b: Buffer, at: number) => {
  const le = b.readUInt16LE(at);
  expect(b.readUInt16BE(at + 2), `both-endian field at ${at}`).toBe(le);
  return le;
};

interface Entry {
  signature: string;
  data: Buffer;
}
interface Rec {
  length: number;
  extent: number;
  size: number;
  flags: number;
  date: number[];
  identifier: Buffer;
  entries: Entry[];
}

function suspEntries(area: Buffer): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i + 4 <= area.length && area[i] !== 0; ) {
    const len = area[i + 2]!;
    expect(area[i + 3], 'SUSP entry version').toBe(1);
    out.push({ signature: area.toString('ascii', i, i + 2), data: area.subarray(i + 4, i + len) });
    i += len;
  }
  return out;
}

/** The directory records of an extent, sector by sector (a record never crosses a sector). */
function records(img: Buffer, extent: number, size: number): Rec[] {
  const out: Rec[] = [];
  for (let s = 0; s < size / SECTOR; s++) {
    const sec = sector(img, extent + s);
    for (let at = 0; at < SECTOR && sec[at] !== 0; ) {
      const length = sec[at]!;
      const r = sec.subarray(at, at + length);
      const idLen = r[32]!;
      const suStart = 33 + idLen + (idLen % 2 === 0 ? 1 : 0);
      out.push({
        length,
        extent: both32(r, 2),
        size: both32(r, 10),
        date: [...r.subarray(18, 25)],
        flags: r[25]!,
        identifier: Buffer.from(r.subarray(33, 33 + idLen)),
        entries: suspEntries(r.subarray(suStart)),
      });
      at += length;
    }
  }
  return out;
}

const FILES = [
  { name: 'user-data', data: '#cloud-config\nusers: []\n' },
  { name: 'meta-data', data: 'instance-id: i-1\nlocal-hostname: node-1\n' },
  { name: 'network-config', data: Buffer.alloc(5000, 0x41) },
];

describe('iso9660Image', () => {
  const img = iso9660Image({ volumeId: 'cidata', files: FILES });

  it('is whole sectors, with the system area empty', () => {
    expect(img.length % SECTOR).toBe(0);
    expect(img.subarray(0, 16 * SECTOR).every((b) => b === 0)).toBe(true);
  });

  it('has a primary volume descriptor naming the volume, its size and the root', () => {
    const pvd = sector(img, ISO_LAYOUT.PVD_SECTOR);
    expect(pvd[0]).toBe(1);
    expect(pvd.toString('ascii', 1, 6)).toBe('CD001');
    expect(pvd[6]).toBe(1);
    expect(pvd.toString('ascii', 40, 72)).toBe('cidata'.padEnd(32, ' '));
    expect(both32(pvd, 80)).toBe(img.length / SECTOR);
    expect(both16(pvd, 120)).toBe(1);
    expect(both16(pvd, 124)).toBe(1);
    expect(both16(pvd, 128)).toBe(2048);
    expect(both32(pvd, 132)).toBe(10);
    expect(pvd.readUInt32LE(140)).toBe(ISO_LAYOUT.L_PATH_TABLE_SECTOR);
    expect(pvd.readUInt32BE(148)).toBe(ISO_LAYOUT.M_PATH_TABLE_SECTOR);
    // The root directory record: 34 bytes, a directory, at the root extent, one sector long.
    expect(pvd[156]).toBe(34);
    expect(both32(pvd, 158)).toBe(ISO_LAYOUT.ROOT_SECTOR);
    expect(both32(pvd, 166)).toBe(SECTOR);
    expect(pvd[156 + 25]).toBe(2);
    expect(pvd.toString('ascii', 813, 829)).toBe('2000010100000000');
    expect(pvd[829]).toBe(0);
    expect(pvd.toString('ascii', 847, 863)).toBe('0'.repeat(16));
    expect(pvd[881]).toBe(1);
    // No host data: every identifier field is blank.
    expect(pvd.toString('ascii', 8, 40).trim()).toBe('');
    expect(pvd.toString('ascii', 190, 813).trim()).toBe('');
  });

  it('ends the descriptors with a terminator', () => {
    const t = sector(img, ISO_LAYOUT.TERMINATOR_SECTOR);
    expect([t[0], t.toString('ascii', 1, 6), t[6]]).toEqual([255, 'CD001', 1]);
    expect(t.subarray(7).every((b) => b === 0)).toBe(true);
  });

  it('has both path tables, each holding the root alone', () => {
    expect([...sector(img, ISO_LAYOUT.L_PATH_TABLE_SECTOR).subarray(0, 10)]).toEqual([1, 0, ISO_LAYOUT.ROOT_SECTOR, 0, 0, 0, 1, 0, 0, 0]);
    expect([...sector(img, ISO_LAYOUT.M_PATH_TABLE_SECTOR).subarray(0, 10)]).toEqual([1, 0, 0, 0, 0, ISO_LAYOUT.ROOT_SECTOR, 0, 1, 0, 0]);
  });

  const root = records(img, ISO_LAYOUT.ROOT_SECTOR, SECTOR);

  it('lists ., .. and the files in identifier order, each dated 2000-01-01 UTC', () => {
    expect(root.map((r) => r.identifier.toString('latin1'))).toEqual(['\0', '\x01', 'META-DATA.;1', 'NETWORK-CONFIG.;1', 'USER-DATA.;1']);
    expect(root.map((r) => r.flags)).toEqual([2, 2, 0, 0, 0]);
    for (const r of root) expect(r.date).toEqual([100, 1, 1, 0, 0, 0, 0]);
    for (const r of root) expect(r.length % 2).toBe(0);
  });

  it('announces Rock Ridge the way Linux looks for it: SP first in the root, ER in the continuation area', () => {
    const dot = root[0]!;
    expect(dot.entries.map((e) => e.signature)).toEqual(['SP', 'PX', 'CE']);
    expect([...dot.entries[0]!.data]).toEqual([0xbe, 0xef, 0]);
    const ce = dot.entries[2]!.data;
    const [at, offset, length] = [both32(ce, 0), both32(ce, 8), both32(ce, 16)];
    // After the root directory, so that sequential readers (libarchive) reach it after the record.
    expect(at).toBe(ISO_LAYOUT.ROOT_SECTOR + 1);
    expect(offset).toBe(0);
    const [er] = suspEntries(sector(img, at).subarray(offset, offset + length));
    expect(er!.signature).toBe('ER');
    const [idLen, desLen, srcLen, version] = [...er!.data.subarray(0, 4)];
    expect(version).toBe(1);
    expect(er!.data.toString('ascii', 4, 4 + idLen!)).toBe('RRIP_1991A');
    expect(length).toBe(8 + idLen! + desLen! + srcLen!);
  });

  it('gives each file its own name (NM), a read-only mode (PX) and its bytes at its extent', () => {
    const byName = new Map(root.slice(2).map((r) => [r.entries.find((e) => e.signature === 'NM')!.data.subarray(1).toString('ascii'), r]));
    expect([...byName.keys()].sort()).toEqual(['meta-data', 'network-config', 'user-data']);
    for (const f of FILES) {
      const r = byName.get(f.name)!;
      const px = r.entries.find((e) => e.signature === 'PX')!.data;
      expect(px.length).toBe(32);
      expect(both32(px, 0)).toBe(0o100444);
      expect(both32(px, 8)).toBe(1);
      const data = Buffer.from(f.data);
      expect(r.size).toBe(data.length);
      expect(img.subarray(r.extent * SECTOR, r.extent * SECTOR + r.size).equals(data)).toBe(true);
    }
    // Files start at sector boundaries after the continuation area, in identifier order, and end the image.
    const extents = root.slice(2).map((r) => r.extent);
    expect(extents).toEqual([ISO_LAYOUT.ROOT_SECTOR + 2, ISO_LAYOUT.ROOT_SECTOR + 3, ISO_LAYOUT.ROOT_SECTOR + 6]);
    expect(img.length / SECTOR).toBe(ISO_LAYOUT.ROOT_SECTOR + 7);
  });

  it('is deterministic and independent of the order the files are given in', () => {
    expect(iso9660Image({ volumeId: 'cidata', files: [...FILES].reverse() }).equals(img)).toBe(true);
  });

  it('spreads a large directory over sectors without splitting a record', () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ name: `file-${String(i).padStart(2, '0')}-with-a-long-name`, data: `${i}\n` }));
    const big = iso9660Image({ volumeId: 'MANY', files: many });
    const rootSize = both32(sector(big, ISO_LAYOUT.PVD_SECTOR), 166);
    expect(rootSize).toBeGreaterThan(SECTOR);
    const recs = records(big, ISO_LAYOUT.ROOT_SECTOR, rootSize);
    expect(recs.length).toBe(62);
    expect(recs[0]!.size).toBe(rootSize);
    for (const [i, r] of recs.slice(2).entries()) expect(big.subarray(r.extent * SECTOR, r.extent * SECTOR + r.size).toString()).toBe(`${i}\n`);
  });

  it('records an empty file without data', () => {
    const recs = records(iso9660Image({ volumeId: 'X', files: [{ name: 'empty', data: '' }] }), ISO_LAYOUT.ROOT_SECTOR, SECTOR);
    expect(recs[2]!.size).toBe(0);
  });

  it('refuses names and labels it could not record plainly', () => {
    const bad = (name: string) => () => iso9660Image({ volumeId: 'cidata', files: [{ name, data: '' }] });
    expect(bad('User-Data')).toThrow(/not a plain name/);
    expect(bad('dir/user-data')).toThrow(/not a plain name/);
    expect(bad('a.b.c')).toThrow(/not a plain name/);
    expect(bad('x'.repeat(31))).toThrow(/not a plain name/);
    expect(bad('')).toThrow(/not a plain name/);
    expect(() => iso9660Image({ volumeId: 'cidata', files: [FILES[0]!, FILES[0]!] })).toThrow(/given twice/);
    expect(() => iso9660Image({ volumeId: 'ci data', files: [] })).toThrow(/volume id/);
    expect(() => iso9660Image({ volumeId: 'x'.repeat(33), files: [] })).toThrow(/volume id/);
  });

  it('names files the way Linux shows them without Rock Ridge', () => {
    expect(isoIdentifier('user-data')).toBe('USER-DATA.;1');
    expect(isoIdentifier('seed.cfg')).toBe('SEED.CFG;1');
  });
});
