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
import { createHash } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { expect, it } from 'vitest';
import { NEW_SSH_KEY_KIND, packageRoot, SSH_KEY_KINDS } from '../../src/layout.js';
import { API_UNAVAILABLE } from '../../src/steps/tokens.js';
import { SMOKE_IMAGE } from '../../src/versions.js';
import { CLI } from '../helpers/cli.js';
import { TestGpg } from '../helpers/gpg.js';
import { layoutReleaseMirror, mirrorTools, pushImages, startFileMirror, startRegistry, type FileFault, type MirrorServer, type PushedImage, type RegistryMirror } from '../helpers/mirrors.js';
import { E2eEnvironment, type ExecResult } from './harness.js';

export const ROOT = packageRoot;
export const MINUTE = 60_000;
export const ADMIN = 'sudo kubectl --kubeconfig=/etc/kubernetes/admin.conf';
export const MASTER_IP = '192.168.56.10';
export const WORKER_IP = '192.168.56.11';
/** The registries the cluster's images come from, each mirrored under its own name in the test's registry. */
export const MIRRORED_REGISTRIES = ['registry.k8s.io', 'ghcr.io'] as const;
export { SMOKE_IMAGE };

export const DISTRO = process.env.KUBEADM_VAGRANT_E2E_DISTRO ?? 'debian-12';
/** The Debian release of each distro the stand-in image can be (test/boxes/build-standin-image.sh). */
const SUITES: Record<string, { suite: string; version: string; codename: string }> = {
  'debian-12': { suite: 'bookworm', version: '12', codename: 'bookworm' },
  'debian-13': { suite: 'trixie', version: '13', codename: 'trixie' },
};
const SUITE = SUITES[DISTRO];

const REQUIRED_TOOLS = ['vagrant', 'virsh', 'libvirtd', 'qemu-system-x86_64', 'qemu-img', 'debootstrap', 'ssh', 'nsenter', 'ip', 'go', 'curl', 'gpg', 'tar', 'gzip'];

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
  const canRun = missingTools.length === 0 && process.getuid?.() === 0 && SUITE !== undefined;
  if (!canRun && process.env.CI === 'true') {
    throw new Error(`the end-to-end test needs root, ${REQUIRED_TOOLS.join(', ')} and a known distro (${Object.keys(SUITES).join(', ')}); missing: ${missingTools.join(', ') || (SUITE ? '(root)' : DISTRO)} — .ci/run installs them`);
  }
  return canRun;
}

/**
 * The test's stand-in for the distro's official cloud image (a Debian genericcloud qcow2 with
 * cloud-init and no user or key of its own, built from Debian's packages: no machine here reaches
 * cloud.debian.org), built or reused (test/boxes/build-standin-image.sh); its path.
 */
export function buildStandinImage(): string {
  const out = execFileSync('bash', [join(ROOT, 'test', 'boxes', 'build-standin-image.sh'), '--suite', SUITE!.suite], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * MINUTE });
  return out.trim().split('\n').at(-1)!;
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
  /**
   * Where the cluster's artifacts come from: `fetch`, the way a user's come (`artifacts fetch` into
   * the cache, here from the test's mirrors of this built artifacts directory, v<patch>/<arch>); or
   * `offlineDir`, an artifacts directory of one's own (offline.dir).
   */
  artifacts: { fetch: string } | { offlineDir: string };
  /** `bake: true`: the cluster uses the box `box build --bake` makes (the test builds it as a step of its own). */
  bake: boolean;
  /**
   * The control plane's qemu ahead of the worker's for the host's CPU (E2eEnvironment.prioritize)
   * while this says so (asked every 5 s): for the upgrade, whose API server restarts beside a running
   * cluster. Only for those moments, because it costs the worker: on 2026-12-06 the upgrade e2e's up
   * of 1.36.3 with the control plane first throughout took 2388 s (a Go build at nice 19 beside it)
   * against 1352 s without the day before, the worker's verification (node Ready, its pods) 949 s
   * against 170 s. The main e2e runs without it, as it always had in effect (the threads' nice alone
   * ordered nothing).
   */
  controlPlaneFirst?: () => boolean;
}

/** The test's mirrors inside its namespace: the distro's image (signed by a key of the test's own), and with `fetch` the release downloads and a registry. */
export interface E2eMirrors {
  files: MirrorServer<FileFault>;
  registry?: RegistryMirror;
  /** The pushed images: reference → the manifest digest the registry reports. */
  pushed: Record<string, PushedImage>;
  /** The catalog override naming the mirror and the test's key (`box build --catalog`). */
  catalog: string;
  /** The stand-in image's sha512, as its signed SHA512SUMS says. */
  imageSha512: string;
}

/** One e2e cluster: its namespace, directory and helpers; `log` prints a line with the time since the start. */
export class E2eCluster {
  readonly started = Date.now();
  readonly env: E2eEnvironment;
  readonly steps: { name: string; ms: number }[] = [];
  dir = '';
  key = '';
  mirrors: E2eMirrors | undefined;
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

  /**
   * The stand-in image, the namespace and its libvirtd (the control plane's qemu first), the
   * mirrors, and the cluster directory with its cluster.yaml. No box yet: `buildBox` makes it from
   * the mirrored image, as a user's `box build` (or `up`) makes it from the distro's.
   */
  async setUp(spec: ClusterSpec): Promise<void> {
    const image = await this.step(`build or reuse the stand-in of ${DISTRO}'s cloud image`, async () => buildStandinImage());
    await this.step('start the namespace and its libvirtd', () => this.env.start());
    // Two host cores for three vCPUs (2 + the worker's 1): where asked, the control plane's qemu goes first.
    if (spec.controlPlaneFirst) this.env.prioritize('e2e-master', -10, spec.controlPlaneFirst);
    this.mirrors = await this.step('start the mirrors in the namespace (the image; with fetch, the release files and a registry)', () => this.startMirrors(image, spec));
    this.dir = await this.env.projectDir('cluster');
    this.key = join(this.dir, SSH_KEY_KINDS[NEW_SSH_KEY_KIND].privateKey);
    const registries = this.mirrors.registry ? MIRRORED_REGISTRIES.map((h) => `    ${h}: ${this.mirrors!.registry!.url}/${h}\n`).join('') : '';
    const artifacts = 'fetch' in spec.artifacts
      ? `mirrors:                    # the test's own mirrors of the release downloads and registries\n  files: ${this.mirrors.files.url}/files\n  registries:\n${registries}`
      : `offline:\n  dir: ${spec.artifacts.offlineDir}\n`;
    writeFileSync(
      join(this.dir, 'cluster.yaml'),
      `# e2e: one control plane and one worker, installed from artifacts built from upstream source
apiVersion: kubeadm-vagrant/v1alpha1
kind: Cluster
name: e2e
provider: libvirt
distro: ${DISTRO}
bake: ${spec.bake}
kubernetes:
  version: "${spec.version}"
  cni: flannel
${artifacts}network:
  masterIP: ${MASTER_IP}
controlPlane: {cpus: 2, memory: 3072}
workers: {count: 1, cpus: 1, memory: 2048}   # one vCPU: the host has two cores, and the control plane needs both
libvirt:
  driver: qemu              # software emulation: hardware acceleration does not work here
`,
    );
  }

  /**
   * The mirrors, inside the namespace: the stand-in image with its SHA512SUMS signed by a key the
   * test makes (a catalog override names both), and with `fetch` the release-download layout of the
   * built artifacts and a registry (behind a token-auth front) holding their images.
   */
  private async startMirrors(image: string, spec: ClusterSpec): Promise<E2eMirrors> {
    const root = join(this.env.workDir, 'mirror');
    const images = join(root, 'images');
    mkdirSync(images, { recursive: true });
    const name = basename(image);
    try {
      linkSync(image, join(images, name));
    } catch {
      copyFileSync(image, join(images, name));
    }
    const imageSha512 = createHash('sha512').update(readFileSync(image)).digest('hex');
    const sums = `${imageSha512}  ${name}\n`;
    writeFileSync(join(images, 'SHA512SUMS'), sums);
    const gpg = new TestGpg('gpg');
    try {
      const fingerprint = gpg.genKey('kubeadm-vagrant e2e <e2e@example.invalid>', 'ed25519', 'sign');
      writeFileSync(join(images, 'SHA512SUMS.sign'), gpg.detachSign(sums, fingerprint));
      const catalogDir = join(this.env.workDir, 'catalog');
      mkdirSync(catalogDir);
      writeFileSync(join(catalogDir, 'e2e.asc'), gpg.exportKey(fingerprint));
      if ('fetch' in spec.artifacts) await layoutReleaseMirror(spec.artifacts.fetch, join(root, 'files'));
      const files = await startFileMirror(root, { inNamespace: this.env, logFile: join(this.env.logDir, 'files-mirror.log') });
      const url = `${files.url}/images`;
      const catalog = join(catalogDir, 'catalog.json');
      writeFileSync(catalog, JSON.stringify({
        version: 2,
        keys: { e2e: { file: 'e2e.asc', fingerprint, uid: 'kubeadm-vagrant e2e <e2e@example.invalid>', seen: ['made by the end-to-end test'] } },
        distros: { [DISTRO]: { family: 'debian', release: { version: SUITE!.version, codename: SUITE!.codename }, images: { amd64: {
          url: `${url}/${name}`,
          checksums: { url: `${url}/SHA512SUMS`, format: 'gnu', algorithm: 'sha512' },
          signature: { url: `${url}/SHA512SUMS.sign`, kind: 'detached', key: 'e2e' },
          seen: ['the end-to-end test\'s stand-in (test/boxes/build-standin-image.sh), served in its namespace'],
        } } } },
      }, null, 2));
      if (!('fetch' in spec.artifacts)) return { files, pushed: {}, catalog, imageSha512 };
      const tools = mirrorTools();
      const registry = await startRegistry(tools, { auth: true, inNamespace: this.env, logFile: join(this.env.logDir, 'registry.log') });
      const pushed = await pushImages(tools, registry.pushUrl, join(spec.artifacts.fetch, 'images'), { inNamespace: this.env, scratchDir: join(this.env.workDir, 'push') });
      return { files, registry, pushed, catalog, imageSha512 };
    } finally {
      gpg.close();
    }
  }

  /** `box build DISTRO [--bake]` from the mirrored image with the test's catalog: the box the cluster then uses. */
  buildBox = (bake: boolean): Promise<ExecResult> => this.cli(['box', 'build', DISTRO, '--catalog', this.mirrors!.catalog, ...(bake ? ['--bake'] : [])], 60 * MINUTE);

  /** Stops the namespace (every machine, network and process of it) and prints the time of each step. */
  async tearDown(): Promise<void> {
    await this.mirrors?.files.stop();
    await this.mirrors?.registry?.stop();
    const report = await this.env.stop();
    this.log(`stopped the environment: ${JSON.stringify({ killed: report.killedPids.length, errors: report.errors })}`);
    for (const s of this.steps) this.log(`  ${s.name.padEnd(64)} ${(s.ms / 1000).toFixed(1).padStart(7)} s`);
    this.log(`  total ${((Date.now() - this.started) / 1000).toFixed(0)} s`);
    expect(report.errors).toEqual([]);
  }

  /** The CLI, run inside the test's namespaces, with a cache of the test's own (artifacts, images, boxes while they are built). */
  cli = (args: string[], timeoutMs = 60 * MINUTE): Promise<ExecResult> =>
    this.env.exec(process.execPath, [CLI, ...args], { cwd: this.dir, timeoutMs, reject: false, env: { CI: 'true', KUBEADM_VAGRANT_CACHE: join(this.env.workDir, 'cache') } });

  /** OpenSSH's options for the machines: the cluster's key alone, no host key kept. */
  private sshOptions = (): string[] => ['-i', this.key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=30', '-o', 'LogLevel=ERROR'];

  /** OpenSSH with the cluster's key, not the product's client: the independent check. */
  ssh = (ip: string, command: string, timeoutMs = 5 * MINUTE): Promise<ExecResult> => this.env.exec('ssh', [...this.sshOptions(), `vagrant@${ip}`, command], { reject: false, timeoutMs });

  /** A host file copied to a path on a machine, with OpenSSH's scp and the same options. */
  copyTo = (ip: string, file: string, dest: string, timeoutMs = 10 * MINUTE): Promise<ExecResult> =>
    this.env.exec('scp', [...this.sshOptions(), file, `vagrant@${ip}:${dest}`], { reject: false, timeoutMs });

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
