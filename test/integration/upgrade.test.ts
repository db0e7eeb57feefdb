import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUEST, GUEST_UPGRADE } from '../../src/layout.js';
import { controlPlaneArchives, imagesIn } from '../../src/offline/artifacts.js';
import type { ClusterPlan } from '../../src/plan/plan.js';
import { renderUpgrade } from '../../src/render/render.js';
import { connect, type SshOptions, type SshTarget } from '../../src/ssh/client.js';
import { generateSshKeyPair } from '../../src/ssh/keys.js';
import { finishCommands, nodeCommands, stageCommand } from '../../src/upgrade/plan.js';
import { kubeadmImages } from '../../src/versions.js';
import { fakeArtifactsDir } from '../helpers/artifacts.js';
import { runCli } from '../helpers/cli.js';
import { testPlan } from '../helpers/plans.js';
import { runWithPrivateEtc } from '../helpers/private-etc.js';
import { currentUser, sshdAvailability, startSshd, type Sshd } from '../helpers/sshd.js';
import { needTool } from '../helpers/tools.js';

/**
 * `upgrade` without VMs: the SFTP upload against a real OpenSSH sshd, the rendered upgrade script
 * run as the host would run it (the plan's own commands, in order) on a private copy of the
 * machine's /etc, /usr/local, /var/lib and /home with kubeadm, kubelet, kubectl, systemctl and ctr
 * stubbed to record their calls, and the CLI's refusals and its view of an upgraded cluster.
 */

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'kv-upgrade-it-'));
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe.skipIf(!sshdAvailability().ok && process.env.CI !== 'true')('the upload over SFTP, against a real sshd', () => {
  let sshd: Sshd;
  let target: SshTarget;
  let options: SshOptions;
  beforeAll(async () => {
    const keys = await generateSshKeyPair('kv-upgrade-test');
    sshd = await startSshd({ authorizedKeys: [keys.publicKeyOpenSsh] });
    target = { name: 'master', host: sshd.endpoints[0]!.host, port: sshd.endpoints[0]!.port, username: currentUser() };
    options = { privateKey: keys.privateKeyPem, knownHostsFile: join(workDir, 'known_hosts'), connectTimeoutMs: 5000, commandTimeoutMs: 10_000, retries: 0, backoffMs: 100 };
  });
  afterAll(() => sshd?.stop());

  it('sends every file whole under its name with its mode, carries on where it stopped, and leaves no partial file', async () => {
    const local = join(workDir, 'upload-src');
    mkdirSync(join(local, 'bin'), { recursive: true });
    writeFileSync(join(local, 'bin', 'kubeadm'), Buffer.alloc(3 << 20, 7), { mode: 0o755 });
    writeFileSync(join(local, 'SHA256SUMS'), 'sums\n', { mode: 0o644 });
    const remote = join(workDir, 'upload-dst', 'deep', 'v1.37.2');
    const files = [
      { local: join(local, 'bin', 'kubeadm'), size: 3 << 20, remote: `${remote}/bin/kubeadm`, mode: 0o755 },
      { local: join(local, 'SHA256SUMS'), size: 5, remote: `${remote}/SHA256SUMS`, mode: 0o644 },
      { data: Buffer.from('#!/bin/bash\n'), remote: `${remote}/../upgrade.sh`, mode: 0o600 },
    ];
    const session = await connect(target, options);
    try {
      const seen: string[] = [];
      const first = await session.upload(files, { timeoutMs: () => 30_000, onFile: (f, sent) => seen.push(`${f.remote.split('/').pop()} ${sent}`) });
      expect(first).toEqual({ sent: 3, skipped: 0, bytes: (3 << 20) + 5 + 12 });
      expect(seen).toEqual(['kubeadm true', 'SHA256SUMS true', 'upgrade.sh true']);
      expect(sha256(`${remote}/bin/kubeadm`)).toBe(sha256(join(local, 'bin', 'kubeadm')));
      expect(statSync(`${remote}/bin/kubeadm`).mode & 0o777).toBe(0o755);
      expect(statSync(`${remote}/../upgrade.sh`).mode & 0o777).toBe(0o600);
      expect(statSync(join(workDir, 'upload-dst')).mode & 0o777).toBe(0o700);
      // Cut short: a file whose remote size differs is sent again; the others are kept; data always goes.
      truncateSync(`${remote}/bin/kubeadm`, 1000);
      const again = await session.upload(files, { timeoutMs: () => 30_000 });
      expect(again).toEqual({ sent: 2, skipped: 1, bytes: (3 << 20) + 12 });
      expect(sha256(`${remote}/bin/kubeadm`)).toBe(sha256(join(local, 'bin', 'kubeadm')));
      expect(execFileSync('find', [join(workDir, 'upload-dst'), '-name', '*.partial'], { encoding: 'utf8' })).toBe('');
      // A bound it cannot meet fails naming the file, and the file is not there under its name.
      rmSync(`${remote}/bin/kubeadm`);
      await expect(session.upload(files.slice(0, 1), { timeoutMs: () => 1 })).rejects.toThrow(/uploading .*bin\/kubeadm \(3145728 bytes\) did not finish within 1 ms/);
      expect(existsSync(`${remote}/bin/kubeadm`)).toBe(false);
    } finally {
      await session.close();
    }
  });
});

/**
 * The target's stub of a Kubernetes binary: records its calls (with its version) and answers version
 * questions. crictl also keeps pod sandboxes as files under SANDBOXES (named by the pod's component
 * label, holding "ready" or "stopped"): `pods --label component=C --state ready --quiet` lists a ready
 * one, `ps --pod ID --quiet` its container, and `stopp ID` stops it.
 */
const SANDBOXES = '/var/lib/kv-test-sandboxes';
function kubeStub(name: string, version: string): string {
  const images = kubeadmImages(version.slice(1))!.join('\\n');
  const crictl = `
if [[ $1 == pods ]]; then
  for arg in "$@"; do [[ $arg != component=* ]] || c=\${arg#component=}; done
  if [[ $(cat "${SANDBOXES}/\${c:?}" 2>/dev/null) == ready ]]; then echo "pod-\${c}"; fi
elif [[ $1 == ps ]]; then echo "container-\${3#pod-}"
elif [[ $1 == stopp ]]; then echo stopped >"${SANDBOXES}/\${2#pod-}"
fi`;
  return `#!/bin/bash
printf '%s\\n' "${name}(${version}) $*" >>"\${KV_CALLS}"${name === 'crictl' ? crictl : ''}
case "$1 $2" in
  "version -o") echo ${version} ;;
  "config images") printf '${images}\\n' ;;
  "--version ") echo "Kubernetes ${version}" ;;
  "version --client") echo "Client Version: ${version}" ;;
esac
`;
}

/**
 * systemctl and ctr: record their calls; systemctl keeps whether the kubelet runs (KV_FAIL_KUBELET: it
 * does not start); ctr remembers what it imported (from the archive's index.json).
 */
const STUBS = {
  systemctl: `#!/bin/bash
printf '%s\\n' "systemctl $*" >>"\${KV_CALLS}"
kubelet=/var/lib/kv-test-kubelet
case "$*" in
  "restart kubelet" | "start kubelet")
    printf '%s\\n' "manifests: $(ls ${GUEST.staticPodsDir} 2>/dev/null | tr '\\n' ' ')" >>"\${KV_CALLS}"
    if [[ -n \${KV_FAIL_KUBELET:-} ]]; then echo inactive >"\${kubelet}"; exit 1; fi
    echo active >"\${kubelet}" ;;
  "stop kubelet") echo inactive >"\${kubelet}" ;;
  "is-active --quiet kubelet") [[ $(cat "\${kubelet}" 2>/dev/null || echo active) == active ]] ;;
esac
`,
  ctr: `#!/bin/bash
printf '%s\\n' "ctr $*" >>"\${KV_CALLS}"
store=/var/lib/kv-test-ctr-images
case "$*" in
  *" images import "*) tar -xOf "\${!#}" index.json | grep -o '"io.containerd.image.name":"[^"]*"' | cut -d'"' -f4 >>"\${store}" ;;
  *" images ls --quiet"*) cat "\${store}" 2>/dev/null || true ;;
esac
`,
};

describe('the upgrade script, run as the host runs it, on a private copy of the machine', () => {
  let target: ClusterPlan;
  let artifacts: string;
  let stubs: string;
  let rendered: { script: string; config: string };

  beforeAll(() => {
    const root = join(workDir, 'artifacts');
    artifacts = fakeArtifactsDir(root, '1.37.2', {
      binary: (b) => kubeStub(b, 'v1.37.2'),
      images: {
        'kube-apiserver.tar': ['registry.k8s.io/kube-apiserver:v1.37.2'],
        'kube-controller-manager.tar': ['registry.k8s.io/kube-controller-manager:v1.37.2'],
        'kube-scheduler.tar': ['registry.k8s.io/kube-scheduler:v1.37.2'],
        'etcd.tar': ['registry.k8s.io/etcd:3.7.0-0'],
        'kube-proxy.tar': ['registry.k8s.io/kube-proxy:v1.37.2'],
        'coredns.tar': ['registry.k8s.io/coredns/coredns:v1.14.6'],
        'pause.tar': ['registry.k8s.io/pause:3.10.2'],
      },
    });
    const found = imagesIn(artifacts);
    target = testPlan(
      { name: 'e2e', provider: 'libvirt', distro: 'debian-12', libvirt: { driver: 'qemu' }, kubernetes: { version: '1.37.2' }, workers: { count: 1 } },
      { offline: { root, dir: artifacts, patch: '1.37.2', arch: 'amd64', containerd: true, sumsHash: sha256(join(artifacts, 'SHA256SUMS')), controlPlaneArchives: controlPlaneArchives(found.images) } },
    );
    rendered = renderUpgrade(target);
    stubs = join(workDir, 'stubs');
    mkdirSync(stubs, { recursive: true });
    for (const [name, text] of Object.entries(STUBS)) writeFileSync(join(stubs, name), text, { mode: 0o755 });
  });

  /**
   * A node as the host leaves it before the upgrade (kubeadm, kubelet and kubectl v1.36.3, containerd's
   * sandbox image `pause`), the upload the host makes, then the commands; what was called, and the script's output.
   */
  function runNode(ctx: Parameters<typeof runWithPrivateEtc>[0], node: 'master' | 'worker-1', commands: string[], opts: { pause?: string; corrupt?: string; held?: boolean; failKubelet?: boolean } = {}) {
    const calls = join(workDir, `calls-${node}-${Date.now()}`);
    writeFileSync(calls, '');
    const old = join(workDir, `old-${node}`);
    mkdirSync(old, { recursive: true });
    for (const b of ['kubeadm', 'kubelet', 'kubectl', 'crictl']) writeFileSync(join(old, b), kubeStub(b, 'v1.36.3'), { mode: 0o755 });
    writeFileSync(join(workDir, 'upgrade.sh'), rendered.script);
    writeFileSync(join(workDir, 'upgrade.yaml'), rendered.config);
    const upload = `${GUEST_UPGRADE.upload}/v1.37.2`;
    const script = [
      `install -d /usr/local/bin /etc/containerd ${GUEST.artifactsDir} ${GUEST_UPGRADE.upload} ${GUEST.staticPodsDir}`,
      `touch ${GUEST.staticPodsDir}/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler}.yaml`,
      // The control plane runs its four static pods (the kubelet before the upgrade started them).
      ...(node === 'master' ? [`install -d ${SANDBOXES}`, `for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do echo ready >${SANDBOXES}/$c; done`] : []),
      ...(opts.held ? [`install -d ${GUEST.configDir}/held-manifests`, `mv ${GUEST.staticPodsDir}/kube-scheduler.yaml ${GUEST.configDir}/held-manifests/`] : []),
      `cp ${old}/* /usr/local/bin/`,
      `echo old >${GUEST.artifactsDir}/.verified`,
      `printf '%s\\n' 'version = 3' "[plugins.'io.containerd.cri.v1.images'.pinned_images]" '  sandbox = "registry.k8s.io/${opts.pause ?? 'pause:3.10.2'}"' >/etc/containerd/config.toml`,
      // What the host's SFTP upload leaves in vagrant's upload directory.
      `cp -r ${artifacts} ${upload} && cp ${workDir}/upgrade.sh ${workDir}/upgrade.yaml ${GUEST_UPGRADE.upload}/`,
      ...(opts.corrupt ? [`echo corrupt >>${upload}/${opts.corrupt}`] : []),
      ...commands.map((c) => `echo "+ ${c.replace(/"/g, '\\"')}" >>"\${KV_CALLS}"; ${c}`),
      // What is left, for the test to read.
      `{ echo "artifacts: $(cat ${GUEST.artifactsDir}/.verified)"; echo "staged: $(ls ${GUEST_UPGRADE.staged} 2>/dev/null)"; echo "upload: $(ls ${GUEST_UPGRADE.upload})"; echo "kubelet: $(kubelet --version)"; grep sandbox /etc/containerd/config.toml; echo "manifests: $(ls ${GUEST.staticPodsDir} | tr '\\n' ' ')"; echo "held: $(ls ${GUEST.configDir}/held-manifests 2>&1)"; echo "sandboxes: $(cd ${SANDBOXES} 2>/dev/null && grep -H . * | tr '\\n' ' ')"; } >>"\${KV_CALLS}.after"`,
    ].join('\n');
    const r = runWithPrivateEtc(ctx, workDir, script, {
      overlay: ['/usr/local', '/var/lib', '/home'],
      env: { PATH: `/usr/local/bin:${stubs}:/usr/bin:/bin:/usr/sbin:/sbin`, KV_CALLS: calls, KUBEADM_VAGRANT_NODE: node, HOME: '/root', ...(opts.failKubelet ? { KV_FAIL_KUBELET: '1' } : {}) },
    });
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    return { status: r.status, output: `${r.stdout}${r.stderr}`, calls: read(calls).trim().split('\n'), after: read(`${calls}.after`) };
  }

  const commandsOf = (node: 'master' | 'worker-1') => {
    const n = target.nodes.find((x) => x.name === node)!;
    return [stageCommand(n), ...nodeCommands(target, n), ...finishCommands(target).filter((c) => c.on.name === node)].map((c) => c.command);
  };
  const at = (calls: string[], pattern: RegExp) => {
    const i = calls.findIndex((c) => pattern.test(c));
    expect(i, `${pattern} in:\n${calls.join('\n')}`).toBeGreaterThanOrEqual(0);
    return i;
  };

  it('the control plane: images imported before kubeadm upgrade apply, drained before apply, the kubelet restarted, uncordoned', (ctx) => {
    needTool(ctx, 'unshare');
    const r = runNode(ctx, 'master', commandsOf('master'), { pause: 'pause:3.10.1' });
    expect(r.status, r.output).toBe(0);
    const { calls } = r;
    const imports = calls.filter((c) => /^ctr --namespace k8s.io images import /.test(c)).map((c) => c.split('/').pop());
    expect(imports.sort()).toEqual(['coredns.tar', 'etcd.tar', 'kube-apiserver.tar', 'kube-controller-manager.tar', 'kube-proxy.tar', 'kube-scheduler.tar', 'pause.tar']);
    const lastImport = Math.max(...calls.map((c, i) => (/images import/.test(c) ? i : -1)));
    // The new kubeadm (it records its version) runs plan and apply, after every import.
    const plan = at(calls, /^kubeadm\(v1\.37\.2\) upgrade plan v1\.37\.2 --config \/etc\/kubernetes\/kubeadm-vagrant\/upgrade\.yaml$/);
    const apply = at(calls, /^kubeadm\(v1\.37\.2\) upgrade apply v1\.37\.2 --config \/etc\/kubernetes\/kubeadm-vagrant\/upgrade\.yaml --yes$/);
    expect(lastImport).toBeLessThan(plan);
    expect(plan).toBeLessThan(apply);
    const drain = at(calls, /^kubectl\(v1\.36\.3\) --kubeconfig=\/etc\/kubernetes\/admin\.conf drain e2e-master --ignore-daemonsets --delete-emptydir-data --timeout=1500s$/);
    // containerd gets the new kubeadm's pause image, then the kubelet restarts.
    const containerd = at(calls, /^systemctl restart containerd$/);
    const reload = at(calls, /^systemctl daemon-reload$/);
    const restart = at(calls, /^systemctl restart kubelet$/);
    const uncordon = at(calls, /^kubectl\(v1\.37\.2\) --kubeconfig=\/etc\/kubernetes\/admin\.conf uncordon e2e-master$/);
    expect(plan).toBeLessThan(drain);
    expect(drain).toBeLessThan(apply);
    expect(apply).toBeLessThan(containerd);
    expect(containerd).toBeLessThan(reload);
    expect(reload).toBeLessThan(restart);
    expect(restart).toBeLessThan(uncordon);
    // The kubelet of the new minor finds etcd and the API server alone; the controller manager and the
    // scheduler go back once the API server answers.
    expect(calls[restart + 1]).toBe('manifests: etcd.yaml kube-apiserver.yaml ');
    const livez = at(calls, /^kubectl\(v1\.37\.2\) --kubeconfig=\/etc\/kubernetes\/admin\.conf get --raw=\/livez$/);
    expect(restart).toBeLessThan(livez);
    // Before that restart, with the kubelet stopped, the four static pods it ran were stopped, each one's
    // containers with the kubelet's grace first: the API server that answers is one the new kubelet started.
    const stop = at(calls, /^systemctl stop kubelet$/);
    expect(reload).toBeGreaterThan(stop);
    for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      const containers = at(calls, new RegExp(`^crictl\\(v1\\.37\\.2\\) stop --timeout 30 container-${c}$`));
      const sandbox = at(calls, new RegExp(`^crictl\\(v1\\.37\\.2\\) stopp pod-${c}$`));
      expect([stop < containers, containers < sandbox, sandbox < restart], c).toEqual([true, true, true]);
    }
    expect(r.after).toContain('sandboxes: etcd:stopped kube-apiserver:stopped kube-controller-manager:stopped kube-scheduler:stopped ');
    expect(r.output).toMatch(/kube-scheduler held back until the API server answers[\s\S]*kube-scheduler handed back to the kubelet/);
    expect(r.after).toContain('manifests: etcd.yaml kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml ');
    expect(r.after).toMatch(/^held: .*No such file or directory/m);
    // No call pulls, anywhere.
    expect(calls.filter((c) => /\bpull\b/.test(c))).toEqual([]);
    expect(r.after).toContain(`artifacts: ${target.offline!.sumsHash}`);
    expect(r.after).toMatch(/^staged: $/m);
    expect(r.after).toMatch(/^upload: $/m);
    expect(r.after).toContain('kubelet: Kubernetes v1.37.2');
    expect(r.after).toContain('sandbox = "registry.k8s.io/pause:3.10.2"');
  });

  it('a worker: no control-plane image, kubeadm upgrade node, the same drain, restart and uncordon order', (ctx) => {
    needTool(ctx, 'unshare');
    const r = runNode(ctx, 'worker-1', commandsOf('worker-1'));
    expect(r.status, r.output).toBe(0);
    const imports = r.calls.filter((c) => /images import /.test(c)).map((c) => c.split('/').pop());
    expect(imports.sort()).toEqual(['coredns.tar', 'kube-proxy.tar', 'pause.tar']);
    const node = at(r.calls, /^kubeadm\(v1\.37\.2\) upgrade node --config \/etc\/kubernetes\/kubeadm-vagrant\/upgrade\.yaml$/);
    const drain = at(r.calls, /drain e2e-worker-1 /);
    const restart = at(r.calls, /^systemctl restart kubelet$/);
    const uncordon = at(r.calls, /uncordon e2e-worker-1$/);
    expect(Math.max(...r.calls.map((c, i) => (/images import/.test(c) ? i : -1)))).toBeLessThan(node);
    expect(node).toBeLessThan(drain);
    expect(drain).toBeLessThan(restart);
    expect(restart).toBeLessThan(uncordon);
    // The sandbox image was kubeadm's already: containerd is not restarted. A worker holds nothing back.
    expect(r.calls).not.toContain('systemctl restart containerd');
    expect(r.calls[restart + 1]).toBe('manifests: etcd.yaml kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml ');
    expect(r.calls.some((c) => /--raw=\/livez/.test(c))).toBe(false);
    expect(r.calls.some((c) => /^systemctl stop kubelet$|^crictl\(\S+\) (stop|stopp) /.test(c))).toBe(false);
    expect(r.calls.some((c) => /upgrade apply/.test(c))).toBe(false);
  });

  it("the control plane's kubelet step hands back a manifest an interrupted run held back, and one it holds when the restart fails", (ctx) => {
    needTool(ctx, 'unshare');
    const master = target.controlPlane;
    const kubelet = nodeCommands(target, master).find((c) => / kubelet$/.test(c.command))!.command;
    const prepare = [stageCommand(master).command, `${GUEST_UPGRADE.script} kubeadm`];
    // An earlier run stopped with the scheduler held back: the next one finds it back before the restart.
    const resumed = runNode(ctx, 'master', [...prepare, kubelet], { held: true });
    expect(resumed.status, resumed.output).toBe(0);
    const restart = resumed.calls.indexOf('systemctl restart kubelet');
    expect(resumed.calls[restart + 1]).toBe('manifests: etcd.yaml kube-apiserver.yaml ');
    expect(resumed.after).toContain('manifests: etcd.yaml kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml ');
    // The kubelet's restart fails: the step fails, and both manifests are back where the kubelet reads them.
    const failed = runNode(ctx, 'master', [...prepare, `${kubelet} || echo "kubelet step failed: $?" >>"\${KV_CALLS}"`], { failKubelet: true });
    expect(failed.calls).toContain('kubelet step failed: 1');
    expect(failed.output).toMatch(/kube-controller-manager handed back to the kubelet/);
    // The step stopped the kubelet: its EXIT trap starts it again (with every manifest back).
    const failedRestart = failed.calls.indexOf('systemctl restart kubelet');
    expect(failed.calls.indexOf('systemctl start kubelet')).toBeGreaterThan(failedRestart);
    expect(failed.calls.at(failed.calls.indexOf('systemctl start kubelet') + 1)).toBe('manifests: etcd.yaml kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml ');
    expect(failed.after).toContain('manifests: etcd.yaml kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml ');
    expect(failed.after).toMatch(/^held: .*No such file or directory/m);
  });

  it('a damaged upload stops the stage naming the file, which is removed so that the next upload sends it; nothing was installed', (ctx) => {
    needTool(ctx, 'unshare');
    const r = runNode(ctx, 'master', [`${stageCommand(target.controlPlane).command} || echo "stage failed: $?" >>"\${KV_CALLS}"`, `ls ${GUEST_UPGRADE.upload}/v1.37.2/bin >>"\${KV_CALLS}"`], { corrupt: 'bin/kubelet' });
    expect(r.status, r.output).toBe(0);
    expect(r.calls).toContain('stage failed: 1');
    expect(r.output).toMatch(/checksum mismatch in the uploaded artifacts of v1\.37\.2: .*bin\/kubelet: FAILED.*\(those files were removed: run kubeadm-vagrant upgrade again to upload them again\)/);
    expect(r.calls.filter((c) => /images import|upgrade apply/.test(c))).toEqual([]);
    expect(r.calls).toContain('kubeadm');
    expect(r.calls).not.toContain('kubelet');
  });

  it('every step runs again without harm: staged once, imported once, switched once', (ctx) => {
    needTool(ctx, 'unshare');
    const once = commandsOf('worker-1');
    // The host uploads the script and its configuration again before each stage (stage moves them into place).
    const r = runNode(ctx, 'worker-1', [...once, `cp ${workDir}/upgrade.sh ${workDir}/upgrade.yaml ${GUEST_UPGRADE.upload}/`, ...once]);
    expect(r.status, r.output).toBe(0);
    expect(r.calls.filter((c) => /images import/.test(c))).toHaveLength(3);
    expect(r.output).toContain('the artifacts of v1.37.2 are on this node, verified already');
    expect(r.output).toContain(`${GUEST.artifactsDir} holds the artifacts of v1.37.2`);
  });
});

describe('the CLI without VMs: refusals before anything changes, and an upgraded cluster as the other commands see it', () => {
  let dir: string;
  let root: string;
  const run = (args: string[]) => runCli(args, { cwd: dir, isolatedNetwork: true });
  const writeState = (s: Record<string, unknown>) => writeFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), JSON.stringify(s));
  const upDone = { phase: 'verified', nodePhases: { master: 'verified', 'worker-1': 'verified' } };

  beforeAll(() => {
    dir = join(workDir, 'cluster');
    root = join(workDir, 'cli-artifacts');
    mkdirSync(dir, { recursive: true });
    fakeArtifactsDir(root, '1.36.3');
    fakeArtifactsDir(root, '1.37.2');
    writeFileSync(
      join(dir, 'cluster.yaml'),
      `apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: e2e\nprovider: libvirt\ndistro: debian-12\nkubernetes:\n  version: "1.36"\noffline:\n  dir: ${root}\nworkers: {count: 1}\nlibvirt: {driver: qemu}\n`,
    );
    const g = run(['generate']);
    expect(g.code, g.stderr).toBe(0);
  });

  it('refuses an upgrade of a cluster that is not up, a version that is not one, a target whose artifacts are missing or damaged; nothing changes', () => {
    expect(run(['upgrade', '--to', '1.37']).stderr).toMatch(/upgrade needs a running control plane/);
    writeState(upDone);
    const before = readFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), 'utf8');
    const bad = run(['upgrade', '--to', '1.37.02']);
    expect([bad.code, bad.stderr]).toEqual([2, 'error: cannot upgrade cluster e2e; nothing was changed:\n  - --to 1.37.02: "1.37.02" has a leading zero (02); write 1.37.2\n']);
    const missing = run(['upgrade', '--to', '1.38']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`the artifacts of 1.38: offline.dir: ${root} has no v1.38.* directory for Kubernetes 1.38 (it has v1.36.3, v1.37.2)`);
    const kubelet = join(root, 'v1.37.2', 'amd64', 'bin', 'kubelet');
    const original = readFileSync(kubelet);
    try {
      writeFileSync(kubelet, Buffer.concat([original, Buffer.from('changed')]));
      const damaged = run(['upgrade', '--to', '1.37', '--plan']);
      expect(damaged.code).toBe(2);
      expect(damaged.stderr).toMatch(new RegExp(`the artifacts of 1\\.37: offline\\.dir: ${kubelet.replace(/[.]/g, '\\.')} does not match SHA256SUMS \\(sha256 [0-9a-f]{12}\\.\\.\\., listed [0-9a-f]{12}\\.\\.\\.\\)`));
    } finally {
      writeFileSync(kubelet, original);
    }
    expect(readFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), 'utf8')).toBe(before);
  });

  it('while an upgrade is unfinished: up and node add refuse, and so does another target', () => {
    writeState({ ...upDone, upgrade: { from: '1.36.3', to: '1.37.2', sumsHash: 'x', mode: 'automatic', startedAt: '2026-12-05T01:00:00.000Z', nodes: { master: { staged: 'a', upgraded: 'b', seconds: 700 }, 'worker-1': { staged: 'a' } } } });
    for (const [args, what] of [[['up'], 'up'], [['node', 'add'], 'node add']] as const) {
      const r = run([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${what}: cluster e2e is being upgraded from 1.36.3 to 1.37.2 (automatic, started 2026-12-05T01:00:00.000Z); finish that first with \`kubeadm-vagrant upgrade --to 1.37.2\``);
    }
    // Another target while this one is unfinished is refused before the cluster is asked anything.
    const other = run(['upgrade', '--to', '1.36.3']);
    expect(other.stderr).toContain('an upgrade to 1.37.2 (from 1.36.3, started 2026-12-05T01:00:00.000Z) has not finished: finish it first with `kubeadm-vagrant upgrade --to 1.37.2`');
  });

  it('after an upgrade: generate renders for the running version, warns that cluster.yaml says another, and never rewrites it', () => {
    writeState({ ...upDone, upgrade: { from: '1.36.3', to: '1.37.2', sumsHash: 'x', mode: 'automatic', startedAt: 'a', finishedAt: 'b', nodes: {} } });
    const yaml = readFileSync(join(dir, 'cluster.yaml'), 'utf8');
    const g = run(['generate']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stderr).toContain(`kubernetes.version: ${join(dir, 'cluster.yaml')} says 1.36, and the cluster runs 1.37.2 since \`kubeadm-vagrant upgrade\`: 1.37.2 is used`);
    expect(g.stderr).toContain('hint: set kubernetes.version: "1.37.2" (or "1.37")');
    expect(readFileSync(join(dir, 'cluster.yaml'), 'utf8')).toBe(yaml);
    expect(readFileSync(join(dir, 'Vagrantfile'), 'utf8')).toContain(join(root, 'v1.37.2', 'amd64'));
    expect(readFileSync(join(dir, 'provision', 'packages.sh'), 'utf8')).toContain("readonly K8S_PATCH='1.37.2'");
    const printed = run(['config', 'print']);
    expect(printed.stdout).toMatch(/version: "?1\.37\.2"? # from the cluster's state, set by kubeadm-vagrant upgrade/);
    // Going back with a flag is refused.
    const back = run(['generate', '--k8s-version', '1.36.3']);
    expect(back.code).toBe(2);
    expect(back.stderr).toContain('kubernetes.version (from --k8s-version): 1.36.3 is not the version the cluster runs 1.37.2');
  });
});

