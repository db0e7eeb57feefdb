import { join } from 'node:path';
import { CommandError } from '../errors.js';
import { contextName, defaultKubeconfigFile, mergeKubeconfig, readKubeconfig, removeFromKubeconfig, rewriteAdminConf, writeKubeconfig } from '../kubeconfig.js';
import { remote } from '../remote.js';
import { GUEST, HOST } from '../layout.js';
import { connect } from '../ssh/client.js';
import { updateState } from '../state.js';
import type { LoadOptions } from '../config/load.js';
import { DEFAULT_SSH_LIMITS, openCluster, requireControlPlane, sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';

/** Reads admin.conf from the control plane over SSH and turns it into our kubeconfig. */
export async function readAdminKubeconfig(cluster: Cluster, limits: SshLimits) {
  const session = await connect(sshTarget(cluster.plan.controlPlane), sshOptions(cluster, limits));
  try {
    const r = await session.exec(remote.catAdminConf(), { sudo: true });
    if (r.code !== 0) {
      throw new CommandError(`cannot read ${GUEST.adminKubeconfig} on ${cluster.plan.controlPlane.name}: is the control plane up? (\`kubeadm-vagrant up\`)`, { output: r.stderr.trim() });
    }
    return rewriteAdminConf(r.stdout, cluster.plan.name, cluster.plan.network.masterIP);
  } finally {
    await session.close();
  }
}

/** Writes `.kubeadm-vagrant/kubeconfig` and returns its path. */
export async function fetchKubeconfig(cluster: Cluster, limits: SshLimits, output: string = join(cluster.dir, HOST.kubeconfig)): Promise<string> {
  writeKubeconfig(output, await readAdminKubeconfig(cluster, limits));
  return output;
}

/** Adds our context to $KUBECONFIG's first file or ~/.kube/config, remembering it for `destroy`. */
export async function mergeIntoUserKubeconfig(cluster: Cluster, limits: SshLimits, file: string = defaultKubeconfigFile()): Promise<string> {
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

/** `kubeconfig [--output FILE] [--merge]`: writes the file (or merges it) and says where. */
export async function kubeconfigCommand(opts: { load: LoadOptions; output?: string; merge: boolean; limits?: SshLimits }): Promise<{ file: string; merged: boolean; context: string }> {
  const cluster = openCluster(opts.load);
  requireControlPlane(cluster, 'kubeconfig');
  const limits = opts.limits ?? DEFAULT_SSH_LIMITS;
  const file = opts.merge ? await mergeIntoUserKubeconfig(cluster, limits, opts.output) : await fetchKubeconfig(cluster, limits, opts.output);
  return { file, merged: opts.merge, context: contextName(cluster.plan.name) };
}
