import type { CniDef } from './types.js';

const VERSION = 'v3.32.2';
/** The Tigera operator release that ships with this Calico release. */
const OPERATOR = 'v1.42.6';
const RAW = `https://raw.githubusercontent.com/projectcalico/calico/${VERSION}/manifests`;

/** Calico through the Tigera operator: the IP pool is the pod subnet, nodes are found by address. */
export const calico: CniDef = {
  id: 'calico',
  title: 'Calico',
  version: VERSION,
  // No pin: Calico is not served by the Go module proxy, so no digest of these files could be read
  // and checked here; `artifacts fetch` asks for one (--trust-manifest, mirrors.manifests).
  manifests: [
    { name: 'operator-crds.yaml', url: `${RAW}/operator-crds.yaml` },
    { name: 'tigera-operator.yaml', url: `${RAW}/tigera-operator.yaml` },
  ],
  nodePod: { id: 'pod-cni', title: 'calico-node running', namespaces: ['kube-system', 'calico-system'], prefix: 'calico-node-' },
  // The operator pulls these (`operator --print-images=list` lists them for a release); Calico
  // installs its own CNI plugins from calico/cni.
  offline: {
    images: [
      `quay.io/tigera/operator:${OPERATOR}`,
      ...['node', 'cni', 'kube-controllers', 'typha', 'csi', 'node-driver-registrar', 'pod2daemon-flexvol', 'apiserver'].map((c) => `quay.io/calico/${c}:${VERSION}`),
    ],
    cniPlugins: [],
  },
};
