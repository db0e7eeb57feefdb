import type { CniDef } from './types.js';

const VERSION = 'v3.30.2';
const RAW = `https://raw.githubusercontent.com/projectcalico/calico/${VERSION}/manifests`;

/** Calico through the Tigera operator: the IP pool is the pod subnet, nodes are found by address. */
export const calico: CniDef = {
  id: 'calico',
  title: 'Calico',
  version: VERSION,
  manifests: [
    { name: 'operator-crds.yaml', url: `${RAW}/operator-crds.yaml` },
    { name: 'tigera-operator.yaml', url: `${RAW}/tigera-operator.yaml` },
  ],
  nodePod: { id: 'pod-cni', title: 'calico-node running', namespaces: ['kube-system', 'calico-system'], prefix: 'calico-node-' },
};
