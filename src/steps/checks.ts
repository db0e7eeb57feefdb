import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { NodePlan } from '../plan/plan.js';
import { AuthError, connect, runAll, type SshOptions } from '../ssh/client.js';
import { backoffDelay, sleep } from '../ssh/retry.js';
import { updateState } from '../state.js';
import {
  ADMIN_KUBECTL,
  addChecks,
  hostnameCheck,
  nodeCheckSpecs,
  parseContainerdSandboxImage,
  parseKubeadmPauseImage,
  privateIpCheck,
  toVerifySummary,
  verifyNodes,
  type CheckResult,
  type NodeCheckSpec,
  type PlannedNode,
  type VerifyReport,
} from '../verify/index.js';
import { sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';

/**
 * What a verification covers: `machines` (reachable with the cluster key, hostname, address),
 * `node` (every node-level check), `packages` (node + kubeadm/kubelet/kubectl of the planned
 * version and the sandbox image), `cluster` (that plus the Kubernetes view of the nodes).
 */
export type VerifyLevel = 'machines' | 'node' | 'packages' | 'cluster';

/** kubeadm, kubelet and kubectl installed with the planned minor (and patch, when pinned). */
export function kubeToolsCheck(minor: string, patch?: string): NodeCheckSpec {
  const want = patch ?? minor;
  return {
    id: 'kube-tools',
    title: `kubeadm, kubelet, kubectl ${want}`,
    command: 'for b in kubeadm kubelet kubectl; do printf "%s " "$b"; case $b in kubeadm) kubeadm version -o short 2>/dev/null;; kubelet) kubelet --version 2>/dev/null | sed "s/^Kubernetes //";; kubectl) kubectl version --client 2>/dev/null | sed -n "s/^Client Version: //p";; esac || true; echo; done',
    expected: () => `all three at v${want}${patch ? '' : '.x'}`,
    parse: (stdout) => {
      const seen = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const [tool, version] = line.trim().split(/\s+/);
        if (tool && ['kubeadm', 'kubelet', 'kubectl'].includes(tool)) seen.set(tool, version ?? '');
      }
      const matches = (v: string | undefined) => !!v && (patch ? v === `v${patch}` : v.startsWith(`v${minor}.`));
      const tools = ['kubeadm', 'kubelet', 'kubectl'];
      const text = tools.map((t) => `${t} ${seen.get(t) || 'missing'}`).join(', ');
      return { ok: tools.every((t) => matches(seen.get(t))), seen: text };
    },
  };
}

const SANDBOX_MARK = '--- kubeadm config images list ---';

/** containerd runs pods with the pause image the installed kubeadm expects (the packages phase sets it). */
export const sandboxImageCheck: NodeCheckSpec = {
  id: 'sandbox-image',
  title: "containerd's sandbox image is kubeadm's pause image",
  command: `containerd config dump 2>/dev/null; echo '${SANDBOX_MARK}'; kubeadm config images list --kubernetes-version "$(kubeadm version -o short 2>/dev/null)" 2>/dev/null || true`,
  expected: () => 'the pause image of `kubeadm config images list`',
  parse: (stdout) => {
    const at = stdout.indexOf(SANDBOX_MARK);
    const dump = at < 0 ? stdout : stdout.slice(0, at);
    const wanted = at < 0 ? undefined : parseKubeadmPauseImage(stdout.slice(at + SANDBOX_MARK.length));
    const image = parseContainerdSandboxImage(dump);
    if (!wanted) return { ok: false, seen: `kubeadm names no pause image; containerd has ${image ?? 'none'}` };
    return { ok: image === wanted, seen: image === wanted ? image : `containerd ${image ?? 'none'}, kubeadm ${wanted}` };
  },
};

/** Peers are every planned node, not only those being verified (node add verifies the new ones). */
function specsFor(level: VerifyLevel, cluster: Pick<Cluster, 'plan'>) {
  return (node: PlannedNode): NodeCheckSpec[] => {
    if (level === 'machines') return [hostnameCheck, privateIpCheck];
    const base = nodeCheckSpecs(node, cluster.plan.nodes);
    return level === 'node' ? base : [...base, kubeToolsCheck(cluster.plan.kubernetes.minor, cluster.plan.kubernetes.patch), sandboxImageCheck];
  };
}

/** The check titles a level runs on a node, for `--dry-run`. */
export function describeChecks(level: VerifyLevel, node: NodePlan, cluster: Pick<Cluster, 'plan'>): string[] {
  const titles = specsFor(level, cluster)(node).map((s) => s.id);
  const kube = level === 'cluster' ? ['node-registered-ready', 'internal-ip', 'kube-system-pods'] : [];
  return ['ssh', ...titles, 'insecure-key-refused', ...kube];
}

/** Vagrant's published insecure private keys, wherever this host's Vagrant keeps them. */
export function findVagrantInsecureKeys(env: NodeJS.ProcessEnv = process.env): string[] {
  const vagrantHome = env.VAGRANT_HOME ?? join(homedir(), '.vagrant.d');
  const gemDirs = ['/usr/share/rubygems-integration/all/gems', '/opt/vagrant/embedded/gems/gems', '/opt/vagrant/embedded/gems/2.3.4/gems'];
  const found: string[] = [];
  for (const dir of gemDirs) {
    if (!existsSync(dir)) continue;
    for (const gem of readdirSync(dir).filter((d) => /^vagrant-\d/.test(d))) {
      for (const key of ['vagrant', 'vagrant.key.rsa', 'vagrant.key.ed25519']) found.push(join(dir, gem, 'keys', key));
    }
  }
  found.push(join(vagrantHome, 'insecure_private_key'));
  const keysDir = join(vagrantHome, 'insecure_private_keys');
  if (existsSync(keysDir)) for (const f of readdirSync(keysDir)) found.push(join(keysDir, f));
  return found.filter((f) => existsSync(f));
}

/** After the ssh-key phase, Vagrant's published insecure key must open no node. */
function insecureKeyChecks(nodes: readonly NodePlan[], base: SshOptions): Promise<CheckResult[]> {
  const keys = findVagrantInsecureKeys();
  const result = (node: NodePlan, ok: boolean, seen: string): CheckResult => ({
    node: node.name,
    check: 'insecure-key-refused',
    title: "Vagrant's insecure key refused",
    expected: 'authentication with the insecure key fails',
    ok,
    seen,
  });
  return Promise.all(
    nodes.map(async (node) => {
      if (keys.length === 0) return result(node, true, "Vagrant's insecure key is not on this host; not tried");
      for (const key of keys) {
        try {
          const session = await connect(sshTarget(node), { ...base, privateKey: readFileSync(key), retries: 0 });
          await session.close();
          return result(node, false, `logged in with ${key}`);
        } catch (err) {
          if (!(err instanceof AuthError)) return result(node, false, `not checked: ${errorMessage(err)}`);
        }
      }
      return result(node, true, `refused (${keys.length} key${keys.length === 1 ? '' : 's'} tried)`);
    }),
  );
}

/** How long cluster-level checks keep retrying while pods start (kubeadm init returns before they run). */
const CLUSTER_SETTLE_MS = 6 * 60_000;
/** Waits between those tries: 5 s doubling up to 30 s. */
const SETTLE_BACKOFF = (attempt: number): number => backoffDelay(attempt, 5000, 30_000);

/**
 * Verifies nodes at a level; cluster levels read Kubernetes on the control plane (which is then
 * always connected to) and retry with backoff, bounded, while pods settle. Remembers the result.
 */
export async function verifyCluster(cluster: Cluster, nodes: readonly NodePlan[], level: VerifyLevel, limits: SshLimits, opts: { settleMs?: number } = {}): Promise<VerifyReport> {
  const ssh = sshOptions(cluster, limits);
  const kube = level === 'cluster';
  const wanted = new Set(nodes.map((n) => n.name));
  const targets = kube && !wanted.has(cluster.plan.controlPlane.name) ? [cluster.plan.controlPlane, ...nodes] : [...nodes];
  const run = () =>
    verifyNodes(
      targets.map((n) => ({ planned: n, target: sshTarget(n) })),
      ssh,
      { phase: kube ? 'cluster' : 'node', cni: cluster.plan.kubernetes.cni, specs: specsFor(level, cluster) },
    );
  const deadline = Date.now() + (kube ? (opts.settleMs ?? CLUSTER_SETTLE_MS) : 0);
  let report = await run();
  for (let attempt = 1; !report.ok; attempt++) {
    const wait = SETTLE_BACKOFF(attempt);
    if (Date.now() + wait >= deadline) break;
    await sleep(wait);
    report = await run();
  }
  report.nodes = report.nodes.filter((n) => wanted.has(n.name));
  addChecks(report, await insecureKeyChecks(nodes, ssh));
  updateState(cluster.dir, (s) => ({ ...s, lastVerify: toVerifySummary(report) }));
  return report;
}

/** `verify --smoke`: a small web app behind a NodePort, reached from every node, then removed. */
export async function smokeTest(cluster: Cluster, limits: SshLimits): Promise<CheckResult[]> {
  const ssh = sshOptions(cluster, limits);
  const K = ADMIN_KUBECTL;
  const name = 'kubeadm-vagrant-smoke';
  const cp = cluster.plan.controlPlane;
  const results: CheckResult[] = [];
  const session = await connect(sshTarget(cp), ssh);
  try {
    const setup = await session.exec(
      [
        `${K} create deployment ${name} --image=registry.k8s.io/e2e-test-images/agnhost:2.53 --replicas=2 -- /agnhost netexec --http-port=8080 >/dev/null`,
        `${K} expose deployment ${name} --type=NodePort --port=8080 >/dev/null`,
        `${K} rollout status deployment/${name} --timeout=180s >/dev/null`,
        `${K} get service ${name} -o jsonpath='{.spec.ports[0].nodePort}'`,
      ].join(' && '),
      { sudo: true, timeoutMs: 240_000 },
    );
    const port = Number(setup.stdout.trim());
    if (setup.code !== 0 || !Number.isInteger(port) || port <= 0) {
      return [{ node: cp.name, check: 'smoke-deploy', title: 'smoke app deployed', expected: 'deployment ready, NodePort assigned', ok: false, seen: (setup.stderr || setup.stdout).trim().slice(0, 200) }];
    }
    const outcomes = await runAll(cluster.plan.nodes.map(sshTarget), ssh, (s, t) =>
      s.exec(`curl -s -o /dev/null -m 10 -w '%{http_code}' http://${cluster.plan.nodes.find((n) => n.name === t.name)!.ip}:${port}/hostname`, { timeoutMs: 30_000 }),
    );
    for (const o of outcomes) {
      const code = o.ok ? o.value.stdout.trim() : '';
      results.push({ node: o.target.name, check: 'smoke-nodeport', title: `smoke app on NodePort ${port}`, expected: 'HTTP 200', ok: code === '200', seen: o.ok ? `HTTP ${code || 'no answer'}` : o.error.message });
    }
  } finally {
    await session.exec(`${K} delete service,deployment ${name} --ignore-not-found --wait=false`, { sudo: true }).catch(() => undefined);
    await session.close();
  }
  return results;
}
