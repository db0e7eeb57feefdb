/**
 * What the end-to-end tests on real VMs share (test/e2e/cluster.e2e.test.ts, upgrade.e2e.test.ts):
 * the tools and box they need, building the offline artifacts, the network namespace with its own
 * libvirtd (harness.ts), a cluster directory, the CLI run inside the namespace, OpenSSH and kubectl
 * on the control plane as the independent check, bounded waits, the diagnostics printed when a step
 * fails, and the steps chained so that a failure skips the rest. One control plane (2 vCPUs) and one
 * worker (1 vCPU) with flannel, on the project's Debian box under qemu software emulation, the
 * control plane's qemu kept at nice -10.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NEW_SSH_KEY_KIND, packageRoot, SSH_KEY_KINDS } from '../../src/layout.js';
import { API_UNAVAILABLE } from '../../src/steps/tokens.js';
import { SMOKE_IMAGE } from '../../src/versions.js';
import { CLI } from '../helpers/cli.js';
import { E2eEnvironment, type ExecResult } from './harness.js';

export const ROOT = packageRoot;
export const MINUTE = 60_000;
export const ADMIN = 'sudo kubectl --kubeconfig=/etc/kubernetes/admin.conf';
export const MASTER_IP = '192.168.56.10';
export const WORKER_IP = '192.168.56.11';
export { SMOKE_IMAGE };

export const DISTRO = process.env.KUBEADM_VAGRANT_E2E_DISTRO ?? 'debian-12';
const SUITES: Record<string, { suite: string; box: string }> = {
  'debian-12': { suite: 'bookworm', box: 'kubeadm-vagrant-debian12' },
  'debian-13': { suite: 'trixie', box: 'kubeadm-vagrant-debian13' },
};
const BOX = SUITES[DISTRO];
const BOX_NAME = `kubeadm-vagrant/${BOX?.box.replace('kubeadm-vagrant-', '') ?? 'none'}`;
const BOX_CACHE = process.env.KUBEADM_VAGRANT_BOX_CACHE ?? '/var/cache/kubeadm-vagrant/boxes';
/** The box built for software emulation (`--emulation`: its kernel boots with mitigations=off; README "Slow hosts"). */
const boxFile = (box: string) => join(BOX_CACHE, `${box}-emulation.box`);

const REQUIRED_TOOLS = ['vagrant', 'virsh', 'libvirtd', 'qemu-system-x86_64', 'debootstrap', 'ssh', 'nsenter', 'ip', 'go', 'curl'];

/**
 * Whether this machine can run the VM tests: root, the tools and a known distro. With CI=true a
 * machine that cannot is an error (the test fails), never a skip.
 */
export function canRunE2e(): boolean {
  const missingTools = REQUIRED_TOOLS.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t} || test -x /usr/local/go/bin/${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  const canRun = missingTools.length === 0 && process.getuid?.() === 0 && BOX !== undefined;
  if (!canRun && process.env.CI === 'true') {
    throw new Error(`the end-to-end test needs root, ${REQUIRED_TOOLS.join(', ')} and a known distro (${Object.keys(SUITES).join(', ')}); missing: ${missingTools.join(', ') || (BOX ? '(root)' : DISTRO)} — .ci/run installs them`);
  }
  return canRun;
}

/**
 * The offline artifacts directory test/artifacts/build.sh builds (or reuses) with these arguments
 * (`--kubernetes 1.36`); the root it prints. KUBEADM_VAGRANT_ARTIFACTS_DIR names one built already
 * (for the default release).
 */
export function buildArtifacts(args: string[] = []): string {
  const given = args.length === 0 ? process.env.KUBEADM_VAGRANT_ARTIFACTS_DIR : undefined;
  const out = given ?? execFileSync('bash', [join(ROOT, 'test', 'artifacts', 'build.sh'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 75 * MINUTE });
  return out.trim().split('\n').at(-1)!;
}

export interface KubeNode {
  metadata: { name: string; creationTimestamp: string };
  status: { conditions: { type: string; status: string }[]; addresses: { type: string; address: string }[]; nodeInfo: { kubeletVersion: string } };
  spec: { unschedulable?: boolean };
}
export interface KubePod {
  metadata: { name: string; namespace: string; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { image: string }[] };
  status: { phase: string; podIP?: string; containerStatuses?: { ready: boolean }[] };
}

export interface ClusterSpec {
  /** kubernetes.version of cluster.yaml. */
  version: string;
  /** offline.dir: the artifacts root. */
  artifactsRoot: string;
}

/** One e2e cluster: its namespace, directory and helpers; `log` prints a line with the time since the start. */
export class E2eCluster {
  readonly started = Date.now();
  readonly env: E2eEnvironment;
  readonly steps: { name: string; ms: number }[] = [];
  dir = '';
  key = '';
  private failedStep = '';

  constructor() {
    this.env = new E2eEnvironment({ log: (l) => this.log(l) });
  }

  log(line: string): void {
    process.stdout.write(`[e2e ${((Date.now() - this.started) / 1000).toFixed(0).padStart(5)} s] ${line}\n`);
  }

  /** fn, timed and recorded for the summary at the end. */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    this.log(`${name} ...`);
    try {
      return await fn();
    } finally {
      this.steps.push({ name, ms: Date.now() - t0 });
      this.log(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  }

  /** The box, the namespace and its libvirtd, the control plane's qemu first, and the cluster directory with its cluster.yaml. */
  async setUp(spec: ClusterSpec): Promise<void> {
    await this.step(`build or reuse the offline ${DISTRO} box`, async () => {
      execFileSync('bash', [join(ROOT, 'boxes', 'build-libvirt-box.sh'), '--suite', BOX!.suite, '--emulation', BOX_CACHE], { stdio: 'inherit', timeout: 30 * MINUTE });
      expect(existsSync(boxFile(BOX!.box))).toBe(true);
    });
    await this.step('start the namespace and its libvirtd', () => this.env.start());
    // Two host cores for three vCPUs (2 + the worker's 1): the control plane's qemu goes first, or
    // the worker's provisioning starves its API server (see E2eEnvironment.prioritize).
    this.env.prioritize('e2e-master', -10);
    await this.step('add the box', () => this.env.addBox(boxFile(BOX!.box), BOX_NAME));
    this.dir = await this.env.projectDir('cluster');
    this.key = join(this.dir, SSH_KEY_KINDS[NEW_SSH_KEY_KIND].privateKey);
    writeFileSync(
      join(this.dir, 'cluster.yaml'),
      `# e2e: one control plane and one worker, installed offline from artifacts built from upstream source
apiVersion: kubeadm-vagrant/v1alpha1
kind: Cluster
name: e2e
provider: libvirt
distro: ${DISTRO}
box: ${BOX_NAME}
kubernetes:
  version: "${spec.version}"
  cni: flannel
offline:
  dir: ${spec.artifactsRoot}
network:
  masterIP: ${MASTER_IP}
controlPlane: {cpus: 2, memory: 3072}
workers: {count: 1, cpus: 1, memory: 2048}   # one vCPU: the host has two cores, and the control plane needs both
libvirt:
  driver: qemu              # software emulation: hardware acceleration does not work here
`,
    );
  }

  /** Stops the namespace (every machine, network and process of it) and prints the time of each step. */
  async tearDown(): Promise<void> {
    const report = await this.env.stop();
    this.log(`stopped the environment: ${JSON.stringify({ killed: report.killedPids.length, errors: report.errors })}`);
    for (const s of this.steps) this.log(`  ${s.name.padEnd(64)} ${(s.ms / 1000).toFixed(1).padStart(7)} s`);
    this.log(`  total ${((Date.now() - this.started) / 1000).toFixed(0)} s`);
    expect(report.errors).toEqual([]);
  }

  /** The CLI, run inside the test's namespaces. */
  cli = (args: string[], timeoutMs = 60 * MINUTE): Promise<ExecResult> => this.env.exec(process.execPath, [CLI, ...args], { cwd: this.dir, timeoutMs, reject: false, env: { CI: 'true' } });

  /** OpenSSH with the cluster's key, not the product's client: the independent check. */
  ssh = (ip: string, command: string, timeoutMs = 5 * MINUTE): Promise<ExecResult> =>
    this.env.exec(
      'ssh',
      ['-i', this.key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=30', '-o', 'LogLevel=ERROR', `vagrant@${ip}`, command],
      { reject: false, timeoutMs },
    );

  /**
   * A command on the control plane that talks to the API server (kubectl, kubeadm token); its stdout,
   * or an error with its output. Under emulation on this 2-core host the control plane is busy
   * enough that the API server, or a client's deadline, can time out a request (CI saw "Timeout:
   * request did not complete within requested timeout", and once `kubeadm token list` printing
   * nothing), or the API server can be restarting (CI saw "apiserver is shutting down", then
   * "connection refused" for about a minute); those answers (API_UNAVAILABLE, the list `node
   * remove` retries on), and only those, are asked again, every 15 s for at most 3 minutes, each
   * logged. A retried create that finds its object made already took effect the first time.
   */
  onApi = async (command: string, timeoutMs = 5 * MINUTE): Promise<string> => {
    const giveUpAt = Date.now() + 3 * MINUTE;
    for (let attempt = 1; ; attempt++) {
      const r = await this.ssh(MASTER_IP, command, timeoutMs);
      // JSON is asked for to be parsed: an empty answer is not one.
      const empty = r.stdout.trim() === '' && / -o json\b/.test(command);
      if (r.exitCode === 0 && !empty) return r.stdout;
      if (attempt > 1 && /\(AlreadyExists\)/.test(r.all)) return r.stdout;
      const unavailable = API_UNAVAILABLE.exec(r.all);
      const why = unavailable?.[0] ?? (r.exitCode === 0 ? 'no output' : undefined);
      if (!why || Date.now() > giveUpAt) throw new Error(`${command} failed (exit ${r.exitCode}):\n${r.all}`);
      this.log(`  ${command.slice(0, 90)}: ${why} (attempt ${attempt}); asking again in 15 s`);
      await new Promise((done) => setTimeout(done, 15_000));
    }
  };

  /** kubectl as root on the control plane with kubeadm's admin kubeconfig; its stdout. */
  kubectl = (args: string, timeoutMs = 5 * MINUTE): Promise<string> => this.onApi(`${ADMIN} ${args}`, timeoutMs);
  nodes = async (): Promise<KubeNode[]> => (JSON.parse(await this.kubectl('get nodes -o json')) as { items: KubeNode[] }).items;
  pods = async (args = '--all-namespaces'): Promise<KubePod[]> => (JSON.parse(await this.kubectl(`get pods ${args} -o json`)) as { items: KubePod[] }).items;
  static ready = (n: KubeNode): boolean => n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  static podReady = (p: KubePod): boolean => p.status.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.ready);

  /** A bare pod of the smoke image (never restarted) pinned to a node; agnhost's ARGS. */
  runOn = (node: string, name: string, args: string): Promise<string> =>
    this.kubectl(`run ${name} --image=${SMOKE_IMAGE} --restart=Never --overrides='{"spec":{"nodeName":"${node}"}}' -- ${args}`);

  /** Waits (up to 10 minutes) until the pod runs and is ready; the pod. */
  readyPod = (name: string): Promise<KubePod> =>
    this.eventually(`pod ${name} running and ready`, 10 * MINUTE, async () => {
      const [p] = await this.pods(`--field-selector=metadata.name=${name}`);
      if (!p || !E2eCluster.podReady(p)) throw new Error(`not ready: ${p?.status.phase ?? 'absent'}`);
      return p;
    });

  /** Waits (bounded) until fn stops throwing; returns its value. */
  async eventually<T>(what: string, limitMs: number, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${err instanceof Error ? err.message : String(err)}`);
        await new Promise((r) => setTimeout(r, 10_000));
      }
    }
  }

  /** What a user would have seen: the CLI's progress and result lines. */
  show = (r: ExecResult): void => {
    for (const line of r.all.trimEnd().split('\n')) this.log(`  | ${line}`);
  };

  expectOk = (r: ExecResult, what: string): void => {
    if (r.exitCode !== 0) this.log(`${what} failed (exit ${r.exitCode}):\n${r.all.slice(-6000)}`);
    expect(r.exitCode, `${what}\n${r.all.slice(-6000)}`).toBe(0);
  };

  /** What the cluster looks like, printed when a step fails or takes too long: enough to tell why. */
  async diagnose(why: string): Promise<void> {
    this.log(`diagnostics (${why}):`);
    const master = [
      `${ADMIN} get nodes -o wide`,
      `${ADMIN} get csr`,
      `${ADMIN} get pods -A -o wide`,
      `${ADMIN} -n kube-system logs kube-controller-manager-e2e-master --tail=40`,
      'sudo crictl ps -a',
      // When the API server does not answer: its own last words, the kubelet's, and whether memory ran out.
      "sudo crictl logs --tail 25 $(sudo crictl ps -a --name '^kube-apiserver$' -q | head -1) 2>&1 | cut -c1-300",
      'sudo journalctl -u kubelet --no-pager -n 25 -o cat | cut -c1-300',
      // etcd's own account of slow requests and disk syncs, and where the control plane's CPU goes.
      "sudo crictl logs $(sudo crictl ps -a --name '^etcd$' -q | head -1) 2>&1 | grep -E 'took too long|slow fdatasync|leader changed|timed out' | tail -12 | cut -c1-300",
      "top -b -n 2 -d 5 -o %CPU -w 200 | awk '/^top -/ { n++ } n == 2' | head -25; vmstat 1 4; cat /proc/pressure/cpu /proc/pressure/io 2>/dev/null",
      'free -m; sudo dmesg | grep -i -E "out of memory|oom-kill|hung task" | tail -5',
      'date -u; uptime',
    ];
    const worker = ['sudo journalctl -u kubelet --no-pager -n 30 -o cat | cut -c1-300', 'sudo ls -la /etc/kubernetes /var/lib/kubelet/pki', 'date -u; uptime'];
    // The control plane last: the end of the log is what survives when it is cut.
    for (const [ip, commands] of [[WORKER_IP, worker], [MASTER_IP, master]] as const) {
      if ((await this.ssh(ip, 'true', MINUTE)).exitCode !== 0) {
        this.log(`  ${ip}: no SSH login`);
        continue;
      }
      for (const c of commands) {
        const r = await this.ssh(ip, c, MINUTE).catch((e: unknown) => ({ all: String(e), exitCode: -1 }));
        this.log(`  ${ip}$ ${c} (exit ${r.exitCode})`);
        for (const line of r.all.trimEnd().split('\n').slice(-80)) this.log(`    ${line}`);
      }
    }
    this.log(`  host: ${new Date().toISOString()}`);
  }

  /** fn, with diagnose() once if it is still running after watchMs. */
  async watched<T>(what: string, watchMs: number, fn: () => Promise<T>): Promise<T> {
    const timer = setTimeout(() => void this.diagnose(`${what} still running after ${watchMs / MINUTE} min`), watchMs);
    try {
      return await fn();
    } finally {
      clearTimeout(timer);
    }
  }

  /** A test that depends on the ones before it: after a failure the rest are skipped, not waited out. */
  chained = (name: string, fn: () => Promise<void>): void => {
    it(name, async (ctx) => {
      if (this.failedStep) ctx.skip(`skipped: "${this.failedStep}" failed`);
      try {
        await fn();
      } catch (err) {
        this.failedStep = name;
        await this.diagnose(`${name} failed`);
        throw err;
      }
    });
  };
}
