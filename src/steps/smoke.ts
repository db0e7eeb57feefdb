import { errorMessage, OperationError } from '../errors.js';
import { ADMIN_KUBECTL } from '../layout.js';
import type { ClusterPlan } from '../plan/plan.js';
import { connect, runAll } from '../ssh/client.js';
import type { CheckResult } from '../verify/index.js';
import { SMOKE_IMAGE } from '../versions.js';
import { sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';
import { sudoUntilAnswered } from './tokens.js';

export const SMOKE_APP = 'kubeadm-vagrant-smoke';
/** How long the smoke app may take to become ready on hardware; times the plan's slowdown. */
const SMOKE_ROLLOUT_SECONDS = 180;

/**
 * The commands that deploy the smoke app on the control plane and print its NodePort, and how long
 * they may take. The image is the one the artifacts carry (SMOKE_IMAGE, imported on every
 * node, so a tagged image is never pulled); the rollout wait is scaled like every other wait. Asking
 * again is safe (smokeTest does when the API server answers "Timeout" or is restarting): a create
 * that fails is followed by a get, so an app created by an answer that timed out counts as created.
 */
export function smokeSetup(plan: Pick<ClusterPlan, 'slowdown'>): { command: string; timeoutMs: number } {
  const K = ADMIN_KUBECTL;
  const rollout = SMOKE_ROLLOUT_SECONDS * plan.slowdown;
  return {
    command: [
      `{ ${K} create deployment ${SMOKE_APP} --image=${SMOKE_IMAGE} --replicas=2 -- /agnhost netexec --http-port=8080 >/dev/null || ${K} get deployment ${SMOKE_APP} >/dev/null; }`,
      `{ ${K} expose deployment ${SMOKE_APP} --type=NodePort --port=8080 >/dev/null || ${K} get service ${SMOKE_APP} >/dev/null; }`,
      `${K} rollout status deployment/${SMOKE_APP} --timeout=${rollout}s >/dev/null`,
      `${K} get service ${SMOKE_APP} -o jsonpath='{.spec.ports[0].nodePort}'`,
    ].join(' && '),
    timeoutMs: (rollout + 60 * plan.slowdown) * 1000,
  };
}

/** How long each node's kube-proxy may take to route a new NodePort to ready pods on hardware; times the plan's slowdown. */
const NODEPORT_WAIT_SECONDS = 60;

/**
 * The command a node runs to reach the smoke app on its own NodePort: it asks until the app answers
 * 200 or the wait is over, and prints the last HTTP code (000: no answer). The rollout being ready
 * does not mean every node routes to it yet: each kube-proxy programs the NodePort when it sees the
 * ready endpoints, and until then the port refuses (seen under emulation: the control plane's
 * kube-proxy a minute behind the worker's).
 */
export function nodePortProbe(ip: string, port: number, waitSeconds: number): { command: string; timeoutMs: number } {
  const url = `http://${ip}:${port}/hostname`;
  return {
    command: [
      // Milliseconds: a deadline in whole seconds would end up to a second early.
      `end=$(( $(date +%s%3N) + ${waitSeconds * 1000} ))`,
      `while :; do code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' ${url}); [ "$code" = 200 ] && break; [ "$(date +%s%3N)" -ge "$end" ] && break; sleep 3; done`,
      `echo "$code"`,
    ].join('; '),
    timeoutMs: (waitSeconds + 60) * 1000,
  };
}

/** `verify --smoke`: a small web app behind a NodePort, reached from every node, then removed. */
export async function smokeTest(cluster: Cluster, limits: SshLimits): Promise<CheckResult[]> {
  const ssh = sshOptions(cluster, limits);
  const K = ADMIN_KUBECTL;
  const cp = cluster.plan.controlPlane;
  const results: CheckResult[] = [];
  const session = await connect(sshTarget(cp), ssh);
  try {
    const { command, timeoutMs } = smokeSetup(cluster.plan);
    let port = 0;
    let reason = '';
    try {
      const out = await sudoUntilAnswered(session, command, 'deploying the smoke app', { timeoutMs });
      port = Number(out.trim());
      if (!Number.isInteger(port) || port <= 0) reason = `no NodePort: kubectl printed "${out.trim().slice(0, 80)}"`;
    } catch (err) {
      reason = (err instanceof OperationError && err.details.output) || errorMessage(err);
    }
    if (reason) {
      // Why: the pods' state (ImagePullBackOff, Pending, ...) says more than the rollout's timeout.
      const pods = await session
        .exec(`${K} get pods -l app=${SMOKE_APP} --no-headers -o custom-columns=POD:.metadata.name,PHASE:.status.phase,WAITING:.status.containerStatuses[0].state.waiting.reason`, { sudo: true, timeoutMs: 60_000 * cluster.plan.slowdown })
        .then((r) => r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')).join('; '))
        .catch(() => '');
      reason = reason.trim().slice(-300);
      return [{ node: cp.name, check: 'smoke-deploy', title: 'smoke app deployed', expected: 'deployment ready, NodePort assigned', ok: false, seen: pods ? `${reason} (pods: ${pods.slice(0, 300)})` : reason }];
    }
    const wait = NODEPORT_WAIT_SECONDS * cluster.plan.slowdown;
    const outcomes = await runAll(cluster.plan.nodes.map(sshTarget), ssh, (s, t) => {
      const { command, timeoutMs } = nodePortProbe(cluster.plan.nodes.find((n) => n.name === t.name)!.ip, port, wait);
      return s.exec(command, { timeoutMs });
    });
    for (const o of outcomes) {
      const code = o.ok ? o.value.stdout.trim() : '';
      const seen = !o.ok ? o.error.message : code === '200' ? 'HTTP 200' : code && code !== '000' ? `HTTP ${code} after ${wait} s` : `no answer within ${wait} s`;
      results.push({ node: o.target.name, check: 'smoke-nodeport', title: `smoke app on NodePort ${port}`, expected: 'HTTP 200', ok: code === '200', seen });
    }
  } finally {
    await session.exec(`${K} delete service,deployment ${SMOKE_APP} --ignore-not-found --wait=false`, { sudo: true }).catch(() => undefined);
    await session.close();
  }
  return results;
}
