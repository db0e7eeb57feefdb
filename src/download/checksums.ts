import { OperationError } from '../errors.js';
import { algorithmOfHexLength, DIGEST_ALGORITHMS, DIGEST_HEX_LENGTH, type Digest, type DigestAlgorithm } from './digest.js';

/** One line of a checksum file. */
export interface ChecksumEntry extends Digest {
  /** The file it is for; undefined for a bare digest (Kubernetes' `kubeadm.sha256`). */
  name: string | undefined;
  /** 1-based, for messages. */
  line: number;
}

/** BSD tags (`SHA256 (name) = hex`, also OpenSSL's `SHA2-256(name)= hex`) → our algorithms. */
const BSD_TAGS: Record<string, DigestAlgorithm> = { SHA256: 'sha256', 'SHA2-256': 'sha256', SHA512: 'sha512', 'SHA2-512': 'sha512' };
/** BSD tags of algorithms we never verify with: such lines are skipped, not errors (some files list MD5 beside SHA256). */
const IGNORED_BSD_TAGS = new Set(['MD5', 'SHA1', 'SHA224', 'SHA384', 'SHA2-224', 'SHA2-384', 'SHA3-256', 'SHA3-512', 'BLAKE2B']);

const BSD_LINE = /^([A-Za-z0-9-]+) ?\((.*)\) ?= ?([0-9a-fA-F]+)$/;
/** GNU coreutils: `hex  name` (text mode) or `hex *name` (binary mode); a leading `\` means the name is escaped. */
const GNU_LINE = /^(\\?)([0-9a-fA-F]+) [ *](.+)$/;
const BARE_LINE = /^([0-9a-fA-F]+)$/;

function unescapeGnu(name: string): string {
  return name.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

function normalizeName(name: string): string {
  return name.startsWith('./') ? name.slice(2) : name;
}

/**
 * The entries of a checksum file: GNU (`<hex>  name`, `<hex> *name`), BSD (`SHA256 (name) = <hex>`)
 * or one bare `<hex>`; the algorithm from the BSD tag or the hex length. Blank lines and `#` comments
 * are skipped; anything else is an OperationError naming the line. A clearsigned file is refused:
 * it must be verified (pgp.ts verifyClearsigned) and its signed text parsed.
 */
export function parseChecksumFile(text: string, source = 'checksum file'): ChecksumEntry[] {
  const problem = (line: number, what: string) => new OperationError(`${source} line ${line}: ${what}`);
  if (/^-----BEGIN PGP SIGNED MESSAGE-----/m.test(text)) {
    throw new OperationError(`${source} is clearsigned: verify its signature first and parse the signed text it returns`);
  }
  const entries: ChecksumEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const shown = line.length > 80 ? `${line.slice(0, 77)}...` : line;
    let algorithm: DigestAlgorithm | undefined;
    let hex: string;
    let name: string | undefined;
    const gnu = GNU_LINE.exec(line);
    const bsd = BSD_LINE.exec(line);
    const bare = BARE_LINE.exec(line);
    // A GNU line's name may look like `(x) = y`; a BSD tag decides only when it is one we know, or no GNU reading exists.
    const bsdTag = bsd?.[1]?.toUpperCase();
    if (bsd && bsdTag && (!gnu || Object.hasOwn(BSD_TAGS, bsdTag) || IGNORED_BSD_TAGS.has(bsdTag))) {
      const tag = bsd[1]!;
      if (IGNORED_BSD_TAGS.has(bsdTag)) return;
      algorithm = Object.hasOwn(BSD_TAGS, bsdTag) ? BSD_TAGS[bsdTag] : undefined;
      if (!algorithm) throw problem(lineNo, `unknown algorithm ${tag} in "${shown}" (known: ${Object.keys(BSD_TAGS).join(', ')})`);
      hex = bsd[3]!;
      name = bsd[2]!;
      if (hex.length !== DIGEST_HEX_LENGTH[algorithm]) throw problem(lineNo, `a ${tag} digest has ${DIGEST_HEX_LENGTH[algorithm]} hex digits, not ${hex.length}: "${shown}"`);
    } else if (gnu) {
      hex = gnu[2]!;
      name = gnu[1] ? unescapeGnu(gnu[3]!) : gnu[3]!;
    } else if (bare) {
      hex = bare[1]!;
    } else {
      throw problem(lineNo, `not a checksum line (GNU "<hex>  name", BSD "SHA256 (name) = <hex>" or a bare "<hex>"): "${shown}"`);
    }
    algorithm ??= algorithmOfHexLength(hex.length);
    if (!algorithm) {
      const lengths = DIGEST_ALGORITHMS.map((a) => `${a} ${DIGEST_HEX_LENGTH[a]}`).join(', ');
      throw problem(lineNo, `a digest of ${hex.length} hex digits is none we accept (${lengths}): "${shown}"`);
    }
    entries.push({ name: name === undefined ? undefined : normalizeName(name), algorithm, hex: hex.toLowerCase(), line: lineNo });
  });
  if (entries.some((e) => e.name === undefined) && entries.length > 1) {
    throw problem(entries.find((e) => e.name === undefined)!.line, 'a bare digest (no file name) must be the only entry of its file');
  }
  for (const [i, e] of entries.entries()) {
    const clash = entries.slice(0, i).find((o) => o.name === e.name && o.algorithm === e.algorithm && o.hex !== e.hex);
    if (clash) throw problem(e.line, `a second, different ${e.algorithm} for ${e.name} (line ${clash.line} has another)`);
  }
  return entries;
}

/**
 * The entry for `name` (a `./` prefix ignored), of `algorithm` if given, else the strongest listed;
 * a bare digest answers for any name. Undefined when the file does not list it.
 */
export function findChecksum(entries: readonly ChecksumEntry[], name: string, algorithm?: DigestAlgorithm): ChecksumEntry | undefined {
  const wanted = normalizeName(name);
  const matching = entries.filter((e) => (e.name === undefined || e.name === wanted) && (!algorithm || e.algorithm === algorithm));
  return matching.sort((a, b) => DIGEST_ALGORITHMS.indexOf(b.algorithm) - DIGEST_ALGORITHMS.indexOf(a.algorithm))[0];
}
