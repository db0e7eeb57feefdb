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

/**
 * The special-purpose IPv4 ranges (RFC 6890) that a host-only network cannot carry: no node address
 * may lie in them, and no pod or service subnet may overlap them.
 */
export const SPECIAL_RANGES: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: 'the unspecified range (0.0.0.0/8)' },
  { cidr: '127.0.0.0/8', what: 'the loopback range (127.0.0.0/8)' },
  { cidr: '169.254.0.0/16', what: 'the link-local range (169.254.0.0/16)' },
  { cidr: '192.0.0.0/24', what: 'the reserved IETF protocol range (192.0.0.0/24)' },
  { cidr: '192.0.2.0/24', what: 'the reserved documentation range TEST-NET-1 (192.0.2.0/24)' },
  { cidr: '192.88.99.0/24', what: 'the reserved 6to4 relay range (192.88.99.0/24)' },
  { cidr: '198.18.0.0/15', what: 'the reserved benchmarking range (198.18.0.0/15)' },
  { cidr: '198.51.100.0/24', what: 'the reserved documentation range TEST-NET-2 (198.51.100.0/24)' },
  { cidr: '203.0.113.0/24', what: 'the reserved documentation range TEST-NET-3 (203.0.113.0/24)' },
  { cidr: '224.0.0.0/4', what: 'the multicast range (224.0.0.0/4)' },
  { cidr: '240.0.0.0/4', what: 'the reserved range (240.0.0.0/4, which holds the broadcast address)' },
];

/** The special ranges a range overlaps (all of them, in order). */
export function specialRangesIn(r: Range): { cidr: string; what: string }[] {
  return SPECIAL_RANGES.filter((s) => overlaps(cidrRange(s.cidr)!, r));
}

/** Whether an address is a private one (RFC 1918) or in the shared carrier-grade NAT range (RFC 6598): not routed on the internet. */
export function isPrivateAddress(ip: string): boolean {
  return ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].some((c) => contains(cidrRange(c)!, ip));
}
