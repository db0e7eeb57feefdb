import type { CniDef } from './types.js';

const VERSION = 'v0.27.4';

/** flannel, VXLAN: the pod subnet goes into its net-conf.json, its interface is found by address. */
export const flannel: CniDef = {
  id: 'flannel',
  title: 'flannel',
  version: VERSION,
  manifests: [{ name: 'kube-flannel.yml', url: `https://github.com/flannel-io/flannel/releases/download/${VERSION}/kube-flannel.yml` }],
  nodePod: { id: 'pod-cni', title: 'flannel running', namespaces: ['kube-flannel', 'kube-system'], prefix: 'kube-flannel-ds-' },
};
