import type { CniDef } from './types.js';

const VERSION = 'v0.28.10';

/** flannel, VXLAN: the pod subnet goes into its net-conf.json, its interface is found by address. */
export const flannel: CniDef = {
  id: 'flannel',
  title: 'flannel',
  version: VERSION,
  // The manifest in the source tree at the tag (the release asset of the same name is made by a build
  // step of its own and may differ in its bytes): its digest is the one read from the tag's source.
  manifests: [
    {
      name: 'kube-flannel.yml',
      url: `https://raw.githubusercontent.com/flannel-io/flannel/${VERSION}/Documentation/kube-flannel.yml`,
      pin: {
        sha256: '944a3c1f925f117727a1b7272a323c80965da642498397ec7e6ea9bef0f9e6c5',
        readFrom: `Documentation/kube-flannel.yml in the Go module proxy's copy of github.com/flannel-io/flannel@${VERSION}`,
      },
    },
  ],
  nodePod: { id: 'pod-cni', title: 'flannel running', namespaces: ['kube-flannel', 'kube-system'], prefix: 'kube-flannel-ds-' },
  // flannel's CNI plugin comes from the artifacts' cni/ like every other plugin, so the
  // manifest's install-cni-plugin init container (which copies the same binary out of the
  // flannel-cni-plugin image) is left out, and with it that image.
  offline: { images: [`ghcr.io/flannel-io/flannel:${VERSION}`], cniPlugins: ['flannel'] },
};
