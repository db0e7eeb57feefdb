import ipaddr from 'ipaddr.js';

/** IPv4 arithmetic: pure, imported by config validation and by the plan alike. */

/** An IPv4 range as unsigned integers, first and last address inclusive. */
export interface Range {
  cidr: string;
  first: number;
  last: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  return ipaddr.IPv4.parse(ip).toByteArray().reduce((n, b) => n * 256 + b, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function isIPv4(s: unknown): s is string {
  return typeof s === 'string' && ipaddr.IPv4.isValidFourPartDecimal(s);
}

/** `a.b.c.d/n` with a dotted-quad address and a prefix of at most 32. */
export function isIPv4Cidr(s: string): boolean {
  const m = /^(.+)\/(\d{1,2})$/.exec(s);
  return !!m && ipaddr.IPv4.isValidFourPartDecimal(m[1]!) && Number(m[2]) <= 32;
}

/** The range a CIDR covers, or undefined when the text is not an IPv4 CIDR. */
export function cidrRange(cidr: unknown): Range | undefined {
  if (typeof cidr !== 'string' || !isIPv4Cidr(cidr)) return undefined;
  const [, prefix] = ipaddr.IPv4.parseCIDR(cidr);
  const first = ipToInt(ipaddr.IPv4.networkAddressFromCIDR(cidr).toString());
  return { cidr, first, last: first + 2 ** (32 - prefix) - 1, prefix };
}

/** True when the CIDR's address has host bits set (10.244.1.0/16): kubeadm rejects such subnets. */
export function hasHostBits(cidr: string): boolean {
  const r = cidrRange(cidr);
  return !!r && ipToInt(cidr.split('/')[0]!) !== r.first;
}

export function overlaps(a: Range, b: Range): boolean {
  return a.first <= b.last && b.first <= a.last;
}

export function contains(r: Range, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= r.first && n <= r.last;
}

/** The /24 that holds an address: the node network of a cluster is the master's /24. */
export function slash24(ip: string): Range {
  return cidrRange(`${intToIp(ipToInt(ip) - (ipToInt(ip) % 256))}/24`)!;
}

/** How many /24 blocks a range holds (0 when it is smaller than a /24). */
export function slash24Count(r: Range): number {
  return r.prefix > 24 ? 0 : 2 ** (24 - r.prefix);
}

/** The first worker address: workerIPStart, or the address after the master. */
export function firstWorkerIP(masterIP: string, workerIPStart: string): string {
  return workerIPStart !== '' ? workerIPStart : intToIp(ipToInt(masterIP) + 1);
}
