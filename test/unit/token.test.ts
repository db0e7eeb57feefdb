import { describe, expect, it } from 'vitest';
import { generateToken, randomTokenChars, redactToken, TOKEN_PATTERN, tokenId } from '../../src/token.js';

describe('bootstrap token', () => {
  it('matches kubeadm format', () => {
    for (let i = 0; i < 200; i++) expect(generateToken()).toMatch(TOKEN_PATTERN);
  });

  it('is different every time', () => {
    const seen = new Set(Array.from({ length: 500 }, () => generateToken()));
    expect(seen.size).toBe(500);
  });

  it('drops bytes >= 252 instead of folding them (no modulo bias)', () => {
    // 252..255 would map to 0..3 under a plain modulo; they must be skipped.
    const bytes = [252, 253, 254, 255, 36, 10];
    let i = 0;
    const source = (n: number) => Buffer.from(Array.from({ length: n }, () => bytes[i++ % bytes.length]!));
    expect(randomTokenChars(2, source)).toBe('0a');
  });

  it('is uniform over the alphabet (chi-square on 72k characters)', () => {
    const counts = new Map<string, number>();
    const text = randomTokenChars(72_000);
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(36);
    const expected = 72_000 / 36;
    const chi2 = [...counts.values()].reduce((s, n) => s + (n - expected) ** 2 / expected, 0);
    // 35 degrees of freedom: p < 1e-6 above ~80; a biased generator ('0'-'3' +1/63) lands well above.
    expect(chi2).toBeLessThan(80);
  });

  it('redacts the secret half', () => {
    expect(redactToken('abcdef.0123456789abcdef')).toBe('abcdef.<redacted>');
    expect(tokenId('abcdef.0123456789abcdef')).toBe('abcdef');
    expect(redactToken('')).toBe('');
  });
});
