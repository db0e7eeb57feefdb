import { describe, expect, it } from 'vitest';
import { cidrRange, contains, hasHostBits, intToIp, ipToInt, overlaps, slash24, slash24Count } from '../../src/net.js';

describe('IPv4 and CIDR arithmetic', () => {
  it('converts addresses to integers and back', () => {
    expect(ipToInt('0.0.0.0')).toBe(0);
    expect(ipToInt('255.255.255.255')).toBe(2 ** 32 - 1);
    expect(intToIp(ipToInt('192.168.56.10') + 1)).toBe('192.168.56.11');
    expect(intToIp(ipToInt('10.0.0.255') + 1)).toBe('10.0.1.0');
  });

  it('computes ranges', () => {
    const r = cidrRange('10.244.0.0/16')!;
    expect(intToIp(r.first)).toBe('10.244.0.0');
    expect(intToIp(r.last)).toBe('10.244.255.255');
    expect(cidrRange('10.96.0.0/12')!.prefix).toBe(12);
    expect(cidrRange('10.0.0.0/33')).toBeUndefined();
    expect(cidrRange('10.0.0/8')).toBeUndefined();
    expect(cidrRange(42)).toBeUndefined();
  });

  it('detects overlaps both ways and adjacency as no overlap', () => {
    const a = cidrRange('10.96.0.0/12')!;
    expect(overlaps(a, cidrRange('10.100.0.0/16')!)).toBe(true);
    expect(overlaps(cidrRange('10.100.0.0/16')!, a)).toBe(true);
    expect(overlaps(a, cidrRange('10.112.0.0/12')!)).toBe(false);
    expect(overlaps(cidrRange('192.168.0.0/16')!, cidrRange('192.168.121.0/24')!)).toBe(true);
  });

  it('finds host bits, /24s and membership', () => {
    expect(hasHostBits('10.244.1.0/16')).toBe(true);
    expect(hasHostBits('10.244.0.0/16')).toBe(false);
    expect(slash24('192.168.56.77').cidr).toBe('192.168.56.0/24');
    expect(slash24Count(cidrRange('10.244.0.0/16')!)).toBe(256);
    expect(slash24Count(cidrRange('10.244.0.0/25')!)).toBe(0);
    expect(contains(cidrRange('192.168.56.0/21')!, '192.168.63.1')).toBe(true);
    expect(contains(cidrRange('192.168.56.0/21')!, '192.168.64.1')).toBe(false);
  });
});
