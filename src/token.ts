import { randomBytes } from 'node:crypto';

/** kubeadm's bootstrap token format: a public 6-character ID, a dot, a 16-character secret. */
export const TOKEN_PATTERN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
/** The largest multiple of 36 below 256: bytes at or above it are dropped, so `b % 36` is unbiased. */
const UNBIASED_LIMIT = 252;

/** Random characters from [0-9a-z], the way kubeadm's token generator draws them (no modulo bias). */
export function randomTokenChars(length: number, source: (n: number) => Buffer = randomBytes): string {
  let out = '';
  while (out.length < length) {
    for (const b of source(length * 2)) {
      if (b >= UNBIASED_LIMIT) continue;
      out += ALPHABET[b % ALPHABET.length];
      if (out.length === length) break;
    }
  }
  return out;
}

export function generateToken(source?: (n: number) => Buffer): string {
  return `${randomTokenChars(6, source)}.${randomTokenChars(16, source)}`;
}

export function tokenId(token: string): string {
  return token.split('.')[0] ?? '';
}

/** For logs and `config print`: the public ID stays, the secret does not. */
export function redactToken(token: string): string {
  return token === '' ? '' : `${tokenId(token)}.<redacted>`;
}

/**
 * Why a token's secret has no randomness in it, or undefined when it looks drawn at random: one
 * character repeated, a handful of characters, or a sequence (0123..., abcd..., kubeadm's
 * documented example abcdef.0123456789abcdef). A secret drawn as generateToken does has about 14
 * different characters and hardly a step of ±1 between neighbours, so none of these fires on one
 * by chance (below one in a million).
 */
export function tokenWeakness(token: string): string | undefined {
  const secret = token.split('.')[1] ?? '';
  if (secret.length < 2) return undefined;
  const distinct = new Set(secret).size;
  if (distinct === 1) return 'one character repeated';
  if (distinct <= 5) return `made of only ${distinct} different characters`;
  const steps = [...secret].slice(1).map((c, i) => ALPHABET.indexOf(c) - ALPHABET.indexOf(secret[i]!));
  const predictable = steps.filter((d) => Math.abs(d) <= 1).length;
  if (predictable >= 0.75 * steps.length) return 'a run of neighbouring characters (like 0123… or abcd…)';
  return undefined;
}
