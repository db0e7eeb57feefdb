import { GUEST } from '../layout.js';
import { isControlPlaneImage } from '../versions.js';
import { parseContainerdSandboxImage, parseKubeadmPauseImage } from './node-parsers.js';
import type { NodeCheckSpec } from './types.js';

/** The checks of the packages phase (and of the artifacts): what is installed, at which version. */

/** kubeadm, kubelet and kubectl installed at the planned patch. */
export function kubeToolsCheck(patch: string): NodeCheckSpec {
  return {
    id: 'kube-tools',
    title: `kubeadm, kubelet, kubectl ${patch}`,
    command: 'for b in kubeadm kubelet kubectl; do printf "%s " "$b"; case $b in kubeadm) kubeadm version -o short 2>/dev/null;; kubelet) kubelet --version 2>/dev/null | sed "s/^Kubernetes //";; kubectl) kubectl version --client 2>/dev/null | sed -n "s/^Client Version: //p";; esac || true; echo; done',
    expected: () => `all three at v${patch}`,
    parse: (stdout) => {
      const seen = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const [tool, version] = line.trim().split(/\s+/);
        if (tool && ['kubeadm', 'kubelet', 'kubectl'].includes(tool)) seen.set(tool, version ?? '');
      }
      const matches = (v: string | undefined) => v === `v${patch}`;
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

const IMAGES_MARK = '--- ctr images ---';

/**
 * Every image kubeadm names for the installed version that the node runs (a worker no
 * control-plane image) is in containerd's k8s.io namespace: imported from the artifacts.
 */
export const imagesImportedCheck: NodeCheckSpec = {
  id: 'images-imported',
  title: "kubeadm's images imported into containerd",
  command: `kubeadm config images list --kubernetes-version "$(kubeadm version -o short 2>/dev/null)" 2>/dev/null; echo '${IMAGES_MARK}'; ctr -n k8s.io images ls -q 2>/dev/null`,
  expected: (node) => `every image of \`kubeadm config images list\`${node.role === 'worker' ? ' but the control plane\'s' : ''} in ctr -n k8s.io images ls`,
  parse: (stdout, _code, node) => {
    const at = stdout.indexOf(IMAGES_MARK);
    const named = (at < 0 ? '' : stdout.slice(0, at)).split('\n').map((l) => l.trim()).filter(Boolean);
    const wanted = node.role === 'worker' ? named.filter((i) => !isControlPlaneImage(i)) : named;
    const present = new Set((at < 0 ? '' : stdout.slice(at + IMAGES_MARK.length)).split('\n').map((l) => l.trim()));
    if (named.length === 0) return { ok: false, seen: 'kubeadm names no images (is kubeadm installed?)' };
    const missing = wanted.filter((i) => !present.has(i));
    return missing.length === 0 ? { ok: true, seen: `all ${wanted.length} present` } : { ok: false, seen: `missing: ${missing.join(', ')}` };
  },
};

const BAKED_MARK = '--- baked ---';

/**
 * This node verified the checksums of the artifacts of this plan (the guest records SHA256SUMS's
 * hash), or, on a baked box (`bakeHash` given), its bake record names exactly the plan's files.
 */
export function artifactsCheck(guestDir: string, sumsHash: string, bakeHash?: string): NodeCheckSpec {
  return {
    id: 'artifacts-verified',
    title: bakeHash ? "the box's baked artifacts are the plan's, or the uploaded ones verified" : 'artifacts uploaded and their checksums verified',
    command: `cat ${guestDir}/.verified 2>/dev/null; echo '${BAKED_MARK}'; cat ${GUEST.bakedRecord} 2>/dev/null; true`,
    expected: () => `SHA256SUMS ${sumsHash.slice(0, 12)}... verified${bakeHash ? `, or the bake ${bakeHash.slice(0, 12)}... in ${GUEST.bakedRecord}` : ''}`,
    parse: (stdout) => {
      const at = stdout.indexOf(BAKED_MARK);
      const seen = (at < 0 ? stdout : stdout.slice(0, at)).trim();
      if (seen === sumsHash) return { ok: true, seen: `verified (SHA256SUMS ${sumsHash.slice(0, 12)}...)` };
      const baked = at < 0 ? undefined : bakeHashIn(stdout.slice(at + BAKED_MARK.length));
      if (bakeHash && baked === bakeHash) return { ok: true, seen: `baked into the box (bake ${bakeHash.slice(0, 12)}...)` };
      const other = seen ? `other artifacts verified (SHA256SUMS ${seen.slice(0, 12)}...)` : `not verified: no ${guestDir}/.verified`;
      return { ok: false, seen: baked ? `${other}; the box's bake is ${baked.slice(0, 12)}...` : other };
    },
  };
}

/** The bakeHash of a guest's bake record (JSON), or undefined. */
function bakeHashIn(text: string): string | undefined {
  try {
    const hash = (JSON.parse(text) as { bakeHash?: unknown }).bakeHash;
    return typeof hash === 'string' ? hash : undefined;
  } catch {
    return undefined;
  }
}
