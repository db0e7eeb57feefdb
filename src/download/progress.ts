import type { MultiBar, SingleBar } from 'cli-progress';
import { errorMessage } from '../errors.js';

/** One step of a transfer, for a progress display. */
export interface TransferProgressEvent {
  url: string;
  /** Bytes of the file so far, including those resumed. */
  bytes: number;
  /** The whole file's size where the server said it. */
  total: number | undefined;
  resumedFrom: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** A byte count for people: `512 B`, `1.5 KiB`, `12.3 MiB`, `1.21 GiB`. */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} B`;
  return `${value.toFixed(value < 10 && unit >= 3 ? 2 : 1)} ${UNITS[unit]}`;
}

/** One file's transfer, as the progress display sees it. */
export interface FileTransfer {
  /** Pass to fetchFile's onProgress. */
  onProgress(event: TransferProgressEvent): void;
  /** The file is complete (`note`: e.g. "cached", "resumed"). */
  done(result: { bytes: number; resumedFrom?: number; note?: string }): void;
  fail(err: unknown): void;
}

/** Bytes and files of a set of downloads: a bar on a terminal, one plain line per finished file elsewhere (CI logs). */
export interface TransferProgress {
  file(name: string): FileTransfer;
  /** Stops the bar (call once, in a finally). */
  finish(): void;
}

/** Where a transfer progress writes and whether it draws a bar. */
export interface TransferProgressOptions {
  /** Defaults to stderr; progress never goes to stdout, which belongs to a command's output. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Defaults to: the stream is a terminal and CI is not 'true'. */
  interactive?: boolean;
  /** How many files are expected, for the bar's "3/7 files". */
  files?: number;
  now?: () => number;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const rate = (bytes: number, ms: number): string => (ms > 0 ? `${formatBytes((bytes * 1000) / ms)}/s` : '');

/** The line written when a file finishes (both modes). */
export function finishedLine(name: string, result: { bytes: number; resumedFrom?: number; note?: string }, elapsedMs: number): string {
  const fetched = result.bytes - (result.resumedFrom ?? 0);
  const notes = [
    result.note,
    result.resumedFrom ? `resumed at ${formatBytes(result.resumedFrom)}` : undefined,
    fetched > 0 && !result.note ? `${seconds(elapsedMs)}, ${rate(fetched, elapsedMs)}` : undefined,
  ].filter(Boolean);
  return `✓ ${name} ${formatBytes(result.bytes)}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

/**
 * A progress display for downloads. On a terminal: one cli-progress bar of all bytes and files,
 * finished files logged above it. Elsewhere: nothing while a file streams, one line when it ends.
 */
export async function createTransferProgress(opts: TransferProgressOptions = {}): Promise<TransferProgress> {
  const stream = opts.stream ?? process.stderr;
  const interactive = opts.interactive ?? (stream.isTTY === true && process.env.CI !== 'true');
  const now = opts.now ?? Date.now;
  const started = now();
  const current = new Map<object, { bytes: number; total: number | undefined }>();
  let doneBytes = 0;
  let doneFiles = 0;
  let failedFiles = 0;
  let multi: MultiBar | undefined;
  let bar: SingleBar | undefined;

  if (interactive) {
    const { MultiBar, Presets } = (await import('cli-progress')).default;
    multi = new MultiBar(
      {
        stream: stream as NodeJS.WritableStream,
        format: ' {bar} {percentage}% | {bytes} of {totalBytes} | {filesDone}/{files} files | {speed}',
        // A hidden cursor would stay hidden after a Ctrl-C; gracefulExit (off) would swallow the SIGINT.
        hideCursor: false,
        gracefulExit: false,
        clearOnComplete: true,
        forceRedraw: false,
      },
      Presets.shades_classic,
    );
    bar = multi.create(1, 0, { bytes: '0 B', totalBytes: '?', filesDone: 0, files: opts.files ?? '?', speed: '' });
  }

  const redraw = (): void => {
    if (!bar) return;
    let bytes = doneBytes;
    let total = doneBytes;
    let known = true;
    for (const f of current.values()) {
      bytes += f.bytes;
      if (f.total === undefined) known = false;
      total += f.total ?? f.bytes;
    }
    bar.setTotal(Math.max(total, 1));
    bar.update(bytes, {
      bytes: formatBytes(bytes),
      totalBytes: known ? formatBytes(total) : `${formatBytes(total)}+`,
      filesDone: doneFiles,
      files: opts.files ?? doneFiles + current.size,
      speed: rate(bytes, now() - started),
    });
  };
  const line = (text: string): void => {
    if (multi) multi.log(`${text}\n`);
    else stream.write(`${text}\n`);
  };

  return {
    file(name) {
      const key = {};
      const start = now();
      current.set(key, { bytes: 0, total: undefined });
      const settle = (): void => {
        current.delete(key);
      };
      return {
        onProgress(event) {
          current.set(key, { bytes: event.bytes, total: event.total });
          redraw();
        },
        done(result) {
          settle();
          doneBytes += result.bytes;
          doneFiles++;
          line(finishedLine(name, result, now() - start));
          redraw();
        },
        fail(err) {
          settle();
          failedFiles++;
          line(`✗ ${name}: ${errorMessage(err)}`);
          redraw();
        },
      };
    },
    finish() {
      if (multi) {
        redraw();
        multi.update(); // draws the last state and flushes the lines logged since the last frame
        multi.stop();
        stream.write(`downloaded ${doneFiles} file${doneFiles === 1 ? '' : 's'}, ${formatBytes(doneBytes)} in ${seconds(now() - started)}${failedFiles ? `; ${failedFiles} failed` : ''}\n`);
      }
    },
  };
}
