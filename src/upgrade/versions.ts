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

export { compareVersions, covers, formatVersion, minorOf, minorsBetween, parseVersion, type Version } from '../kube-version.js';
import { compareVersions, covers, minorOf } from '../kube-version.js';

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
