import { describe, expect, it } from 'vitest';
import type { UpgradeRecord } from '../../src/state.js';
import { kubernetesLine } from '../../src/steps/status.js';
import { refuseDuringUpgrade } from '../../src/steps/up.js';
import { describeUpgrade, manualCommands, upgradeSteps, type UpgradeStep } from '../../src/upgrade/plan.js';
import { decideUpgrade, localProblems, type TargetArtifacts, type UpgradeDecision, type UpgradeInput } from '../../src/upgrade/rules.js';
import { compareVersions, covers, upgradeInProgress, withRunningVersion } from '../../src/upgrade/versions.js';
import { testOffline, testPlan } from '../helpers/plans.js';

/** The e2e's cluster: one control plane, one worker, offline, under emulation (slowdown 5). */
const plan = (patch = '1.37.2') =>
  testPlan(
    { name: 'e2e', provider: 'libvirt', distro: 'debian-12', libvirt: { driver: 'qemu' }, kubernetes: { version: patch }, workers: { count: 1 } },
    { offline: { ...testOffline(patch), sumsHash: 'a'.repeat(64) } },
  );
const nodes = plan().nodes;
const artifacts = (patch = '1.37.2'): TargetArtifacts => ({ patch, dir: `/srv/k8s-artifacts/v${patch}/amd64`, files: 42, problems: [] });
const live = (api: string, master = api, worker = master) => ({ apiServer: `v${api}`, kubelets: { 'e2e-master': `v${master}`, 'e2e-worker-1': `v${worker}` } });
const decide = (over: Partial<UpgradeInput>): UpgradeDecision => decideUpgrade({ asked: '1.37', nodes, live: live('1.36.3'), target: artifacts(), ...over });
const record = (over: Partial<UpgradeRecord> = {}): UpgradeRecord => ({ from: '1.36.3', to: '1.37.2', sumsHash: 'a'.repeat(64), mode: 'automatic', startedAt: '2026-12-05T01:00:00.000Z', nodes: {}, ...over });
const refused = (d: UpgradeDecision) => (d.kind === 'refused' ? d.problems : []);
const upgrade = (d: UpgradeDecision) => {
  if (d.kind !== 'upgrade') throw new Error(`expected an upgrade, got ${JSON.stringify(d)}`);
  return d;
};

describe('versions', () => {
  it('orders versions and knows what a minor covers', () => {
    expect(compareVersions('1.36.3', '1.37.2')).toBeLessThan(0);
    expect(compareVersions('v1.37.2', '1.37.2')).toBe(0);
    expect(compareVersions('1.37.10', '1.37.9')).toBeGreaterThan(0);
    expect(covers('1.37', '1.37.2')).toBe(true);
    expect(covers('1.37.2', 'v1.37.2')).toBe(true);
    expect(covers('1.37.1', '1.37.2')).toBe(false);
    expect(covers('1.36', '1.37.2')).toBe(false);
  });

  it('the state decides the version once a cluster was upgraded: the file gets a warning, a flag given now an error', () => {
    const state = { upgrade: record({ finishedAt: '2026-12-05T02:00:00.000Z' }) };
    expect(withRunningVersion('1.36', {}, undefined, '/c/cluster.yaml')).toEqual({ version: '1.36', warnings: [], errors: [] });
    // The minor it runs: no warning, and the patch it runs stays the version (not a newer one the artifacts may hold).
    expect(withRunningVersion('1.37', state, undefined, '/c/cluster.yaml')).toEqual({ version: '1.37.2', warnings: [], errors: [] });
    const older = withRunningVersion('1.36', state, undefined, '/c/cluster.yaml');
    expect(older.version).toBe('1.37.2');
    expect(older.errors).toEqual([]);
    expect(older.warnings[0]!.message).toBe('/c/cluster.yaml says 1.36, and the cluster runs 1.37.2 since `kubeadm-vagrant upgrade`: 1.37.2 is used (the state decides once a cluster is upgraded; /c/cluster.yaml is never rewritten)');
    expect(older.warnings[0]!.hint).toBe('set kubernetes.version: "1.37.2" (or "1.37") in /c/cluster.yaml so that it says what the cluster runs');
    expect(withRunningVersion('1.38', state, undefined, '/c/cluster.yaml').warnings[0]!.hint).toBe('`up` does not upgrade: run `kubeadm-vagrant upgrade --to 1.38`, or set kubernetes.version: "1.37.2"');
    const remembered = withRunningVersion('1.36', state, '--k8s-version, remembered', '/c/cluster.yaml');
    expect([remembered.version, remembered.errors]).toEqual(['1.37.2', []]);
    const flag = withRunningVersion('1.36.3', state, '--k8s-version', '/c/cluster.yaml');
    expect(flag.errors).toEqual([
      { path: 'kubernetes.version (from --k8s-version)', message: '1.36.3 is not the version the cluster runs 1.37.2 since `kubeadm-vagrant upgrade`', hint: 'kubeadm cannot downgrade a cluster; leave out the flag' },
    ]);
    // During an upgrade the target is the cluster's version already (what verify checks every node against).
    expect(withRunningVersion('1.36', { upgrade: record() }, undefined, undefined).warnings[0]!.message).toMatch(/is being upgraded to 1\.37\.2 \(kubeadm-vagrant upgrade --to 1\.37\.2 carries on\)/);
  });

  it('status says what the cluster runs, and how far an unfinished upgrade got', () => {
    expect(kubernetesLine('1.36.3', undefined)).toBe('kubernetes: 1.36.3');
    expect(kubernetesLine('1.37.2', record({ finishedAt: '2026-12-05T02:00:00.000Z' }))).toBe('kubernetes: 1.37.2 (upgraded from 1.36.3, 2026-12-05T02:00:00.000Z)');
    expect(kubernetesLine('1.37.2', record({ nodes: { master: { staged: 'a', upgraded: 'b' }, 'worker-1': { staged: 'a' } } }))).toBe(
      'kubernetes: upgrade from 1.36.3 to 1.37.2 in progress (automatic: master upgraded, worker-1 staged); `kubeadm-vagrant upgrade --to 1.37.2` carries on',
    );
  });

  it('an unfinished upgrade stops up and node add, and says how to finish it', () => {
    expect(upgradeInProgress({ upgrade: record({ finishedAt: 'x' }) })).toBeUndefined();
    expect(() => refuseDuringUpgrade({ state: {}, plan: plan() }, 'up')).not.toThrow();
    expect(() => refuseDuringUpgrade({ state: { upgrade: record() }, plan: plan() }, 'node add')).toThrow(
      'node add: cluster e2e is being upgraded from 1.36.3 to 1.37.2 (automatic, started 2026-12-05T01:00:00.000Z); finish that first with `kubeadm-vagrant upgrade --to 1.37.2`; nothing was changed',
    );
  });
});

describe('the rules, checked before anything changes', () => {
  it('one minor at a time: 1.35 → 1.37 is refused with the path through 1.36', () => {
    expect(refused(decide({ live: live('1.35.8') }))).toEqual([
      'one minor at a time: kubeadm upgrades 1.35 to 1.37 only through every minor between, 1.35 → 1.36 → 1.37: run `kubeadm-vagrant upgrade --to 1.36` first',
    ]);
    expect(refused(decide({ live: live('1.34.12') }))[0]).toMatch(/1\.34 → 1\.35 → 1\.36 → 1\.37: run `kubeadm-vagrant upgrade --to 1\.35` first$/);
  });

  it('no downgrade: a target older than the API server or a kubelet is refused', () => {
    expect(refused(decide({ asked: '1.36', target: artifacts('1.36.3'), live: live('1.37.2') }))).toEqual([
      'no downgrade: the API server runs v1.37.2, and kubeadm cannot take a cluster back to v1.36.3',
      'no downgrade: the kubelet of master v1.37.2, worker-1 v1.37.2 is newer than v1.36.3',
    ]);
    expect(refused(decide({ asked: '1.37.1', target: artifacts('1.37.1'), live: live('1.37.2') }))[0]).toBe('no downgrade: the API server runs v1.37.2, and kubeadm cannot take a cluster back to v1.37.1');
  });

  it('the kubelet never newer than the API server, and within kubeadm\'s skew', () => {
    expect(refused(decide({ live: live('1.36.3', '1.36.3', '1.37.2') }))).toEqual([
      'the kubelet is never newer than the API server: worker-1 v1.37.2 run ahead of the API server\'s v1.36.3; upgrade the control plane to that version first',
    ]);
    expect(refused(decide({ live: live('1.36.3', '1.36.3', '1.33.1') }))).toEqual([
      'kubeadm 1.37 works with kubelets 3 minors older at most: worker-1 v1.33.1 must be upgraded to 1.36 first',
    ]);
  });

  it('a missing or unverified artifact is refused before the cluster is asked anything', () => {
    const missing: TargetArtifacts = { problems: [{ path: 'offline.dir', message: '/srv/k8s-artifacts has no v1.37.* directory for Kubernetes 1.37 (it has v1.36.3)', hint: 'add /srv/k8s-artifacts/v1.37.*/amd64/' }] };
    expect(localProblems({ asked: '1.37', target: missing })).toEqual([
      'the artifacts of 1.37: offline.dir: /srv/k8s-artifacts has no v1.37.* directory for Kubernetes 1.37 (it has v1.36.3) (add /srv/k8s-artifacts/v1.37.*/amd64/)',
    ]);
    const mismatch: TargetArtifacts = { ...artifacts(), problems: [{ path: 'offline.dir', message: '/srv/k8s-artifacts/v1.37.2/amd64/bin/kubeadm does not match SHA256SUMS (sha256 0123456789ab..., listed ffffffffffff...)' }] };
    expect(refused(decide({ target: mismatch }))).toEqual(['the artifacts of 1.37: offline.dir: /srv/k8s-artifacts/v1.37.2/amd64/bin/kubeadm does not match SHA256SUMS (sha256 0123456789ab..., listed ffffffffffff...)']);
    expect(localProblems({ asked: '1.37.02', target: artifacts() })).toEqual(['--to 1.37.02: "1.37.02" has a leading zero (02); write 1.37.2']);
    expect(localProblems({ asked: '1.37', target: artifacts(), inProgress: record({ to: '1.37.1' }) })[0]).toMatch(/^an upgrade to 1\.37\.1 \(from 1\.36\.3, started .*\) has not finished: finish it first with `kubeadm-vagrant upgrade --to 1\.37\.1`$/);
  });

  it('a node that never joined is refused, not skipped', () => {
    expect(refused(decide({ live: { apiServer: 'v1.36.3', kubelets: { 'e2e-master': 'v1.36.3' } } }))).toEqual([
      'worker-1 (e2e-worker-1) is not registered in the cluster: `kubeadm-vagrant up` brings it up, or `kubeadm-vagrant node remove worker-1` removes it',
    ]);
  });

  it('the running version is a no-op that says so', () => {
    expect(decide({ live: live('1.37.2') })).toEqual({ kind: 'no-op', version: '1.37.2', reasons: ['the API server and every kubelet (master v1.37.2, worker-1 v1.37.2) run v1.37.2 already'] });
  });

  it('one minor up is allowed, and why', () => {
    expect(decide({})).toEqual({
      kind: 'upgrade',
      from: '1.36.3',
      to: '1.37.2',
      atTarget: [],
      reasons: [
        'one minor at a time: 1.36 → 1.37',
        'no downgrade: the API server (v1.36.3) and the kubelets (master v1.36.3, worker-1 v1.36.3) are not newer than v1.37.2',
        "the kubelet never newer than the API server: the control plane first (kubeadm upgrade apply), then each worker, one at a time; every kubelet is within kubeadm 1.37's skew (3 minors)",
        'the artifacts of v1.37.2 are there and verified: /srv/k8s-artifacts/v1.37.2/amd64, every file the cluster needs present, SHA256SUMS checked on this host (42 files) and again on each node before anything is installed',
      ],
    });
    expect(upgrade(decide({ live: live('1.37.1'), asked: '1.37.2' })).reasons[0]).toBe('a patch release within 1.37: v1.37.1 → v1.37.2');
  });

  it('an interrupted upgrade carries on at the node it stopped on', () => {
    const d = upgrade(decide({ live: live('1.37.2', '1.37.2', '1.36.3'), inProgress: record({ nodes: { master: { staged: 'x', upgraded: 'y', seconds: 700 } } }) }));
    expect(d).toMatchObject({ from: '1.36.3', to: '1.37.2', atTarget: ['master'] });
    expect(d.reasons[0]).toBe("the control plane runs v1.37.2 already: the upgrade carries on (master is done; kubeadm's upgrade commands do what is left when run again)");
  });
});

describe('the steps, node by node', () => {
  const target = plan();
  const kinds = (steps: UpgradeStep[]) => steps.map((s) => (s.kind === 'finish' ? 'finish' : `${s.kind} ${s.node.name}`));
  const commands = (steps: UpgradeStep[], node: string) => steps.flatMap((s) => (s.kind === 'node' && s.node.name === node ? s.commands.map((c) => `[${c.on.name}] ${c.command}`) : []));

  it('stages every node before anything changes, then the control plane, then each worker, then the finish', () => {
    const steps = upgradeSteps(target, upgrade(decide({})));
    expect(kinds(steps)).toEqual(['stage master', 'stage worker-1', 'node master', 'node worker-1', 'finish']);
    expect(steps[0]).toMatchObject({ command: { on: { name: 'master' }, command: 'bash /home/vagrant/.kubeadm-vagrant/upgrade/upgrade.sh stage', timeoutS: 600 } });
    expect(commands(steps, 'master')).toEqual([
      '[master] /etc/kubernetes/kubeadm-vagrant/upgrade.sh kubeadm',
      '[master] kubeadm upgrade plan v1.37.2 --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml',
      // Drained before apply restarts its etcd and API server (under emulation kubectl's own bound is 300 s × 5).
      "[master] kubectl --kubeconfig=/etc/kubernetes/admin.conf drain 'e2e-master' --ignore-daemonsets --delete-emptydir-data --timeout=1500s",
      '[master] kubeadm upgrade apply v1.37.2 --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml --yes',
      '[master] /etc/kubernetes/kubeadm-vagrant/upgrade.sh kubelet',
      "[master] kubectl --kubeconfig=/etc/kubernetes/admin.conf uncordon 'e2e-master'",
    ]);
    // A worker: kubeadm upgrade node on it; drain and uncordon from the control plane.
    expect(commands(steps, 'worker-1')).toEqual([
      '[worker-1] /etc/kubernetes/kubeadm-vagrant/upgrade.sh kubeadm',
      '[worker-1] kubeadm upgrade node --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml',
      "[master] kubectl --kubeconfig=/etc/kubernetes/admin.conf drain 'e2e-worker-1' --ignore-daemonsets --delete-emptydir-data --timeout=1500s",
      '[worker-1] /etc/kubernetes/kubeadm-vagrant/upgrade.sh kubelet',
      "[master] kubectl --kubeconfig=/etc/kubernetes/admin.conf uncordon 'e2e-worker-1'",
    ]);
    const finish = steps.at(-1)!;
    expect(finish.kind === 'finish' && finish.commands.map((c) => `[${c.on.name}] ${c.command}`)).toEqual(['[master] /etc/kubernetes/kubeadm-vagrant/upgrade.sh switch', '[worker-1] /etc/kubernetes/kubeadm-vagrant/upgrade.sh switch']);
    // What is safe to ask again while the API server restarts: kubeadm's commands (idempotent, kubeadm's documentation says), drain, uncordon.
    const retried = steps.flatMap((s) => (s.kind === 'node' ? s.commands.filter((c) => c.retry).map((c) => c.command.split(' ').slice(0, 3).join(' ')) : []));
    expect(retried).toEqual([
      'kubeadm upgrade plan',
      'kubectl --kubeconfig=/etc/kubernetes/admin.conf drain',
      'kubeadm upgrade apply',
      'kubectl --kubeconfig=/etc/kubernetes/admin.conf uncordon',
      'kubeadm upgrade node',
      'kubectl --kubeconfig=/etc/kubernetes/admin.conf drain',
      'kubectl --kubeconfig=/etc/kubernetes/admin.conf uncordon',
    ]);
  });

  it('resumes at the node it stopped on: a node whose kubelet runs the target is neither staged nor upgraded again', () => {
    const steps = upgradeSteps(target, upgrade(decide({ live: live('1.37.2', '1.37.2', '1.36.3'), inProgress: record() })));
    expect(kinds(steps)).toEqual(['stage worker-1', 'node worker-1', 'finish']);
    // Stopped during the control plane's apply: the control plane again, from its kubeadm on (apply runs again).
    const again = upgradeSteps(target, upgrade(decide({ live: live('1.37.2', '1.36.3', '1.36.3'), inProgress: record({ nodes: { master: { staged: 'x' }, 'worker-1': { staged: 'x' } } }) })));
    expect(kinds(again)).toEqual(['stage master', 'stage worker-1', 'node master', 'node worker-1', 'finish']);
  });

  it('resumes a node that stopped after its kubelet step (or failed its verification): uncordoned again and verified before the next node', () => {
    const d = upgrade(decide({ live: live('1.37.2', '1.37.2', '1.36.3'), inProgress: record() }));
    // The upgrade e2e of 2026-12-06: the control plane's verification failed, and the resumed run went straight to the worker.
    const steps = upgradeSteps(target, d, []);
    expect(kinds(steps)).toEqual(['stage worker-1', 'node master', 'node worker-1', 'finish']);
    expect(commands(steps, 'master')).toEqual(["[master] kubectl --kubeconfig=/etc/kubernetes/admin.conf uncordon 'e2e-master'"]);
    // Recorded as upgraded (uncordoned and verified): not again.
    expect(kinds(upgradeSteps(target, d, ['master']))).toEqual(['stage worker-1', 'node worker-1', 'finish']);
  });

  it('--plan prints exactly what runs where, and why it is allowed', () => {
    const d = upgrade(decide({}));
    const lines = describeUpgrade(target, d, upgradeSteps(target, d), { dir: '/srv/k8s-artifacts/v1.37.2/amd64', files: 42, bytes: 490 << 20 });
    expect(lines.slice(0, 6)).toEqual(['would upgrade cluster e2e from 1.36.3 to 1.37.2; allowed because:', ...d.reasons.map((r) => `  - ${r}`), 'first, on every node to upgrade, before anything changes:']);
    expect(lines).toContain(
      '  master (192.168.56.10): upload /srv/k8s-artifacts/v1.37.2/amd64 (42 files, 490 MiB; files already there with their size are kept) over SFTP to /home/vagrant/.kubeadm-vagrant/upgrade/v1.37.2, with upgrade.sh and upgrade.yaml',
    );
    expect(lines).toContain(
      '    on master: sudo kubeadm upgrade apply v1.37.2 --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml --yes   # kubeadm upgrade apply v1.37.2: the static pods (API server, controller manager, scheduler, etcd), kube-proxy and CoreDNS, with the cluster\'s own settings and patches',
    );
    const at = (text: string) => lines.findIndex((l) => l.includes(text));
    expect(at('then one node at a time')).toBeGreaterThan(at('worker-1 (192.168.56.11): upload'));
    expect(at('  worker-1 (a worker, e2e-worker-1):')).toBeGreaterThan(at('verify master at v1.37.2'));
    expect(lines.at(-1)).toBe("  verify every node at v1.37.2; the state records 1.37.2 as the version the cluster runs; the cluster's files are generated again for it");
  });

  it('--manual prints per node the commands a person types, the drains and uncordons on the control plane', () => {
    const lines = manualCommands(target, upgrade(decide({})));
    expect(lines[0]).toBe('# Upgrading cluster e2e from 1.36.3 to 1.37.2 by hand, as kubeadm\'s "Upgrading kubeadm clusters" does it.');
    expect(lines.slice(1, 5)).toEqual(upgrade(decide({})).reasons.map((r) => `#   allowed: ${r}`));
    expect(lines).toContain('# `kubeadm-vagrant verify` checks every node against v1.37.2 meanwhile; `kubeadm-vagrant upgrade --to 1.37.2` finishes afterwards.');
    expect(lines.slice(lines.indexOf(''))).toEqual([
      '',
      '# 1. The control plane: master (e2e-master)',
      '# on master (kubeadm-vagrant ssh master):',
      'sudo install -m 0755 /var/lib/kubeadm-vagrant/upgrade/v1.37.2/bin/kubeadm /usr/local/bin/kubeadm',
      'kubeadm version -o short',
      'sudo kubeadm upgrade plan v1.37.2 --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml',
      'kubectl drain e2e-master --ignore-daemonsets --delete-emptydir-data',
      'sudo kubeadm upgrade apply v1.37.2 --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml',
      'sudo install -m 0755 /var/lib/kubeadm-vagrant/upgrade/v1.37.2/bin/kubelet /var/lib/kubeadm-vagrant/upgrade/v1.37.2/bin/kubectl /usr/local/bin/',
      'sudo systemctl daemon-reload',
      'sudo systemctl restart kubelet',
      'kubectl uncordon e2e-master',
      'kubectl get nodes',
      '',
      '# 2. A worker: worker-1 (e2e-worker-1)',
      '# on worker-1 (kubeadm-vagrant ssh worker-1):',
      'sudo install -m 0755 /var/lib/kubeadm-vagrant/upgrade/v1.37.2/bin/kubeadm /usr/local/bin/kubeadm',
      'kubeadm version -o short',
      'sudo kubeadm upgrade node --config /etc/kubernetes/kubeadm-vagrant/upgrade.yaml',
      '# on master (kubeadm-vagrant ssh master):',
      'kubectl drain e2e-worker-1 --ignore-daemonsets --delete-emptydir-data',
      '# on worker-1 (kubeadm-vagrant ssh worker-1):',
      'sudo install -m 0755 /var/lib/kubeadm-vagrant/upgrade/v1.37.2/bin/kubelet /var/lib/kubeadm-vagrant/upgrade/v1.37.2/bin/kubectl /usr/local/bin/',
      'sudo systemctl daemon-reload',
      'sudo systemctl restart kubelet',
      '# on master (kubeadm-vagrant ssh master):',
      'kubectl uncordon e2e-worker-1',
      'kubectl get nodes',
    ]);
  });
});
