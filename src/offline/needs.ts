import { HEADLAMP } from '../addons.js';
import { cniDef } from '../cni/index.js';
import type { ClusterConfig } from '../config/schema.js';
import { kubeadmImages, SMOKE_IMAGE } from '../versions.js';
import type { ArtifactNeeds } from './artifacts.js';

/**
 * What a cluster takes from the artifacts directory: the images kubeadm names for the patch (from
 * the table of minors; for an unknown minor only the kube-* images, and the guest checks the rest
 * against `kubeadm config images list` before kubeadm runs), the CNI's images, plugins and
 * manifests, the smoke test's image and, with the dashboard, Headlamp's.
 */
export function offlineNeeds(config: ClusterConfig, patch: string): ArtifactNeeds {
  return clusterNeeds(patch, config.kubernetes.cni, config.addons.dashboard);
}

/** offlineNeeds from the three things it depends on (what `artifacts fetch` fetches for). */
export function clusterNeeds(patch: string, cniId: string, dashboard: boolean): ArtifactNeeds {
  const cni = cniDef(cniId);
  const kubeadm = kubeadmImages(patch) ?? ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map((c) => `registry.k8s.io/${c}:v${patch}`);
  return {
    images: [...kubeadm, ...cni.offline.images, SMOKE_IMAGE, ...(dashboard ? [HEADLAMP.image] : [])],
    cniPlugins: cni.offline.cniPlugins,
    manifests: cni.manifests.map((m) => m.name),
  };
}
