import * as z from 'zod';
import { GUEST } from '../layout.js';
import { covers, minorOf } from '../kube-version.js';
import { minorInfo } from '../versions.js';
import type { CheckResult, PlannedNode } from './types.js';

/** Pure readers of `kubectl get nodes|pods -o json` and the cluster checks built on them. */

export const KUBECTL_NODES = `kubectl --kubeconfig ${GUEST.adminKubeconfig} get nodes -o json`;
/** All namespaces: flannel's pods live in kube-flannel, the rest in kube-system. */
export const KUBECTL_VERSION = `kubectl --kubeconfig ${GUEST.adminKubeconfig} version -o json`;
export const KUBECTL_PODS = `kubectl --kubeconfig ${GUEST.adminKubeconfig} get pods --all-namespaces -o json`;

const Condition = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

const NodeList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string() }),
      status: z
        .object({
          conditions: z.array(Condition).optional(),
          addresses: z.array(z.object({ type: z.string(), address: z.string() })).optional(),
          nodeInfo: z.object({ kubeletVersion: z.string().optional() }).optional(),
        })
        .optional(),
    }),
  ),
});

const ContainerState = z.object({
  running: z.object({}).optional(),
  waiting: z.object({ reason: z.string().optional() }).optional(),
  terminated: z.object({ reason: z.string().optional(), exitCode: z.number().optional() }).optional(),
});

const PodList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string(), namespace: z.string().optional(), deletionTimestamp: z.string().optional() }),
      spec: z.object({ nodeName: z.string().optional(), containers: z.array(z.object({ image: z.string().optional() })).optional() }).optional(),
      status: z
        .object({
          phase: z.string().optional(),
          reason: z.string().optional(),
          conditions: z.array(Condition).optional(),
          containerStatuses: z
            .array(z.object({ name: z.string(), ready: z.boolean(), restartCount: z.number().optional(), state: ContainerState.optional() }))
            .optional(),
        })
        .optional(),
    }),
  ),
});

export interface KubeNode {
  name: string;
  ready: boolean;
  /** `Ready`, or `NotReady: <reason> <message>`. */
  readiness: string;
  internalIPs: string[];
  /** What the node's kubelet reports, `v1.37.2`. */
  kubeletVersion?: string;
}

export interface KubePod {
  namespace: string;
  name: string;
  nodeName: string | undefined;
  ready: boolean;
  /** `Running, ready`, `Pending: ContainerCreating`, `Running, not ready: CrashLoopBackOff (7 restarts)`. */
  state: string;
  /** Its containers' images. */
  images: string[];
  /** Being deleted (metadata.deletionTimestamp; kubectl's "Terminating"): on its way out, e.g. the old ReplicaSet's after a rollout. */
  terminating: boolean;
}

function parseAs<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${what}: not JSON (${text.trim().slice(0, 80) || 'empty output'})`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`${what}: unexpected JSON at ${issue?.path.join('.') || '(top)'}: ${issue?.message ?? 'invalid'}`);
}

const VersionInfo = z.object({ serverVersion: z.object({ gitVersion: z.string() }) });

/** The API server's version from `kubectl version -o json`, `v1.37.2`. */
export function parseServerVersion(text: string): string {
  return parseAs(VersionInfo, text, 'kubectl version').serverVersion.gitVersion;
}

export function parseNodeList(text: string): KubeNode[] {
  const list = parseAs(NodeList, text, 'kubectl get nodes');
  return list.items.map((n) => {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    const isReady = ready?.status === 'True';
    const why = [ready?.reason, ready?.message].filter(Boolean).join(' ');
    return {
      name: n.metadata.name,
      ready: isReady,
      readiness: isReady ? 'Ready' : `NotReady${why ? `: ${why}` : ready ? '' : ': no Ready condition yet'}`,
      internalIPs: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
      ...(n.status?.nodeInfo?.kubeletVersion ? { kubeletVersion: n.status.nodeInfo.kubeletVersion } : {}),
    };
  });
}

type RawPod = z.infer<typeof PodList>['items'][number];

function podState(p: RawPod): { ready: boolean; state: string } {
  const phase = p.status?.phase ?? 'Unknown';
  const containers = p.status?.containerStatuses ?? [];
  const readyCondition = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const ready = phase === 'Running' && (readyCondition || (containers.length > 0 && containers.every((c) => c.ready)));
  if (ready) return { ready, state: 'Running, ready' };
  const stuck = containers.find((c) => !c.ready);
  const reason = stuck?.state?.waiting?.reason ?? stuck?.state?.terminated?.reason ?? p.status?.reason;
  const restarts = stuck?.restartCount ? ` (${stuck.restartCount} restarts)` : '';
  const head = phase === 'Running' ? 'Running, not ready' : phase;
  return { ready, state: reason ? `${head}: ${reason}${restarts}` : `${head}${restarts}` };
}

export function parsePodList(text: string): KubePod[] {
  const list = parseAs(PodList, text, 'kubectl get pods');
  return list.items.map((p) => ({
    namespace: p.metadata.namespace ?? 'default',
    name: p.metadata.name,
    nodeName: p.spec?.nodeName,
    images: (p.spec?.containers ?? []).flatMap((c) => (c.image ? [c.image] : [])),
    terminating: p.metadata.deletionTimestamp !== undefined,
    ...podState(p),
  }));
}

export interface PodMatcher {
  id: string;
  title: string;
  namespaces: readonly string[];
  /** Pod name prefix: DaemonSet pods are `<set>-<5 chars>`, static pods `<component>-<node name>`. */
  prefix: string;
}

const staticPod = (component: string): PodMatcher => ({
  id: `pod-${component}`,
  title: `${component} running`,
  namespaces: ['kube-system'],
  prefix: `${component}-`,
});

export const CONTROL_PLANE_PODS: readonly PodMatcher[] = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'].map(staticPod);
export const KUBE_PROXY_POD: PodMatcher = { id: 'pod-kube-proxy', title: 'kube-proxy running', namespaces: ['kube-system'], prefix: 'kube-proxy-' };
export const COREDNS_POD: PodMatcher = { id: 'pod-coredns', title: 'CoreDNS running', namespaces: ['kube-system'], prefix: 'coredns-' };

export const matches = (m: PodMatcher, p: KubePod): boolean => m.namespaces.includes(p.namespace) && p.name.startsWith(m.prefix);
const sameNode = (a: string | undefined, b: string): boolean => a?.toLowerCase() === b.toLowerCase();

function result(node: PlannedNode, check: string, title: string, expected: string, ok: boolean, seen: string): CheckResult {
  return { node: node.name, check, title, ok, seen, expected };
}

/** The pod of `m` on this node is running and ready (during a rollout, any one of them). */
export function podOnNodeCheck(node: PlannedNode, m: PodMatcher, pods: readonly KubePod[]): CheckResult {
  const here = pods.filter((p) => matches(m, p) && sameNode(p.nodeName, node.hostname));
  const staying = here.filter((p) => !p.terminating);
  const best = staying.find((p) => p.ready) ?? staying[0] ?? here[0];
  const seen = best ? `${best.namespace}/${best.name}: ${best.terminating ? 'Terminating' : best.state}` : `no ${m.prefix}* pod on ${node.hostname}`;
  return result(node, m.id, m.title, 'running and ready', (best?.ready ?? false) && !best?.terminating, seen);
}

/** ` (2 more terminating)`: pods being deleted, left out of a check as `kubectl rollout status` leaves them out. */
function terminatingNote(pods: readonly KubePod[]): string {
  const n = pods.filter((p) => p.terminating).length;
  return n ? ` (${n} more terminating)` : '';
}

function corednsCheck(node: PlannedNode, pods: readonly KubePod[]): CheckResult {
  const all = pods.filter((p) => matches(COREDNS_POD, p));
  const dns = all.filter((p) => !p.terminating);
  const ready = dns.filter((p) => p.ready).length;
  const notReady = dns.filter((p) => !p.ready).map((p) => `${p.name}: ${p.state}`);
  const seen = dns.length === 0 ? `no coredns pods${terminatingNote(all)}` : `${ready}/${dns.length} ready${notReady.length ? `; ${notReady.join('; ')}` : ''}${terminatingNote(all)}`;
  return result(node, COREDNS_POD.id, COREDNS_POD.title, 'every coredns pod running and ready (those being deleted aside)', dns.length > 0 && ready === dns.length, seen);
}

function nodeReadyCheck(node: PlannedNode, kn: KubeNode | undefined, all: readonly KubeNode[]): CheckResult {
  const seen = kn ? kn.readiness : `not registered (registered: ${all.map((n) => n.name).join(', ') || 'none'})`;
  return result(node, 'node-ready', 'registered and Ready', `node ${node.hostname} Ready`, kn?.ready ?? false, seen);
}

function internalIpCheck(node: PlannedNode, kn: KubeNode | undefined): CheckResult {
  const ips = kn?.internalIPs ?? [];
  const seen = !kn ? 'not registered' : ips.length ? ips.join(', ') : 'no InternalIP';
  return result(node, 'node-internal-ip', 'InternalIP is the private address', node.ip, ips.length > 0 && ips.every((ip) => ip === node.ip), seen);
}

/** `v1.37.2` when the version is a patch, `v1.37.x` for a minor. */
function shownVersion(version: string): string {
  return version.split('.').length === 3 ? `v${version}` : `v${version}.x`;
}

/** The kubelet reports the cluster's version (a patch, or any patch of a minor). */
function kubeletVersionCheck(node: PlannedNode, kn: KubeNode | undefined, version: string): CheckResult {
  const seen = !kn ? 'not registered' : kn.kubeletVersion ? `kubelet ${kn.kubeletVersion}` : 'no kubelet version reported';
  return result(node, 'kubelet-version', "kubelet at the cluster's version", `kubelet ${shownVersion(version)}`, !!kn?.kubeletVersion && covers(version, kn.kubeletVersion), seen);
}

/** `registry.k8s.io/kube-apiserver:v1.37.2` → [kube-apiserver, v1.37.2]. */
function imageNameAndTag(image: string): [string, string] {
  const at = image.lastIndexOf(':');
  const repo = at > image.lastIndexOf('/') ? image.slice(0, at) : image;
  const tag = at > image.lastIndexOf('/') ? image.slice(at + 1) : 'latest';
  return [repo.slice(repo.lastIndexOf('/') + 1), tag];
}

/**
 * kubeadm's components on the control plane at the cluster's version: the static pods (kube-apiserver,
 * kube-controller-manager, kube-scheduler at the Kubernetes version, etcd at the tag kubeadm of the
 * minor names), kube-proxy on every node, CoreDNS at the minor's tag. Tags of a minor this tool does
 * not know (etcd, CoreDNS) are shown, not judged.
 */
function controlPlaneVersionCheck(node: PlannedNode, pods: readonly KubePod[], version: string): CheckResult {
  const info = minorInfo(minorOf(version));
  const wanted: [string, PodMatcher, (tag: string) => boolean, string][] = [
    ...CONTROL_PLANE_PODS.filter((m) => m.prefix !== 'etcd-').map((m): [string, PodMatcher, (tag: string) => boolean, string] => [m.prefix.slice(0, -1), m, (tag) => covers(version, tag), shownVersion(version)]),
    ['etcd', CONTROL_PLANE_PODS.find((m) => m.prefix === 'etcd-')!, (tag) => !info || tag === info.images.etcd, info?.images.etcd ?? 'any'],
    ['kube-proxy', KUBE_PROXY_POD, (tag) => covers(version, tag), shownVersion(version)],
    ['coredns', COREDNS_POD, (tag) => !info || tag === info.images.coredns, info?.images.coredns ?? 'any'],
  ];
  const parts: string[] = [];
  let ok = true;
  for (const [component, matcher, good, want] of wanted) {
    const staticPod = matcher !== KUBE_PROXY_POD && matcher !== COREDNS_POD;
    // A pod being deleted (the old CoreDNS after an upgrade's rollout, on a slow node for many minutes) is leaving, not running an old version.
    const tags = pods
      .filter((p) => matches(matcher, p) && !p.terminating && (!staticPod || sameNode(p.nodeName, node.hostname)))
      .flatMap((p) => p.images.map(imageNameAndTag).filter(([name]) => name === component).map(([, tag]) => tag));
    const distinct = [...new Set(tags)].sort();
    if (distinct.length === 0 || !distinct.every(good)) ok = false;
    parts.push(`${component} ${distinct.length ? distinct.join(' and ') : 'none'}${distinct.every(good) ? '' : ` (wanted ${want})`}`);
  }
  return result(node, 'control-plane-version', "kubeadm's components at the cluster's version", `${shownVersion(version)}; etcd and CoreDNS as kubeadm ${minorOf(version)} names them`, ok, parts.join(', '));
}

/**
 * The Kubernetes view of every planned node; control-plane-wide pods are reported on the control
 * plane. `cniPod` is the pod the cluster's CNI runs on every node (src/cni). With `version` (the
 * cluster's: a patch, or a minor), each node's kubelet and kubeadm's components are checked at it.
 */
export function clusterChecks(planned: readonly PlannedNode[], nodes: readonly KubeNode[], pods: readonly KubePod[], cniPod: PodMatcher, version?: string): Map<string, CheckResult[]> {
  const out = new Map<string, CheckResult[]>();
  for (const node of planned) {
    const kn = nodes.find((n) => sameNode(n.name, node.hostname));
    const checks = [nodeReadyCheck(node, kn, nodes), internalIpCheck(node, kn), podOnNodeCheck(node, KUBE_PROXY_POD, pods), podOnNodeCheck(node, cniPod, pods)];
    if (version) checks.push(kubeletVersionCheck(node, kn, version));
    if (node.role === 'control-plane') {
      checks.push(...CONTROL_PLANE_PODS.map((m) => podOnNodeCheck(node, m, pods)), corednsCheck(node, pods));
      if (version) checks.push(controlPlaneVersionCheck(node, pods, version));
    }
    out.set(node.name, checks);
  }
  return out;
}

/** The checks clusterChecks would make for a node, all failed for one reason (e.g. kubectl failed). */
export function failedClusterChecks(node: PlannedNode, cniPod: PodMatcher, seen: string, version?: string): CheckResult[] {
  return (clusterChecks([node], [], [], cniPod, version).get(node.name) ?? []).map((c) => ({ ...c, ok: false, seen }));
}
