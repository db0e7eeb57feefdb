/** Which worker-N names a cluster uses, and its hostnames: shared by validation (do they all fit?) and the plan. */

/** A hostname (one DNS label) is at most 63 characters. */
export const MAX_HOSTNAME_LENGTH = 63;

/** The Vagrant machine name of the node with this index: 0 is the control plane. */
export function machineName(index: number): string {
  return index === 0 ? 'master' : `worker-${index}`;
}

/** The guest hostname and Kubernetes node name: `<cluster>-master`, `<cluster>-worker-N`. */
export function nodeHostname(clusterName: string, index: number): string {
  return `${clusterName}-${machineName(index)}`;
}

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
