/** What verification needs to know of one planned node (a NodePlan fits). */
export interface PlannedNode {
  /** Vagrant machine name: `master`, `worker-1`. */
  name: string;
  /** Guest hostname, which is also the Kubernetes node name. */
  hostname: string;
  /** The private IPv4 address the node must carry and the kubelet must advertise. */
  ip: string;
  role: 'control-plane' | 'worker';
}

export interface CheckOutcome {
  ok: boolean;
  /** What was found, in words a person can act on. */
  seen: string;
}

export interface CheckResult extends CheckOutcome {
  /** Vagrant machine name. */
  node: string;
  /** Stable check id, e.g. `swap-off`. */
  check: string;
  title: string;
  expected: string;
}

/** One node-level check: a command run with sudo on the node, and a pure reading of its output. */
export interface NodeCheckSpec {
  id: string;
  title: string;
  command: string;
  expected: (node: PlannedNode) => string;
  parse: (stdout: string, code: number, node: PlannedNode) => CheckOutcome;
}

/** `node`: the machines are prepared; `cluster`: that plus the Kubernetes view of them. */
export type VerifyPhase = 'node' | 'cluster';

export interface NodeReport {
  name: string;
  hostname: string;
  ip: string;
  role: PlannedNode['role'];
  ok: boolean;
  checks: CheckResult[];
}

export interface VerifyReport {
  phase: VerifyPhase;
  ok: boolean;
  startedAt: string;
  durationMs: number;
  nodes: NodeReport[];
}

/** The check of the SSH login itself, reported first for every node. */
export const SSH_CHECK = { check: 'ssh', title: 'SSH login with the cluster key', expected: 'key accepted, host key as pinned' } as const;
/** The check that Vagrant's insecure key opens no node, reported last. */
export const INSECURE_KEY_CHECK = { check: 'insecure-key-refused', title: "Vagrant's insecure key refused", expected: 'authentication with the insecure key fails' } as const;
