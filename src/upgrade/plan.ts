import { GUEST_UPGRADE } from '../layout.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';
import { remote } from '../remote.js';
import type { UpgradeDecision } from './rules.js';

/**
 * `upgrade` as data, in the manner of `up`'s steps (src/steps/up-steps.ts): a pure function from the
 * target's plan and the decision to the ordered steps; src/steps/upgrade.ts runs them, `--plan`
 * prints them, `--manual` prints what a person types instead. The order is kubeadm's documented
 * procedure ("Upgrading kubeadm clusters"): the target's artifacts on every node first (the stand-in
 * for a package repository: checked, images imported, so kubeadm never pulls), then the control
 * plane (kubeadm, `kubeadm upgrade plan`, drain, `kubeadm upgrade apply`, kubelet and kubectl,
 * restart, uncordon), then each worker one at a time (kubeadm, `kubeadm upgrade node`, drain, kubelet
 * and kubectl, restart, uncordon), each node verified before the next.
 * The control plane is drained before `apply`, as kubespray's upgrade drains every node before it
 * touches it (kubeadm's procedure only requires the drain before the kubelet restarts): `apply`
 * restarts etcd and the API server on that node, and under emulation an API server that starts
 * beside the node's workloads (their containers, their clients reconnecting) can miss its own
 * one-minute start-up deadline (the service IP repair post-start hook) and crash-loop.
 */

/** One command a node runs with sudo over SSH. */
export interface RemoteCommand {
  /** The machine it runs on: the node itself, or the control plane (kubectl with the admin kubeconfig). */
  on: NodePlan;
  /** What it does, in a few words (a progress line). */
  what: string;
  /** Why, for `--plan`. */
  why: string;
  command: string;
  /** Its bound on hardware, in seconds (times the plan's slowdown). */
  timeoutS: number;
  /** Safe to run again: asked again while the API server answers as unavailable (a restart under way). */
  retry: boolean;
}

export type UpgradeStep =
  /** The target's artifacts, the script and its configuration uploaded; `upgrade.sh stage` checks them and imports the images. */
  | { kind: 'stage'; node: NodePlan; command: RemoteCommand }
  /** One node's upgrade, then the node is verified at the target before the next one starts. */
  | { kind: 'node'; node: NodePlan; commands: RemoteCommand[] }
  /** Every node's artifacts directory becomes the target's, every node is verified, the state records the version, the files are generated again. */
  | { kind: 'finish'; commands: RemoteCommand[] };

/**
 * Bounds on hardware (seconds), times the slowdown. kubelet: more than the script's own waits (on the
 * control plane the old static pods' stop, up to 4 x 30 s of grace, then the kubelet 120 and the API server
 * 600). uncordon: asked again while the API server restarts (the controller manager and the scheduler
 * come back just before it).
 */
const BOUND = { stage: 600, kubeadm: 120, plan: 300, apply: 1800, node: 600, drain: 300, kubelet: 900, uncordon: 300 } as const;

/** The node's commands, in kubeadm's order; drain and uncordon run on the control plane. */
export function nodeCommands(plan: ClusterPlan, node: NodePlan): RemoteCommand[] {
  const t = `v${plan.kubernetes.patch}`;
  const { script, config } = GUEST_UPGRADE;
  const here = (what: string, why: string, command: string, timeoutS: number, retry = false): RemoteCommand => ({ on: node, what, why, command, timeoutS, retry });
  const onControlPlane = (what: string, why: string, command: string, timeoutS: number): RemoteCommand => ({ on: plan.controlPlane, what, why, command, timeoutS, retry: true });
  const kubeadm = here(`install kubeadm ${t}`, 'kubeadm first: the new kubeadm does the upgrade', `${script} kubeadm`, BOUND.kubeadm);
  const drain = onControlPlane(`drain ${node.hostname}`, 'its pods move away first (DaemonSets stay; PodDisruptionBudgets hold)', remote.drain(node.hostname, BOUND.drain * plan.slowdown, { force: false }), BOUND.drain + 60);
  const upgrade =
    node.role === 'control-plane'
      ? [
          here(`kubeadm upgrade plan ${t}`, 'kubeadm checks the cluster can be upgraded and lists the versions', `kubeadm upgrade plan ${t} --config ${config}`, BOUND.plan, true),
          drain,
          here(
            `kubeadm upgrade apply ${t}`,
            "the static pods (API server, controller manager, scheduler, etcd), kube-proxy and CoreDNS, with the cluster's own settings and patches",
            `kubeadm upgrade apply ${t} --config ${config} --yes`,
            BOUND.apply,
            true,
          ),
        ]
      : [here('kubeadm upgrade node', "the kubelet's configuration from the upgraded cluster", `kubeadm upgrade node --config ${config}`, BOUND.node, true), drain];
  return [
    kubeadm,
    ...upgrade,
    here(`kubelet and kubectl ${t}, the kubelet restarted`, "on the drained node: kubelet, kubectl and crictl, containerd's sandbox image the new kubeadm's, then the node's artifacts directory the new version's", `${script} kubelet`, BOUND.kubelet),
    onControlPlane(`uncordon ${node.hostname}`, 'it takes pods again', remote.uncordon(node.hostname), BOUND.uncordon),
  ];
}

/** The stage command of a node: run from the upload directory, it installs the script it is. */
export function stageCommand(node: NodePlan): RemoteCommand {
  return {
    on: node,
    what: 'check the artifacts there, import the images',
    why: 'the uploaded artifacts checked against SHA256SUMS and kept; their images imported into containerd, before any kubeadm upgrade (kubeadm never pulls)',
    command: `bash ${GUEST_UPGRADE.upload}/upgrade.sh stage`,
    timeoutS: BOUND.stage,
    retry: false,
  };
}

/**
 * The steps of an upgrade: the nodes whose kubelet does not run the target yet are staged, then
 * upgraded, the control plane first (a control plane whose kubelet runs the target has been through
 * `kubeadm upgrade apply`, which goes first); then the finish. `recorded`, when an upgrade is being
 * resumed, names the nodes its state records as upgraded (uncordoned and verified): a node whose
 * kubelet runs the target but that is not among them stopped after its kubelet step, so it is
 * uncordoned (again) and verified in its turn, before the next node is touched.
 */
export function upgradeSteps(plan: ClusterPlan, decision: Extract<UpgradeDecision, { kind: 'upgrade' }>, recorded?: readonly string[]): UpgradeStep[] {
  const pending = plan.nodes.filter((n) => !decision.atTarget.includes(n.name));
  return [
    ...pending.map((node): UpgradeStep => ({ kind: 'stage', node, command: stageCommand(node) })),
    ...plan.nodes.flatMap((node): UpgradeStep[] => {
      if (pending.includes(node)) return [{ kind: 'node', node, commands: nodeCommands(plan, node) }];
      // At the target, but not recorded as upgraded by the upgrade being resumed: what follows the kubelet step, uncordon.
      return recorded !== undefined && !recorded.includes(node.name) ? [{ kind: 'node', node, commands: nodeCommands(plan, node).slice(-1) }] : [];
    }),
    { kind: 'finish', commands: finishCommands(plan) },
  ];
}

/** What the finish runs on every node: its artifacts directory becomes the target's (a no-op where the kubelet step did it). */
export function finishCommands(plan: ClusterPlan): RemoteCommand[] {
  return plan.nodes.map((node) => ({
    on: node,
    what: `the artifacts directory of ${node.name}: v${plan.kubernetes.patch}`,
    why: "what `up` and `verify` read; done already where the kubelet step did it, and by hand after --manual",
    command: `${GUEST_UPGRADE.script} switch`,
    timeoutS: BOUND.kubeadm,
    retry: false,
  }));
}

/** What the upload of a stage sends: from where, how much. */
export interface StageUpload {
  dir: string;
  files: number;
  bytes: number;
}

const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(0)} MiB`;
const onNode = (c: RemoteCommand) => `on ${c.on.name}: sudo ${c.command}`;

/** `--plan`: exactly what runs on which node, and why it is allowed. */
export function describeUpgrade(plan: ClusterPlan, decision: Extract<UpgradeDecision, { kind: 'upgrade' }>, steps: readonly UpgradeStep[], upload: StageUpload): string[] {
  const why = (c: RemoteCommand) => `${onNode(c)}   # ${c.what}: ${c.why}`;
  const lines = [`would upgrade cluster ${plan.name} from ${decision.from} to ${decision.to}; allowed because:`, ...decision.reasons.map((r) => `  - ${r}`)];
  const stages = steps.filter((s): s is Extract<UpgradeStep, { kind: 'stage' }> => s.kind === 'stage');
  if (stages.length > 0) lines.push('first, on every node to upgrade, before anything changes:');
  for (const s of stages) {
    lines.push(
      `  ${s.node.name} (${s.node.ip}): upload ${upload.dir} (${upload.files} files, ${mib(upload.bytes)}; files already there with their size are kept) over SFTP to ${GUEST_UPGRADE.upload}/v${plan.kubernetes.patch}, with upgrade.sh and upgrade.yaml`,
      `    ${why(s.command)}`,
    );
  }
  if (steps.some((s) => s.kind === 'node')) lines.push('then one node at a time, each verified before the next:');
  for (const s of steps) {
    if (s.kind === 'node') {
      lines.push(`  ${s.node.name} (${s.node.role === 'control-plane' ? 'the control plane' : 'a worker'}, ${s.node.hostname}):`);
      for (const c of s.commands) lines.push(`    ${why(c)}`);
      lines.push(`    verify ${s.node.name} at v${plan.kubernetes.patch}: Ready, its kubelet${s.node.role === 'control-plane' ? ', the static pods, kube-proxy and CoreDNS' : ''} at the new version, its pods running`);
    }
    if (s.kind === 'finish') {
      lines.push('finally:');
      for (const c of s.commands) lines.push(`  ${why(c)}`);
      lines.push(`  verify every node at v${plan.kubernetes.patch}; the state records ${plan.kubernetes.patch} as the version the cluster runs; the cluster's files are generated again for it`);
    }
  }
  return lines;
}

/**
 * `--manual`: the commands a person types for each node, in order (after `upgrade --manual` staged
 * the target's artifacts): kubeadm's procedure with this cluster's names and paths. Pure.
 */
export function manualCommands(plan: ClusterPlan, decision: Extract<UpgradeDecision, { kind: 'upgrade' }>): string[] {
  const t = `v${plan.kubernetes.patch}`;
  const bin = `${GUEST_UPGRADE.staged}/${t}/bin`;
  const config = GUEST_UPGRADE.config;
  const cp = plan.controlPlane;
  const login = (n: NodePlan) => `# on ${n.name} (kubeadm-vagrant ssh ${n.name}):`;
  const kubelet = [`sudo install -m 0755 ${bin}/kubelet ${bin}/kubectl /usr/local/bin/`, 'sudo systemctl daemon-reload', 'sudo systemctl restart kubelet'];
  const lines = [
    `# Upgrading cluster ${plan.name} from ${decision.from} to ${decision.to} by hand, as kubeadm's "Upgrading kubeadm clusters" does it.`,
    ...decision.reasons.map((r) => `#   allowed: ${r}`),
    `# The artifacts of ${t} are on every node (checked, images imported): its binaries are in ${bin}, kubeadm's`,
    `# configuration (offline, no pulls${plan.slowdown > 1 ? '; the timeouts and probe patches of these slow machines' : ''}) is ${config}.`,
    `# \`kubeadm-vagrant verify\` checks every node against ${t} meanwhile; \`kubeadm-vagrant upgrade --to ${plan.kubernetes.patch}\` finishes afterwards.`,
  ];
  let step = 0;
  for (const node of plan.nodes.filter((n) => !decision.atTarget.includes(n.name))) {
    step += 1;
    lines.push('', `# ${step}. ${node.role === 'control-plane' ? 'The control plane' : 'A worker'}: ${node.name} (${node.hostname})`, login(node), `sudo install -m 0755 ${bin}/kubeadm /usr/local/bin/kubeadm`, 'kubeadm version -o short');
    if (node.role === 'control-plane') {
      lines.push(`sudo kubeadm upgrade plan ${t} --config ${config}`, `kubectl drain ${node.hostname} --ignore-daemonsets --delete-emptydir-data`, `sudo kubeadm upgrade apply ${t} --config ${config}`, ...kubelet, `kubectl uncordon ${node.hostname}`, 'kubectl get nodes');
    } else {
      lines.push(`sudo kubeadm upgrade node --config ${config}`, login(cp), `kubectl drain ${node.hostname} --ignore-daemonsets --delete-emptydir-data`, login(node), ...kubelet, login(cp), `kubectl uncordon ${node.hostname}`, 'kubectl get nodes');
    }
  }
  return lines;
}
