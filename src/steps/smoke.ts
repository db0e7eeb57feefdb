import { ADMIN_KUBECTL } from '../layout.js';
import { connect, runAll } from '../ssh/client.js';
import type { CheckResult } from '../verify/index.js';
import { sshOptions, sshTarget, type Cluster, type SshLimits } from './cluster.js';

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
