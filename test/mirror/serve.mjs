#!/usr/bin/env node
// The tests' stand-ins for the internet's release downloads and container registries (Node built-ins only,
// no build step, so it runs as a child process anywhere, also inside the e2e's network namespace):
//
//   node serve.mjs files --root DIR --listen 127.0.0.1:PORT
//       DIR over HTTP: GET/HEAD, one Range (206, Content-Range; 416 past the end), ETag, Last-Modified,
//       If-Range (an ETag or the Last-Modified date: the range only while the file is unchanged).
//   node serve.mjs auth-front --upstream http://127.0.0.1:REG --listen 127.0.0.1:PORT
//       An OCI distribution token-auth front for a registry without auth: /v2/ without a valid
//       `Authorization: Bearer` gets 401 and the registry's challenge, `GET /token?service=&scope=` hands
//       out random anonymous pull tokens (checked: unknown, expired or for another repository is 401),
//       valid GET/HEAD requests are proxied to the upstream as they are (streamed, headers kept, redirects
//       passed through, not followed).
//
// Both print `listening http://HOST:PORT` on stdout once listening (PORT 0: any free port), one line per
// request on stderr, and end on SIGTERM/SIGINT. Both have the same control endpoints:
//   POST /__faults   {"<request path>": "<mode>", ...}  makes those paths misbehave (merged into the set)
//   DELETE /__faults                                      all paths behave again;   GET /__faults  the set
//   GET /__requests  every request so far: method, path, range, status, fault, body bytes sent;  DELETE clears
// Modes: 404 | status500 (every time) | status500-once (the next request, then normal) | truncate (the full
// Content-Length promised, half the body sent, the connection destroyed) | stall (headers and a few bytes,
// then nothing until the client gives up) | corrupt (the same length, bytes flipped: a hex digit becomes
// another hex digit, so a checksum file stays well-formed but wrong; others are inverted) and, in
// auth-front only, index-without-arch (a manifest path answers an image index without the --arch entries,
// with that index's own digest).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';

const BODY_FAULTS = ['truncate', 'stall', 'corrupt'];
const STATUS_FAULTS = ['404', 'status500', 'status500-once'];
const FILE_FAULTS = [...STATUS_FAULTS, ...BODY_FAULTS];
const FRONT_FAULTS = [...FILE_FAULTS, 'index-without-arch'];
/** corrupt flips one byte in every MiB, at the same offsets of the whole file whichever range is asked. */
const CORRUPT_PERIOD = 1 << 20;
/** stall sends at most this much of the body. */
const STALL_BYTES = 64 * 1024;
const MAX_LOGGED_REQUESTS = 10_000;
const MAX_CONTROL_BODY = 64 * 1024;
const MAX_MANIFEST = 4 << 20;
const SERVICE = 'kv-test-registry';
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization'];

function usage(message) {
  process.stderr.write(
    `serve.mjs: ${message}\n` +
      'usage: node serve.mjs files --root DIR --listen HOST:PORT\n' +
      '       node serve.mjs auth-front --upstream http://HOST:PORT --listen HOST:PORT [--arch amd64] [--token-ttl SECONDS]\n',
  );
  process.exit(2);
}

function parseListen(value) {
  const m = /^([^:]+):(\d+)$/.exec(value ?? '');
  if (!m) usage(`--listen must be HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: m[1], port: Number(m[2]) };
}

function goArch() {
  return { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' }[process.arch] ?? process.arch;
}

// ---- faults and the request log (both modes) ----------------------------------------------------

class Control {
  constructor(modes) {
    this.modes = modes;
    /** @type {Map<string, string>} */
    this.faults = new Map();
    this.requests = [];
  }

  /** The fault for a path, consumed when it is a -once fault. */
  take(path) {
    const mode = this.faults.get(path);
    if (mode === 'status500-once') this.faults.delete(path);
    return mode;
  }

  record(entry) {
    this.requests.push(entry);
    if (this.requests.length > MAX_LOGGED_REQUESTS) this.requests.shift();
  }

  /** Answers /__faults and /__requests; false when the path is neither. */
  async handle(req, res, path) {
    if (path === '/__requests') {
      if (req.method === 'DELETE') this.requests = [];
      if (req.method === 'DELETE' || req.method === 'GET') sendJson(res, 200, this.requests);
      else sendJson(res, 405, { error: 'GET or DELETE' });
      return true;
    }
    if (path !== '/__faults') return false;
    if (req.method === 'DELETE') {
      this.faults.clear();
    } else if (req.method === 'POST') {
      let body;
      try {
        body = JSON.parse(await readBody(req, MAX_CONTROL_BODY));
      } catch (err) {
        sendJson(res, 400, { error: `the body must be a JSON object {"<path>": "<mode>"}: ${err.message}` });
        return true;
      }
      const problems = [];
      if (typeof body !== 'object' || body === null || Array.isArray(body)) problems.push('the body must be a JSON object {"<path>": "<mode>"}');
      else {
        for (const [p, mode] of Object.entries(body)) {
          if (!p.startsWith('/')) problems.push(`path ${JSON.stringify(p)} must start with /`);
          if (!this.modes.includes(mode)) problems.push(`${p}: unknown mode ${JSON.stringify(mode)} (one of ${this.modes.join(', ')})`);
        }
      }
      if (problems.length > 0) {
        sendJson(res, 400, { error: problems.join('; ') });
        return true;
      }
      for (const [p, mode] of Object.entries(body)) this.faults.set(p, mode);
    } else if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'GET, POST or DELETE' });
      return true;
    }
    sendJson(res, 200, Object.fromEntries(this.faults));
    return true;
  }
}

function readBody(req, limit) {
  return new Promise((resolveBody, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error(`larger than ${limit} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, value, headers = {}) {
  const body = Buffer.from(`${JSON.stringify(value)}\n`);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length, ...headers });
  res.end(body);
}

/** A hex digit becomes the next one (same case), any other byte is inverted. */
function flip(b) {
  if (b >= 0x30 && b <= 0x38) return b + 1; // 0-8
  if (b === 0x39) return 0x61; // 9 -> a
  if ((b >= 0x61 && b <= 0x65) || (b >= 0x41 && b <= 0x45)) return b + 1; // a-e, A-E
  if (b === 0x66) return 0x30; // f -> 0
  if (b === 0x46) return 0x30; // F -> 0
  return b ^ 0xff;
}

/**
 * Sends a body from `source` (a stream of the bytes from `offset` of a representation of `fullSize`
 * bytes) after the headers, shaped by the fault. `headers` must carry the Content-Length promised.
 */
async function sendBody(res, status, headers, source, { length, offset, fullSize, fault, entry, stalled }) {
  res.writeHead(status, headers);
  const limit = fault === 'truncate' ? Math.floor(length / 2) : fault === 'stall' ? Math.min(Math.floor(length / 2), STALL_BYTES) : undefined;
  const corruptAt = Math.floor(fullSize / 2) % CORRUPT_PERIOD;
  let lastWrite = Promise.resolve();
  try {
    if (limit === 0) {
      source.destroy();
    } else {
      for await (const chunk of source) {
        if (res.destroyed) break;
        let c = limit !== undefined && entry.bytes + chunk.length > limit ? chunk.subarray(0, limit - entry.bytes) : chunk;
        if (fault === 'corrupt') {
          c = Buffer.from(c);
          const start = offset + entry.bytes;
          let i = (((corruptAt - start) % CORRUPT_PERIOD) + CORRUPT_PERIOD) % CORRUPT_PERIOD;
          for (; i < c.length; i += CORRUPT_PERIOD) c[i] = flip(c[i]);
        }
        entry.bytes += c.length;
        let ok = true;
        lastWrite = new Promise((done) => {
          ok = res.write(c, () => done());
        });
        if (limit !== undefined && entry.bytes >= limit) break;
        if (!ok) await drained(res);
      }
    }
  } catch (err) {
    entry.error = err.message;
    res.destroy();
    return;
  }
  if (fault === 'truncate') {
    await lastWrite;
    res.socket?.destroy();
  } else if (fault === 'stall') {
    // Nothing more: the client's own timeout must end it (or the server's stop).
    if (res.socket) stalled.add(res.socket);
  } else {
    res.end();
  }
}

function drained(res) {
  return new Promise((done) => {
    const finish = () => {
      res.off('drain', finish);
      res.off('close', finish);
      done();
    };
    res.on('drain', finish);
    res.on('close', finish);
  });
}

// ---- files ------------------------------------------------------------------------------------

/** The one range of a Range header: { start, end } (inclusive), 'unsatisfiable', or undefined (ignore it). */
function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // several ranges or not bytes: the whole file, as RFC 9110 allows
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

function filesHandler(root, control, stalled) {
  return async (req, res, url, entry) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      entry.status = 405;
      return sendJson(res, 405, { error: 'GET or HEAD' }, { Allow: 'GET, HEAD' });
    }
    let path;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      entry.status = 400;
      return sendJson(res, 400, { error: 'bad percent-encoding' });
    }
    const file = resolve(root, `.${path}`);
    let st;
    if (!path.includes('\0') && (file === root || file.startsWith(root + sep))) {
      st = await stat(file).catch(() => undefined);
    }
    const fault = control.take(url.pathname);
    entry.fault = fault ?? null;
    if (!st?.isFile() || fault === '404') {
      entry.status = 404;
      return sendJson(res, 404, { error: `no file ${path}` });
    }
    if (fault === 'status500' || fault === 'status500-once') {
      entry.status = 500;
      return sendJson(res, 500, { error: `fault ${fault} on ${path}` });
    }
    const size = st.size;
    const etag = `"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const lastModified = st.mtime.toUTCString();
    const headers = { 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified, 'Content-Type': 'application/octet-stream' };
    let range;
    const rangeHeader = req.headers.range;
    if (rangeHeader) {
      const ifRange = req.headers['if-range'];
      const current =
        ifRange === undefined ||
        (ifRange.startsWith('"') ? ifRange === etag : !ifRange.startsWith('W/') && Date.parse(ifRange) === Math.floor(st.mtimeMs / 1000) * 1000);
      if (current) range = parseRange(rangeHeader, size);
    }
    if (range === 'unsatisfiable') {
      entry.status = 416;
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      return res.end();
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = size === 0 ? 0 : end - start + 1;
    const status = range ? 206 : 200;
    entry.status = status;
    headers['Content-Length'] = length;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    if (req.method === 'HEAD' || length === 0) {
      res.writeHead(status, headers);
      return res.end();
    }
    const source = createReadStream(file, { start, end, highWaterMark: 1 << 20 });
    return sendBody(res, status, headers, source, { length, offset: start, fullSize: size, fault, entry, stalled });
  };
}

// ---- auth-front -------------------------------------------------------------------------------

/** `<name>` of /v2/<name>/(manifests|blobs|tags)/...; undefined for /v2/ itself (and _catalog). */
function repositoryOf(path) {
  const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/.+$/.exec(path);
  return m?.[1];
}

function frontHandler(upstream, listenUrl, control, stalled, { arch, tokenTtl }) {
  /** token -> { repos: Set<string>, expires: ms } */
  const tokens = new Map();
  const challenge = (name) => `Bearer realm="${listenUrl()}/token",service="${SERVICE}"${name ? `,scope="repository:${name}:pull"` : ''}`;
  const registryError = (res, entry, status, code, message, headers = {}) => {
    entry.status = status;
    sendJson(res, status, { errors: [{ code, message, detail: null }] }, headers);
  };

  return async (req, res, url, entry) => {
    const path = url.pathname;
    if (path === '/token') {
      if (req.method !== 'GET') return registryError(res, entry, 405, 'UNSUPPORTED', 'GET /token only (anonymous pull)', { Allow: 'GET' });
      const service = url.searchParams.get('service');
      if (service !== SERVICE) return registryError(res, entry, 400, 'DENIED', `unknown service ${JSON.stringify(service)}, this is ${SERVICE}`);
      const repos = new Set();
      for (const scope of url.searchParams.getAll('scope').flatMap((s) => s.split(' '))) {
        const m = /^repository:(.+):([a-z,*]+)$/.exec(scope);
        // Anonymous: pull only; a scope asking for anything else is granted its pull part or nothing.
        if (m && m[2].split(',').some((a) => a === 'pull' || a === '*')) repos.add(m[1]);
      }
      for (const [t, info] of tokens) if (info.expires <= Date.now()) tokens.delete(t);
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, { repos, expires: Date.now() + tokenTtl * 1000 });
      entry.status = 200;
      return sendJson(res, 200, { token, access_token: token, expires_in: tokenTtl, issued_at: new Date().toISOString() });
    }
    if (path !== '/v2' && !path.startsWith('/v2/')) return registryError(res, entry, 404, 'NOT_FOUND', `no ${path} here`);

    const name = repositoryOf(path);
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const grant = auth ? tokens.get(auth[1]) : undefined;
    const valid = grant !== undefined && grant.expires > Date.now() && (name === undefined || grant.repos.has(name));
    if (!valid) {
      entry.auth = auth ? (grant ? (grant.expires > Date.now() ? 'wrong-scope' : 'expired') : 'unknown-token') : 'none';
      return registryError(res, entry, 401, 'UNAUTHORIZED', 'authentication required', { 'WWW-Authenticate': challenge(name) });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return registryError(res, entry, 405, 'UNSUPPORTED', 'this front serves pulls only (GET, HEAD)', { Allow: 'GET, HEAD' });
    }
    const fault = control.take(path);
    entry.fault = fault ?? null;
    if (fault === '404') return registryError(res, entry, 404, path.includes('/blobs/') ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN', `fault 404 on ${path}`);
    if (fault === 'status500' || fault === 'status500-once') return registryError(res, entry, 500, 'UNKNOWN', `fault ${fault} on ${path}`);

    const headers = { ...req.headers, host: upstream.host };
    for (const h of ['authorization', ...HOP_BY_HOP]) delete headers[h];
    // A rewritten index is answered to HEAD too (its own digest and length): the body is needed for that.
    const rewriteIndex = fault === 'index-without-arch' && path.includes('/manifests/');
    const method = rewriteIndex ? 'GET' : req.method;
    const up = await new Promise((resolveUp, reject) => {
      const r = httpRequest({ host: upstream.hostname, port: upstream.port, method, path: req.url, headers }, resolveUp);
      r.on('error', reject);
      // The client went away before the answer was complete: so does the upstream request.
      res.on('close', () => {
        if (!res.writableFinished) r.destroy();
      });
      r.end();
    }).catch((err) => err);
    if (up instanceof Error) return registryError(res, entry, 502, 'UNAVAILABLE', `upstream ${upstream.origin}: ${up.message}`);

    const upHeaders = { ...up.headers };
    for (const h of HOP_BY_HOP) delete upHeaders[h];
    const status = up.statusCode ?? 502;
    entry.status = status;

    if (rewriteIndex && status === 200) {
      const doc = JSON.parse(await readBody(up, MAX_MANIFEST));
      const index = Array.isArray(doc.manifests)
        ? { ...doc, manifests: doc.manifests.filter((m) => m.platform?.architecture !== arch) }
        : { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
      const body = Buffer.from(JSON.stringify(index));
      entry.bytes = req.method === 'HEAD' ? 0 : body.length;
      res.writeHead(200, {
        ...upHeaders,
        'content-type': index.mediaType ?? upHeaders['content-type'],
        'content-length': body.length,
        'docker-content-digest': `sha256:${createHash('sha256').update(body).digest('hex')}`,
      });
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    const length = Number(up.headers['content-length']);
    if (BODY_FAULTS.includes(fault) && req.method === 'GET' && (status === 200 || status === 206) && Number.isFinite(length) && length > 0) {
      const cr = /^bytes (\d+)-\d+\/(\d+)$/.exec(up.headers['content-range'] ?? '');
      const offset = cr ? Number(cr[1]) : 0;
      const fullSize = cr ? Number(cr[2]) : length;
      return sendBody(res, status, upHeaders, up, { length, offset, fullSize, fault, entry, stalled });
    }
    res.writeHead(status, upHeaders);
    up.on('data', (c) => {
      entry.bytes += c.length;
    });
    await pipeline(up, res).catch((err) => {
      entry.error = err.message;
    });
  };
}

// ---- main -------------------------------------------------------------------------------------

const [mode, ...rest] = process.argv.slice(2);
let options;
try {
  ({ values: options } = parseArgs({
    args: rest,
    options: {
      root: { type: 'string' },
      listen: { type: 'string' },
      upstream: { type: 'string' },
      arch: { type: 'string' },
      'token-ttl': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
const listen = parseListen(options.listen);
const stalled = new Set();
let listenUrl = () => `http://${listen.host}:${listen.port}`;
let control;
let handler;
if (mode === 'files') {
  if (!options.root) usage('files needs --root DIR');
  const root = resolve(options.root);
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) usage(`--root ${root} is not a directory`);
  control = new Control(FILE_FAULTS);
  handler = filesHandler(root, control, stalled);
} else if (mode === 'auth-front') {
  let upstream;
  try {
    upstream = new URL(options.upstream ?? '');
  } catch {
    usage(`auth-front needs --upstream http://HOST:PORT, got ${JSON.stringify(options.upstream)}`);
  }
  if (upstream.protocol !== 'http:') usage(`--upstream must be http://, got ${upstream.href}`);
  const tokenTtl = Number(options['token-ttl'] ?? 300);
  if (!Number.isInteger(tokenTtl) || tokenTtl <= 0) usage(`--token-ttl must be a positive number of seconds, got ${options['token-ttl']}`);
  control = new Control(FRONT_FAULTS);
  handler = frontHandler(upstream, () => listenUrl(), control, stalled, { arch: options.arch ?? goArch(), tokenTtl });
} else {
  usage(`unknown mode ${JSON.stringify(mode)}: files or auth-front`);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://mirror.invalid');
  const entry = { method: req.method, path: url.pathname, range: req.headers.range ?? null, status: 0, fault: null, bytes: 0, at: new Date().toISOString() };
  try {
    if (await control.handle(req, res, url.pathname)) return;
    control.record(entry);
    await handler(req, res, url, entry);
  } catch (err) {
    entry.error = err.message;
    if (!res.headersSent) sendJson(res, 500, { error: `serve.mjs: ${err.message}` });
    else res.destroy();
  } finally {
    if (entry.status) process.stderr.write(`${entry.method} ${entry.path}${entry.range ? ` [${entry.range}]` : ''} ${entry.status}${entry.fault ? ` fault=${entry.fault}` : ''}\n`);
  }
});
// Stalled responses wait for the client; nothing else here waits long.
server.requestTimeout = 0;
server.keepAliveTimeout = 5_000;

function stop() {
  for (const s of stalled) s.destroy();
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.on('error', (err) => {
  process.stderr.write(`serve.mjs: ${err.message}\n`);
  process.exit(1);
});
server.listen(listen.port, listen.host, () => {
  const { address, port } = server.address();
  const host = address.includes(':') ? `[${address}]` : address;
  listenUrl = () => `http://${host}:${port}`;
  process.stdout.write(`listening ${listenUrl()}\n`);
});
