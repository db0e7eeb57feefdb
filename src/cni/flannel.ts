import type { CniDef } from './types.js';

const VERSION = 'v0.28.10';

/** flannel, VXLAN: the pod subnet goes into its net-conf.json, its interface is found by address. */
export const flannel: CniDef = {
  id: 'flannel',
  title: 'flannel',
  version: VERSION,
  manifests: [{ name: 'kube-flannel.yml', url: `https://github.com/flannel-io/flannel/releases/download/${VERSION}/kube-flannel.yml` }],
  nodePod: { id: 'pod-cni', title: 'flannel running', namespaces: ['kube-flannel', 'kube-system'], prefix: 'kube-flannel-ds-' },
  // Offline, flannel's CNI plugin comes from the artifacts' cni/ like every other plugin, so the
  // manifest's install-cni-plugin init container (which copies the same binary out of the
  // flannel-cni-plugin image) is left out, and with it that image.
  offline: { images: [`ghcr.io/flannel-io/flannel:${VERSION}`], cniPlugins: ['flannel'] },
};
