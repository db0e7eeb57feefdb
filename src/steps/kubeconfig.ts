import { join } from 'node:path';
import { CommandError } from '../errors.js';
import { contextName, defaultKubeconfigFile, mergeKubeconfig, readKubeconfig, removeFromKubeconfig, rewriteAdminConf, writeKubeconfig } from '../kubeconfig.js';
import { STATE_DIR } from '../paths.js';
import { remote } from '../remote.js';
import { ADMIN_KUBECONFIG } from '../verify/kube.js';
import { connect } from '../ssh/client.js';
import { updateState } from '../state.js';
import { sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';

/** The kubeconfig `up` writes for every cluster (0600), beside the other state. */
export const CLUSTER_KUBECONFIG = `${STATE_DIR}/kubeconfig`;

/** Reads admin.conf from the control plane over SSH and turns it into our kubeconfig. */
export async function readAdminKubeconfig(cluster: Cluster, limits: SshLimits) {
  const session = await connect(sshTarget(cluster.plan.controlPlane), sshOptions(cluster, limits));
  try {
    const r = await session.exec(remote.catAdminConf(), { sudo: true });
    if (r.code !== 0) {
      throw new CommandError(`cannot read ${ADMIN_KUBECONFIG} on ${cluster.plan.controlPlane.name}: is the control plane up? (\`kubeadm-vagrant up\`)`, { output: r.stderr.trim() });
    }
    return rewriteAdminConf(r.stdout, cluster.plan.name, cluster.plan.network.masterIP);
  } finally {
    await session.close();
  }
}

/** Writes `.kubeadm-vagrant/kubeconfig` and returns its path. */
export async function fetchKubeconfig(cluster: Cluster, limits: SshLimits, output = join(cluster.dir, CLUSTER_KUBECONFIG)): Promise<string> {
  writeKubeconfig(output, await readAdminKubeconfig(cluster, limits));
  return output;
}

/** Adds our context to $KUBECONFIG's first file or ~/.kube/config, remembering it for `destroy`. */
export async function mergeIntoUserKubeconfig(cluster: Cluster, limits: SshLimits, file = defaultKubeconfigFile()): Promise<string> {
  const ours = await readAdminKubeconfig(cluster, limits);
  writeKubeconfig(file, mergeKubeconfig(readKubeconfig(file), ours));
  updateState(cluster.dir, (s) => ({ ...s, mergedKubeconfig: { file, context: contextName(cluster.plan.name) } }));
  return file;
}

/** Undoes `--merge`: removes our cluster, user and context; other entries stay. */
export function unmergeUserKubeconfig(merged: { file: string; context: string } | undefined): string | undefined {
  if (!merged) return undefined;
  const existing = readKubeconfig(merged.file);
  if (!existing) return undefined;
  writeKubeconfig(merged.file, removeFromKubeconfig(existing, merged.context));
  return merged.file;
}
