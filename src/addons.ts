/** Add-ons besides the pod network (src/cni): pinned releases; the control plane downloads their manifests once and keeps them. */
export const DASHBOARD = {
  version: 'v2.7.0',
  manifest: 'https://raw.githubusercontent.com/kubernetes/dashboard/v2.7.0/aio/deploy/recommended.yaml',
} as const;
