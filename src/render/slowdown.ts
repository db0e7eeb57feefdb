/**
 * What changes on machines that run slower than hardware (software emulation; the plan's
 * slowdown): kubeadm's static pods keep their probes, with timeouts and failure thresholds
 * multiplied, through kubeadm `patches` (strategic merge by container name). kubeadm's own probe
 * defaults (cmd/kubeadm/app/util/staticpod, identical from 1.31 to 1.37): liveness 15 s timeout,
 * 8 failures; readiness 15 s, 3 failures; startup 15 s, with failures derived from
 * timeouts.controlPlaneComponentHealthCheck (scaled in init.yaml, so not patched here).
 */
const KUBEADM_PROBES = {
  livenessProbe: { timeoutSeconds: 15, failureThreshold: 8 },
  readinessProbe: { timeoutSeconds: 15, failureThreshold: 3 },
  startupProbe: { timeoutSeconds: 15 },
} as const;

type Probe = keyof typeof KUBEADM_PROBES;

/** The probes each static pod has (the controller manager has no readiness probe: patching one in would be invalid). */
const STATIC_POD_PROBES: Record<string, readonly Probe[]> = {
  'kube-apiserver': ['livenessProbe', 'readinessProbe', 'startupProbe'],
  'kube-controller-manager': ['livenessProbe', 'startupProbe'],
  'kube-scheduler': ['livenessProbe', 'readinessProbe', 'startupProbe'],
  etcd: ['livenessProbe', 'readinessProbe', 'startupProbe'],
};

/** One patch file per static pod: `<target>+strategic.yaml`. */
export function probePatches(slowdown: number): { target: string; yaml: string }[] {
  return Object.entries(STATIC_POD_PROBES).map(([target, probes]) => {
    const lines = ['spec:', '  containers:', `    - name: ${target}`];
    for (const probe of probes) {
      lines.push(`      ${probe}:`);
      for (const [key, value] of Object.entries(KUBEADM_PROBES[probe])) lines.push(`        ${key}: ${value * slowdown}`);
    }
    return { target, yaml: lines.join('\n') + '\n' };
  });
}

/**
 * client-go's leader election defaults for kube-controller-manager and kube-scheduler (lease 15 s,
 * renew deadline 10 s, retry 2 s; the lease requests time out at half the renew deadline). Under
 * software emulation the API server answers a lease renewal in more than 5 s often enough that
 * both components lose their lease, exit and restart in a loop, and the controller manager never
 * runs long enough to approve a joining kubelet's certificate request (kubeadm join then fails at
 * the TLS bootstrap): the three durations are multiplied like everything else.
 */
const LEADER_ELECTION_SECONDS = { 'leader-elect-lease-duration': 15, 'leader-elect-renew-deadline': 10, 'leader-elect-retry-period': 2 } as const;

/** kubeadm v1beta4 extraArgs (name, value) for the controller manager and the scheduler. */
export function leaderElectionArgs(slowdown: number): { name: string; value: string }[] {
  return Object.entries(LEADER_ELECTION_SECONDS).map(([name, seconds]) => ({ name, value: `${seconds * slowdown}s` }));
}
