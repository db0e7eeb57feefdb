import type { Arch, Catalog } from '../distros.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';

/**
 * The host checks of `kubeadm-vagrant doctor` as data, like the node checks of `verify`
 * (src/verify/node-checks.ts): each check names the probes it reads (a command, a file) and a
 * pure evaluation of their output. The runner (./run.ts) runs every probe once, bounded in
 * time, whatever number of checks read it. Generic checks live in ./checks.ts, each provider's
 * in its host module (src/providers/<id>-host.ts, registered in src/providers/hosts.ts).
 */

/** Something read from the host: a command's output, a file, or whether a device opens. */
export type Probe =
  | { id: string; kind: 'exec'; command: string; args: readonly string[] }
  | { id: string; kind: 'read'; path: string }
  | { id: string; kind: 'open-rw'; path: string };

/** What a probe gave. `missing`: no such command or file; `error`: it could not run or be read. */
export type ProbeResult =
  | { status: 'ok'; stdout: string; stderr: string; code: number }
  | { status: 'missing'; message: string }
  | { status: 'timeout'; message: string }
  | { status: 'error'; message: string; errno?: string };

export type ProbeResults = ReadonlyMap<string, ProbeResult>;

export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckOutcome {
  verdict: Verdict;
  /** What was found, in words a person can act on. */
  seen: string;
  /** What to do about a warning or a failure. */
  fix?: string;
}

/** What the checks know about the cluster and the host besides the probes. */
export interface HostContext {
  plan: ClusterPlan;
  /** The machines `up` would start or create (SETUP_NODES=false: the control plane alone). */
  machines: readonly NodePlan[];
  /** This directory's machines that Vagrant has created: the provider's id of each, by machine name (.vagrant/machines/<name>/<provider>/id). */
  machineIds: Readonly<Record<string, string>>;
  arch: Arch;
  catalog: Catalog;
  /** The environment the provider's tools run in (a provider's checks read its own variables there, such as LIBVIRT_DEFAULT_URI). */
  env: Readonly<Record<string, string | undefined>>;
}

export interface HostCheckSpec {
  id: string;
  title: string;
  /** `up` runs the fatal checks before it generates or starts anything, and stops when one fails. */
  fatal: boolean;
  /** The probes it reads; called again with the results so far, so a probe may follow from another (a network's XML from the list of networks). */
  probes: (ctx: HostContext, seen: ProbeResults) => Probe[];
  evaluate: (seen: ProbeResults, ctx: HostContext) => CheckOutcome;
}

/** What a provider adds to the host checks (src/providers/hosts.ts). */
export interface ProviderHost {
  checks: readonly HostCheckSpec[];
  /** Probes that say which host interfaces are the provider's own networks. */
  interfaceProbes: (ctx: HostContext, seen: ProbeResults) => Probe[];
  /** Whether a host interface is one of the provider's own networks (Vagrant reuses those): what it is, or undefined. */
  ownInterface: (dev: string, seen: ProbeResults, ctx: HostContext) => string | undefined;
}

export interface HostCheckResult extends CheckOutcome {
  id: string;
  title: string;
  fatal: boolean;
}

export interface DoctorReport {
  /** No check failed (warnings allowed). */
  ok: boolean;
  provider: string;
  checks: HostCheckResult[];
}

/** A command probe; its id is the command line. */
export function execProbe(command: string, args: readonly string[]): Probe {
  return { id: [command, ...args].join(' '), kind: 'exec', command, args };
}

export function readProbe(path: string): Probe {
  return { id: `read ${path}`, kind: 'read', path };
}

export function openProbe(path: string): Probe {
  return { id: `open ${path}`, kind: 'open-rw', path };
}

/** A probe's result when it ran and exited 0, else undefined. */
export function okOutput(seen: ProbeResults, probe: Probe): string | undefined {
  const r = seen.get(probe.id);
  return r?.status === 'ok' && r.code === 0 ? r.stdout : undefined;
}

/** Why a probe gave no usable output, in one line. */
export function probeProblem(seen: ProbeResults, probe: Probe): string {
  const r = seen.get(probe.id);
  if (!r) return `${probe.id}: not run`;
  switch (r.status) {
    case 'ok': {
      const err = r.stderr.trim().split('\n').filter(Boolean);
      return `\`${probe.id}\` exited ${r.code}${err.length ? `: ${err.join(' ').slice(0, 300)}` : ''}`;
    }
    case 'missing':
    case 'timeout':
    case 'error':
      return r.message;
  }
}
