const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Parses a Go duration as kubeadm takes it for a token TTL ("24h", "1h30m", "90m", "0").
 * Returns milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}

/**
 * Why a bootstrap token TTL is refused, or undefined when it is a finite duration: kubeadm reads
 * 0 as "never expires", which would make the token a standing credential.
 */
export function ttlProblem(text: string): string | undefined {
  const ms = parseDuration(text);
  if (ms === undefined) return 'must be a duration with a unit, such as "24h", "90m" or "1h30m"';
  if (ms === 0) return 'a TTL of 0 means the token never expires, a standing credential; give a finite duration such as "24h"';
  return undefined;
}
