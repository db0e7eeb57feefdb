import { chmod, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { errorMessage, OperationError } from '../errors.js';
import { withRetry } from '../ssh/retry.js';
import { fileSystemReason } from '../write.js';
import { DIGEST_HEX_LENGTH, hashFileInto, multiHash, type Digest, type DigestAlgorithm } from './digest.js';
import { formatBytes, type TransferProgressEvent } from './progress.js';

export type { TransferProgressEvent };
import { readRecordFile, writeRecordFile } from './record-file.js';

/** What went wrong with a download, for callers that react differently (and for the tests). */
export type DownloadErrorKind = 'http' | 'digest' | 'timeout' | 'network' | 'size' | 'disk' | 'aborted';

/** A download that failed; the message names the URL, the file and what was expected and seen. */
export class DownloadError extends OperationError {
  readonly url: string;
  readonly file: string | undefined;
  readonly kind: DownloadErrorKind;
  /** The HTTP status, where one was answered. */
  readonly status: number | undefined;
  /** Whether another attempt may succeed: network errors, stalls, cut transfers, 5xx, 408, 429. */
  readonly retryable: boolean;
  /** The server's Retry-After, in ms (uncapped). */
  readonly retryAfterMs: number | undefined;
  /** A 401's WWW-Authenticate challenge (a registry's `Bearer realm=...`), for a caller that can answer it. */
  readonly authenticate: string | undefined;
  constructor(
    message: string,
    init: { url: string; file?: string; kind: DownloadErrorKind; status?: number; retryable?: boolean; retryAfterMs?: number; authenticate?: string; cause?: unknown },
  ) {
    super(message);
    this.url = init.url;
    this.file = init.file;
    this.kind = init.kind;
    this.status = init.status;
    this.retryable = init.retryable ?? false;
    this.retryAfterMs = init.retryAfterMs;
    this.authenticate = init.authenticate;
    if (init.cause !== undefined) this.cause = init.cause;
  }
}

/** Time bounds of one download; a wait without a bound is a hang. */
export interface FetchTimeouts {
  /** From the request to the response's headers (connecting, TLS, redirects' own headers). */
  connectMs: number;
  /** The longest silence while the body streams before the attempt is abandoned (and retried). */
  stallMs: number;
  /** The whole call, retries and waits included; undefined: none (the stall bound catches a dead transfer, a slow live one may take long). */
  totalMs?: number;
}

/** How failed attempts are retried. */
export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  /** The first back-off, doubled at each retry up to maxDelayMs; each wait is jittered to 50–100 %. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A server's Retry-After is honoured up to this. */
  maxRetryAfterMs: number;
}

/** Defaults: 30 s to the headers, 30 s of silence; no total bound. */
export const DEFAULT_TIMEOUTS: FetchTimeouts = { connectMs: 30_000, stallMs: 30_000 };
/** Defaults: 5 retries, 1 s doubling to 30 s, a Retry-After honoured up to 60 s. */
export const DEFAULT_RETRY: RetryPolicy = { retries: 5, initialDelayMs: 1000, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 };
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that must not follow a redirect to another origin (a registry's token must not reach a storage host). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** What fetchFile and fetchBytes share. */
export interface RequestOptions {
  /** Defaults to Node's global fetch (undici); tests inject their own. */
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
  /** Stops everything at once; a partial file is kept for a later resume. */
  signal?: AbortSignal;
  timeouts?: Partial<FetchTimeouts>;
  retry?: Partial<RetryPolicy>;
  /** Told before each wait, e.g. to print "retrying in 2 s". */
  onRetry?: (err: DownloadError, attempt: number, delayMs: number) => void;
  /** Told the headers of the answer whose body is read (after redirects), e.g. a registry's Docker-Content-Digest. */
  onHeaders?: (headers: Headers, finalUrl: string) => void;
}


/** What fetchFile downloads, where to, and what it must be. */
export interface FetchFileOptions extends RequestOptions {
  url: string;
  dest: string;
  /** Checked before the file gets its name; a mismatch removes the download. */
  expected?: Digest;
  /** Digests to compute besides sha256 (and the expected one's). */
  algorithms?: DigestAlgorithm[];
  /** A download larger than this is refused (and removed). */
  maxBytes?: number;
  /** Defaults to 0644. */
  mode?: number;
  onProgress?: (event: TransferProgressEvent) => void;
}

/** A verified file at its final path. */
export interface FetchedFile {
  path: string;
  /** The URL the bytes came from, after redirects. */
  finalUrl: string;
  bytes: number;
  sha256: string;
  sha512?: string;
  /** Bytes that an earlier, interrupted download had already fetched (0: from the start). */
  resumedFrom: number;
  attempts: number;
}

/** What a partial download's sidecar records, so a resume asks for the same bytes (If-Range). */
interface PartialRecord {
  url: string;
  etag?: string;
  lastModified?: string;
}

/** The file names of a download in progress. */
export function partialPaths(dest: string): { partial: string; sidecar: string } {
  return { partial: `${dest}.partial`, sidecar: `${dest}.partial.json` };
}

/** Retry-After (seconds or an HTTP date) in ms, or undefined. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** `bytes START-END/TOTAL` → its numbers (TOTAL undefined for `*`), or undefined. */
export function parseContentRange(value: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** Whether an HTTP status is worth another attempt. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** The per-call state: the caller's signal, the total deadline, and how to describe the download. */
interface Call {
  url: string;
  file: string | undefined;
  fetch: typeof globalThis.fetch;
  headers: Record<string, string>;
  timeouts: FetchTimeouts;
  userSignal: AbortSignal | undefined;
  deadline: AbortSignal | undefined;
  /** Aborts when the caller aborts or the total time is spent. */
  signal: AbortSignal;
}

function describe(call: Pick<Call, 'url' | 'file'>): string {
  return call.file ? `downloading ${call.url} to ${call.file}` : `downloading ${call.url}`;
}

function fail(call: Pick<Call, 'url' | 'file'>, kind: DownloadErrorKind, reason: string, extra: { status?: number; retryable?: boolean; retryAfterMs?: number; authenticate?: string; cause?: unknown } = {}): DownloadError {
  return new DownloadError(`${describe(call)}: ${reason}`, { url: call.url, file: call.file, kind, ...extra });
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** A file-system failure while writing a download, naming the directory (a full disk is the usual one). */
function diskError(call: Call, err: unknown, path: string): DownloadError {
  const reason = fileSystemReason(err) ?? errorMessage(err);
  return fail(call, 'disk', `cannot write in ${dirname(path)}: ${reason}`, { cause: err });
}

async function onDisk<T>(call: Call, path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw diskError(call, err, path);
  }
}

/** One attempt's timers: which one fired tells a stall from a slow connection. */
class Attempt {
  private readonly ctl = new AbortController();
  readonly signal: AbortSignal;
  private timer: NodeJS.Timeout | undefined;
  timedOut: { what: 'connect' | 'stall'; ms: number } | undefined;
  /** Rejects when the attempt is abandoned, so a fetch or a read that ignores its signal is still let go. */
  readonly abandoned: Promise<never>;
  private readonly onAbort: () => void;

  constructor(call: Call) {
    this.signal = AbortSignal.any([call.signal, this.ctl.signal]);
    let reject!: (err: unknown) => void;
    this.abandoned = new Promise<never>((_, r) => (reject = r));
    this.abandoned.catch(() => undefined);
    this.onAbort = () => reject(this.signal.reason);
    this.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  arm(what: 'connect' | 'stall', ms: number): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timedOut = { what, ms };
      this.ctl.abort(new Error(`${what} timeout`));
    }, ms);
  }

  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  end(): void {
    this.disarm();
    this.signal.removeEventListener('abort', this.onAbort);
  }
}

/** Sends a GET, following redirects itself (never from https to http; credentials stay on their origin). */
async function openUrl(call: Call, attempt: Attempt, extraHeaders: Record<string, string>): Promise<{ res: Response; finalUrl: string }> {
  let url = call.url;
  let headers: Record<string, string> = { ...call.headers, 'accept-encoding': 'identity', ...extraHeaders };
  attempt.arm('connect', call.timeouts.connectMs);
  for (let hop = 0; ; hop++) {
    const res = await Promise.race([call.fetch(url, { headers, redirect: 'manual', signal: attempt.signal }), attempt.abandoned]);
    if (!REDIRECT_STATUSES.has(res.status)) {
      attempt.disarm();
      return { res, finalUrl: url };
    }
    await res.body?.cancel().catch(() => undefined);
    const location = res.headers.get('location');
    if (!location) throw fail(call, 'http', `HTTP ${res.status} redirect from ${url} without a Location`, { status: res.status });
    const next = URL.canParse(location, url) ? new URL(location, url) : undefined;
    if (!next) throw fail(call, 'http', `HTTP ${res.status} redirect from ${url} to an unreadable Location "${location}"`, { status: res.status });
    if (next.protocol !== 'https:' && next.protocol !== 'http:') throw fail(call, 'http', `refused a redirect from ${url} to ${next.href}: not an http(s) URL`, { status: res.status });
    if (new URL(url).protocol === 'https:' && next.protocol === 'http:') {
      throw fail(call, 'http', `refused a redirect from ${url} to ${next.href}: it would leave HTTPS for plain HTTP`, { status: res.status });
    }
    if (hop + 1 > MAX_REDIRECTS) throw fail(call, 'http', `more than ${MAX_REDIRECTS} redirects (the last to ${next.href})`, { status: res.status });
    if (next.origin !== new URL(url).origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k.toLowerCase())));
    url = next.href;
  }
}

/** An answer that is not the one we asked for, as an error (retryable for 5xx, 408, 429). */
function statusError(call: Call, res: Response, finalUrl: string): DownloadError {
  const from = finalUrl === call.url ? '' : ` from ${finalUrl}`;
  return fail(call, 'http', `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${from}`, {
    status: res.status,
    retryable: retryableStatus(res.status),
    retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
    ...(res.status === 401 && res.headers.get('www-authenticate') ? { authenticate: res.headers.get('www-authenticate')! } : {}),
  });
}

/** The body's declared length, where it describes the bytes we will read (no content coding). */
function declaredLength(res: Response): number | undefined {
  const coding = res.headers.get('content-encoding');
  if (coding && coding.toLowerCase() !== 'identity') return undefined;
  const value = res.headers.get('content-length');
  return value !== null && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
}

/** Reads the body chunk by chunk, abandoning it after `stallMs` without a byte; returns the bytes read. */
async function readBody(call: Call, attempt: Attempt, res: Response, onChunk: (chunk: Uint8Array) => Promise<void> | void): Promise<number> {
  if (!res.body) return 0;
  const reader = res.body.getReader();
  let bytes = 0;
  try {
    for (;;) {
      attempt.arm('stall', call.timeouts.stallMs);
      const { done, value } = await Promise.race([reader.read(), attempt.abandoned]);
      attempt.disarm();
      if (done) return bytes;
      bytes += value.byteLength;
      await onChunk(value);
    }
  } finally {
    attempt.disarm();
    reader.cancel().catch(() => undefined);
  }
}

/** A thrown thing from an attempt as a DownloadError: the caller's abort, the deadline, which timer fired, a network failure. */
function classify(call: Call, timedOut: Attempt['timedOut'], err: unknown, received: number): unknown {
  if (call.userSignal?.aborted) {
    const kept = call.file ? `; ${formatBytes(received)} kept in ${partialPaths(call.file).partial} for a later resume` : '';
    return fail(call, 'aborted', `stopped${kept}`, { cause: call.userSignal.reason });
  }
  if (call.deadline?.aborted) return fail(call, 'timeout', `not finished within ${seconds(call.timeouts.totalMs ?? 0)} (the total timeout)`);
  if (timedOut?.what === 'connect') return fail(call, 'timeout', `no answer within ${seconds(timedOut.ms)} (the connect timeout)`, { retryable: true });
  if (timedOut?.what === 'stall') return fail(call, 'timeout', `no byte for ${seconds(timedOut.ms)} after ${formatBytes(received)} (the stall timeout)`, { retryable: true });
  if (err instanceof DownloadError) return err;
  // undici reports a failed connection as TypeError('fetch failed') and a cut body as TypeError('terminated'), the reason in `cause`.
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if ((err instanceof TypeError && cause !== undefined) || (err as NodeJS.ErrnoException | undefined)?.code) {
    const detail = cause !== undefined ? ` (${errorMessage(cause)})` : '';
    return fail(call, 'network', `${errorMessage(err)}${detail} after ${formatBytes(received)}`, { retryable: true, cause: err });
  }
  return err;
}

/** Runs attempts under the call's policy: jittered exponential back-off, Retry-After up to its cap, abortable waits. */
async function withAttempts<T>(call: Call, opts: RequestOptions, run: (attempt: Attempt, count: number) => Promise<T>, received: () => number): Promise<T> {
  const policy = { ...DEFAULT_RETRY, ...opts.retry };
  let count = 0;
  try {
    return await withRetry(
      async () => {
        count++;
        const attempt = new Attempt(call);
        try {
          return await run(attempt, count);
        } catch (err) {
          throw classify(call, attempt.timedOut, err, received());
        } finally {
          attempt.end();
        }
      },
      {
        retries: policy.retries,
        initialDelayMs: policy.initialDelayMs,
        maxDelayMs: policy.maxDelayMs,
        shouldRetry: (err) => err instanceof DownloadError && err.retryable && !call.signal.aborted,
        delayMs: (err, _n, backoff) => {
          const after = (err as DownloadError).retryAfterMs;
          return after !== undefined ? Math.min(after, policy.maxRetryAfterMs) : Math.round(backoff * (0.5 + Math.random() * 0.5));
        },
        onRetry: (err, n, delay) => opts.onRetry?.(err as DownloadError, n, delay),
        sleep: (ms) => sleepFor(ms, undefined, { signal: call.signal }),
      },
    );
  } catch (err) {
    // A wait cut short by the caller's signal or the deadline; or the last of several attempts.
    const e = classify(call, undefined, err, received());
    if (e instanceof DownloadError && count > 1 && e.retryable) {
      const { url, file, kind, status, retryAfterMs } = e;
      throw new DownloadError(`${e.message} (gave up after ${count} attempts)`, { url, file, kind, status, retryAfterMs, cause: e.cause });
    }
    throw e;
  }
}

function startCall(url: string, file: string | undefined, opts: RequestOptions): Call {
  const protocol = URL.canParse(url) ? new URL(url).protocol : undefined;
  if (protocol !== 'https:' && protocol !== 'http:') throw fail({ url, file }, 'http', 'not an http(s) URL');
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const deadline = timeouts.totalMs !== undefined ? AbortSignal.timeout(timeouts.totalMs) : undefined;
  const signals = [opts.signal, deadline].filter((s): s is AbortSignal => s !== undefined);
  return {
    url,
    file,
    fetch: opts.fetch ?? globalThis.fetch,
    headers: opts.headers ?? {},
    timeouts,
    userSignal: opts.signal,
    deadline,
    signal: signals.length > 0 ? AbortSignal.any(signals) : new AbortController().signal,
  };
}

/** FileHandle.write may write less than asked (a disk filling up); the rest follows, or the error. */
async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let done = 0; done < chunk.byteLength; ) done += (await file.write(chunk, done)).bytesWritten;
}

/** The validator a resume sends as If-Range: a strong ETag, else Last-Modified; none means no safe resume. */
function validatorOf(record: { etag?: string; lastModified?: string }): string | undefined {
  if (record.etag && !record.etag.startsWith('W/')) return record.etag;
  return record.lastModified;
}

/** Where an earlier download of the same URL stopped, if it can be resumed safely. */
async function resumePoint(url: string, partial: string, sidecar: string): Promise<{ offset: number; validator: string } | undefined> {
  const record = await readRecordFile<PartialRecord>(sidecar, (r) => typeof r.url === 'string');
  const validator = record && record.url === url ? validatorOf(record) : undefined;
  if (!validator) return undefined;
  const size = await stat(partial).then((s) => s.size, () => 0);
  return size > 0 ? { offset: size, validator } : undefined;
}

/**
 * Downloads `url` to `dest`, verified: through `<dest>.partial` (resumed with Range/If-Range when an
 * earlier attempt left one), digests computed while streaming, `expected` and `maxBytes` checked
 * before the rename to `dest`. Retries transient failures; see RequestOptions and DownloadError.
 */
export async function fetchFile(opts: FetchFileOptions): Promise<FetchedFile> {
  const { url, dest } = opts;
  const { partial, sidecar } = partialPaths(dest);
  const mode = opts.mode ?? 0o644;
  const algorithms = [...new Set<DigestAlgorithm>(['sha256', ...(opts.algorithms ?? []), ...(opts.expected ? [opts.expected.algorithm] : [])])];
  const call = startCall(url, dest, opts);
  if (opts.expected && opts.expected.hex.length !== DIGEST_HEX_LENGTH[opts.expected.algorithm]) {
    throw fail(call, 'digest', `the expected ${opts.expected.algorithm} "${opts.expected.hex}" is not ${DIGEST_HEX_LENGTH[opts.expected.algorithm]} hex digits`);
  }
  await onDisk(call, dest, () => mkdir(dirname(dest), { recursive: true }));
  let received = 0;
  const discard = () => onDisk(call, partial, () => Promise.all([rm(partial, { force: true }), rm(sidecar, { force: true })]));

  const result = await withAttempts(
    call,
    opts,
    async (attempt, count) => {
      let resume = await resumePoint(url, partial, sidecar);
      let hash = multiHash(algorithms);
      // The bytes already there are hashed first, so the digest covers the whole file.
      if (resume) received = await onDisk(call, partial, () => hashFileInto(partial, hash, 0));
      if (resume && received !== resume.offset) resume = undefined;
      for (let restarts = 0; ; restarts++) {
        const { res, finalUrl } = await openUrl(call, attempt, resume ? { range: `bytes=${resume.offset}-`, 'if-range': resume.validator } : {});
        let offset = 0;
        if (res.status === 206 && resume) {
          const range = parseContentRange(res.headers.get('content-range'));
          if (!range || range.start !== resume.offset || (range.total !== undefined && range.end + 1 !== range.total)) {
            // Not the rest of the file from where we stopped: the partial is of no use; start again from zero once.
            await res.body?.cancel().catch(() => undefined);
            if (restarts > 0) throw fail(call, 'http', `HTTP 206 with Content-Range "${res.headers.get('content-range')}" for a request of bytes ${resume.offset}-`, { status: 206 });
            await discard();
            resume = undefined;
            continue;
          }
          offset = resume.offset;
        } else if (res.status === 416 && resume && restarts === 0) {
          // The partial is not a prefix of what the server has now (longer, or the file changed).
          await res.body?.cancel().catch(() => undefined);
          await discard();
          resume = undefined;
          continue;
        } else if (res.status !== 200) {
          await res.body?.cancel().catch(() => undefined);
          throw statusError(call, res, finalUrl);
        }
        if (offset === 0) {
          hash = multiHash(algorithms);
          received = 0;
        }
        opts.onHeaders?.(res.headers, finalUrl);
        const length = declaredLength(res);
        const total = length !== undefined ? offset + length : undefined;
        if (opts.maxBytes !== undefined && total !== undefined && total > opts.maxBytes) {
          await res.body?.cancel().catch(() => undefined);
          await discard();
          throw fail(call, 'size', `${formatBytes(total)} (${total} bytes) is more than the limit of ${formatBytes(opts.maxBytes)}`);
        }
        let fh: FileHandle | undefined;
        try {
          if (offset === 0) {
            const record: PartialRecord = { url, etag: res.headers.get('etag') ?? undefined, lastModified: res.headers.get('last-modified') ?? undefined };
            // No validator (or a transformed body): the partial cannot be resumed safely, so no sidecar.
            if (validatorOf(record) && length !== undefined) await onDisk(call, sidecar, () => writeRecordFile(sidecar, record));
            else await onDisk(call, sidecar, () => rm(sidecar, { force: true }));
          }
          fh = await onDisk(call, partial, () => open(partial, offset === 0 ? 'w' : 'a', mode));
          const file = fh;
          opts.onProgress?.({ url, bytes: received, total, resumedFrom: offset });
          await readBody(call, attempt, res, async (chunk) => {
            received += chunk.byteLength;
            if (opts.maxBytes !== undefined && received > opts.maxBytes) {
              throw fail(call, 'size', `more than the limit of ${formatBytes(opts.maxBytes)} (the server sent no length, or more than it said)`);
            }
            hash.update(chunk);
            await onDisk(call, partial, () => writeAll(file, chunk));
            opts.onProgress?.({ url, bytes: received, total, resumedFrom: offset });
          });
          if (total !== undefined && received !== total) {
            throw fail(call, 'network', `the connection closed after ${received} of ${total} bytes`, { retryable: true });
          }
          await onDisk(call, partial, () => file.sync());
        } catch (err) {
          if (err instanceof DownloadError && err.kind === 'size') await discard();
          throw err;
        } finally {
          await fh?.close().catch(() => undefined);
        }
        return { finalUrl, resumedFrom: offset, digests: hash.hex(), attempts: count };
      }
    },
    () => received,
  );

  const got = opts.expected ? result.digests[opts.expected.algorithm] : undefined;
  if (opts.expected && got !== opts.expected.hex.toLowerCase()) {
    await discard();
    throw fail(call, 'digest', `${opts.expected.algorithm} mismatch: expected ${opts.expected.hex.toLowerCase()}, got ${got} (${formatBytes(received)} from ${result.finalUrl}); the download was removed`);
  }
  await onDisk(call, dest, async () => {
    await chmod(partial, mode); // the umask may have narrowed the mode given to open
    await rename(partial, dest);
    await rm(sidecar, { force: true });
  });
  return {
    path: dest,
    finalUrl: result.finalUrl,
    bytes: received,
    sha256: result.digests.sha256,
    ...(result.digests.sha512 !== undefined ? { sha512: result.digests.sha512 } : {}),
    resumedFrom: result.resumedFrom,
    attempts: result.attempts,
  };
}

/** What fetchBytes/fetchText accept: a size bound and an optional digest. */
export interface FetchBytesOptions extends RequestOptions {
  /** Defaults to 4 MiB: these are checksum files and signatures, not images. */
  maxBytes?: number;
  expected?: Digest;
}

/** fetchBytes' default size bound. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

/** A small document (a checksum file, a signature) in memory, size-bounded, with the same retries and timeouts as fetchFile. */
export async function fetchBytes(url: string, opts: FetchBytesOptions = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  const call = startCall(url, undefined, opts);
  let received = 0;
  const bytes = await withAttempts(
    call,
    opts,
    async (attempt) => {
      received = 0;
      const { res, finalUrl } = await openUrl(call, attempt, {});
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw statusError(call, res, finalUrl);
      }
      opts.onHeaders?.(res.headers, finalUrl);
      const length = declaredLength(res);
      if (length !== undefined && length > maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw fail(call, 'size', `${formatBytes(length)} is more than the limit of ${formatBytes(maxBytes)} for this document`);
      }
      const chunks: Uint8Array[] = [];
      await readBody(call, attempt, res, (chunk) => {
        received += chunk.byteLength;
        if (received > maxBytes) throw fail(call, 'size', `more than the limit of ${formatBytes(maxBytes)} for this document`);
        chunks.push(chunk);
      });
      if (length !== undefined && received !== length) throw fail(call, 'network', `the connection closed after ${received} of ${length} bytes`, { retryable: true });
      return Buffer.concat(chunks);
    },
    () => received,
  );
  if (opts.expected) {
    const hash = multiHash([opts.expected.algorithm]);
    hash.update(bytes);
    const got = hash.hex()[opts.expected.algorithm];
    if (got !== opts.expected.hex.toLowerCase()) throw fail(call, 'digest', `${opts.expected.algorithm} mismatch: expected ${opts.expected.hex.toLowerCase()}, got ${got}`);
  }
  return bytes;
}

/** fetchBytes decoded as UTF-8; bytes that are not UTF-8 text are refused. */
export async function fetchText(url: string, opts: FetchBytesOptions = {}): Promise<string> {
  const bytes = await fetchBytes(url, opts);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DownloadError(`downloading ${url}: the answer is not UTF-8 text (${bytes.byteLength} bytes)`, { url, kind: 'http' });
  }
}
