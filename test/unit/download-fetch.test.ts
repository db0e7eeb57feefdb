import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DownloadError, fetchFile, fetchText, parseContentRange, parseRetryAfter, partialPaths, type FetchFileOptions } from '../../src/download/fetch-file.js';
import { serveBody, startServer, type TestServer } from '../helpers/http-server.js';
import { rejectionOf } from '../helpers/rejection.js';

const sha = (algorithm: string, b: Buffer): string => createHash(algorithm).update(b).digest('hex');
/** Fast retries, so the tests take milliseconds. */
const QUICK = { retry: { initialDelayMs: 5, maxDelayMs: 20 } } satisfies Partial<FetchFileOptions>;

let dir: string;
const servers: TestServer[] = [];
async function server(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kv-download-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

const caught = (p: Promise<unknown>): Promise<DownloadError> => rejectionOf(p, DownloadError);

/** Nothing at dest and no partial: what a failed download must leave. */
function expectNothingLeft(dest: string): void {
  const { partial, sidecar } = partialPaths(dest);
  expect([dest, partial, sidecar].filter((p) => existsSync(p))).toEqual([]);
}

describe('fetchFile', () => {
  const body = randomBytes(1024 * 1024 + 17);

  it('downloads a file with its sha256 and sha512, checks the expected digest, and leaves it 0644 with no partial', async () => {
    const s = await server((req, res) => serveBody(req, res, body));
    const dest = join(dir, 'sub', 'kubeadm');
    const got = await fetchFile({ url: `${s.origin}/kubeadm`, dest, expected: { algorithm: 'sha512', hex: sha('sha512', body) } });
    expect(readFileSync(dest).equals(body)).toBe(true);
    expect(got).toMatchObject({ path: dest, bytes: body.length, sha256: sha('sha256', body), sha512: sha('sha512', body), resumedFrom: 0, attempts: 1 });
    expect(statSync(dest).mode & 0o777).toBe(0o644);
    expect(existsSync(partialPaths(dest).partial) || existsSync(partialPaths(dest).sidecar)).toBe(false);
    expect(s.requests[0]!.headers['accept-encoding']).toBe('identity');
  });

  it('refuses a wrong expected digest, naming URL, file, expected and got, and leaves nothing behind', async () => {
    const s = await server((req, res) => serveBody(req, res, body));
    const dest = join(dir, 'kubelet');
    const wrong = sha('sha256', Buffer.from('something else'));
    const err = await caught(fetchFile({ url: `${s.origin}/kubelet`, dest, expected: { algorithm: 'sha256', hex: wrong }, ...QUICK }));
    expect(err.kind).toBe('digest');
    expect(err.message).toContain(`${s.origin}/kubelet`);
    expect(err.message).toContain(dest);
    expect(err.message).toContain(`expected ${wrong}`);
    expect(err.message).toContain(`got ${sha('sha256', body)}`);
    expect(s.requests).toHaveLength(1); // a mismatch is not retried
    expectNothingLeft(dest);
  });

  it('resumes a cut transfer with Range and If-Range, hashing the bytes already there', async () => {
    const s = await server((req, res, n) => {
      if (n === 0) {
        // Promises the whole length, sends half, then the connection dies.
        res.writeHead(200, { etag: '"v1"', 'content-length': body.length });
        res.write(body.subarray(0, body.length / 2), () => setTimeout(() => res.socket?.destroy(), 50));
        return;
      }
      serveBody(req, res, body);
    });
    const dest = join(dir, 'kubectl');
    const retries: string[] = [];
    const got = await fetchFile({ url: `${s.origin}/kubectl`, dest, expected: { algorithm: 'sha256', hex: sha('sha256', body) }, ...QUICK, onRetry: (e) => retries.push(e.kind) });
    expect(readFileSync(dest).equals(body)).toBe(true);
    expect(retries).toEqual(['network']);
    expect(s.requests).toHaveLength(2);
    const range = s.requests[1]!.headers.range;
    expect(range).toMatch(/^bytes=\d+-$/);
    expect(got.resumedFrom).toBeGreaterThan(0);
    expect(range).toBe(`bytes=${got.resumedFrom}-`);
    expect(s.requests[1]!.headers['if-range']).toBe('"v1"');
    expect(got.sha256).toBe(sha('sha256', body));
    expectNothingLeft(`${dest}.not-there`);
    expect(existsSync(partialPaths(dest).partial)).toBe(false);
  });

  it('restarts from zero when the server ignores Range (200), and the file is still right', async () => {
    const s = await server((_req, res, n) => {
      res.writeHead(200, { etag: '"v1"', 'content-length': body.length });
      if (n === 0) res.write(body.subarray(0, 1000), () => setTimeout(() => res.socket?.destroy(), 50));
      else res.end(body); // ignores the Range it was sent
    });
    const dest = join(dir, 'crictl.tar.gz');
    const got = await fetchFile({ url: `${s.origin}/crictl.tar.gz`, dest, expected: { algorithm: 'sha256', hex: sha('sha256', body) }, ...QUICK });
    expect(s.requests[1]!.headers.range).toMatch(/^bytes=\d+-$/);
    expect(got.resumedFrom).toBe(0);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('restarts when the server answers 416 to the resume', async () => {
    const s = await server((req, res) => serveBody(req, res, body));
    const dest = join(dir, 'runc');
    const { partial, sidecar } = partialPaths(dest);
    // A partial longer than the file (the file changed upstream under the same ETag): 416.
    writeFileSync(partial, Buffer.alloc(body.length + 10));
    writeFileSync(sidecar, JSON.stringify({ url: `${s.origin}/runc`, etag: '"v1"' }));
    const got = await fetchFile({ url: `${s.origin}/runc`, dest, ...QUICK });
    expect(s.requests.map((r) => r.headers.range)).toEqual([`bytes=${body.length + 10}-`, undefined]);
    expect(got.resumedFrom).toBe(0);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('restarts when a 206 does not reach the end of the file', async () => {
    const s = await server((req, res) => {
      if (req.headers.range) {
        res.writeHead(206, { etag: '"v1"', 'content-length': 100, 'content-range': `bytes 100-199/${body.length}` });
        res.end(body.subarray(100, 200));
      } else serveBody(req, res, body);
    });
    const dest = join(dir, 'short-range');
    writeFileSync(partialPaths(dest).partial, body.subarray(0, 100));
    writeFileSync(partialPaths(dest).sidecar, JSON.stringify({ url: `${s.origin}/f`, etag: '"v1"' }));
    const got = await fetchFile({ url: `${s.origin}/f`, dest });
    expect(s.requests.map((r) => r.headers.range)).toEqual(['bytes=100-', undefined]);
    expect(got.resumedFrom).toBe(0);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('does not resume a partial of another URL', async () => {
    const s = await server((req, res) => serveBody(req, res, body));
    const dest = join(dir, 'containerd.tar.gz');
    writeFileSync(partialPaths(dest).partial, body.subarray(0, 100));
    writeFileSync(partialPaths(dest).sidecar, JSON.stringify({ url: 'http://127.0.0.1:1/elsewhere', etag: '"v1"' }));
    const got = await fetchFile({ url: `${s.origin}/containerd.tar.gz`, dest });
    expect(s.requests[0]!.headers.range).toBeUndefined();
    expect(got.resumedFrom).toBe(0);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('retries a 500 and then succeeds', async () => {
    const s = await server((req, res, n) => {
      if (n === 0) {
        res.writeHead(500);
        res.end('boom');
      } else serveBody(req, res, body);
    });
    const dest = join(dir, 'cni.tgz');
    const got = await fetchFile({ url: `${s.origin}/cni.tgz`, dest, ...QUICK });
    expect(got.attempts).toBe(2);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('fails a 404 at once, naming the URL and the status', async () => {
    const s = await server((_req, res) => {
      res.writeHead(404, 'Not Found');
      res.end();
    });
    const dest = join(dir, 'missing');
    const err = await caught(fetchFile({ url: `${s.origin}/v9.9.9/kubeadm`, dest, ...QUICK }));
    expect(err).toMatchObject({ kind: 'http', status: 404, url: `${s.origin}/v9.9.9/kubeadm`, file: dest });
    expect(err.message).toContain(`${s.origin}/v9.9.9/kubeadm`);
    expect(err.message).toContain('HTTP 404 Not Found');
    expect(s.requests).toHaveLength(1);
    expectNothingLeft(dest);
  });

  it('abandons a stalled transfer after stallMs, retries it (resuming), and fails with kind timeout when it keeps stalling', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { etag: '"v1"', 'content-length': body.length });
      res.write(body.subarray(0, 4096)); // then silence, connection open
    });
    const dest = join(dir, 'stalls');
    const started = Date.now();
    const kinds: string[] = [];
    const err = await caught(fetchFile({ url: `${s.origin}/stalls`, dest, timeouts: { stallMs: 200 }, retry: { retries: 2, initialDelayMs: 5, maxDelayMs: 10 }, onRetry: (e) => kinds.push(e.kind) }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 200);
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/no byte for 0\.2 s after .* \(the stall timeout\) \(gave up after 3 attempts\)/);
    expect(kinds).toEqual(['timeout', 'timeout']);
    expect(s.requests).toHaveLength(3);
    expect(s.requests[1]!.headers.range).toBe('bytes=4096-'); // each retry resumes
    expect(existsSync(dest)).toBe(false);
  });

  it('gets past one stall by retrying', async () => {
    const s = await server((req, res, n) => {
      if (n === 0) {
        res.writeHead(200, { etag: '"v1"', 'content-length': body.length });
        res.write(body.subarray(0, 4096));
      } else serveBody(req, res, body);
    });
    const dest = join(dir, 'stalls-once');
    const got = await fetchFile({ url: `${s.origin}/x`, dest, timeouts: { stallMs: 200 }, ...QUICK });
    expect(got).toMatchObject({ attempts: 2, resumedFrom: 4096 });
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('gives up on a server that never answers after connectMs', async () => {
    const s = await server(() => undefined); // accepts, never answers
    const err = await caught(fetchFile({ url: `${s.origin}/x`, dest: join(dir, 'x'), timeouts: { connectMs: 150 }, retry: { retries: 1, initialDelayMs: 5 } }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('no answer within 0.2 s (the connect timeout)');
    expect(s.requests).toHaveLength(2);
  });

  it('bounds the whole call with totalMs, retries included', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.write('12345'); // then silence
    });
    const started = Date.now();
    const err = await caught(fetchFile({ url: `${s.origin}/x`, dest: join(dir, 'x'), timeouts: { stallMs: 100, totalMs: 400 }, retry: { retries: 50, initialDelayMs: 5, maxDelayMs: 5 } }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('not finished within 0.4 s (the total timeout)');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a URL that is not http(s) without trying it', async () => {
    const err = await caught(fetchFile({ url: 'ftp://mirror.example.test/kubeadm', dest: join(dir, 'x') }));
    expect(err).toMatchObject({ kind: 'http', url: 'ftp://mirror.example.test/kubeadm' });
    expect(err.message).toContain('not an http(s) URL');
  });

  it("honours Retry-After (429, 503) up to the cap", async () => {
    const s = await server((req, res, n) => {
      if (n === 0) {
        res.writeHead(429, { 'retry-after': '1' });
        res.end();
      } else if (n === 1) {
        res.writeHead(503, { 'retry-after': '3600' });
        res.end();
      } else serveBody(req, res, body);
    });
    const waits: number[] = [];
    const started = Date.now();
    await fetchFile({ url: `${s.origin}/x`, dest: join(dir, 'x'), retry: { initialDelayMs: 5, maxRetryAfterMs: 1500 }, onRetry: (_e, _n, ms) => waits.push(ms) });
    expect(waits).toEqual([1000, 1500]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
  });

  it('follows a redirect chain across hosts, dropping credentials at the new origin', async () => {
    const storage = await server((req, res) => serveBody(req, res, body));
    const front = await server((req, res) => {
      if (req.url === '/release/kubeadm') res.writeHead(302, { location: '/dl/kubeadm' });
      else res.writeHead(307, { location: `${storage.origin}/blob/abc` });
      res.end();
    });
    const dest = join(dir, 'kubeadm');
    const got = await fetchFile({ url: `${front.origin}/release/kubeadm`, dest, headers: { authorization: 'Bearer secret' } });
    expect(got.finalUrl).toBe(`${storage.origin}/blob/abc`);
    expect(front.requests.map((r) => r.url)).toEqual(['/release/kubeadm', '/dl/kubeadm']);
    expect(front.requests.every((r) => r.headers.authorization === 'Bearer secret')).toBe(true);
    expect(storage.requests[0]!.headers.authorization).toBeUndefined();
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('refuses a redirect from https to http (fake fetch), without retrying', async () => {
    const calls: string[] = [];
    const fakeFetch = (async (input: string | URL | Request) => {
      calls.push(String(input));
      return new Response('moved', { status: 302, headers: { location: 'http://mirror.example.test/kubeadm' } });
    }) as typeof fetch;
    const dest = join(dir, 'kubeadm');
    const err = await caught(fetchFile({ url: 'https://dl.example.test/kubeadm', dest, fetch: fakeFetch, ...QUICK }));
    expect(err.kind).toBe('http');
    expect(err.message).toContain('refused a redirect from https://dl.example.test/kubeadm to http://mirror.example.test/kubeadm');
    expect(calls).toEqual(['https://dl.example.test/kubeadm']);
    expectNothingLeft(dest);
  });

  it('refuses a body larger than maxBytes, declared or not, and removes it', async () => {
    const s = await server((req, res) => {
      if (req.url === '/declared') serveBody(req, res, body);
      else {
        res.writeHead(200); // chunked: no length
        res.end(body);
      }
    });
    for (const path of ['/declared', '/chunked']) {
      const dest = join(dir, path.slice(1));
      const err = await caught(fetchFile({ url: `${s.origin}${path}`, dest, maxBytes: 1000, ...QUICK }));
      expect(err.kind).toBe('size');
      expect(err.message).toContain('limit of 1000 B');
      expectNothingLeft(dest);
    }
  });

  it('stops on the caller’s signal, keeps the partial, and a later call resumes it', async () => {
    const s = await server((req, res, n) => {
      if (n === 0) {
        res.writeHead(200, { etag: '"v1"', 'content-length': body.length });
        res.write(body.subarray(0, 8192)); // and waits
      } else serveBody(req, res, body);
    });
    const dest = join(dir, 'image.qcow2');
    const ctl = new AbortController();
    const err = await caught(
      fetchFile({
        url: `${s.origin}/image.qcow2`,
        dest,
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.bytes >= 8192) ctl.abort();
        },
      }),
    );
    expect(err.kind).toBe('aborted');
    expect(err.message).toContain('kept in');
    expect(statSync(partialPaths(dest).partial).size).toBe(8192);
    const got = await fetchFile({ url: `${s.origin}/image.qcow2`, dest });
    expect(got.resumedFrom).toBe(8192);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('reports a full disk as kind disk, naming the directory, without retrying', async () => {
    const s = await server((req, res) => serveBody(req, res, body));
    const dest = join(dir, 'full', 'kubelet');
    const { partial } = partialPaths(dest);
    rmSync(join(dir, 'full'), { recursive: true, force: true });
    await import('node:fs').then((fs) => fs.mkdirSync(join(dir, 'full')));
    symlinkSync('/dev/full', partial); // every write: ENOSPC
    const err = await caught(fetchFile({ url: `${s.origin}/kubelet`, dest, ...QUICK }));
    expect(err.kind).toBe('disk');
    expect(err.message).toContain(`cannot write in ${join(dir, 'full')}: no space left on the device`);
    expect(s.requests).toHaveLength(1);
    expect(existsSync(dest)).toBe(false);
  });
});

describe('fetchText', () => {
  it('returns a small document, and refuses one over its limit or not UTF-8', async () => {
    const s = await server((req, res) => {
      if (req.url === '/SHA256SUMS') serveBody(req, res, Buffer.from('abc  file\n'));
      else if (req.url === '/big') serveBody(req, res, Buffer.alloc(100_000));
      else serveBody(req, res, Buffer.from([0xff, 0xfe, 0x00]));
    });
    expect(await fetchText(`${s.origin}/SHA256SUMS`)).toBe('abc  file\n');
    expect((await caught(fetchText(`${s.origin}/big`, { maxBytes: 10_000 }))).kind).toBe('size');
    expect((await caught(fetchText(`${s.origin}/bin`))).message).toContain('not UTF-8 text');
  });
});

describe('header parsers', () => {
  it('reads Retry-After as seconds or a date, and Content-Range', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseContentRange('bytes 100-199/200')).toEqual({ start: 100, end: 199, total: 200 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: undefined });
    expect(parseContentRange('items 1-2/3')).toBeUndefined();
  });
});
