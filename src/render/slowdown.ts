/**
 * What changes on machines that run slower than hardware (software emulation; the plan's
 * slowdown): kubeadm's static pods keep their probes, through kubeadm `patches` (strategic merge by
 * container name), with the kubeadm defaults below multiplied (cmd/kubeadm/app/util/staticpod, read
 * from the real kubeadm 1.37.2's dry-run manifests: liveness every 10 s, 15 s timeout, 8 failures;
 * readiness every 1 s, 15 s, 3 failures; startup every 10 s, 15 s, with its failures derived from
 * timeouts.controlPlaneComponentHealthCheck, scaled in init.yaml, so only its timeout is patched).
 * - Liveness keeps its period and gets slowdown times the failures: one answer in 40 tries keeps a
 *   component alive. A slow control plane is slow in bursts, and fewer tries make a run of failures
 *   likelier: with the period scaled instead (8 tries in 400 s) the e2e saw the API server killed
 *   mid-test, and the controller manager and the scheduler lost their leases and exited with it.
 * - Readiness asks slowdown times less often with its failures kept (the same 15 s before a
 *   component is unready): three readiness probes ask every second (the API server, etcd and the
 *   scheduler, two of them over TLS), a real part of an emulated control plane's load.
 */
const KUBEADM_PROBES = {
  livenessProbe: { timeoutSeconds: 15, failureThreshold: 8 },
  readinessProbe: { periodSeconds: 1, timeoutSeconds: 15 },
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

/** A duration flag and its upstream default on hardware: seconds (`15s`) or etcd's bare milliseconds. */
type ScaledArg = readonly [name: string, hardware: number, unit: 's' | 'ms'];

/**
 * The control plane's durations that software emulation multiplies, per kubeadm ClusterConfiguration
 * component, with the upstream defaults:
 * - `node-monitor-grace-period` (50 s since 1.32): how long a node's lease may go unrenewed before
 *   the controller manager marks it NotReady; the e2e saw the control plane's own node NotReady a
 *   minute after `up` verified it, while etcd answered "request timed out";
 * - etcd's raft heartbeat and election timeout (100 ms, 1 s; a proposal times out after 5 s plus two
 *   election timeouts, the "etcdserver: request timed out" above);
 * - the API server's `request-timeout` (1 min): the e2e saw `kubectl delete` answered "Timeout:
 *   request did not complete within requested timeout" while the control plane was busy;
 * - the API server's etcd checks (`etcd-healthcheck-timeout`, 2 s, in /livez, /readyz and /healthz;
 *   `etcd-readycheck-timeout`, 2 s, in /readyz; k8s.io/apiserver storagebackend): etcd answering a
 *   read in more than 2 s fails the API server's liveness probe, and the kubelet restarts it;
 * - the kubelet's `housekeeping-interval` (10 s; every node's nodeRegistration.kubeletExtraArgs): how
 *   often its cAdvisor reads every container's cgroup statistics, a large part of an idle kubelet's
 *   CPU (the kubelet was the busiest process of the e2e's control plane at rest).
 */
const SCALED_COMPONENT_ARGS = {
  apiServer: [
    ['request-timeout', 60, 's'],
    ['etcd-healthcheck-timeout', 2, 's'],
    ['etcd-readycheck-timeout', 2, 's'],
  ],
  kubelet: [['housekeeping-interval', 10, 's']],
  controllerManager: [['node-monitor-grace-period', 50, 's']],
  scheduler: [],
  etcd: [
    ['heartbeat-interval', 100, 'ms'],
    ['election-timeout', 1000, 'ms'],
  ],
} as const satisfies Record<string, readonly ScaledArg[]>;

export type ScaledComponent = keyof typeof SCALED_COMPONENT_ARGS;

/**
 * Leader election off for the controller manager and the scheduler: the cluster has one control
 * plane, so there is no one to elect, and under emulation the API server answers a lease renewal
 * late often enough that both lose their lease and exit. With client-go's defaults (renew deadline
 * 10 s) they restarted in a loop and the controller manager never ran long enough to approve a
 * joining kubelet's certificate request (kubeadm join failed at the TLS bootstrap); with them
 * scaled 5 times (75/50/10 s) a run still saw both exit mid-test and `verify --smoke` fail.
 */
const NO_LEADER_ELECTION = { name: 'leader-elect', value: 'false' };

/** kubeadm v1beta4 extraArgs (name, value) per component (the kubelet's go to every node's nodeRegistration), every duration times the slowdown. */
export function componentArgs(slowdown: number): Record<ScaledComponent, { name: string; value: string }[]> {
  const scale = (args: readonly ScaledArg[]) => args.map(([name, hardware, unit]) => ({ name, value: `${hardware * slowdown}${unit === 's' ? 's' : ''}` }));
  return {
    apiServer: scale(SCALED_COMPONENT_ARGS.apiServer),
    kubelet: scale(SCALED_COMPONENT_ARGS.kubelet),
    controllerManager: [NO_LEADER_ELECTION, ...scale(SCALED_COMPONENT_ARGS.controllerManager)],
    scheduler: [NO_LEADER_ELECTION, ...scale(SCALED_COMPONENT_ARGS.scheduler)],
    etcd: scale(SCALED_COMPONENT_ARGS.etcd),
  };
}

/**
 * The kubelet's durations that emulation multiplies (KubeletConfiguration, cluster-wide: kubeadm
 * uploads it and joining nodes read it). `nodeStatusUpdateFrequency` (10 s) is also the timeout of
 * the kubelet's heartbeat client (capped by the lease duration), the "timeout=10s" of the lease
 * updates the e2e saw fail; the lease (40 s) is renewed every quarter of its duration, so scaling it
 * also sends the API server fewer writes. `runtimeRequestTimeout` (2 min) covers image imports and
 * sandbox starts that take minutes under emulation.
 */
export function kubeletArgs(slowdown: number): [key: string, value: string | number][] {
  return [
    ['runtimeRequestTimeout', `${2 * slowdown}m0s`],
    ['nodeStatusUpdateFrequency', `${10 * slowdown}s`],
    ['nodeLeaseDurationSeconds', 40 * slowdown],
  ];
}
