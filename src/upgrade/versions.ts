import type { ConfigProblem } from '../errors.js';
import type { ClusterState, UpgradeRecord } from '../state.js';

/**
 * Kubernetes versions as the upgrade reads them, and what the state says the cluster runs. Pure.
 *
 * What `kubernetes.version` means: the version `up` creates a cluster at. Once `upgrade` has
 * started, the cluster's state (`.kubeadm-vagrant/state.json`, `upgrade.to`) holds the version it
 * runs (or is being brought to), and every command that acts on the cluster or renders its files
 * (`generate`, `up`, `node add`, `verify`) uses that version: nothing ever goes back to the file's
 * older one, and cluster.yaml is never rewritten. A file that says something else gets a warning
 * telling the user to update it; a `--k8s-version` given now that says something else is refused.
 */

/** `1.37.2` (or `1.37` for a minor): numbers, without the `v`. */
export interface Version {
  major: number;
  minor: number;
  patch?: number;
}

const VERSION = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/;

/** `1.37`, `1.37.2`, `v1.37.2` (what kubectl and the kubelet print; build metadata after `+` or `-` is ignored). */
export function parseVersion(text: string): Version | undefined {
  const m = VERSION.exec(text.trim().replace(/[-+].*$/, ''));
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), ...(m[3] !== undefined ? { patch: Number(m[3]) } : {}) };
}

/** The version as this tool writes it: `1.37.2` (or `1.37`). */
export function formatVersion(v: Version): string {
  return `${v.major}.${v.minor}${v.patch !== undefined ? `.${v.patch}` : ''}`;
}

/** `1.37.2` → `1.37`. */
export function minorOf(version: string): string {
  const v = parseVersion(version);
  return v ? `${v.major}.${v.minor}` : version;
}

/** Orders two versions; a minor without a patch sorts before every patch of it. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) throw new Error(`internal: not versions: ${a}, ${b}`);
  return x.major - y.major || x.minor - y.minor || (x.patch ?? -1) - (y.patch ?? -1);
}

/** How many minors `b` is ahead of `a` (negative when behind); majors are all 1 here. */
export function minorsBetween(a: string, b: string): number {
  const x = parseVersion(a)!;
  const y = parseVersion(b)!;
  return (y.major - x.major) * 1000 + (y.minor - x.minor);
}

/** Whether a version as the config says it (`1.37` or `1.37.2`) names this patch. */
export function covers(spec: string, patch: string): boolean {
  const s = parseVersion(spec);
  const p = parseVersion(patch);
  if (!s || !p) return false;
  return s.major === p.major && s.minor === p.minor && (s.patch === undefined || s.patch === p.patch);
}

/** An upgrade that has started and not finished (automatic and interrupted, or printed by --manual). */
export function upgradeInProgress(state: ClusterState): UpgradeRecord | undefined {
  return state.upgrade && !state.upgrade.finishedAt ? state.upgrade : undefined;
}

/** The version the cluster runs, or is being brought to, once an upgrade has started: the state's; else undefined (the config's). */
export function runningVersion(state: ClusterState): string | undefined {
  return state.upgrade?.to;
}

/**
 * The config's Kubernetes version with the state's running version applied: the running version
 * wins over the file (a warning when the file does not name it) and over a remembered flag; a
 * `--k8s-version` given now that names another version is an error. `source` is where the config's
 * value came from (`--k8s-version`, `--k8s-version, remembered`), when not from the file.
 */
export function withRunningVersion(
  fileVersion: string,
  state: ClusterState,
  source: string | undefined,
  file: string | undefined,
): { version: string; warnings: ConfigProblem[]; errors: ConfigProblem[]; source?: string } {
  const running = runningVersion(state);
  if (!running) return { version: fileVersion, warnings: [], errors: [] };
  // A minor that names it (1.37 for 1.37.2) is no disagreement, but the patch the cluster runs stays the
  // version: not the newest of the minor the artifacts may hold by now.
  if (covers(fileVersion, running)) return { version: running, warnings: [], errors: [] };
  const how = upgradeInProgress(state) ? `is being upgraded to ${running} (kubeadm-vagrant upgrade --to ${running} carries on)` : `runs ${running} since \`kubeadm-vagrant upgrade\``;
  const stateSource = 'the cluster\'s state, set by kubeadm-vagrant upgrade';
  if (source && !source.endsWith(', remembered')) {
    return {
      version: running,
      warnings: [],
      errors: [
        {
          path: `kubernetes.version (from ${source})`,
          message: `${fileVersion} is not the version the cluster ${how}`,
          hint: compareVersions(fileVersion, running) < 0 ? 'kubeadm cannot downgrade a cluster; leave out the flag' : `leave out the flag; \`kubeadm-vagrant upgrade --to ${fileVersion}\` upgrades the cluster`,
        },
      ],
    };
  }
  const where = source ? `${source} (given to an earlier generate)` : (file ?? 'the config');
  return {
    version: running,
    source: stateSource,
    errors: [],
    warnings: [
      {
        path: 'kubernetes.version',
        message: `${where} says ${fileVersion}, and the cluster ${how}: ${running} is used (the state decides once a cluster is upgraded; ${file ?? 'the config file'} is never rewritten)`,
        hint: compareVersions(fileVersion, running) < 0
          ? `set kubernetes.version: "${running}" (or "${minorOf(running)}") in ${file ?? 'cluster.yaml'} so that it says what the cluster runs`
          : `\`up\` does not upgrade: run \`kubeadm-vagrant upgrade --to ${fileVersion}\`, or set kubernetes.version: "${running}"`,
      },
    ],
  };
}
