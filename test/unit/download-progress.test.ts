import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTransferProgress, formatBytes } from '../../src/download/progress.js';

/** A stream that keeps what is written to it; `isTTY` as asked. */
function sink(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text: () => string } {
  const chunks: string[] = [];
  const s = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as Writable & { isTTY: boolean; columns: number; text: () => string };
  s.isTTY = isTTY;
  s.columns = 120;
  s.text = () => chunks.join('');
  return s;
}

afterEach(() => vi.restoreAllMocks());

describe('formatBytes', () => {
  it('uses binary units with one decimal', () => {
    expect([0, 1023, 1024, 1536, 200 * 1024 * 1024, 1.5 * 1024 ** 3].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '200.0 MiB', '1.50 GiB']);
  });
});

describe('createTransferProgress', () => {
  it('in plain mode prints one line per finished or failed file, nothing while streaming, nothing on stdout', async () => {
    const stdout = vi.spyOn(process.stdout, 'write');
    const out = sink(false);
    let t = 0;
    const progress = await createTransferProgress({ stream: out, now: () => t });
    const a = progress.file('kubeadm');
    const b = progress.file('kubelet');
    const c = progress.file('kubectl');
    for (let bytes = 0; bytes <= 4 * 1024 * 1024; bytes += 1024 * 1024) a.onProgress({ url: 'u', bytes, total: 4 * 1024 * 1024, resumedFrom: 0 });
    expect(out.text()).toBe('');
    t = 2000;
    a.done({ bytes: 4 * 1024 * 1024 });
    b.done({ bytes: 10 * 1024 * 1024, resumedFrom: 6 * 1024 * 1024 });
    c.fail(new Error('HTTP 404 Not Found'));
    progress.finish();
    expect(out.text().split('\n')).toEqual([
      '✓ kubeadm 4.0 MiB (2.0 s, 2.0 MiB/s)',
      '✓ kubelet 10.0 MiB (resumed at 6.0 MiB, 2.0 s, 2.0 MiB/s)',
      '✗ kubectl: HTTP 404 Not Found',
      '',
    ]);
    expect(stdout).not.toHaveBeenCalled();
  });

  it('stays plain on a terminal when CI=true', async () => {
    vi.stubEnv('CI', 'true');
    try {
      const out = sink(true);
      const progress = await createTransferProgress({ stream: out });
      progress.file('a').done({ bytes: 1, note: 'cached' });
      progress.finish();
      expect(out.text()).toBe('✓ a 1 B (cached)\n');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('draws a bar of bytes and files on a terminal, on the given stream only', async () => {
    const stdout = vi.spyOn(process.stdout, 'write');
    const out = sink(true);
    const progress = await createTransferProgress({ stream: out, interactive: true, files: 2 });
    const a = progress.file('kubeadm');
    a.onProgress({ url: 'u', bytes: 512 * 1024, total: 1024 * 1024, resumedFrom: 0 });
    a.done({ bytes: 1024 * 1024 });
    progress.finish();
    const text = out.text();
    expect(text).toContain('1/2 files');
    expect(text).toContain('✓ kubeadm 1.0 MiB');
    expect(text).toMatch(/downloaded 1 file, 1\.0 MiB in /);
    expect(stdout).not.toHaveBeenCalled();
  });
});
