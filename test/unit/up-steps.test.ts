import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CNIS } from '../../src/cni/index.js';
import { UsageError } from '../../src/errors.js';
import { checkIdsAfter, PHASES, phaseDef, phaseNodes, planPhases, provisionerNames, provisionersOf, reachedPhase, verificationAfter, type PhaseId } from '../../src/phases.js';
import type { NodePlan } from '../../src/plan/plan.js';
import { normalizeState, type ClusterState } from '../../src/state.js';
import { describeStep, pendingNodes, upSteps as upStepsOf, type UpStep, type UpStepOptions } from '../../src/steps/up-steps.js';
import { clusterChecks, parseNodeList, parsePodList } from '../../src/verify/kube.js';
import { testBakeRecord, testOffline, testPlan } from '../helpers/plans.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');
const names = (nodes: readonly NodePlan[]) => nodes.map((n) => n.name);
/** upSteps on a state written as state.json has it (one phase per machine, as before the lists, or the lists). */
const upSteps = (plan: Parameters<typeof upStepsOf>[0], state: object, opts: UpStepOptions) => upStepsOf(plan, normalizeState(state), opts);

/** A step as a short line: `vagrant packages worker-2`, `verify packages worker-2`, `join-token`, `kubeconfig`. */
function summary(step: UpStep): string {
  switch (step.kind) {
    case 'vagrant':
      return `vagrant ${step.phase} ${names(step.nodes).join(',')}`;
    case 'verify':
      return `verify ${step.phase} ${names(step.nodes).join(',')}`;
    case 'join-token':
      return 'join-token';
    case 'kubeconfig':
      return 'kubeconfig';
    case 'control-plane-check':
      return 'control-plane-check';
    case 'seeds':
      return `seeds ${names(step.nodes).join(',')}`;
    case 'box':
      return 'box';
  }
}

describe('the phase table', () => {
  const plan = testPlan({ provider: 'libvirt' });

  it('has the phases in this order, each with its script; every plan has every phase (its artifacts too)', () => {
    expect(PHASES.map((p) => [p.id, p.script ?? '-'])).toEqual([
      ['machines', 'ssh-key'],
      ['artifacts', 'artifacts'],
      ['prerequisites', 'prerequisites'],
      ['packages', 'packages'],
      ['control-plane', 'control-plane'],
      ['workers', 'worker'],
      ['verified', '-'],
    ]);
    expect(planPhases(plan).map((p) => p.id)).toEqual(['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers', 'verified']);
    expect(planPhases(testPlan({ runtime: { containerd: 'distro' } }, { offline: testOffline('1.37.2', false) })).map((p) => p.id)).toEqual(PHASES.map((p) => p.id));
  });

  it('proves each phase with its own checks, and every earlier phase\'s again', () => {
    const w = plan.workers[0]!;
    const ids = (phase: PhaseId, p = plan) => verificationAfter(phase, p).specs(w).map((c) => c.id);
    expect(ids('machines')).toEqual(['hostname', 'private-ip']);
    expect(ids('artifacts')).toEqual(['hostname', 'private-ip', 'artifacts-verified']);
    expect(ids('prerequisites')).toEqual(['hostname', 'private-ip', 'artifacts-verified', 'swap-off', 'kernel-modules', 'sysctl', 'containerd-active', 'containerd-cri', 'peers-reachable']);
    expect(ids('packages').slice(-3)).toEqual(['kube-tools', 'sandbox-image', 'images-imported']);
    expect(verificationAfter('packages', plan).clusterView).toBe(false);
    expect(verificationAfter('control-plane', plan).clusterView).toBe(true);
    expect(ids('verified')).toEqual(ids('packages'));
  });

  it('runs each phase on its machines, with its uploads first', () => {
    expect(names(phaseNodes(plan, phaseDef('control-plane')))).toEqual(['master']);
    expect(names(phaseNodes(plan, phaseDef('workers')))).toEqual(['worker-1', 'worker-2']);
    expect(names(phaseNodes(plan, phaseDef('prerequisites')))).toEqual(['master', 'worker-1', 'worker-2']);
    expect(provisionerNames(phaseDef('control-plane'))).toEqual(['control-plane-files', 'control-plane-ca-cert', 'control-plane-ca-key', 'control-plane']);
    expect(provisionerNames(phaseDef('workers'))).toEqual(['worker-files', 'worker']);
    expect(provisionerNames(phaseDef('verified'))).toEqual([]);
  });

  it("gives each machine its provisioners in phase order, uploads before the script that reads them", () => {
    expect(provisionersOf(plan.controlPlane, plan).map((p) => p.name)).toEqual([
      'ssh-key', 'artifacts-files', 'artifacts', 'prerequisites', 'packages', 'control-plane-files', 'control-plane-ca-cert', 'control-plane-ca-key', 'control-plane',
    ]);
    expect(provisionersOf(plan.workers[1]!, plan)).toEqual([
      { name: 'ssh-key', type: 'shell', path: 'provision/ssh-key.sh' },
      { name: 'artifacts-files', type: 'file', source: plan.offline.dir, destination: '/home/vagrant/.kubeadm-vagrant/artifacts' },
      { name: 'artifacts', type: 'shell', path: 'provision/artifacts.sh' },
      { name: 'prerequisites', type: 'shell', path: 'provision/prerequisites.sh' },
      { name: 'packages', type: 'shell', path: 'provision/packages.sh' },
      { name: 'worker-files', type: 'file', source: '.kubeadm-vagrant/kubeadm/join-worker-2.yaml', destination: '/home/vagrant/.kubeadm-vagrant/join.yaml' },
      { name: 'worker', type: 'shell', path: 'provision/worker.sh' },
    ]);
  });

  it('says which phase\'s checks verify runs: the last the control plane passed, at least prerequisites', () => {
    expect(reachedPhase([])).toBe('prerequisites');
    expect(reachedPhase(['machines'])).toBe('prerequisites');
    expect(reachedPhase(['machines', 'artifacts'])).toBe('prerequisites');
    expect(reachedPhase(['machines', 'prerequisites', 'packages'])).toBe('packages');
    expect(reachedPhase(['machines', 'prerequisites', 'packages', 'control-plane'])).toBe('control-plane');
    expect(reachedPhase(['packages', 'verified', 'machines'])).toBe('verified');
  });
});

describe('resuming: which machines still need a phase', () => {
  const plan = testPlan({});
  const nodePhases: ClusterState = normalizeState({ nodePhases: { master: 'control-plane', 'worker-1': 'packages', 'worker-2': 'prerequisites' } });

  it('only the machines that have not passed it', () => {
    expect(names(pendingNodes(phaseDef('prerequisites'), plan.nodes, nodePhases))).toEqual([]);
    expect(names(pendingNodes(phaseDef('packages'), plan.nodes, nodePhases))).toEqual(['worker-2']);
    expect(names(pendingNodes(phaseDef('workers'), plan.workers, nodePhases))).toEqual(['worker-1', 'worker-2']);
    expect(names(pendingNodes(phaseDef('packages'), plan.nodes, {}))).toEqual(['master', 'worker-1', 'worker-2']);
  });

  it('machines and verified run on every machine, passed or not', () => {
    expect(names(pendingNodes(phaseDef('machines'), plan.nodes, nodePhases))).toEqual(['master', 'worker-1', 'worker-2']);
    expect(names(pendingNodes(phaseDef('verified'), plan.nodes, normalizeState({ nodePhases: { master: 'verified', 'worker-1': 'verified', 'worker-2': 'verified' } })))).toEqual(['master', 'worker-1', 'worker-2']);
  });
});

describe('up as a list of steps', () => {
  const plan = testPlan({ provider: 'libvirt' });

  it('a new cluster: every phase on every machine, then the kubeconfig', () => {
    expect(upSteps(plan, {}, { until: 'verified' }).map(summary)).toEqual([
      'seeds master,worker-1,worker-2',
      'vagrant machines master,worker-1,worker-2',
      'verify machines master,worker-1,worker-2',
      'vagrant artifacts master,worker-1,worker-2',
      'verify artifacts master,worker-1,worker-2',
      'vagrant prerequisites master,worker-1,worker-2',
      'verify prerequisites master,worker-1,worker-2',
      'vagrant packages master,worker-1,worker-2',
      'verify packages master,worker-1,worker-2',
      'vagrant control-plane master',
      'verify control-plane master',
      'join-token',
      'vagrant workers worker-1,worker-2',
      'verify workers worker-1,worker-2',
      'verify verified master,worker-1,worker-2',
      'kubeconfig',
    ]);
  });

  it('runs vagrant with the phase provisioners, all machines at once where the provider can', () => {
    const steps = upSteps(plan, {}, { until: 'workers' });
    // Groups one after the other, the commands of a group at once: `up` boots, `provision` runs each
    // provisioner once (vagrant-libvirt's `up` runs them twice on a running machine).
    const groups = (all: UpStep[]) => all.filter((s) => s.kind === 'vagrant').map((s) => s.kind === 'vagrant' && s.commands.map((g) => g.map((c) => c.args.join(' '))));
    expect(groups(steps)).toEqual([
      [['up --provider=libvirt --parallel --no-provision'], ['provision master --provision-with=ssh-key', 'provision worker-1 --provision-with=ssh-key', 'provision worker-2 --provision-with=ssh-key']],
      [['provision master --provision-with=artifacts-files,artifacts', 'provision worker-1 --provision-with=artifacts-files,artifacts', 'provision worker-2 --provision-with=artifacts-files,artifacts']],
      [['provision master --provision-with=prerequisites', 'provision worker-1 --provision-with=prerequisites', 'provision worker-2 --provision-with=prerequisites']],
      [['provision master --provision-with=packages', 'provision worker-1 --provision-with=packages', 'provision worker-2 --provision-with=packages']],
      [['provision master --provision-with=control-plane-files,control-plane-ca-cert,control-plane-ca-key,control-plane']],
      [['provision worker-1 --provision-with=worker-files,worker', 'provision worker-2 --provision-with=worker-files,worker']],
    ]);
    // VirtualBox starts and provisions one machine at a time.
    expect(groups(upSteps(testPlan({}), {}, { until: 'machines' }))).toEqual([
      [['up --provider=virtualbox --no-parallel --no-provision'], ['provision master --provision-with=ssh-key'], ['provision worker-1 --provision-with=ssh-key'], ['provision worker-2 --provision-with=ssh-key']],
    ]);
    // Only some machines: `up` names them.
    const add = upSteps(testPlan({ provider: 'libvirt', workers: { count: 3 } }), { nodePhases: { master: 'verified', 'worker-1': 'verified', 'worker-2': 'verified' } }, { until: 'machines', only: ['worker-3'] });
    expect(groups(add)).toEqual([[['up --provider=libvirt --parallel --no-provision worker-3'], ['provision worker-3 --provision-with=ssh-key']]]);
  });

  it('resumes where it stopped: a second run after a failure in packages on worker-2', () => {
    const state = { phase: 'prerequisites', nodePhases: { master: 'packages', 'worker-1': 'packages', 'worker-2': 'prerequisites' } };
    expect(upSteps(plan, state, { until: 'control-plane' }).map(summary)).toEqual([
      'seeds master,worker-1,worker-2',
      'vagrant machines master,worker-1,worker-2',
      'verify machines master,worker-1,worker-2',
      'vagrant packages worker-2',
      'verify packages worker-2',
      'vagrant control-plane master',
      'verify control-plane master',
      'kubeconfig',
    ]);
  });

  it('a cluster that is up runs nothing but starting machines and the checks', () => {
    const done = { phase: 'verified', nodePhases: { master: 'verified', 'worker-1': 'verified', 'worker-2': 'verified' } };
    expect(upSteps(plan, done, { until: 'verified' }).map(summary)).toEqual([
      'seeds master,worker-1,worker-2',
      'vagrant machines master,worker-1,worker-2',
      'verify machines master,worker-1,worker-2',
      'verify verified master,worker-1,worker-2',
      'kubeconfig',
    ]);
  });

  it('stops at --until', () => {
    expect(upSteps(plan, {}, { until: 'prerequisites' }).map(summary)).toEqual([
      'seeds master,worker-1,worker-2',
      'vagrant machines master,worker-1,worker-2',
      'verify machines master,worker-1,worker-2',
      'vagrant artifacts master,worker-1,worker-2',
      'verify artifacts master,worker-1,worker-2',
      'vagrant prerequisites master,worker-1,worker-2',
      'verify prerequisites master,worker-1,worker-2',
    ]);
  });

  it('the artifacts phase uploads and verifies before prerequisites', () => {
    const offline = testPlan({ provider: 'libvirt' }, { offline: testOffline() });
    const steps = upSteps(offline, {}, { until: 'prerequisites' });
    expect(steps.map(summary)).toEqual([
      'seeds master,worker-1,worker-2',
      'vagrant machines master,worker-1,worker-2',
      'verify machines master,worker-1,worker-2',
      'vagrant artifacts master,worker-1,worker-2',
      'verify artifacts master,worker-1,worker-2',
      'vagrant prerequisites master,worker-1,worker-2',
      'verify prerequisites master,worker-1,worker-2',
    ]);
    const artifacts = steps[3]!;
    expect(artifacts.kind === 'vagrant' && artifacts.commands[0]![0]!.args).toEqual(['provision', 'master', '--provision-with=artifacts-files,artifacts']);
    expect(provisionersOf(offline.workers[0]!, offline)[1]).toEqual({
      name: 'artifacts-files', type: 'file', source: '/srv/k8s-artifacts/v1.37.2/amd64', destination: '/home/vagrant/.kubeadm-vagrant/artifacts',
    });
  });

  it('node add: only the new machine, the join token already checked', () => {
    const big = testPlan({ provider: 'libvirt', workers: { count: 3 } });
    const state = { phase: 'verified', nodePhases: { master: 'verified', 'worker-1': 'verified', 'worker-2': 'verified' } };
    const steps = upSteps(big, state, { until: 'verified', only: ['worker-3'], joinTokenChecked: true });
    expect(steps.map(summary)).toEqual([
      'seeds worker-3',
      'vagrant machines worker-3',
      'verify machines worker-3',
      'vagrant artifacts worker-3',
      'verify artifacts worker-3',
      'vagrant prerequisites worker-3',
      'verify prerequisites worker-3',
      'vagrant packages worker-3',
      'verify packages worker-3',
      'vagrant workers worker-3',
      'verify workers worker-3',
      'verify verified worker-3',
      'kubeconfig',
    ]);
    // What passes is recorded for the selected machines only.
    expect(steps.filter((s) => s.kind === 'verify').every((s) => s.kind === 'verify' && names(s.record).join() === 'worker-3')).toBe(true);
  });
});

describe('SETUP_MASTER / SETUP_NODES: what up sets up', () => {
  const plan = testPlan({ provider: 'libvirt' });
  /** The machines each vagrant step's commands name, per step (the arguments that are neither the verb nor an option). */
  const vagrantMachines = (steps: UpStep[]) =>
    steps.flatMap((s) => (s.kind === 'vagrant' ? [[...new Set(s.commands.flat().flatMap((c) => c.args.slice(1).filter((a) => !a.startsWith('--'))))].join(' ')] : []));

  it('the control plane alone: no worker machine is created, started or checked; vagrant up names the master', () => {
    const steps = upSteps(plan, {}, { until: 'verified', setup: { controlPlane: true, workers: false } });
    expect(steps.map(summary)).toEqual([
      'seeds master',
      'vagrant machines master',
      'verify machines master',
      'vagrant artifacts master',
      'verify artifacts master',
      'vagrant prerequisites master',
      'verify prerequisites master',
      'vagrant packages master',
      'verify packages master',
      'vagrant control-plane master',
      'verify control-plane master',
      'verify verified master',
      'kubeconfig',
    ]);
    expect(vagrantMachines(steps)).toEqual(['master', 'master', 'master', 'master', 'master']);
    // The workers do not exist: the master must not expect to reach them.
    expect(steps.every((s) => s.kind !== 'verify' || names(s.peers).join() === 'master')).toBe(true);
  });

  /** The steps of a workers-only `up` (SETUP_MASTER=false) on a cluster in this state. */
  const workersOnly = (nodePhases: Record<string, string>) => upSteps(plan, { phase: 'verified', nodePhases }, { until: 'verified', setup: { controlPlane: false, workers: true } });

  it('then the workers only: the control plane is checked and the join token first, then only the workers that have not joined', () => {
    const steps = workersOnly({ master: 'verified' });
    expect(steps.map(summary)).toEqual([
      'control-plane-check',
      'join-token',
      'seeds worker-1,worker-2',
      'vagrant machines worker-1,worker-2',
      'verify machines worker-1,worker-2',
      'vagrant artifacts worker-1,worker-2',
      'verify artifacts worker-1,worker-2',
      'vagrant prerequisites worker-1,worker-2',
      'verify prerequisites worker-1,worker-2',
      'vagrant packages worker-1,worker-2',
      'verify packages worker-1,worker-2',
      'vagrant workers worker-1,worker-2',
      'verify workers worker-1,worker-2',
      'verify verified worker-1,worker-2',
      'kubeconfig',
    ]);
    expect(vagrantMachines(steps)).toEqual(['worker-1 worker-2', 'worker-1 worker-2', 'worker-1 worker-2', 'worker-1 worker-2', 'worker-1 worker-2']);
    const check = steps[0]!;
    // The control plane is checked with the checks of the phase it reached, against the machines that exist.
    expect(check.kind === 'control-plane-check' && [check.node.name, check.phase, names(check.peers).join()]).toEqual(['master', 'verified', 'master']);
  });

  it('workers only skips the workers that joined already; with none left, only the checks', () => {
    const steps = workersOnly({ master: 'verified', 'worker-1': 'verified', 'worker-2': 'packages' });
    expect(steps.map(summary)).toEqual([
      'control-plane-check',
      'join-token',
      'seeds worker-2',
      'vagrant machines worker-2',
      'verify machines worker-2',
      'vagrant workers worker-2',
      'verify workers worker-2',
      'verify verified worker-2',
      'kubeconfig',
    ]);
    const check = steps[0]!;
    expect(check.kind === 'control-plane-check' && names(check.peers)).toEqual(['master', 'worker-1']);
    expect(workersOnly({ master: 'verified', 'worker-1': 'verified', 'worker-2': 'workers' }).map(summary)).toEqual(['control-plane-check', 'kubeconfig']);
  });

  it('workers only up to prerequisites: no join, so no join token', () => {
    const steps = upSteps(plan, { nodePhases: { master: 'control-plane' } }, { until: 'prerequisites', setup: { controlPlane: false, workers: true } });
    expect(steps.map(summary)).toEqual(['control-plane-check', 'seeds worker-1,worker-2', 'vagrant machines worker-1,worker-2', 'verify machines worker-1,worker-2', 'vagrant artifacts worker-1,worker-2', 'verify artifacts worker-1,worker-2', 'vagrant prerequisites worker-1,worker-2', 'verify prerequisites worker-1,worker-2']);
  });

  it('workers only without a control plane that passed its phase is refused, naming the way out', () => {
    for (const state of [{}, { phase: 'packages', nodePhases: { master: 'packages', 'worker-1': 'packages' } }]) {
      expect(() => upSteps(plan, state, { until: 'verified', setup: { controlPlane: false, workers: true } })).toThrow(UsageError);
    }
    expect(() => upSteps(plan, { nodePhases: { master: 'packages' } }, { until: 'verified', setup: { controlPlane: false, workers: true } })).toThrow(
      /control plane master has only reached phase packages\. Set it up first with `SETUP_MASTER=true SETUP_NODES=false kubeadm-vagrant up`; nothing was changed/,
    );
  });

  it('the dry run says which control plane it checks', () => {
    const steps = upSteps(plan, { nodePhases: { master: 'verified' } }, { until: 'verified', setup: { controlPlane: false, workers: true } });
    expect(describeStep(steps[0]!, plan)[0]).toMatch(/^would check over ssh that the control plane is up: vagrant@192\.168\.56\.10:22 \(master\) with \.kubeadm-vagrant\/ssh\/id_rsa: ssh, hostname, .*node-ready.*pod-kube-apiserver/);
  });
});

describe('the dry run prints the steps with the names of the real checks', () => {
  const plan = testPlan({ provider: 'libvirt' });

  it('node checks come from the same specs verify runs', () => {
    const ids = checkIdsAfter('packages', plan.workers[0]!, plan);
    expect(ids).toEqual(['ssh', ...verificationAfter('packages', plan).specs(plan.workers[0]!).map((s) => s.id), 'insecure-key-refused']);
    expect(ids).toEqual(expect.arrayContaining(['hostname', 'swap-off', 'containerd-cri', 'peers-reachable', 'kube-tools', 'sandbox-image']));
  });

  it('cluster checks are the ones the Kubernetes view yields', () => {
    const nodes = parseNodeList(fixture('kubectl-get-nodes.json'));
    const pods = parsePodList(fixture('kubectl-get-pods-flannel.json'));
    const cni = CNIS.find((c) => c.id === 'flannel')!;
    const real = clusterChecks(plan.nodes, nodes, pods, cni.nodePod, plan.kubernetes.patch);
    for (const node of plan.nodes) {
      const cluster = checkIdsAfter('control-plane', node, plan).filter((id) => !verificationAfter('control-plane', plan).specs(node).some((s) => s.id === id));
      expect(cluster).toEqual(['ssh', ...real.get(node.name)!.map((c) => c.check), 'insecure-key-refused']);
    }
    expect(checkIdsAfter('verified', plan.controlPlane, plan)).toEqual(
      expect.arrayContaining(['node-ready', 'node-internal-ip', 'pod-kube-proxy', 'pod-cni', 'pod-kube-apiserver', 'pod-etcd', 'pod-coredns']),
    );
  });

  it('describes each step in one line per machine', () => {
    const steps = upSteps(plan, {}, { until: 'verified' });
    const lines = steps.flatMap((s) => describeStep(s, plan));
    expect(lines[0]).toBe('would give master, worker-1, worker-2 their cloud-init seeds (.kubeadm-vagrant/seeds/master-cidata.iso, .kubeadm-vagrant/seeds/worker-1-cidata.iso, .kubeadm-vagrant/seeds/worker-2-cidata.iso) where the libvirt provider attaches them, if not created yet');
    expect(lines[1]).toBe('would run: vagrant up --provider=libvirt --parallel --no-provision');
    expect(lines[2]).toBe('would run: vagrant provision master --provision-with=ssh-key (at the same time as the others of its group)');
    expect(lines[5]).toBe('would verify over ssh: vagrant@192.168.56.10:22 (master) with .kubeadm-vagrant/ssh/id_rsa: ssh, hostname, private-ip, insecure-key-refused');
    expect(lines).toContain('would check over ssh on master that the join token stays valid (kubeadm token list), and create a fresh one if not');
    expect(lines.at(-1)).toBe('would fetch the admin kubeconfig over ssh from master into .kubeadm-vagrant/kubeconfig');
  });
});

describe('every CNI names the pod that proves it on each node', () => {
  const nodes = parseNodeList(fixture('kubectl-get-nodes.json'));
  for (const cni of CNIS) {
    it(`${cni.id}: one ready-or-not pod per node in its own pods, none in another CNI's`, () => {
      const pods = parsePodList(fixture(`kubectl-get-pods-${cni.id}.json`));
      const plan = testPlan({ kubernetes: { cni: cni.id } });
      const checks = clusterChecks(plan.nodes, nodes, pods, cni.nodePod);
      for (const node of plan.nodes) expect(checks.get(node.name)!.find((c) => c.check === 'pod-cni')!.seen, `${cni.id} on ${node.name}`).not.toMatch(/^no /);
      for (const other of CNIS.filter((c) => c.id !== cni.id)) {
        const foreign = parsePodList(fixture(`kubectl-get-pods-${other.id}.json`));
        const none = clusterChecks(plan.nodes, nodes, foreign, cni.nodePod);
        for (const node of plan.nodes) expect(none.get(node.name)!.find((c) => c.check === 'pod-cni')!.seen).toMatch(/^no /);
      }
    });
  }
});

describe('a baked box: up checks what the box holds instead of installing it', () => {
  const offline = testOffline();
  const summaryWithBake = (s: UpStep) => (s.kind === 'verify' && s.baked ? `${summary(s)} baked ${s.baked.phases.join('+')}` : summary(s));

  it('with a matching bake: no artifacts, prerequisites or packages run; one check of them all, recorded for each', () => {
    const plan = testPlan({ box: 'kubeadm-vagrant/debian-12-k8s-1.37.2', distro: 'debian-12' }, { offline, baked: testBakeRecord() });
    expect(plan.box.baked).toEqual({ record: testBakeRecord(), matches: true });
    const steps = upSteps(plan, {}, { until: 'packages' });
    expect(steps.map(summaryWithBake)).toEqual([
      'seeds master,worker-1,worker-2',
      'vagrant machines master,worker-1,worker-2',
      'verify machines master,worker-1,worker-2',
      'verify packages master,worker-1,worker-2 baked artifacts+prerequisites+packages',
    ]);
    const baked = steps.at(-1)!;
    // What runs if the checks fail: each phase's provisioners, per machine.
    expect(baked.kind === 'verify' && baked.baked!.install.map((i) => [i.phase, i.commands['worker-1']!.args.join(' ')])).toEqual([
      ['artifacts', 'provision worker-1 --provision-with=artifacts-files,artifacts'],
      ['prerequisites', 'provision worker-1 --provision-with=prerequisites'],
      ['packages', 'provision worker-1 --provision-with=packages'],
    ]);
    // The artifacts check accepts the box's bake record for this plan's bake hash.
    expect(verificationAfter('packages', plan).specs(plan.controlPlane).find((c) => c.id === 'artifacts-verified')!.parse(`\n--- baked ---\n{"bakeHash":"${'c'.repeat(64)}"}`, 0, plan.controlPlane)).toMatchObject({ ok: true });
    expect(verificationAfter('packages', plan).specs(plan.controlPlane).find((c) => c.id === 'artifacts-verified')!.parse(`\n--- baked ---\n{"bakeHash":"${'e'.repeat(64)}"}`, 0, plan.controlPlane)).toMatchObject({ ok: false });
  });

  it('a machine that passed them all (node add of another): only the new one is checked', () => {
    const plan = testPlan({ box: 'kubeadm-vagrant/debian-12-k8s-1.37.2', distro: 'debian-12', workers: { count: 3 } }, { offline, baked: testBakeRecord() });
    const passed = ['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers', 'verified'];
    const steps = upSteps(plan, { nodePhases: { master: passed, 'worker-1': passed, 'worker-2': passed } }, { until: 'verified', only: ['worker-3'], joinTokenChecked: true });
    expect(steps.map(summaryWithBake)).toContain('verify packages worker-3 baked artifacts+prerequisites+packages');
  });

  it('a bake of other files, or another patch: up installs as on any box, and says why', () => {
    for (const record of [testBakeRecord({ bakeHash: 'e'.repeat(64), files: { 'bin/kubeadm': '0'.repeat(64) } }), testBakeRecord({ kubernetes: '1.36.3' })]) {
      const plan = testPlan({ box: 'kubeadm-vagrant/debian-12-k8s-1.37.2', distro: 'debian-12' }, { offline, baked: record });
      expect(plan.box.baked?.matches).toBe(false);
      expect(plan.box.baked?.mismatch).toMatch(/bin\/kubeadm|1\.36\.3/);
      expect(upSteps(plan, {}, { until: 'packages' }).map(summaryWithBake)).toContain('vagrant packages master,worker-1,worker-2');
    }
  });

  it("another's box (not ours) never counts as baked", () => {
    const plan = testPlan({ box: 'example/ubuntu-noble' }, { offline, baked: testBakeRecord() });
    expect(plan.box.baked).toBeUndefined();
  });
});

describe('a box of ours that is not built on this host yet', () => {
  it('is built before any machine is created, and only then', () => {
    const built = (b: boolean) => testPlan({ provider: 'libvirt', distro: 'debian-12' }, { boxBuilt: b });
    expect(upSteps(built(false), {}, { until: 'machines' }).map(summary)).toEqual(['box', 'seeds master,worker-1,worker-2', 'vagrant machines master,worker-1,worker-2', 'verify machines master,worker-1,worker-2']);
    expect(upSteps(built(true), {}, { until: 'machines' }).map(summary)[0]).toBe('seeds master,worker-1,worker-2');
    const lines = upSteps(built(false), {}, { until: 'machines' }).flatMap((s) => describeStep(s, built(false)));
    expect(lines[0]).toBe("would build the box kubeadm-vagrant/debian-12 for libvirt first (as `kubeadm-vagrant box build debian-12` does): debian-12's official image, downloaded and verified");
    // bake: true names the baked box of the artifacts' patch, and that is what is built (baked).
    const baked = testPlan({ provider: 'libvirt', distro: 'debian-12', bake: true, libvirt: { driver: 'qemu' } }, { offline: testOffline(), boxBuilt: false });
    expect(baked.box.name).toBe('kubeadm-vagrant/debian-12-k8s-1.37.2-emulation');
    expect(upSteps(baked, {}, { until: 'machines' }).flatMap((s) => describeStep(s, baked))[0]).toMatch(/box build debian-12 --bake/);
  });
});
