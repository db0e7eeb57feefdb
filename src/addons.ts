/**
 * Add-ons besides the pod network (src/cni). The Kubernetes Dashboard was archived upstream in
 * January 2026; Headlamp (kubernetes-sigs/headlamp) is its recommended successor: `addons.dashboard`
 * installs Headlamp, from a manifest of our own (upstream's plain manifest tracks :latest).
 */
export const HEADLAMP = {
  version: 'v0.45.0',
  image: 'ghcr.io/headlamp-k8s/headlamp:v0.45.0',
  namespace: 'kube-system',
  /** The NodePort it answers on, on every node's address: http://<masterIP>:30080. */
  nodePort: 30080,
  /** The ServiceAccount whose short-lived tokens log in to it (`kubectl create token`). */
  serviceAccount: 'headlamp-admin',
} as const;
