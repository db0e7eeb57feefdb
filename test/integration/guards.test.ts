import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GUEST } from '../../src/layout.js';
import { renderAll } from '../../src/render/render.js';
import { testPlan } from '../helpers/plans.js';
import { textOf } from '../helpers/rendered.js';
import { needTool } from '../helpers/tools.js';

/**
 * The guards that keep `up` from resetting a healthy node: the control-plane and worker scripts'
 * checks for an existing admin.conf / kubelet.conf (and for an init or join that stopped half-way).
 * The rendered scripts run with bash on a fake root (every guest path of GUEST under /etc/kubernetes
 * and /home/vagrant moved under a temporary directory), with stand-ins for kubeadm, kubectl, curl
 * and journalctl first on PATH that record how they were called.
 */
const work = mkdtempSync(join(tmpdir(), 'kv-guards-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let count = 0;

const STUBS = ['kubeadm', 'kubectl', 'curl', 'journalctl', 'systemctl'];

interface Machine {
  root: string;
  /** The calls the stand-ins recorded, one line each: `kubeadm join --config ...`. */
  calls: () => string[];
  /** Runs `FUNCTION ARGS...` of the script, sourced (its main does not run). */
  call: (fn: string[]) => { status: number | null; stdout: string; stderr: string };
  at: (guestPath: string) => string;
}

/** A fake machine for a script: its root, the script rewritten to live there, the stand-ins. */
function machine(script: string): Machine {
  const root = join(work, `root-${count++}`);
  const bin = join(root, 'stubs');
  mkdirSync(bin, { recursive: true });
  const log = join(root, 'calls.log');
  for (const name of STUBS) writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\nexit 0\n`, { mode: 0o755 });
  const moved = script.replaceAll(GUEST.kubernetesDir, `${root}${GUEST.kubernetesDir}`).replaceAll('/home/vagrant', `${root}/home/vagrant`);
  const file = join(root, 'script.sh');
  writeFileSync(file, moved, { mode: 0o755 });
  const at = (guestPath: string) => join(root, guestPath);
  return {
    root,
    at,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []),
    call: (fn) => {
      const r = spawnSync('bash', ['-c', 'source "$1"; shift; "$@"', 'driver', file, ...fn], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** Puts a file on the fake machine. */
function put(m: Machine, guestPath: string, content = 'x\n'): void {
  mkdirSync(join(m.at(guestPath), '..'), { recursive: true });
  writeFileSync(m.at(guestPath), content);
}

const plan = testPlan({ workers: { count: 1 } });
const files = Object.fromEntries(renderAll(plan).map((f) => [f.path, f]));

describe('the control plane is never initialised twice', () => {
  const script = textOf(files['provision/control-plane.sh']!);

  it('with admin.conf: kubeadm init does not run; it waits for the API server and says so', (ctx) => {
    needTool(ctx, 'bash');
    const m = machine(script);
    put(m, GUEST.adminKubeconfig);
    const r = m.call(['kubeadm_init']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('the API server answers: kubeadm init is not run again');
    expect(m.calls().filter((c) => c.startsWith('kubeadm'))).toEqual([]);
    expect(m.calls()).toEqual([`kubectl --kubeconfig ${m.at(GUEST.adminKubeconfig)} --request-timeout=10s get --raw=/readyz`]);
  });

  it('manifests but no admin.conf (an init that stopped half-way): it stops, touching nothing', (ctx) => {
    needTool(ctx, 'bash');
    const m = machine(script);
    put(m, `${GUEST.staticPodsDir}/kube-apiserver.yaml`);
    put(m, `${GUEST.uploadDir}/ca.crt`);
    put(m, `${GUEST.uploadDir}/ca.key`);
    const r = m.call(['kubeadm_init']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/an earlier kubeadm init stopped half-way .* kubeadm-vagrant never resets a node/);
    expect(m.calls()).toEqual([]);
    expect(existsSync(m.at(GUEST.caCert))).toBe(false);
  });

  it('a fresh machine: the CA is installed, then kubeadm init runs once with the cluster config', (ctx) => {
    needTool(ctx, 'bash');
    const m = machine(script);
    put(m, `${GUEST.uploadDir}/ca.crt`, 'the cluster CA\n');
    put(m, `${GUEST.uploadDir}/ca.key`, 'its key\n');
    const r = m.call(['kubeadm_init']);
    expect(r.status, r.stderr).toBe(0);
    expect(m.calls()).toEqual([`kubeadm init --config ${m.at(GUEST.configDir)}/init.yaml --skip-token-print`]);
    expect(readFileSync(m.at(GUEST.caCert), 'utf8')).toBe('the cluster CA\n');
  });
});

describe('a worker never joins twice', () => {
  const script = textOf(files['provision/worker.sh']!);

  it('with kubelet.conf: kubeadm join does not run, the join config is not even installed', (ctx) => {
    needTool(ctx, 'bash');
    const m = machine(script);
    put(m, GUEST.kubeletKubeconfig);
    put(m, `${GUEST.uploadDir}/join.yaml`);
    const r = m.call(['kubeadm_join', plan.workers[0]!.ip]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('this node has joined the cluster already: kubeadm join is not run again');
    expect(m.calls()).toEqual([]);
    expect(existsSync(`${m.at(GUEST.configDir)}/join.yaml`)).toBe(false);
  });

  it('pki/ca.crt but no kubelet.conf (a join that stopped half-way): it stops, touching nothing', (ctx) => {
    needTool(ctx, 'bash');
    const m = machine(script);
    put(m, GUEST.caCert);
    put(m, `${GUEST.uploadDir}/join.yaml`);
    const r = m.call(['kubeadm_join', plan.workers[0]!.ip]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/an earlier kubeadm join stopped half-way .* kubeadm-vagrant never resets a node/);
    expect(m.calls()).toEqual([]);
  });

  it('a fresh worker: the join config is installed, the API server asked, then kubeadm join runs once', (ctx) => {
    needTool(ctx, 'bash');
    const m = machine(script);
    put(m, `${GUEST.uploadDir}/join.yaml`, 'kind: JoinConfiguration\n');
    const r = m.call(['kubeadm_join', plan.workers[0]!.ip]);
    expect(r.status, r.stderr).toBe(0);
    expect(m.calls()).toEqual([`curl -ksf --max-time 5 -o /dev/null https://${plan.controlPlane.ip}:6443/readyz`, `kubeadm join --config ${m.at(GUEST.configDir)}/join.yaml`]);
    expect(readFileSync(`${m.at(GUEST.configDir)}/join.yaml`, 'utf8')).toBe('kind: JoinConfiguration\n');
  });
});
