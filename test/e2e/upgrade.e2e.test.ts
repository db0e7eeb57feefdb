/**
 * The upgrade on real VMs (`npm run test:e2e:upgrade`, not part of `npm run test:e2e`): a cluster of
 * one control plane and one worker at Kubernetes 1.36.3, built offline from the artifacts
 * test/artifacts/build.sh --kubernetes 1.36 builds from upstream source, in the same namespace, box
 * and libvirt/qemu settings as the main e2e (test/e2e/cluster-env.ts). A workload runs through it:
 * a Deployment of two replicas, one per node (required anti-affinity; each sleeps 20 s before it stops), with a PodDisruptionBudget
 * (minAvailable 1) behind a NodePort Service, asked every two seconds from the namespace's host side
 * on both nodes' addresses while the upgrade runs; a ConfigMap is written before. Then `upgrade --to
 * 1.37` (the artifacts of both releases under one offline.dir): every node's kubelet, the control
 * plane's static pods, kube-proxy and CoreDNS at kubeadm 1.37's versions, the ConfigMap still there
 * (etcd's data kept), `verify --smoke` passing, and `upgrade --to 1.37` again a no-op. It prints each
 * node's upgrade time and the client's failed requests.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { HOST } from '../../src/layout.js';
import { readState } from '../../src/state.js';
import { kubeadmImages, SMOKE_IMAGE } from '../../src/versions.js';
import { buildArtifacts, canRunE2e, DISTRO, E2eCluster, MASTER_IP, MINUTE, WORKER_IP, type KubePod } from './cluster-env.js';

const FROM = '1.36.3';
const TO = '1.37.2';
const NS = 'upgrade-e2e';

const canRun = canRunE2e();

/**
 * Whether the control plane is between the start of its `kubeadm upgrade apply` (the upgrade's log
 * has written that command) and the end of its upgrade (the state records it upgraded): apply
 * restarts etcd and the API server, and the kubelet of the new minor then starts every static pod
 * again at once (2026-12-06: new sandboxes for all four at the kubelet's restart; the API server
 * crash-looped for 21 minutes at equal shares, and the control plane's verification gave up at 30m43s).
 */
function controlPlaneUpgrading(clusterDir: string): boolean {
  if (readState(clusterDir).upgrade?.nodes.master?.upgraded) return false;
  const logs = join(clusterDir, HOST.logsDir);
  const newest = existsSync(logs) ? readdirSync(logs).filter((f) => /^upgrade-.*\.log$/.test(f)).sort().at(-1) : undefined;
  return newest !== undefined && readFileSync(join(logs, newest), 'utf8').includes('\n$ [master] sudo kubeadm upgrade apply ');
}

/** The workload that must keep answering: two replicas, one per node, a PDB, a NodePort Service, and data written before. */
const WORKLOAD = (written: string) => `apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: e2e-data, namespace: ${NS}}
data: {written: "${written}", note: "written before the upgrade"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NS}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      # One replica on each node: the control plane takes it too.
      tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {labelSelector: {matchLabels: {app: web}}, topologyKey: kubernetes.io/hostname}
      containers:
        - name: web
          image: ${SMOKE_IMAGE}
          args: [netexec, --http-port=8080]
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /hostname, port: 8080}, periodSeconds: 5}
          # A drained replica keeps answering while every kube-proxy drops it from its rules (slow under emulation).
          lifecycle: {preStop: {sleep: {seconds: 20}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: ${NS}}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${NS}}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 8080, targetPort: 8080}]}
`;

/** A client on the namespace's host side asking the Service's NodePort on every node in turn, every 2 s, until stopped. */
class ServiceClient {
  readonly answers: { at: number; url: string; ok: boolean; seen: string }[] = [];
  private stopping = false;
  private loop: Promise<void> | undefined;
  constructor(private readonly e2e: E2eCluster) {}

  start(urls: string[]): void {
    this.loop = (async () => {
      for (let i = 0; !this.stopping; i++) {
        const url = urls[i % urls.length]!;
        const at = Date.now();
        const r = await this.e2e.env.exec('curl', ['-s', '-m', '5', '-w', ' %{http_code}', url], { reject: false, timeoutMs: 30_000 });
        const seen = r.stdout.trim();
        this.answers.push({ at, url, ok: / 200$/.test(seen), seen: seen || `curl exit ${r.exitCode}` });
        await new Promise((done) => setTimeout(done, Math.max(0, 2000 - (Date.now() - at))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** Requests, failures, and the failures as spans of consecutive ones (when, how long, where). */
  report(): { requests: number; failed: number; spans: string[]; answeredBy: string[] } {
    const spans: string[] = [];
    let run: typeof this.answers = [];
    const close = () => {
      if (run.length === 0) return;
      const first = run[0]!;
      const last = run.at(-1)!;
      spans.push(`${new Date(first.at).toISOString().slice(11, 19)} ${run.length} failed over ${((last.at - first.at) / 1000).toFixed(0)} s (${[...new Set(run.map((a) => `${a.url}: ${a.seen}`))].slice(0, 3).join('; ')})`);
      run = [];
    };
    for (const a of this.answers) {
      if (a.ok) close();
      else run.push(a);
    }
    close();
    const answeredBy = [...new Set(this.answers.filter((a) => a.ok).map((a) => a.seen.split(' ')[0]!))];
    return { requests: this.answers.length, failed: this.answers.filter((a) => !a.ok).length, spans, answeredBy };
  }
}

describe.skipIf(!canRun)(`kubeadm-vagrant upgrade on real VMs: ${FROM} → ${TO} with a workload answering (libvirt, qemu, ${DISTRO})`, () => {
  const e2e = new E2eCluster();
  const { cli, kubectl, nodes, pods, show, expectOk, chained } = e2e;
  const client = new ServiceClient(e2e);
  const written = new Date().toISOString();
  let dir = '';
  let combined = '';

  beforeAll(async () => {
    // One offline.dir with both releases (links to the directories build.sh keeps, each under its own recipe hash).
    await e2e.step('build or reuse the offline artifacts of 1.36 and 1.37', async () => {
      const roots = { [FROM]: buildArtifacts(['--kubernetes', '1.36']), [TO]: buildArtifacts() };
      combined = mkdtempSync(join(tmpdir(), 'kv-upgrade-artifacts-'));
      for (const [version, root] of Object.entries(roots)) {
        expect(existsSync(join(root, `v${version}`, 'amd64', 'SHA256SUMS')), root).toBe(true);
        symlinkSync(join(root, `v${version}`), join(combined, `v${version}`));
      }
    });
    // The 1.36 cluster installs from offline.dir (both releases), on the plain box built from the stand-in image.
    // The control plane's qemu first from its `kubeadm upgrade apply` until it is verified: etcd, the API
    // server and then every static pod restart beside a running cluster, and an API server that misses a
    // start-up deadline of its own crash-loops (2026-12-05, 2026-12-06). Only then: at the lower share
    // the worker's upload, stage and pods took 2-5x longer.
    await e2e.setUp({ version: '1.36', artifacts: { offlineDir: combined }, bake: false, controlPlaneFirst: () => controlPlaneUpgrading(e2e.dir) });
    dir = e2e.dir;
    const box = await e2e.step(`kubeadm-vagrant box build ${DISTRO}`, () => e2e.buildBox(false));
    e2e.expectOk(box, 'box build');
  }, 120 * MINUTE);

  afterAll(async () => {
    await client.stop();
    await e2e.tearDown();
    if (combined) rmSync(combined, { recursive: true, force: true });
  }, 10 * MINUTE);

  const versions = async () => (await nodes()).map((n) => [n.metadata.name, n.status.nodeInfo.kubeletVersion, E2eCluster.ready(n), n.spec.unschedulable === true]);
  /** The tags of an image repository's containers in kube-system, by pod name prefix. */
  const tagsOf = (all: KubePod[], prefix: string) =>
    [...new Set(all.filter((p) => p.metadata.namespace === 'kube-system' && p.metadata.name.startsWith(prefix)).flatMap((p) => p.spec.containers.map((c) => c.image.slice(c.image.lastIndexOf(':') + 1))))].sort();

  chained(`1. up brings a cluster up at ${FROM}`, async () => {
    const r = await e2e.step(`kubeadm-vagrant up (${FROM})`, () => e2e.watched('up', 40 * MINUTE, () => cli(['up'], 90 * MINUTE)));
    show(r);
    expectOk(r, 'up');
    expect(r.all).toMatch(/reached phase verified/);
    expect(e2e.env.prioritized.size, 'no priority before the upgrade').toBe(0);
    expect(await versions()).toEqual([
      ['e2e-master', `v${FROM}`, true, false],
      ['e2e-worker-1', `v${FROM}`, true, false],
    ]);
  });

  chained('2. a workload of two replicas, one per node, with a PodDisruptionBudget and a Service, and a ConfigMap written', async () => {
    await e2e.step('the workload and the client', async () => {
      await kubectl(`apply -f - <<'EOF'\n${WORKLOAD(written)}EOF`);
      await kubectl(`-n ${NS} rollout status deployment/web --timeout=900s`, 20 * MINUTE);
      const web = (await pods(`-n ${NS}`)).filter((p) => E2eCluster.podReady(p));
      expect(web.map((p) => p.spec.nodeName).sort()).toEqual(['e2e-master', 'e2e-worker-1']);
      const port = (await kubectl(`-n ${NS} get service web -o jsonpath='{.spec.ports[0].nodePort}'`)).trim();
      const urls = [MASTER_IP, WORKER_IP].map((ip) => `http://${ip}:${port}/hostname`);
      // Each node's kube-proxy routes the new NodePort once it sees the endpoints (minutes behind under emulation).
      for (const url of urls) {
        await e2e.eventually(`the Service at ${url}`, 5 * MINUTE, async () => {
          const r = await e2e.env.exec('curl', ['-s', '-m', '10', url], { reject: false, timeoutMs: MINUTE });
          expect(r.stdout.trim()).toMatch(/^web-/);
        });
      }
      client.start(urls);
      e2e.log(`  the client asks ${urls.join(' and ')} every 2 s`);
    });
  });

  chained(`3. upgrade --to 1.37 --plan prints what would run where and why, and changes nothing`, async () => {
    const state = readFileSync(join(dir, HOST.stateFile), 'utf8');
    const r = await e2e.step('kubeadm-vagrant upgrade --to 1.37 --plan', () => cli(['upgrade', '--to', '1.37', '--plan'], 20 * MINUTE));
    show(r);
    expectOk(r, 'upgrade --plan');
    expect(r.stdout).toContain(`would upgrade cluster e2e from ${FROM} to ${TO}; allowed because:`);
    expect(r.stdout).toContain('  - one minor at a time: 1.36 → 1.37');
    expect(r.stdout).toContain(`on master: sudo kubeadm upgrade apply v${TO} --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml --yes`);
    expect(r.stdout).toContain('on worker-1: sudo kubeadm upgrade node --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml');
    expect(readFileSync(join(dir, HOST.stateFile), 'utf8')).toBe(state);
  });

  chained(`4. upgrade --to 1.37: the control plane, then the worker, each verified; the workload keeps answering`, async () => {
    const r = await e2e.step('kubeadm-vagrant upgrade --to 1.37', () => e2e.watched('upgrade', 60 * MINUTE, () => cli(['upgrade', '--to', '1.37'], 180 * MINUTE)));
    show(r);
    expectOk(r, 'upgrade');
    expect(e2e.env.prioritized.size, "the control plane's qemu was found and given priority during its upgrade").toBe(1);
    expect(r.stdout).toMatch(new RegExp(`cluster upgraded from ${FROM.replace(/\./g, '\\.')} to ${TO.replace(/\./g, '\\.')}: master \\S+, worker-1 \\S+;`));
    // Nothing was pulled: every image came from the artifacts (kubeadm ran with imagePullPolicy Never).
    expect(r.all).not.toMatch(/ErrImagePull|ImagePullBackOff/);
    const state = JSON.parse(readFileSync(join(dir, HOST.stateFile), 'utf8')) as { upgrade: { from: string; to: string; startedAt: string; finishedAt: string; nodes: Record<string, { seconds: number }> } };
    expect(state.upgrade).toMatchObject({ from: FROM, to: TO, finishedAt: expect.any(String) });
    const total = (Date.parse(state.upgrade.finishedAt) - Date.parse(state.upgrade.startedAt)) / 1000;
    for (const [node, n] of Object.entries(state.upgrade.nodes)) e2e.log(`  ${node} upgraded in ${n.seconds} s`);
    e2e.log(`  the upgrade from its start to its finish: ${total.toFixed(0)} s`);
  });

  chained(`5. every node at ${TO}: the kubelets, the static pods, kube-proxy and CoreDNS at kubeadm 1.37's versions; the ConfigMap kept; the workload spread again`, async () => {
    await e2e.step('independent checks after the upgrade', async () => {
      await e2e.eventually('both nodes Ready at the new version, schedulable', 10 * MINUTE, async () => {
        expect(await versions()).toEqual([
          ['e2e-master', `v${TO}`, true, false],
          ['e2e-worker-1', `v${TO}`, true, false],
        ]);
      });
      const wanted = kubeadmImages(TO)!.map((ref) => ref.slice(ref.lastIndexOf(':') + 1));
      const [api, cm, scheduler, proxy, coredns, , etcd] = wanted;
      await e2e.eventually("kubeadm 1.37's components running", 10 * MINUTE, async () => {
        const all = await pods('-n kube-system');
        expect({
          apiserver: tagsOf(all, 'kube-apiserver-'),
          controllerManager: tagsOf(all, 'kube-controller-manager-'),
          scheduler: tagsOf(all, 'kube-scheduler-'),
          etcd: tagsOf(all, 'etcd-'),
          kubeProxy: tagsOf(all, 'kube-proxy-'),
          coredns: tagsOf(all, 'coredns-'),
        }).toEqual({ apiserver: [api], controllerManager: [cm], scheduler: [scheduler], etcd: [etcd], kubeProxy: [proxy], coredns: [coredns] });
        // Every pod that is to run runs (kubeadm's finished health-check Job leaves a pod behind for a minute).
        expect(all.filter((p) => !['Succeeded', 'Failed'].includes(p.status.phase) && !E2eCluster.podReady(p)).map((p) => `${p.metadata.name} ${p.status.phase}`)).toEqual([]);
      });
      e2e.log(`  kubeadm's components: kube-apiserver ${api}, etcd ${etcd}, kube-proxy ${proxy}, CoreDNS ${coredns}`);
      expect((await kubectl(`-n ${NS} get configmap e2e-data -o jsonpath='{.data.written}'`)).trim()).toBe(written);
      await e2e.eventually('the workload on both nodes again', 10 * MINUTE, async () => {
        const web = (await pods(`-n ${NS}`)).filter((p) => E2eCluster.podReady(p));
        expect(web.map((p) => p.spec.nodeName).sort()).toEqual(['e2e-master', 'e2e-worker-1']);
      });
      // Nothing was pulled on either node: the images are the ones imported from the artifacts.
      const imported = await e2e.ssh(WORKER_IP, 'sudo ctr -n k8s.io images ls -q');
      expect(imported.stdout).toContain(`registry.k8s.io/kube-proxy:v${TO}`);
      expect(imported.stdout).not.toMatch(/\/(etcd|kube-apiserver|kube-controller-manager|kube-scheduler):/);
    });
    await client.stop();
    const report = client.report();
    e2e.log(`  the client: ${report.requests} requests during the upgrade, ${report.failed} failed; answered by ${report.answeredBy.join(', ')}`);
    for (const span of report.spans) e2e.log(`    ${span}`);
    expect(report.requests).toBeGreaterThan(100);
  });

  chained('6. verify --smoke passes at the new version; status shows it', async () => {
    const v = await e2e.step('kubeadm-vagrant verify --smoke', () => cli(['verify', '--smoke', '--json'], 30 * MINUTE));
    type Report = { ok: boolean; nodes: { checks: { check: string; ok: boolean; seen?: string }[] }[] };
    const report = JSON.parse(v.stdout) as Report;
    expect(report.nodes.flatMap((n) => n.checks.filter((c) => !c.ok)), 'verify --smoke: the checks that failed').toEqual([]);
    expectOk(v, 'verify --smoke');
    const seen = report.nodes.flatMap((n) => n.checks.filter((c) => ['kubelet-version', 'control-plane-version'].includes(c.check)).map((c) => c.seen));
    for (const line of seen) e2e.log(`  ${line}`);
    expect(seen).toEqual(expect.arrayContaining([`kubelet v${TO}`]));
    const status = await cli(['status'], 5 * MINUTE);
    show(status);
    expect(status.stdout).toContain(`kubernetes: ${TO} (upgraded from ${FROM}`);
  });

  chained('7. upgrade --to 1.37 again is a no-op that says so', async () => {
    const r = await e2e.step('kubeadm-vagrant upgrade --to 1.37 (again)', () => cli(['upgrade', '--to', '1.37'], 20 * MINUTE));
    show(r);
    expectOk(r, 'upgrade again');
    expect(r.stdout).toContain(`cluster e2e runs ${TO} already: nothing to do`);
  });
});
