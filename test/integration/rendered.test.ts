import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { HOST, joinConfigPath, SSH_KEY_KINDS, STATE_DIR } from '../../src/layout.js';
import type { ClusterPlan } from '../../src/plan/plan.js';
import { renderAll, renderUpgrade, type RenderedFile } from '../../src/render/render.js';
import { isControlPlaneImage, kubeadmImages } from '../../src/versions.js';
import { FIXED_CA_CERT_HASH, FIXED_TOKEN, PLAN_CASES, casePlan, testOffline, testPlan, type ConfigOverrides } from '../helpers/plans.js';
import { textOf } from '../helpers/rendered.js';

/**
 * The rendered files checked with the real tools: shellcheck and bash on every script variant,
 * `vagrant validate` for both providers, a YAML parse of every kubeadm document, and the edit
 * functions of the scripts run with bash on copies of the files they edit on a node.
 * In CI (CI=true) a missing tool fails; elsewhere its tests are skipped with a message.
 */

const run = promisify(execFile);
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'fixtures');
const IN_CI = process.env.CI === 'true';

function toolPresent(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

const TOOLS = {
  bash: toolPresent('bash', ['--version']),
  shellcheck: toolPresent('shellcheck', ['--version']),
  vagrant: toolPresent('vagrant', ['--version']),
  vagrantLibvirt: toolPresent('sh', ['-c', 'vagrant plugin list 2>/dev/null | grep -q "^vagrant-libvirt "']),
};

/** Skips the test when a tool is missing, except in CI, where that is a failure. */
function need(ctx: TestContext, tool: keyof typeof TOOLS): void {
  if (TOOLS[tool]) return;
  const message = `${tool} is not installed`;
  if (IN_CI) throw new Error(`${message}; CI must have it`);
  console.warn(`skipped: ${message}`);
  ctx.skip(message);
}

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'kubeadm-vagrant-rendered-'));
});
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

/** Writes a plan's files, and stand-ins for the secrets generate writes, into a fresh directory. */
function writeCluster(name: string, files: RenderedFile[]): string {
  const dir = join(workDir, 'clusters', name);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.content, { mode: f.mode });
  }
  // The test plans carry an RSA public key (tests/helpers/plans.ts), so their Vagrantfile names id_rsa.
  for (const secret of [SSH_KEY_KINDS.rsa.privateKey, HOST.caCert, HOST.caKey]) {
    mkdirSync(dirname(join(dir, secret)), { recursive: true });
    writeFileSync(join(dir, secret), `stand-in for ${secret}\n`, { mode: 0o600 });
  }
  return dir;
}

function content(files: RenderedFile[], path: string): string {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} not rendered`);
  return textOf(f);
}

/**
 * The plans whose scripts together take every branch of the script templates: both package
 * families, both CNIs, with and without the dashboard, patch or minor, with and without workers.
 */
function scriptVariants(): ClusterPlan[] {
  return [
    ...Object.keys(PLAN_CASES).map(casePlan),
    testPlan({ provider: 'libvirt', distro: 'rocky-9', kubernetes: { cni: 'calico' }, network: { masterIP: '192.168.62.10' }, workers: { count: 1 } }),
  ];
}

describe('provisioning scripts', () => {
  const scripts = new Map<string, string>(); // content -> a file holding it
  beforeAll(() => {
    const dir = join(workDir, 'scripts');
    mkdirSync(dir, { recursive: true });
    scriptVariants().forEach((plan, i) => {
      const files = renderAll(plan).filter((x) => x.path.startsWith('provision/'));
      // What `upgrade` uploads to every node (for the plan as its target) goes through the same checks.
      files.push({ path: 'provision/upgrade.sh', content: renderUpgrade(plan).script, mode: 0o755 });
      for (const f of files) {
        const text = textOf(f);
        if (scripts.has(text)) continue;
        const file = join(dir, `${i}-${f.path.slice('provision/'.length)}`);
        writeFileSync(file, text, { mode: 0o755 });
        scripts.set(text, file);
      }
    });
  });

  it('passes shellcheck with no finding at any severity', async (ctx) => {
    need(ctx, 'shellcheck');
    const files = [...scripts.values()];
    const all = [...scripts.keys()].join('\n');
    for (const branch of [
      'apt_get install', 'dnf install', 'setenforce', 'kube-flannel', 'tigera-operator', 'HEADLAMP_MANIFEST', "K8S_PATCH='1.",
      'install_distro_runtime', 'install_runtime_from "${ARTIFACTS_DIR}/containerd"', 'import_images', 'write_probe_patches',
      'without_cni_plugin_installer', 'NM_CALICO_CONF', 'verify_checksums', 'switch_artifacts', 'check_uploaded',
    ]) {
      expect(all, `no script variant takes the branch with ${branch}`).toContain(branch);
    }
    const batches: string[][] = [];
    for (let i = 0; i < files.length; i += 6) batches.push(files.slice(i, i + 6));
    const findings: string[] = [];
    // shellcheck is slow per file: two at a time uses both cores.
    const worker = async () => {
      for (let batch = batches.shift(); batch; batch = batches.shift()) {
        try {
          await run('shellcheck', ['--severity=style', '--shell=bash', '--format=gcc', ...batch]);
        } catch (err) {
          findings.push((err as { stdout?: string }).stdout || String(err));
        }
      }
    };
    await Promise.all([worker(), worker()]);
    expect(findings.join('\n')).toBe('');
  });

  it('parses with bash -n', (ctx) => {
    need(ctx, 'bash');
    for (const file of scripts.values()) {
      const result = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
      expect(result.stderr, file).toBe('');
      expect(result.status, file).toBe(0);
    }
  });
});

describe('vagrant validate', () => {
  // A stand-in VBoxManage lets the VirtualBox provider validate its settings without VirtualBox.
  let fakeVirtualBox: string;
  beforeAll(() => {
    fakeVirtualBox = join(workDir, 'fake-virtualbox');
    mkdirSync(fakeVirtualBox, { recursive: true });
    writeFileSync(join(fakeVirtualBox, 'VBoxManage'), '#!/bin/sh\n[ "$1" = --version ] && echo 7.0.20r163906\nexit 0\n', { mode: 0o755 });
  });

  async function validate(dir: string, provider: string) {
    const env = {
      ...process.env,
      VAGRANT_DEFAULT_PROVIDER: provider,
      VAGRANT_CHECKPOINT_DISABLE: '1',
      PATH: provider === 'virtualbox' ? `${fakeVirtualBox}:${process.env.PATH}` : process.env.PATH,
    };
    try {
      const { stdout } = await run('vagrant', ['validate'], { cwd: dir, env });
      return { ok: true, output: stdout };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  }

  it('accepts the Vagrantfile of every case with its provider, and with the other one', async (ctx) => {
    need(ctx, 'vagrant');
    need(ctx, 'vagrantLibvirt');
    const jobs: { label: string; dir: string; provider: string }[] = [];
    const seen = new Set<string>();
    // Every case uploads its artifacts directory, which must exist for validate: an empty one here.
    const artifacts = join(workDir, 'artifacts', 'v1.37.2', 'amd64');
    mkdirSync(artifacts, { recursive: true });
    for (const [name, c] of Object.entries(PLAN_CASES)) {
      const planned = testPlan(c.config, c.options);
      const plan = { ...planned, offline: { ...planned.offline, dir: artifacts } };
      const files = renderAll(plan);
      const vagrantfile = content(files, 'Vagrantfile');
      // Minors and CNIs do not change a Vagrantfile: each distinct one is validated once.
      if (seen.has(vagrantfile)) continue;
      seen.add(vagrantfile);
      const dir = writeCluster(`validate-${name}`, files);
      jobs.push({ label: `${name} (${plan.provider})`, dir, provider: plan.provider });
      // Every Vagrantfile has both providers' blocks: the first of each provider is validated with the other one too.
      const other = plan.provider === 'libvirt' ? 'virtualbox' : 'libvirt';
      if (!jobs.some((j) => j.provider === other && j.label.endsWith(`(${other}, too)`))) jobs.push({ label: `${name} (${other}, too)`, dir, provider: other });
    }
    expect(jobs.length).toBeGreaterThanOrEqual(14);
    const failures: string[] = [];
    const worker = async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        const result = await validate(job.dir, job.provider);
        if (!result.ok || !result.output.includes('Vagrantfile validated successfully')) failures.push(`${job.label}:\n${result.output}`);
      }
    };
    await Promise.all([worker(), worker()]);
    expect(failures.join('\n\n')).toBe('');
  }, 15 * 60_000);

  it('points the file provisioners at the secrets generate writes', async (ctx) => {
    need(ctx, 'vagrant');
    need(ctx, 'vagrantLibvirt');
    const dir = writeCluster('validate-missing-ca-key', renderAll(testPlan({ provider: 'libvirt' })));
    rmSync(join(dir, HOST.caKey));
    const result = await validate(dir, 'libvirt');
    expect(result.ok).toBe(false);
    expect(result.output).toContain(`${STATE_DIR}/pki/ca.key must exist`);
  });
});

describe('kubeadm configuration documents', () => {
  type Doc = Record<string, any>;

  function docs(text: string): Doc[] {
    const parsed = parseAllDocuments(text);
    for (const d of parsed) expect(d.errors.map((e) => e.message)).toEqual([]);
    return parsed.map((d) => d.toJS() as Doc);
  }

  for (const name of Object.keys(PLAN_CASES)) {
    it(name, () => {
      const plan = casePlan(name);
      const files = renderAll(plan);
      // v1beta4 in every supported minor; kubeadm 1.37 refuses v1beta3.
      const api = 'kubeadm.k8s.io/v1beta4';
      const registration = (ip: string) => ({
        // Under emulation cAdvisor reads the containers' statistics every 10 s × slowdown.
        kubeletExtraArgs: [{ name: 'node-ip', value: ip }, ...(plan.slowdown > 1 ? [{ name: 'housekeeping-interval', value: `${10 * plan.slowdown}s` }] : [])],
        imagePullPolicy: 'Never',
      });
      const slow = plan.slowdown > 1;
      const scaled = (entries: [string, number][]) => (slow ? { timeouts: Object.fromEntries(entries.map(([k, m]) => [k, `${m * plan.slowdown}m0s`])) } : {});

      const [init, cluster, kubelet, proxy, ...rest] = docs(content(files, HOST.initConfig));
      expect(rest).toEqual([]);
      expect(init).toMatchObject({ apiVersion: api, kind: 'InitConfiguration' });
      expect(init!.bootstrapTokens).toEqual([
        {
          token: FIXED_TOKEN,
          description: 'kubeadm-vagrant bootstrap token',
          ttl: plan.kubernetes.tokenTTL,
          usages: ['signing', 'authentication'],
          groups: ['system:bootstrappers:kubeadm:default-node-token'],
        },
      ]);
      expect(init!.localAPIEndpoint).toEqual({ advertiseAddress: plan.controlPlane.ip, bindPort: 6443 });
      expect(init!.nodeRegistration).toEqual({
        name: plan.controlPlane.hostname,
        criSocket: 'unix:///run/containerd/containerd.sock',
        ...registration(plan.controlPlane.ip),
        ...(plan.workers.length === 0 ? { taints: [] } : {}),
      });
      expect(init!.timeouts).toEqual(scaled([['controlPlaneComponentHealthCheck', 4], ['kubeletHealthCheck', 4], ['kubernetesAPICall', 1], ['etcdAPICall', 2], ['tlsBootstrap', 5]]).timeouts);
      expect(init!.patches).toEqual(slow ? { directory: '/etc/kubernetes/kubeadm-vagrant/patches' } : undefined);

      expect(cluster).toEqual({
        apiVersion: api,
        kind: 'ClusterConfiguration',
        clusterName: plan.name,
        // Leaf keys like the CA's (ECDSA P-256), not kubeadm's RSA-2048 default.
        encryptionAlgorithm: 'ECDSA-P256',
        kubernetesVersion: `v${plan.kubernetes.patch}`,
        controlPlaneEndpoint: `${plan.controlPlane.ip}:6443`,
        networking: { podSubnet: plan.kubernetes.podSubnet, serviceSubnet: plan.kubernetes.serviceSubnet },
        apiServer: {
          certSANs: [plan.controlPlane.ip, '127.0.0.1', plan.controlPlane.hostname],
          // Under emulation requests may take 1 min × slowdown before the API server answers "Timeout",
          // and etcd may take 2 s × slowdown to answer the API server's liveness and readiness checks.
          ...(slow
            ? {
                extraArgs: [
                  { name: 'request-timeout', value: `${60 * plan.slowdown}s` },
                  { name: 'etcd-healthcheck-timeout', value: `${2 * plan.slowdown}s` },
                  { name: 'etcd-readycheck-timeout', value: `${2 * plan.slowdown}s` },
                ],
              }
            : {}),
        },
        // Under emulation the controller manager and the scheduler run without leader election (one control plane),
        // nodes get 50 s × slowdown before they are NotReady, and etcd's raft runs on 100 ms / 1000 ms, scaled.
        ...(slow
          ? {
              controllerManager: {
                extraArgs: [
                  { name: 'leader-elect', value: 'false' },
                  { name: 'node-monitor-grace-period', value: `${50 * plan.slowdown}s` },
                ],
              },
              scheduler: { extraArgs: [{ name: 'leader-elect', value: 'false' }] },
              etcd: {
                local: {
                  extraArgs: [
                    { name: 'heartbeat-interval', value: String(100 * plan.slowdown) },
                    { name: 'election-timeout', value: String(1000 * plan.slowdown) },
                  ],
                },
              },
            }
          : {}),
      });
      expect(kubelet).toEqual({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        cgroupDriver: 'systemd',
        ...(slow ? { runtimeRequestTimeout: `${2 * plan.slowdown}m0s`, nodeStatusUpdateFrequency: `${10 * plan.slowdown}s`, nodeLeaseDurationSeconds: 40 * plan.slowdown } : {}),
      });
      expect(proxy).toEqual({ apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', mode: plan.kubernetes.proxyMode });

      // Under emulation the static pods' probes wait slowdown times longer; liveness tolerates slowdown times the
      // failures at kubeadm's period (one answer in 40 tries keeps a component alive), readiness asks slowdown times
      // less often; the startup probes keep their period (their failures follow the scaled controlPlaneComponentHealthCheck).
      const patches = [...content(files, 'provision/control-plane.sh').matchAll(/"\$\{PATCHES_DIR\}\/([^"]+)\+strategic\.yaml" 0600 <<'EOF'\n([^]*?)\nEOF\n/g)];
      const kubeadm = { livenessProbe: { timeoutSeconds: 15, failureThreshold: 8 }, readinessProbe: { periodSeconds: 1, timeoutSeconds: 15 }, startupProbe: { timeoutSeconds: 15 } };
      // The controller manager has no readiness probe.
      const all = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
      const probes: Record<string, readonly (keyof typeof kubeadm)[]> = { 'kube-apiserver': all, 'kube-controller-manager': ['livenessProbe', 'startupProbe'], 'kube-scheduler': all, etcd: all };
      expect(Object.fromEntries(patches.map(([, target, yaml]) => [target, docs(yaml!)[0]]))).toEqual(
        slow
          ? Object.fromEntries(
              Object.entries(probes).map(([target, which]) => [
                target,
                {
                  spec: {
                    containers: [
                      {
                        name: target,
                        ...Object.fromEntries(which.map((probe) => [probe, Object.fromEntries(Object.entries(kubeadm[probe]).map(([k, v]) => [k, v * plan.slowdown]))])),
                      },
                    ],
                  },
                },
              ]),
            )
          : {},
      );

      for (const worker of plan.workers) {
        const [join, ...more] = docs(content(files, joinConfigPath(worker.name)));
        expect(more).toEqual([]);
        expect(join).toEqual({
          apiVersion: api,
          kind: 'JoinConfiguration',
          discovery: {
            bootstrapToken: { apiServerEndpoint: `${plan.controlPlane.ip}:6443`, token: FIXED_TOKEN, caCertHashes: [FIXED_CA_CERT_HASH] },
          },
          nodeRegistration: { name: worker.hostname, criSocket: 'unix:///run/containerd/containerd.sock', ...registration(worker.ip) },
          ...scaled([['discovery', 5], ['tlsBootstrap', 5], ['kubeletHealthCheck', 4], ['kubernetesAPICall', 1], ['etcdAPICall', 2]]),
        });
      }
      for (const ip of [plan.controlPlane.ip, ...plan.workers.map((w) => w.ip)]) expect(ip).not.toBe('10.0.2.15');

      // What `upgrade` uploads: kubeadm's UpgradeConfiguration for the plan as the target.
      const [upgrade, ...others] = docs(renderUpgrade(plan).config);
      expect(others).toEqual([]);
      const target = `v${plan.kubernetes.patch}`;
      expect(upgrade).toEqual({
        apiVersion: api,
        kind: 'UpgradeConfiguration',
        apply: {
          kubernetesVersion: target,
          imagePullPolicy: 'Never',
          ...(slow ? { patches: { directory: '/etc/kubernetes/kubeadm-vagrant/patches' }, ignorePreflightErrors: ['CreateJob'] } : {}),
        },
        node: { imagePullPolicy: 'Never' },
        plan: { kubernetesVersion: target, ...(slow ? { ignorePreflightErrors: ['CreateJob'] } : {}) },
        ...scaled([['controlPlaneComponentHealthCheck', 4], ['kubeletHealthCheck', 4], ['kubernetesAPICall', 1], ['etcdAPICall', 2], ['upgradeManifests', 5]]),
      });
    });
  }
});

/**
 * The awk implementations the guests have: mawk on Debian and Ubuntu, gawk on Rocky. The edit
 * functions run with each one installed here, through a directory that puts it first as `awk`.
 */
const AWKS = ['gawk', 'mawk'].filter((awk) => toolPresent('sh', ['-c', `command -v ${awk}`]));
let awkPath: string | undefined;
function useAwk(awk: string): void {
  const bin = join(workDir, `awk-${awk}`);
  mkdirSync(bin, { recursive: true });
  rmSync(join(bin, 'awk'), { force: true });
  symlinkSync(spawnSync('sh', ['-c', `command -v ${awk}`], { encoding: 'utf8' }).stdout.trim(), join(bin, 'awk'));
  awkPath = bin;
}

/**
 * Runs `FUNCTION ARGS...` from a rendered script with bash (main does not run when it is sourced),
 * with `input` as its standard input. Its TMPDIR is a new directory: `leftovers` is what the call
 * left there (mktemp's files), `output` its standard output without the driver's KV_CHANGED line.
 */
let calls = 0;
function callFunction(script: string, call: string[], prelude = '', input = '') {
  const driver = `source "$1"; shift; ${prelude}\n"$@"; printf 'KV_CHANGED=%s\\n' "\${KV_CHANGED}"`;
  const tmp = join(workDir, `tmp-${calls++}`);
  mkdirSync(tmp);
  const env = { ...process.env, TMPDIR: tmp, ...(awkPath ? { PATH: `${awkPath}:${process.env.PATH}` } : {}) };
  const result = spawnSync('bash', ['-c', driver, 'driver', script, ...call], { encoding: 'utf8', env, input });
  const leftovers = readdirSync(tmp);
  rmSync(tmp, { recursive: true, force: true });
  return {
    status: result.status,
    stdout: result.stdout,
    output: result.stdout.replace(/KV_CHANGED=[01]\n$/, ''),
    stderr: result.stderr,
    changed: /KV_CHANGED=1\n$/.test(result.stdout),
    leftovers,
  };
}

describe.each(AWKS.length > 0 ? AWKS : ['awk'])('what the scripts do to the files they edit, with %s', (awk) => {
  let dir: string;
  let count = 0;
  const script = (overrides: ConfigOverrides, phase: string) => {
    const file = join(dir, `script-${count++}-${phase}.sh`);
    writeFileSync(file, content(renderAll(testPlan(overrides)), `provision/${phase}.sh`), { mode: 0o755 });
    return file;
  };
  /** A copy of a fixture (or of given text) to edit. */
  const copy = (fixture: string, text?: string) => {
    const file = join(dir, `edit-${count++}-${fixture}`);
    if (text === undefined) copyFileSync(join(FIXTURES, fixture), file);
    else writeFileSync(file, text);
    chmodSync(file, 0o644);
    return file;
  };
  let ubuntu: string;
  let rocky: string;

  beforeAll(() => {
    if (awk !== 'awk') useAwk(awk);
    dir = join(workDir, `edits-${awk}`);
    mkdirSync(dir, { recursive: true });
    ubuntu = script({}, 'prerequisites');
    rocky = script({ distro: 'rocky-9' }, 'prerequisites');
  });
  afterAll(() => {
    awkPath = undefined;
  });

  describe('containerd SystemdCgroup', () => {
    const V2_TABLE = '          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n';
    const V3_TABLE = "          [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n";

    function editTwice(prerequisites: string, file: string) {
      const first = callFunction(prerequisites, ['containerd_systemd_cgroup', file]);
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      const once = readFileSync(file, 'utf8');
      const second = callFunction(prerequisites, ['containerd_systemd_cgroup', file]);
      expect(second.status).toBe(0);
      expect(second.changed, 'a second run changes nothing').toBe(false);
      expect(readFileSync(file, 'utf8')).toBe(once);
      return { first, text: once };
    }

    it('rewrites the key in a containerd 1.7 default config (version 2), and nothing else', (ctx) => {
      need(ctx, 'bash');
      const original = readFileSync(join(FIXTURES, 'containerd-1.7-default.toml'), 'utf8');
      expect(original.match(/SystemdCgroup = false/g)).toHaveLength(1);
      const file = copy('containerd-1.7-default.toml');
      const { first, text } = editTwice(ubuntu, file);
      expect(first.changed).toBe(true);
      expect(text).toBe(original.replace('            SystemdCgroup = false', '            SystemdCgroup = true'));
      expect(text).toContain(`${V2_TABLE}            BinaryName = ""`);
      expect(text).toContain('    systemd_cgroup = false\n');
      expect(statSync(file).mode & 0o777).toBe(0o644);
    });

    it('adds the key under the runc options of a containerd 2.1 default config (version 3), which lacks it', (ctx) => {
      need(ctx, 'bash');
      const original = readFileSync(join(FIXTURES, 'containerd-2.1-default.toml'), 'utf8');
      expect(original).not.toContain('SystemdCgroup');
      const file = copy('containerd-2.1-default.toml');
      const { first, text } = editTwice(rocky, file);
      expect(first.changed).toBe(true);
      expect(text).toBe(original.replace(V3_TABLE, `${V3_TABLE}            SystemdCgroup = true\n`));
    });

    it('appends the table where a config has none, in either quoting style', (ctx) => {
      need(ctx, 'bash');
      const minimal = "version = 3\n\n[plugins]\n  [plugins.'io.containerd.cri.v1.images']\n    snapshotter = 'overlayfs'\n";
      const { text } = editTwice(ubuntu, copy('v3-minimal.toml', minimal));
      expect(text).toBe(`${minimal}\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n`);

      const doubleQuoted = 'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]\n  SystemdCgroup = false # was\n';
      const { text: edited } = editTwice(ubuntu, copy('v3-double-quoted.toml', doubleQuoted));
      expect(edited).toBe('version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n');
    });

    it('touches only the runc options table, not other runtimes', (ctx) => {
      need(ctx, 'bash');
      const original = readFileSync(join(FIXTURES, 'containerd-1.7-default.toml'), 'utf8');
      const kata =
        '\n        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata.options]\n          SystemdCgroup = false\n';
      const withKata = original.replace(V2_TABLE, `${kata}\n${V2_TABLE}`);
      const { text } = editTwice(ubuntu, copy('v2-kata.toml', withKata));
      expect(text).toContain(kata);
      expect(text).toContain(`${V2_TABLE}            BinaryName = ""`);
      expect(text.match(/SystemdCgroup = true/g)).toHaveLength(1);
    });

    it('leaves a config that already says so untouched', (ctx) => {
      need(ctx, 'bash');
      const done = readFileSync(join(FIXTURES, 'containerd-1.7-default.toml'), 'utf8').replace('SystemdCgroup = false', 'SystemdCgroup = true');
      const file = copy('v2-done.toml', done);
      const result = callFunction(ubuntu, ['containerd_systemd_cgroup', file]);
      expect(result.status).toBe(0);
      expect(result.changed).toBe(false);
      expect(readFileSync(file, 'utf8')).toBe(done);
    });

    it('fails loudly on a config format it does not know, instead of doing nothing', (ctx) => {
      need(ctx, 'bash');
      for (const text of ['[plugins.cri]\n  systemd_cgroup = false\n', 'version = 1\n', readFileSync(join(FIXTURES, 'containerd.io-packaged.toml'), 'utf8')]) {
        const file = copy('unknown.toml', text);
        const result = callFunction(ubuntu, ['containerd_systemd_cgroup', file]);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain('only 2 (containerd 1.x) and 3 (containerd 2.x) are handled');
        expect(readFileSync(file, 'utf8')).toBe(text);
      }
    });

    describe("the sandbox image set to kubeadm's pause image", () => {
      // `kubeadm config images list --kubernetes-version v1.33.2`, as kubeadm 1.33 prints it, from a
      // stand-in shell function: no kubeadm can be installed here.
      const IMAGES_LIST = join(FIXTURES, '..', '..', 'fixtures', 'kubeadm-config-images-list.txt');
      const kubeadmStub = `kubeadm() { case "$1 $2" in "version -o") echo v1.33.2 ;; "config images") [[ $* == *--kubernetes-version\\ v1.33.2* ]] && cat '${IMAGES_LIST}' ;; esac; }`;
      let packages: string;
      beforeAll(() => {
        packages = script({ kubernetes: { version: '1.33' } }, 'packages');
      });

      it("finds the pause image in kubeadm's image list for the installed version", (ctx) => {
        need(ctx, 'bash');
        expect(callFunction(packages, ['kubeadm_pause_image'], kubeadmStub).stdout).toBe('registry.k8s.io/pause:3.10\nKV_CHANGED=0\n');
        expect(callFunction(packages, ['kubeadm_pause_image'], 'kubeadm() { return 1; }').stdout).toBe('KV_CHANGED=0\n');
        const refused = callFunction(packages, ['align_sandbox_image'], 'kubeadm() { return 1; }');
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toContain('names no pause image');
      });

      it('rewrites sandbox_image in a containerd 1.7 default config (version 2), and nothing else', (ctx) => {
        need(ctx, 'bash');
        const original = readFileSync(join(FIXTURES, 'containerd-1.7-default.toml'), 'utf8');
        const file = copy('containerd-1.7-default.toml');
        const first = callFunction(packages, ['containerd_sandbox_image', file, 'registry.k8s.io/pause:3.10']);
        expect(first.stderr).toBe('');
        expect(first.changed).toBe(true);
        const text = readFileSync(file, 'utf8');
        expect(text).toBe(original.replace('    sandbox_image = "registry.k8s.io/pause:3.8"', '    sandbox_image = "registry.k8s.io/pause:3.10"'));
        const second = callFunction(packages, ['containerd_sandbox_image', file, 'registry.k8s.io/pause:3.10']);
        expect(second.changed, 'a second run changes nothing').toBe(false);
        expect(readFileSync(file, 'utf8')).toBe(text);
      });

      it('leaves a containerd 2.1 default config (version 3) that already pins the image, in single quotes, as it is', (ctx) => {
        need(ctx, 'bash');
        const original = readFileSync(join(FIXTURES, 'containerd-2.1-default.toml'), 'utf8');
        const file = copy('containerd-2.1-default.toml');
        const same = callFunction(packages, ['containerd_sandbox_image', file, 'registry.k8s.io/pause:3.10']);
        expect(same.status).toBe(0);
        expect(same.changed).toBe(false);
        expect(readFileSync(file, 'utf8')).toBe(original);
        const newer = callFunction(packages, ['containerd_sandbox_image', file, 'registry.k8s.io/pause:3.10.1']);
        expect(newer.changed).toBe(true);
        expect(readFileSync(file, 'utf8')).toBe(original.replace("      sandbox = 'registry.k8s.io/pause:3.10'", '      sandbox = "registry.k8s.io/pause:3.10.1"'));
      });

      it('adds the pinned_images table to a version 3 config that lacks it', (ctx) => {
        need(ctx, 'bash');
        const minimal = "version = 3\n\n[plugins]\n  [plugins.'io.containerd.cri.v1.images']\n    snapshotter = 'overlayfs'\n";
        const file = copy('v3-no-pinned.toml', minimal);
        expect(callFunction(packages, ['containerd_sandbox_image', file, 'registry.k8s.io/pause:3.10']).changed).toBe(true);
        expect(readFileSync(file, 'utf8')).toBe(`${minimal}\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = "registry.k8s.io/pause:3.10"\n`);
      });
    });

    it('regenerates a config that is missing, of an unknown format or has the CRI plugin disabled', (ctx) => {
      need(ctx, 'bash');
      const usable = (file: string) => callFunction(ubuntu, ['containerd_config_usable', file]).status === 0;
      expect(usable(copy('containerd-1.7-default.toml'))).toBe(true);
      expect(usable(copy('containerd-2.1-default.toml'))).toBe(true);
      expect(usable(copy('containerd.io-packaged.toml'))).toBe(false);
      expect(usable(copy('v1.toml', 'root = "/var/lib/containerd"\n'))).toBe(false);
      expect(usable(join(dir, 'no-such-config.toml'))).toBe(false);
      expect(usable(copy('v2-cri-disabled.toml', 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'))).toBe(false);
    });
  });

  it('comments out the swap entries of an fstab once', (ctx) => {
    need(ctx, 'bash');
    const file = copy('fstab');
    const first = callFunction(ubuntu, ['fstab_disable_swap', file]);
    expect(first.status).toBe(0);
    expect(first.changed).toBe(true);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines).toContain('#/swap.img\tnone\tswap\tsw\t0\t0');
    expect(lines).toContain('#UUID=5b1e2a4c-7f3d-4c2e-9a51-0d3f6b7e8a90 none            swap    sw              0       0');
    expect(lines).toContain('#/dev/sdb2 none swap sw 0 0');
    expect(lines).toContain('tmpfs /tmp tmpfs defaults,noswap 0 0');
    expect(lines).toContain('/dev/disk/by-id/dm-uuid-LVM-abc / ext4 defaults 0 1');
    expect(lines.filter((l) => /^\s*[^#\s]/.test(l) && l.split(/\s+/)[2] === 'swap')).toEqual([]);
    const once = readFileSync(file, 'utf8');
    const second = callFunction(ubuntu, ['fstab_disable_swap', file]);
    expect(second.changed).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(once);
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });

  it("strips Vagrant's insecure keys from an authorized_keys, and only them", (ctx) => {
    need(ctx, 'bash');
    const sshKey = script({}, 'ssh-key');
    const insecure = readFileSync(sshKey, 'utf8');
    const rsa = /INSECURE_RSA='([^']+)'/.exec(insecure)![1]!;
    const ed = /INSECURE_ED25519='([^']+)'/.exec(insecure)![1]!;
    const other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKey1 admin@example';
    const file = copy('authorized_keys', `# keys\nssh-rsa ${rsa} vagrant insecure public key\n${other}\nssh-ed25519 ${ed} vagrant insecure public key\n`);
    chmodSync(file, 0o600);
    const first = callFunction(sshKey, ['strip_insecure_keys', file]);
    expect(first.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(`# keys\n${other}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(callFunction(sshKey, ['strip_insecure_keys', file]).changed).toBe(false);
  });

  it("finds every machine's planned address by machine name or hostname", (ctx) => {
    need(ctx, 'bash');
    const plan = casePlan('virtualbox-custom-network-box-version');
    const file = join(dir, 'packages-custom.sh');
    writeFileSync(file, content(renderAll(plan), 'provision/packages.sh'));
    for (const n of plan.nodes) {
      for (const key of [n.name, n.hostname]) expect(callFunction(file, ['kv_planned_ip', key]).stdout).toBe(`${n.ip}\nKV_CHANGED=0\n`);
    }
    expect(callFunction(file, ['kv_planned_ip', 'worker-9']).status).not.toBe(0);
  });

  it('takes the installed Kubernetes binaries at the planned patch and refuses others', (ctx) => {
    need(ctx, 'bash');
    const stubs = (kubeadm: string, kubelet: string, kubectl: string) =>
      `kubeadm() { echo ${kubeadm}; }; kubelet() { echo "Kubernetes ${kubelet}"; }; kubectl() { printf 'Client Version: %s\\nKustomize Version: v5.6.0\\n' ${kubectl}; }`;
    // A minor is its newest known patch (the cache's): 1.33.13.
    const minor = script({ kubernetes: { version: '1.33' } }, 'packages');
    const patch = script({ kubernetes: { version: '1.33.2' }, distro: 'rocky-9' }, 'packages');
    expect(callFunction(minor, ['installed_ok'], stubs('v1.33.13', 'v1.33.13', 'v1.33.13')).status).toBe(0);
    expect(callFunction(minor, ['installed_ok'], stubs('v1.33.5', 'v1.33.5', 'v1.33.5')).status).not.toBe(0);
    expect(callFunction(minor, ['installed_ok'], stubs('v1.33.13', 'v1.32.9', 'v1.33.13')).status).not.toBe(0);
    expect(callFunction(minor, ['installed_ok'], 'kubeadm() { return 127; }').status).not.toBe(0);
    expect(callFunction(patch, ['installed_ok'], stubs('v1.33.2', 'v1.33.2', 'v1.33.2')).status).toBe(0);
    expect(callFunction(patch, ['installed_ok'], stubs('v1.33.2', 'v1.33.2', 'v1.33.3')).status).not.toBe(0);
  });

  it('runs kubeadm init only with the installed kubeadm at the planned patch', (ctx) => {
    need(ctx, 'bash');
    const patch = script({ kubernetes: { version: '1.31.2' } }, 'control-plane');
    expect(callFunction(patch, ['check_kubeadm_version'], 'kubeadm() { echo v1.31.2; }').status).toBe(0);
    const other = callFunction(patch, ['check_kubeadm_version'], 'kubeadm() { echo v1.31.7; }');
    expect(other.status).not.toBe(0);
    expect(other.stderr).toContain('kubeadm is v1.31.7, the cluster is planned for 1.31.2');
    expect(callFunction(patch, ['check_kubeadm_version'], 'kubeadm() { return 127; }').stderr).toContain('kubeadm is not installed');
  });

  it("sets flannel's network to the pod subnet and picks its interface by the node network", (ctx) => {
    need(ctx, 'bash');
    const plan = casePlan('virtualbox-custom-network-box-version');
    const controlPlane = join(dir, 'control-plane-flannel.sh');
    writeFileSync(controlPlane, content(renderAll(plan), 'provision/control-plane.sh'));
    const out = join(dir, 'kube-flannel.out.yml');
    // The plugin on a node answers which CNI versions it supports: a test below covers that.
    const noPlugin = 'cni_version_for_plugin() { cat; }';
    const first = callFunction(controlPlane, ['flannel_manifest', join(FIXTURES, 'kube-flannel.yml'), out], noPlugin);
    expect(first.stderr).toBe('');
    expect(first.changed).toBe(true);
    expect(first.leftovers).toEqual([]);
    const manifest = parseAllDocuments(readFileSync(out, 'utf8')).map((d) => d.toJS() as Record<string, any>);
    const config = manifest.find((d) => d.kind === 'ConfigMap')!;
    expect(JSON.parse(config.data['net-conf.json'])).toEqual({ Network: plan.kubernetes.podSubnet, EnableNFTables: false, Backend: { Type: 'vxlan' } });
    const daemonSet = manifest.find((d) => d.kind === 'DaemonSet')!;
    const args: string[] = daemonSet.spec.template.spec.containers[0].args;
    // upstream's arguments, with ours right after --kube-subnet-mgr
    expect(args.filter((a) => !a.startsWith('--iface-regex='))).toEqual(['--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081']);
    expect(args.indexOf('--kube-subnet-mgr') + 1).toBe(args.findIndex((a) => a.startsWith('--iface-regex=')));
    const regex = new RegExp(args[2]!.replace(/^--iface-regex=/, ''));
    for (const n of plan.nodes) expect(regex.test(n.ip), n.ip).toBe(true);
    for (const other of ['10.0.2.15', '192.168.121.5', '10.200.0.1', '192.168.570.1']) expect(regex.test(other), other).toBe(false);
    const once = readFileSync(out, 'utf8');
    expect(callFunction(controlPlane, ['flannel_manifest', join(FIXTURES, 'kube-flannel.yml'), out], noPlugin).changed).toBe(false);
    expect(readFileSync(out, 'utf8')).toBe(once);

    const changedLayout = copy('kube-flannel-changed.yml', readFileSync(join(FIXTURES, 'kube-flannel.yml'), 'utf8').replace('- --kube-subnet-mgr', '- "--kube-subnet-mgr"'));
    const refused = callFunction(controlPlane, ['flannel_manifest', changedLayout, join(dir, 'refused.yml')], noPlugin);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("could not add --iface-regex");
    // a refused edit leaves no temporary file behind (and no file where the manifest goes)
    expect(refused.leftovers).toEqual([]);
    expect(existsSync(join(dir, 'refused.yml'))).toBe(false);
  });

  it("drops flannel's install-cni-plugin init container (its plugin comes from the artifacts) and nothing else", (ctx) => {
    need(ctx, 'bash');
    const plan = casePlan('libvirt-qemu-debian-12-flannel');
    const controlPlane = join(dir, 'control-plane-flannel-offline.sh');
    writeFileSync(controlPlane, content(renderAll(plan), 'provision/control-plane.sh'));
    const out = join(dir, 'kube-flannel.offline.yml');
    // The plugin on a node answers which CNI versions it supports: the next test covers that.
    const r = callFunction(controlPlane, ['flannel_manifest', join(FIXTURES, 'kube-flannel.yml'), out], 'cni_version_for_plugin() { cat; }');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const manifest = parseAllDocuments(readFileSync(out, 'utf8')).map((d) => d.toJS() as Record<string, any>);
    const upstream = parseAllDocuments(readFileSync(join(FIXTURES, 'kube-flannel.yml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
    const spec = (docs: Record<string, any>[]) => docs.find((d) => d.kind === 'DaemonSet')!.spec.template.spec;
    expect(spec(upstream).initContainers.map((c: { name: string }) => c.name)).toEqual(['install-cni-plugin', 'install-cni']);
    expect(spec(manifest).initContainers).toEqual(spec(upstream).initContainers.slice(1));
    expect(spec(manifest).containers[0].image).toBe('ghcr.io/flannel-io/flannel:v0.28.10');
    // Under emulation (slowdown 5) flanneld checks its iptables rules every 25 s instead of 5 s.
    expect(plan.slowdown).toBe(5);
    expect(spec(manifest).containers[0].args.filter((a: string) => !a.startsWith('--iface-regex='))).toEqual(['--ip-masq', '--kube-subnet-mgr', '--iptables-resync=25', '--healthz-port=8081']);
    expect(readFileSync(out, 'utf8')).not.toContain('flannel-cni-plugin');
    expect(manifest.map((d) => d.kind)).toEqual(upstream.map((d) => d.kind));

    // refused inside the filter (a command substitution): the script stops there, and leaves nothing
    const renamed = copy('kube-flannel-renamed.yml', readFileSync(join(FIXTURES, 'kube-flannel.yml'), 'utf8').replace(/- name: install-cni$/m, '- name: install-cni-config'));
    const refused = callFunction(controlPlane, ['flannel_manifest', renamed, join(dir, 'refused-offline.yml')], 'cni_version_for_plugin() { cat; }');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("removing install-cni-plugin took flannel's install-cni init container with it");
    expect(refused.leftovers).toEqual([]);
    expect(existsSync(join(dir, 'refused-offline.yml'))).toBe(false);
  });

  it("lowers the CNI config's cniVersion to what the installed flannel plugin supports, and only then", (ctx) => {
    need(ctx, 'bash');
    const controlPlane = join(dir, 'control-plane-flannel-offline-cni.sh');
    writeFileSync(controlPlane, content(renderAll(casePlan('libvirt-qemu-debian-12-flannel')), 'provision/control-plane.sh'));
    // Stand-ins for the plugin binary, answering CNI_COMMAND=VERSION with the output of the real
    // plugins: containernetworking/plugins v0.9.1's flannel (spec 0.4.0 at most) and a 1.x one.
    const plugin = (name: string, versions: string[]) =>
      copy(name, `#!/bin/sh\n[ "$CNI_COMMAND" = VERSION ] && echo '{"cniVersion":"${versions.at(-1)}","supportedVersions":${JSON.stringify(versions)}}'\n`);
    const old = plugin('flannel-0.9.1', ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0']);
    const current = plugin('flannel-1.9.1', ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    chmodSync(old, 0o755);
    chmodSync(current, 0o755);
    // a filter: the manifest in, the manifest out
    const upstream = readFileSync(join(FIXTURES, 'kube-flannel.yml'), 'utf8');
    expect(upstream).toContain('"cniVersion": "1.0.0"');
    const kept = callFunction(controlPlane, ['cni_version_for_plugin', current], '', upstream);
    expect(kept.status, kept.stderr).toBe(0);
    expect(kept.output).toBe(upstream);
    expect(kept.stderr).toBe('');
    const lowered = callFunction(controlPlane, ['cni_version_for_plugin', old], '', upstream);
    expect(lowered.status, lowered.stderr).toBe(0);
    expect(lowered.stderr).toContain('the flannel CNI plugin supports CNI 0.4.0 at most');
    const doc = parseAllDocuments(lowered.output).map((d) => d.toJS() as Record<string, any>).find((d) => d.kind === 'ConfigMap')!;
    expect(JSON.parse(doc.data['cni-conf.json']).cniVersion).toBe('0.4.0');
    expect(lowered.output).toBe(upstream.replace('"cniVersion": "1.0.0"', '"cniVersion": "0.4.0"'));
    const absent = callFunction(controlPlane, ['cni_version_for_plugin', join(dir, 'no-such-plugin')], '', upstream);
    expect(absent.status).not.toBe(0);
    expect(absent.stderr).toContain('does not answer CNI_COMMAND=VERSION');
    const unnamed = callFunction(controlPlane, ['cni_version_for_plugin', current], '', upstream.replaceAll('"cniVersion"', '"version"'));
    expect(unnamed.status).not.toBe(0);
    expect(unnamed.stderr).toContain("flannel's manifest names no cniVersion");
  });

  it('checks the artifacts\' checksums in the guest and stops naming the file that does not match', (ctx) => {
    need(ctx, 'bash');
    const artifacts = join(dir, 'uploaded');
    mkdirSync(join(artifacts, 'bin'), { recursive: true });
    writeFileSync(join(artifacts, 'bin', 'kubeadm'), 'kubeadm bytes\n');
    writeFileSync(join(artifacts, 'bin', 'kubelet'), 'kubelet bytes\n');
    execFileSync('sh', ['-c', 'sha256sum ./bin/kubeadm ./bin/kubelet > SHA256SUMS'], { cwd: artifacts });
    const sums = readFileSync(join(artifacts, 'SHA256SUMS'));
    const plan = testPlan({ provider: 'libvirt' }, { offline: { ...testOffline(), sumsHash: createHash('sha256').update(sums).digest('hex') } });
    const script = join(dir, 'artifacts.sh');
    writeFileSync(script, content(renderAll(plan), 'provision/artifacts.sh'));
    expect(callFunction(script, ['verify_checksums', artifacts]).status).toBe(0);
    writeFileSync(join(artifacts, 'bin', 'kubelet'), 'changed on the way\n');
    const bad = callFunction(script, ['verify_checksums', artifacts]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/ERROR: checksum mismatch in the artifacts: \.\/bin\/kubelet: FAILED/);
    expect(bad.stderr).not.toContain('bin/kubeadm');
    writeFileSync(join(artifacts, 'SHA256SUMS'), Buffer.concat([sums, Buffer.from('# another set\n')]));
    expect(callFunction(script, ['verify_checksums', artifacts]).stderr).toMatch(/SHA256SUMS is not the planned one/);
  });

  it('a worker imports every image archive but the control plane\'s and needs kubeadm\'s other images only; the control plane needs them all', (ctx) => {
    need(ctx, 'bash');
    const artifacts = join(dir, 'images-artifacts');
    mkdirSync(join(artifacts, 'images'), { recursive: true });
    const archives = ['coredns.tar', 'etcd.tar', 'flannel.tar', 'kube-apiserver.tar', 'kube-controller-manager.tar', 'kube-proxy.tar', 'kube-scheduler.tar', 'pause.tar'];
    for (const a of archives) writeFileSync(join(artifacts, 'images', a), a);
    writeFileSync(join(artifacts, 'SHA256SUMS'), '');
    const script = join(dir, 'packages-offline.sh');
    const imported = join(dir, 'ctr-imported');
    writeFileSync(
      script,
      content(renderAll(testPlan({ provider: 'libvirt' })), 'provision/packages.sh')
        .replace(/^readonly ARTIFACTS_DIR=.*$/m, `readonly ARTIFACTS_DIR=${artifacts}`)
        .replace(/^readonly IMPORTED=.*$/m, `readonly IMPORTED=${join(dir, 'imported-sums')}`),
    );
    const named = kubeadmImages('1.37.2')!;
    // The artifacts' kubeadm names the images of its own version.
    mkdirSync(join(artifacts, 'bin'), { recursive: true });
    writeFileSync(join(artifacts, 'bin', 'kubeadm'), `#!/bin/sh\ncase $1 in version) echo v1.37.2 ;; config) printf '%s\\n' ${named.join(' ')} ;; esac\n`, { mode: 0o755 });
    // containerd holds what a worker needs (what was imported is recorded, not interpreted).
    const held = named.filter((i) => !isControlPlaneImage(i));
    const fakes = [
      'log() { :; }',
      `ctr() { case "$*" in *" images import "*) basename "\${*: -1}" >>${imported} ;; *" images ls "*) printf '%s\\n' ${held.join(' ')} ;; esac; }`,
    ].join('\n');
    const as = (node: string) => {
      rmSync(imported, { force: true });
      const r = callFunction(script, ['import_images', artifacts], `${fakes}\nKUBEADM_VAGRANT_NODE=${node}`);
      return { ...r, imported: existsSync(imported) ? readFileSync(imported, 'utf8').trim().split('\n') : [] };
    };
    const worker = as('worker-1');
    expect(worker.stderr).toBe('');
    expect(worker.status).toBe(0);
    expect(worker.imported).toEqual(['coredns.tar', 'flannel.tar', 'kube-proxy.tar', 'pause.tar']);
    const master = as('master');
    expect(master.imported).toEqual(archives);
    expect(master.status).not.toBe(0);
    expect(master.stderr).toContain('the artifacts lack images kubeadm needs: registry.k8s.io/etcd:3.7.0-0 registry.k8s.io/kube-apiserver:v1.37.2');
    expect(as('nobody').stderr).toContain("machine 'nobody' is not in the cluster plan");
  });

  it('writes a Calico installation with the pod subnet and the control plane as the address to reach', (ctx) => {
    need(ctx, 'bash');
    const plan = testPlan({ kubernetes: { cni: 'calico', podSubnet: '10.32.0.0/16' } });
    const controlPlane = join(dir, 'control-plane-calico.sh');
    writeFileSync(controlPlane, content(renderAll(plan), 'provision/control-plane.sh'));
    const stubs = 'get_manifest() { :; }; kubectl() { :; }; log() { :; }; write_file() { cat; }';
    const result = callFunction(controlPlane, ['install_cni'], stubs);
    expect(result.status).toBe(0);
    const [installation] = parseAllDocuments(result.stdout.replace(/KV_CHANGED=.*\n$/, '')).map((d) => d.toJS());
    expect(installation).toEqual({
      apiVersion: 'operator.tigera.io/v1',
      kind: 'Installation',
      metadata: { name: 'default' },
      spec: {
        calicoNetwork: {
          ipPools: [{ name: 'default-ipv4-ippool', blockSize: 26, cidr: '10.32.0.0/16', encapsulation: 'VXLANCrossSubnet', natOutgoing: 'Enabled', nodeSelector: 'all()' }],
          nodeAddressAutodetectionV4: { canReach: plan.controlPlane.ip },
        },
      },
    });
  });

  it('writes a file only when its content differs, with the mode asked for', (ctx) => {
    need(ctx, 'bash');
    const file = join(dir, 'written.conf');
    const write = () => callFunction(ubuntu, ['true'], `write_file ${file} 0640 <<<'a = 1'; echo "first=\${KV_CHANGED}"`);
    expect(write().stdout).toContain('first=1');
    expect(readFileSync(file, 'utf8')).toBe('a = 1\n');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    chmodSync(file, 0o666);
    expect(write().stdout).toContain('first=0');
    expect(statSync(file).mode & 0o777).toBe(0o640);
  });
});
