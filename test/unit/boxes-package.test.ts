import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseQemuImgInfo } from '../../src/boxes/package.js';
import { OperationError } from '../../src/errors.js';

/** `qemu-img info --output=json` as qemu-img 7.2 (Debian 12) prints it, for each kind of image box build meets. */
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'boxes');
const fixture = (name: string) => readFileSync(join(FIXTURES, `qemu-img-info-${name}.json`), 'utf8');

describe('parseQemuImgInfo', () => {
  it('reads a stream-optimized vmdk', () => {
    expect(parseQemuImgInfo(fixture('vmdk-stream'), 'box-disk001.vmdk')).toEqual({ format: 'vmdk', virtualSizeBytes: 67108864, actualSizeBytes: 90112, vmdkCreateType: 'streamOptimized' });
  });

  it('reads a compressed qcow2 and a raw image', () => {
    expect(parseQemuImgInfo(fixture('qcow2-compressed'), 'box.img')).toEqual({ format: 'qcow2', virtualSizeBytes: 67108864, actualSizeBytes: 270336 });
    expect(parseQemuImgInfo(fixture('raw'), 'disk.raw')).toEqual({ format: 'raw', virtualSizeBytes: 67108864, actualSizeBytes: 1048576 });
  });

  it('sees the files an image reads from: a backing file, a qcow2 data file', () => {
    expect(parseQemuImgInfo(fixture('qcow2-backing'), 'overlay.qcow2').backingFile).toBe('/var/tmp/images/s.qcow2');
    expect(parseQemuImgInfo(fixture('qcow2-data-file'), 'ext.qcow2').dataFile).toBe('/var/tmp/images/ext.raw');
  });

  it('names the file when the answer is not what qemu-img prints', () => {
    expect(() => parseQemuImgInfo('qemu-img: Could not open', '/x.img')).toThrow(OperationError);
    expect(() => parseQemuImgInfo('qemu-img: Could not open', '/x.img')).toThrow(/qemu-img info \/x\.img printed no JSON/);
    expect(() => parseQemuImgInfo('{"format":"qcow2"}', '/x.img')).toThrow(/qemu-img info \/x\.img: unexpected answer \(virtual-size/);
  });
});
