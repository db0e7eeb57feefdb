import { cniDef } from '../cni/index.js';
import type { ClusterPlan } from '../plan/plan.js';
import { failedClusterChecks } from './kube.js';
import { hostnameCheck, nodeCheckSpecs, privateIpCheck } from './node-checks.js';
import { parseContainerdSandboxImage, parseKubeadmPauseImage } from './node-parsers.js';
import type { NodeCheckSpec, PlannedNode } from './types.js';

/**
 * What a verification covers: `machines` (reachable with the cluster key, hostname, address),
 * `node` (every node-level check), `packages` (node + kubeadm/kubelet/kubectl of the planned
 * version and the sandbox image), `cluster` (that plus the Kubernetes view of the nodes).
 * Each phase of `up` names the level that proves it (src/phases.ts).
 */
export type VerifyLevel = 'machines' | 'node' | 'packages' | 'cluster';

/** The check of the SSH login itself, reported first for every node. */
export const SSH_CHECK = { check: 'ssh', title: 'SSH login with the cluster key', expected: 'key accepted, host key as pinned' } as const;
/** The check that Vagrant's insecure key opens no node, reported last. */
export const INSECURE_KEY_CHECK = { check: 'insecure-key-refused', title: "Vagrant's insecure key refused", expected: 'authentication with the insecure key fails' } as const;

/** kubeadm, kubelet and kubectl installed with the planned minor (and patch, when pinned). */
export function kubeToolsCheck(minor: string, patch?: string): NodeCheckSpec {
  const want = patch ?? minor;
  return {
    id: 'kube-tools',
    title: `kubeadm, kubelet, kubectl ${want}`,
    command: 'for b in kubeadm kubelet kubectl; do printf "%s " "$b"; case $b in kubeadm) kubeadm version -o short 2>/dev/null;; kubelet) kubelet --version 2>/dev/null | sed "s/^Kubernetes //";; kubectl) kubectl version --client 2>/dev/null | sed -n "s/^Client Version: //p";; esac || true; echo; done',
    expected: () => `all three at v${want}${patch ? '' : '.x'}`,
    parse: (stdout) => {
      const seen = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const [tool, version] = line.trim().split(/\s+/);
        if (tool && ['kubeadm', 'kubelet', 'kubectl'].includes(tool)) seen.set(tool, version ?? '');
      }
      const matches = (v: string | undefined) => !!v && (patch ? v === `v${patch}` : v.startsWith(`v${minor}.`));
      const tools = ['kubeadm', 'kubelet', 'kubectl'];
      const text = tools.map((t) => `${t} ${seen.get(t) || 'missing'}`).join(', ');
      return { ok: tools.every((t) => matches(seen.get(t))), seen: text };
    },
  };
}

const SANDBOX_MARK = '--- kubeadm config images list ---';

/** containerd runs pods with the pause image the installed kubeadm expects (the packages phase sets it). */
export const sandboxImageCheck: NodeCheckSpec = {
  id: 'sandbox-image',
  title: "containerd's sandbox image is kubeadm's pause image",
  command: `containerd config dump 2>/dev/null; echo '${SANDBOX_MARK}'; kubeadm config images list --kubernetes-version "$(kubeadm version -o short 2>/dev/null)" 2>/dev/null || true`,
  expected: () => 'the pause image of `kubeadm config images list`',
  parse: (stdout) => {
    const at = stdout.indexOf(SANDBOX_MARK);
    const dump = at < 0 ? stdout : stdout.slice(0, at);
    const wanted = at < 0 ? undefined : parseKubeadmPauseImage(stdout.slice(at + SANDBOX_MARK.length));
    const image = parseContainerdSandboxImage(dump);
    if (!wanted) return { ok: false, seen: `kubeadm names no pause image; containerd has ${image ?? 'none'}` };
    return { ok: image === wanted, seen: image === wanted ? image : `containerd ${image ?? 'none'}, kubeadm ${wanted}` };
  },
};

/**
 * The node-level checks of a level; peers are every planned node, not only those being verified
 * (or the nodes given, when `up` sets up part of the plan: the control plane alone).
 */
export function nodeSpecsFor(level: VerifyLevel, plan: ClusterPlan, peers: readonly PlannedNode[] = plan.nodes): (node: PlannedNode) => NodeCheckSpec[] {
  return (node) => {
    if (level === 'machines') return [hostnameCheck, privateIpCheck];
    const base = nodeCheckSpecs(node, peers);
    return level === 'node' ? base : [...base, kubeToolsCheck(plan.kubernetes.minor, plan.kubernetes.patch), sandboxImageCheck];
  };
}

/** The ids of every check a level makes on a node, in report order: what `up --dry-run` prints. */
export function checkIdsFor(level: VerifyLevel, node: PlannedNode, plan: ClusterPlan): string[] {
  const cluster = level === 'cluster' ? failedClusterChecks(node, cniDef(plan.kubernetes.cni).nodePod, '').map((c) => c.check) : [];
  return [SSH_CHECK.check, ...nodeSpecsFor(level, plan)(node).map((s) => s.id), ...cluster, INSECURE_KEY_CHECK.check];
}
