import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterChecks, failedClusterChecks, parseNodeList, parsePodList, parseServerVersion } from '../../src/verify/kube.js';
import type { CheckResult, PlannedNode } from '../../src/verify/types.js';
import { calico } from '../../src/cni/calico.js';
import { flannel } from '../../src/cni/flannel.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');

const master: PlannedNode = { name: 'master', hostname: 'demo-master', ip: '192.168.56.10', role: 'control-plane' };
const w1: PlannedNode = { name: 'worker-1', hostname: 'demo-worker-1', ip: '192.168.56.21', role: 'worker' };
const w2: PlannedNode = { name: 'worker-2', hostname: 'demo-worker-2', ip: '192.168.56.22', role: 'worker' };
const w3: PlannedNode = { name: 'worker-3', hostname: 'demo-worker-3', ip: '192.168.56.23', role: 'worker' };

const byId = (checks: CheckResult[] | undefined): Record<string, CheckResult> => Object.fromEntries((checks ?? []).map((c) => [c.check, c]));

describe('kubectl get nodes -o json', () => {
  const nodes = parseNodeList(fixture('kubectl-get-nodes.json'));

  it('reads name, readiness and InternalIP of each node', () => {
    expect(nodes.map((n) => [n.name, n.ready, n.internalIPs])).toEqual([
      ['demo-master', true, ['192.168.56.10']],
      ['demo-worker-1', true, ['192.168.56.21']],
      ['demo-worker-2', false, ['10.0.2.15']],
    ]);
  });

  it('keeps the kubelet reason of a NotReady node', () => {
    expect(nodes[2]!.readiness).toMatch(/^NotReady: KubeletNotReady container runtime network not ready/);
  });

  it('rejects output that is not a node list, without crashing on the shape', () => {
    expect(() => parseNodeList('error: the server doesn\'t have a resource type "nodes"')).toThrow(/not JSON/);
    expect(() => parseNodeList('{"kind":"List","items":[{"metadata":{}}]}')).toThrow(/items\.0\.metadata\.name/);
  });
});

describe('kubectl get pods -A -o json', () => {
  it('reads state, node and readiness of each pod', () => {
    const pods = parsePodList(fixture('kubectl-get-pods-flannel.json'));
    const flannel = pods.find((p) => p.name === 'kube-flannel-ds-r8v2x')!;
    expect(flannel).toMatchObject({ namespace: 'kube-flannel', nodeName: 'demo-worker-2', ready: false, state: 'Running, not ready: CrashLoopBackOff (7 restarts)' });
    const pending = pods.find((p) => p.name === 'coredns-674b8bbfcf-tn6wx')!;
    expect(pending).toMatchObject({ ready: false, state: 'Pending: ContainerCreating' });
    expect(pods.find((p) => p.name === 'etcd-demo-master')).toMatchObject({ ready: true, state: 'Running, ready' });
  });
});

describe('cluster checks (flannel)', () => {
  const nodes = parseNodeList(fixture('kubectl-get-nodes.json'));
  const pods = parsePodList(fixture('kubectl-get-pods-flannel.json'));
  const results = clusterChecks([master, w1, w2, w3], nodes, pods, flannel.nodePod);

  it('a healthy control plane passes everything but the half-ready CoreDNS', () => {
    const m = byId(results.get('master'));
    expect(Object.keys(m)).toEqual([
      'node-ready',
      'node-internal-ip',
      'pod-kube-proxy',
      'pod-cni',
      'pod-kube-apiserver',
      'pod-kube-controller-manager',
      'pod-kube-scheduler',
      'pod-etcd',
      'pod-coredns',
    ]);
    expect(Object.values(m).filter((c) => !c.ok).map((c) => c.check)).toEqual(['pod-coredns']);
    expect(m['pod-coredns']!.seen).toBe('1/2 ready; coredns-674b8bbfcf-tn6wx: Pending: ContainerCreating');
    expect(m['pod-cni']!.seen).toBe('kube-flannel/kube-flannel-ds-9d4kq: Running, ready');
  });

  it('a healthy worker passes, and gets no control-plane checks', () => {
    const checks = results.get('worker-1')!;
    expect(checks.map((c) => c.check)).toEqual(['node-ready', 'node-internal-ip', 'pod-kube-proxy', 'pod-cni']);
    expect(checks.every((c) => c.ok)).toBe(true);
  });

  it('the NAT-address mistake: NotReady, wrong InternalIP, flannel crash-looping', () => {
    const w = byId(results.get('worker-2'));
    expect(w['node-ready']).toMatchObject({ ok: false, seen: expect.stringMatching(/^NotReady: KubeletNotReady/) });
    expect(w['node-internal-ip']).toMatchObject({ ok: false, seen: '10.0.2.15', expected: '192.168.56.22' });
    expect(w['pod-cni']).toMatchObject({ ok: false, seen: 'kube-flannel/kube-flannel-ds-r8v2x: Running, not ready: CrashLoopBackOff (7 restarts)' });
    expect(w['pod-kube-proxy']!.ok).toBe(true);
  });

  it('a planned node that never joined is reported as not registered', () => {
    const w = byId(results.get('worker-3'));
    expect(w['node-ready']).toMatchObject({ ok: false, seen: 'not registered (registered: demo-master, demo-worker-1, demo-worker-2)' });
    expect(w['pod-kube-proxy']).toMatchObject({ ok: false, seen: 'no kube-proxy-* pod on demo-worker-3' });
  });

  it('looks for the CNI of the plan: calico pods do not satisfy flannel', () => {
    const calicoPods = parsePodList(fixture('kubectl-get-pods-calico.json'));
    const asFlannel = clusterChecks([w1], nodes, calicoPods, flannel.nodePod);
    expect(byId(asFlannel.get('worker-1'))['pod-cni']!.ok).toBe(false);
  });
});

describe('cluster checks (calico)', () => {
  it('finds calico-node in kube-system and reports a crash-looping scheduler', () => {
    const nodes = parseNodeList(fixture('kubectl-get-nodes.json'));
    const pods = parsePodList(fixture('kubectl-get-pods-calico.json'));
    const results = clusterChecks([master, w1], nodes, pods, calico.nodePod);
    const m = byId(results.get('master'));
    expect(m['pod-cni']).toMatchObject({ ok: true, title: 'calico-node running', seen: 'kube-system/calico-node-2xw7k: Running, ready' });
    expect(m['pod-kube-scheduler']).toMatchObject({ ok: false, seen: 'kube-system/kube-scheduler-demo-master: Running, not ready: CrashLoopBackOff (5 restarts)' });
    expect(m['pod-coredns']).toMatchObject({ ok: true, seen: '2/2 ready' });
    // calico-kube-controllers is not mistaken for a calico-node pod
    expect(byId(results.get('worker-1'))['pod-cni']!.seen).toBe('kube-system/calico-node-5vjnd: Running, ready');
  });
});

describe('failedClusterChecks', () => {
  it('produces the same checks as clusterChecks, all failed with the reason', () => {
    const failed = failedClusterChecks(master, flannel.nodePod, 'not checked: control plane unreachable');
    const real = clusterChecks([master], [], [], flannel.nodePod).get('master')!;
    expect(failed.map((c) => [c.check, c.title, c.expected])).toEqual(real.map((c) => [c.check, c.title, c.expected]));
    expect(failed.every((c) => !c.ok && c.seen === 'not checked: control plane unreachable')).toBe(true);
  });
});

describe('versions in the cluster view (what verify and status show, and what upgrade reads)', () => {
  const nodes = parseNodeList(fixture('kubectl-get-nodes.json'));
  const pods = parsePodList(fixture('kubectl-get-pods-flannel.json'));

  it('reads each kubelet version and the API server version', () => {
    expect(nodes.map((n) => [n.name, n.kubeletVersion])).toEqual([
      ['demo-master', 'v1.33.1'],
      ['demo-worker-1', 'v1.33.1'],
      ['demo-worker-2', 'v1.33.1'],
    ]);
    // The client part is what the artifacts' kubectl v1.37.2 prints; the server part has the same fields (version.Info).
    expect(parseServerVersion(fixture('kubectl-version.json'))).toBe('v1.36.3');
    expect(() => parseServerVersion('{"clientVersion":{"gitVersion":"v1.37.2"}}')).toThrow(/kubectl version: unexpected JSON at serverVersion/);
  });

  it('checks each kubelet and, on the control plane, kubeadm\'s components at the cluster version', () => {
    const results = clusterChecks([master, w1], nodes, pods, flannel.nodePod, '1.33.1');
    const m = byId(results.get('master'));
    expect(m['kubelet-version']).toMatchObject({ ok: true, seen: 'kubelet v1.33.1', expected: 'kubelet v1.33.1' });
    // The fixture's etcd is not the one kubeadm 1.33 names (3.5.24-0, src/versions.ts): that is what the check is for.
    expect(m['control-plane-version']).toMatchObject({
      ok: false,
      seen: 'kube-apiserver v1.33.1, kube-controller-manager v1.33.1, kube-scheduler v1.33.1, etcd 3.5.21-0 (wanted 3.5.24-0), kube-proxy v1.33.1, coredns v1.12.0',
    });
    expect(results.get('worker-1')!.map((c) => c.check)).toEqual(['node-ready', 'node-internal-ip', 'pod-kube-proxy', 'pod-cni', 'kubelet-version']);
    // A minor takes any of its patches; a node behind the cluster's version fails with what it runs.
    expect(byId(clusterChecks([w1], nodes, pods, flannel.nodePod, '1.33').get('worker-1'))['kubelet-version']!.ok).toBe(true);
    expect(byId(clusterChecks([w1], nodes, pods, flannel.nodePod, '1.34.0').get('worker-1'))['kubelet-version']).toMatchObject({ ok: false, seen: 'kubelet v1.33.1', expected: 'kubelet v1.34.0' });
    // Without a version, no version checks (as before).
    expect(Object.keys(byId(clusterChecks([w1], nodes, pods, flannel.nodePod).get('worker-1')))).not.toContain('kubelet-version');
  });
});

describe('pods being deleted (after an upgrade: the old CoreDNS and kube-proxy on a slow node)', () => {
  const nodes = parseNodeList(fixture('kubectl-get-nodes.json'));
  // The calico fixture (CoreDNS 2/2 ready at v1.12.0, kube-proxy v1.33.1 everywhere), plus what a rollout leaves behind for a while.
  const raw = JSON.parse(fixture('kubectl-get-pods-calico.json')) as { items: { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName?: string; containers: { image: string }[] }; status: { phase: string } }[] };
  const leaving = (name: string, nodeName: string, image: string, ready: boolean) => ({
    metadata: { name, namespace: 'kube-system', deletionTimestamp: '2026-12-06T15:24:00Z' },
    spec: { nodeName, containers: [{ image }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'c', ready, restartCount: 0, state: { running: {} } }] },
  });
  const withLeaving = (...extra: ReturnType<typeof leaving>[]) => parsePodList(JSON.stringify({ items: [...raw.items, ...extra] }));

  it('leaves them out of CoreDNS readiness and the versions, and says how many', () => {
    const pods = withLeaving(leaving('coredns-5d78c9869d-aaaaa', 'demo-worker-1', 'registry.k8s.io/coredns/coredns:v1.11.3', false), leaving('coredns-5d78c9869d-bbbbb', 'demo-worker-1', 'registry.k8s.io/coredns/coredns:v1.11.3', false));
    expect(pods.filter((p) => p.terminating).map((p) => p.name)).toEqual(['coredns-5d78c9869d-aaaaa', 'coredns-5d78c9869d-bbbbb']);
    const m = byId(clusterChecks([master, w1], nodes, pods, calico.nodePod, '1.33.1').get('master'));
    expect(m['pod-coredns']).toMatchObject({ ok: true, seen: '2/2 ready (2 more terminating)' });
    expect(m['control-plane-version']!.seen).toMatch(/coredns v1\.12\.0$/);
    expect(m['control-plane-version']!.seen).not.toContain('v1.11.3');
  });

  it('does not count a pod being deleted as the one running on its node, ready or not', () => {
    const raw2 = { items: raw.items.filter((p) => p.metadata.name !== 'kube-proxy-b9m4q') };
    const pods = parsePodList(JSON.stringify({ items: [...raw2.items, leaving('kube-proxy-old11', 'demo-worker-1', 'registry.k8s.io/kube-proxy:v1.33.0', true)] }));
    expect(byId(clusterChecks([w1], nodes, pods, calico.nodePod).get('worker-1'))['pod-kube-proxy']).toMatchObject({ ok: false, seen: 'kube-system/kube-proxy-old11: Terminating' });
    // Beside a new ready one, the old one is not what is shown.
    const both = withLeaving(leaving('kube-proxy-old11', 'demo-worker-1', 'registry.k8s.io/kube-proxy:v1.33.0', true));
    expect(byId(clusterChecks([w1], nodes, both, calico.nodePod).get('worker-1'))['pod-kube-proxy']).toMatchObject({ ok: true, seen: 'kube-system/kube-proxy-b9m4q: Running, ready' });
  });

  it('fails CoreDNS when every pod is being deleted', () => {
    const raw3 = { items: raw.items.filter((p) => !p.metadata.name.startsWith('coredns-')) };
    const pods = parsePodList(JSON.stringify({ items: [...raw3.items, leaving('coredns-5d78c9869d-aaaaa', 'demo-master', 'registry.k8s.io/coredns/coredns:v1.12.0', true)] }));
    expect(byId(clusterChecks([master], nodes, pods, calico.nodePod).get('master'))['pod-coredns']).toMatchObject({ ok: false, seen: 'no coredns pods (1 more terminating)' });
  });
});
