/** Which worker-N names a cluster uses: shared by validation (do they all fit?) and the plan. */

export function defaultWorkerIndices(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

/**
 * Reconciles the worker indices in use with the configured count: a raised count takes the lowest
 * free indices (names and addresses of removed workers come back only once their machines are
 * gone, which `node remove` guarantees), a lowered count drops the highest.
 */
export function workerIndicesFor(count: number, inUse?: readonly number[]): number[] {
  if (!inUse) return defaultWorkerIndices(count);
  const out = [...new Set(inUse)].sort((a, b) => a - b).slice(0, count);
  for (let i = 1; out.length < count; i++) if (!out.includes(i)) out.push(i);
  return out.sort((a, b) => a - b);
}
