import { REPRODUCIBLE_DATE } from './formats.js';

/**
 * A minimal ISO 9660 image writer (ECMA-119), for the cloud-init NoCloud seed: one root directory
 * holding a few small files, nothing else. Layout, in 2048-byte sectors:
 *
 *   0-15   system area (zeros)
 *   16     primary volume descriptor
 *   17     volume descriptor set terminator
 *   18     type L path table (little-endian)     19  type M path table (big-endian)
 *   20..   the root directory extent
 *   then   the SUSP continuation area (the Rock Ridge ER entry, too long for the root's `.`
 *          record; after the directory, since sequential readers such as libarchive refuse a
 *          continuation behind the record that points at it), then each file's data, each from
 *          a sector boundary
 *
 * Names: every file is recorded twice. The ISO 9660 identifier is the name in upper case with
 * `.;1` (USER-DATA.;1), which Linux's isofs without Rock Ridge (`-o norock`, map=normal) shows as
 * `user-data` (it lower-cases and drops `.;1`); the Rock Ridge NM entry carries the exact name,
 * which Linux uses by default, and which isoinfo -R, xorriso and libarchive read. Rock Ridge (RRIP
 * 1.10, `RRIP_1991A`) is announced the way Linux looks for it: an SUSP SP entry at the start of the
 * root's `.` record and an ER entry (here in the continuation area its CE entry points at).
 *
 * Deterministic: no host data, every date REPRODUCIBLE_DATE, files in identifier order; the same
 * input gives the same bytes.
 */

export const SECTOR = 2048;

export interface IsoFile {
  /** A plain name: lower-case letters, digits, `-`, `_` and `.`, at most 30 characters. */
  name: string;
  data: Buffer | string;
}

export interface IsoInput {
  /** The volume identifier (what blkid shows as LABEL): 1-32 letters, digits or `_`. */
  volumeId: string;
  files: readonly IsoFile[];
}

const SYSTEM_AREA_SECTORS = 16;
const PVD_SECTOR = 16;
const TERMINATOR_SECTOR = 17;
const L_PATH_TABLE_SECTOR = 18;
const M_PATH_TABLE_SECTOR = 19;
const ROOT_SECTOR = 20;
/** Linux and the RRIP spec: a file record of at most 255 bytes; our names keep far below it. */
const MAX_NAME = 30;
const NAME = /^[a-z0-9_][a-z0-9._-]*$/;
const VOLUME_ID = /^[A-Za-z0-9_]{1,32}$/;
/** The largest file one extent can hold (a 32-bit length). */
const MAX_FILE_BYTES = 0xffffffff;

/** POSIX modes for the PX entries: read-only for everyone, like a pressed disc. */
const MODE_FILE = 0o100444;
const MODE_DIR = 0o040555;

// The Rock Ridge extension reference, with the identifier, description and source texts that
// RRIP 1.10 prescribes for RRIP_1991A (the ones mkisofs writes).
const RRIP_ID = 'RRIP_1991A';
const RRIP_DESCRIPTION = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RRIP_SOURCE =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

/** Both-byte-order fields (ECMA-119 7.2.3 and 7.3.3): little-endian, then big-endian. */
function both16(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(value, 0);
  b.writeUInt16BE(value, 2);
  return b;
}
function both32(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(value, 0);
  b.writeUInt32BE(value, 4);
  return b;
}

/** A text field padded with spaces (ECMA-119 a- and d-characters). */
function padded(text: string, length: number): Buffer {
  return Buffer.from(text.padEnd(length, ' '), 'ascii');
}

/** The 7-byte date of a directory record (ECMA-119 9.1.5), in UTC. */
function recordDate(d: Date): Buffer {
  return Buffer.from([d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0]);
}

/** The 17-byte date of a volume descriptor (ECMA-119 8.4.26.1): digits, hundredths, UTC offset. */
function descriptorDate(d: Date | undefined): Buffer {
  if (!d) return Buffer.concat([Buffer.from('0'.repeat(16), 'ascii'), Buffer.from([0])]);
  const two = (n: number) => String(n).padStart(2, '0');
  const text = `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}00`;
  return Buffer.concat([Buffer.from(text, 'ascii'), Buffer.from([0])]);
}

/** One SUSP entry: signature, length, version 1, data. */
function suspEntry(signature: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(signature, 'ascii'), Buffer.from([4 + data.length, 1]), data]);
}

/** RRIP 1.10 PX: mode, links, uid, gid (36 bytes; the 44-byte form with a serial number is RRIP 1.12). */
function px(mode: number, links: number): Buffer {
  return suspEntry('PX', Buffer.concat([both32(mode), both32(links), both32(0), both32(0)]));
}

/** RRIP NM: the file's own name. */
function nm(name: string): Buffer {
  return suspEntry('NM', Buffer.concat([Buffer.from([0]), Buffer.from(name, 'ascii')]));
}

interface RecordFields {
  extent: number;
  length: number;
  directory: boolean;
  /** The ISO 9660 identifier: 0x00 for `.`, 0x01 for `..`, else the file identifier. */
  identifier: Buffer;
  systemUse: Buffer;
}

/** A directory record (ECMA-119 9.1), padded to an even length. */
function directoryRecord(f: RecordFields): Buffer {
  const idPad = f.identifier.length % 2 === 0 ? 1 : 0;
  const head = Buffer.concat([
    Buffer.from([0, 0]), // record length (set below), extended attribute record length
    both32(f.extent),
    both32(f.length),
    recordDate(REPRODUCIBLE_DATE),
    Buffer.from([f.directory ? 0x02 : 0x00, 0, 0]), // flags, file unit size, interleave gap
    both16(1), // volume sequence number
    Buffer.from([f.identifier.length]),
    f.identifier,
    Buffer.alloc(idPad),
  ]);
  let record = Buffer.concat([head, f.systemUse]);
  if (record.length % 2 === 1) record = Buffer.concat([record, Buffer.alloc(1)]);
  if (record.length > 255) throw new Error(`iso9660: a directory record of ${record.length} bytes (at most 255)`);
  record[0] = record.length;
  return record;
}

/** Records into sectors: a record never crosses a sector boundary (ECMA-119 6.8.1.1). */
function packRecords(records: Buffer[]): Buffer[] {
  const sectors: Buffer[][] = [[]];
  let used = 0;
  for (const r of records) {
    if (used + r.length > SECTOR) {
      sectors.push([]);
      used = 0;
    }
    sectors.at(-1)!.push(r);
    used += r.length;
  }
  return sectors.map((parts) => padToSector(Buffer.concat(parts)));
}

function padToSector(b: Buffer): Buffer {
  const rest = b.length % SECTOR;
  return rest === 0 && b.length > 0 ? b : Buffer.concat([b, Buffer.alloc(b.length === 0 ? SECTOR : SECTOR - rest)]);
}

function sectorsFor(bytes: number): number {
  return Math.ceil(bytes / SECTOR);
}

/** The ISO 9660 file identifier shown without Rock Ridge: `user-data` → `USER-DATA.;1`. */
export function isoIdentifier(name: string): string {
  const upper = name.toUpperCase();
  return `${upper.includes('.') ? upper : `${upper}.`};1`;
}

function checkInput(input: IsoInput): void {
  if (!VOLUME_ID.test(input.volumeId)) throw new Error(`iso9660: volume id ${JSON.stringify(input.volumeId)} is not 1-32 letters, digits or _`);
  const seen = new Set<string>();
  for (const f of input.files) {
    if (!NAME.test(f.name) || f.name.length > MAX_NAME || (f.name.match(/\./g) ?? []).length > 1)
      throw new Error(`iso9660: file name ${JSON.stringify(f.name)} is not a plain name (lower-case letters, digits, - _ and at most one ., up to ${MAX_NAME} characters)`);
    if (seen.has(f.name)) throw new Error(`iso9660: file name ${f.name} given twice`);
    seen.add(f.name);
    if (Buffer.byteLength(f.data) > MAX_FILE_BYTES) throw new Error(`iso9660: ${f.name} is larger than one extent holds (4 GiB)`);
  }
}

/**
 * The image: a Buffer holding the whole ISO 9660 file system. Throws on a volume id or file name
 * outside the plain forms above (the seed's own names and label are constants).
 */
export function iso9660Image(input: IsoInput): Buffer {
  checkInput(input);
  const files = input.files
    .map((f) => ({ name: f.name, identifier: Buffer.from(isoIdentifier(f.name), 'ascii'), data: Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.identifier, b.identifier));

  // The continuation area holds the ER entry; the root's `.` record points at it with CE.
  const er = suspEntry(
    'ER',
    Buffer.concat([Buffer.from([RRIP_ID.length, RRIP_DESCRIPTION.length, RRIP_SOURCE.length, 1]), Buffer.from(RRIP_ID + RRIP_DESCRIPTION + RRIP_SOURCE, 'ascii')]),
  );
  const sp = suspEntry('SP', Buffer.from([0xbe, 0xef, 0]));

  // The root extent's size depends only on the records' sizes, not on where things go.
  const recordsWith = (rootSectors: number, continuationSector: number, fileExtents: number[]) => {
    const rootLength = rootSectors * SECTOR;
    const ce = suspEntry('CE', Buffer.concat([both32(continuationSector), both32(0), both32(er.length)]));
    return [
      directoryRecord({ extent: ROOT_SECTOR, length: rootLength, directory: true, identifier: Buffer.from([0]), systemUse: Buffer.concat([sp, px(MODE_DIR, 2), ce]) }),
      directoryRecord({ extent: ROOT_SECTOR, length: rootLength, directory: true, identifier: Buffer.from([1]), systemUse: px(MODE_DIR, 2) }),
      ...files.map((f, i) =>
        directoryRecord({ extent: fileExtents[i] ?? 0, length: f.data.length, directory: false, identifier: f.identifier, systemUse: Buffer.concat([px(MODE_FILE, 1), nm(f.name)]) }),
      ),
    ];
  };
  const rootSectors = packRecords(recordsWith(1, 0, [])).length;
  const continuationSector = ROOT_SECTOR + rootSectors;
  const fileExtents: number[] = [];
  let next = continuationSector + 1;
  for (const f of files) {
    // An empty file has no sector to point at: location 0 (isoinfo, xorriso, 7-Zip and libarchive read it as empty).
    fileExtents.push(f.data.length === 0 ? 0 : next);
    next += sectorsFor(f.data.length);
  }
  const totalSectors = next;
  const root = packRecords(recordsWith(rootSectors, continuationSector, fileExtents));

  // The path tables: the root alone (ECMA-119 9.4): identifier length 1, the root's extent, parent 1, identifier 0x00, pad.
  const pathTable = (littleEndian: boolean) => {
    const b = Buffer.alloc(10);
    b[0] = 1;
    if (littleEndian) {
      b.writeUInt32LE(ROOT_SECTOR, 2);
      b.writeUInt16LE(1, 6);
    } else {
      b.writeUInt32BE(ROOT_SECTOR, 2);
      b.writeUInt16BE(1, 6);
    }
    return b;
  };

  const pvd = Buffer.alloc(SECTOR);
  pvd[0] = 1;
  pvd.write('CD001', 1, 'ascii');
  pvd[6] = 1;
  padded('', 32).copy(pvd, 8); // system identifier
  padded(input.volumeId, 32).copy(pvd, 40);
  both32(totalSectors).copy(pvd, 80);
  both16(1).copy(pvd, 120); // volume set size
  both16(1).copy(pvd, 124); // volume sequence number
  both16(SECTOR).copy(pvd, 128);
  both32(10).copy(pvd, 132); // path table size
  pvd.writeUInt32LE(L_PATH_TABLE_SECTOR, 140);
  pvd.writeUInt32BE(M_PATH_TABLE_SECTOR, 148);
  // The PVD's copy of the root record has no system use area (ECMA-119 8.4.18: exactly 34 bytes).
  directoryRecord({ extent: ROOT_SECTOR, length: rootSectors * SECTOR, directory: true, identifier: Buffer.from([0]), systemUse: Buffer.alloc(0) }).copy(pvd, 156);
  padded('', 128).copy(pvd, 190); // volume set
  padded('', 128).copy(pvd, 318); // publisher
  padded('', 128).copy(pvd, 446); // data preparer
  padded('', 128).copy(pvd, 574); // application
  padded('', 37).copy(pvd, 702); // copyright file
  padded('', 37).copy(pvd, 739); // abstract file
  padded('', 37).copy(pvd, 776); // bibliographic file
  descriptorDate(REPRODUCIBLE_DATE).copy(pvd, 813); // creation
  descriptorDate(REPRODUCIBLE_DATE).copy(pvd, 830); // modification
  descriptorDate(undefined).copy(pvd, 847); // expiration: none
  descriptorDate(undefined).copy(pvd, 864); // effective: at once
  pvd[881] = 1; // file structure version

  const terminator = Buffer.alloc(SECTOR);
  terminator[0] = 255;
  terminator.write('CD001', 1, 'ascii');
  terminator[6] = 1;

  return Buffer.concat([
    Buffer.alloc(SYSTEM_AREA_SECTORS * SECTOR),
    pvd,
    terminator,
    padToSector(pathTable(true)),
    padToSector(pathTable(false)),
    ...root,
    padToSector(er),
    ...files.filter((f) => f.data.length > 0).map((f) => padToSector(f.data)),
  ]);
}

/** Sector numbers of the fixed structures, for tests that read the image back. */
export const ISO_LAYOUT = { PVD_SECTOR, TERMINATOR_SECTOR, L_PATH_TABLE_SECTOR, M_PATH_TABLE_SECTOR, ROOT_SECTOR } as const;
