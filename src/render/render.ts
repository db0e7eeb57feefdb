import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ejs from 'ejs';
import { STATE_DIR, templatesDir } from '../paths.js';
import { shellQuote } from '../shell.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';

export interface RenderedFile {
  /** Relative to the cluster directory. */
  path: string;
  content: string;
  /** 0o600 for anything holding a secret (the token), 0o755 for scripts. */
  mode: number;
}

/**
 * The provisioning phases, in order, each one shell provisioner in the Vagrantfile (the file
 * provisioners that feed control-plane and worker come with them: see provisionersFor).
 */
export const PROVISION_PHASES = ['ssh-key', 'prerequisites', 'packages', 'control-plane', 'worker'] as const;
export type ProvisionPhase = (typeof PROVISION_PHASES)[number];

/** Where the rendered kubeadm configs live: they hold the bootstrap token, so inside the state directory. */
export const KUBEADM_DIR = `${STATE_DIR}/kubeadm`;
/** Where the cluster's secrets live (see src/secrets.ts). */
export const SSH_PRIVATE_KEY = `${STATE_DIR}/ssh/id_rsa`;
export const CA_CERT = `${STATE_DIR}/pki/ca.crt`;
export const CA_KEY = `${STATE_DIR}/pki/ca.key`;

export function joinConfigPath(node: NodePlan): string {
  return `${KUBEADM_DIR}/join-${node.name}.yaml`;
}

/** The guest directory (0700, owned by vagrant) that file provisioners upload secrets into. */
export const GUEST_UPLOAD_DIR = '/home/vagrant/.kubeadm-vagrant';
/** Where the scripts keep the kubeadm configs and CNI manifests on the guest (0700, root). */
export const GUEST_CONFIG_DIR = '/etc/kubernetes/kubeadm-vagrant';
/** Set by the Vagrantfile on every shell provisioner: the Vagrant machine name (not a secret). */
export const NODE_ENV_VAR = 'KUBEADM_VAGRANT_NODE';
/**
 * Stands for `kubernetesVersion` in init.yaml when the config names only a minor: control-plane.sh
 * replaces it with `kubeadm version -o short`, so kubeadm never looks up "stable" on the internet.
 */
export const KUBERNETES_VERSION_PLACEHOLDER = '@KUBERNETES_VERSION@';
export const CRI_SOCKET = 'unix:///run/containerd/containerd.sock';

/** Pinned add-on releases; the control plane downloads these manifests once and keeps them. */
export const ADDONS = {
  flannel: {
    version: 'v0.27.4',
    manifest: 'https://github.com/flannel-io/flannel/releases/download/v0.27.4/kube-flannel.yml',
  },
  calico: {
    version: 'v3.30.2',
    crds: 'https://raw.githubusercontent.com/projectcalico/calico/v3.30.2/manifests/operator-crds.yaml',
    operator: 'https://raw.githubusercontent.com/projectcalico/calico/v3.30.2/manifests/tigera-operator.yaml',
  },
  dashboard: {
    version: 'v2.7.0',
    manifest: 'https://raw.githubusercontent.com/kubernetes/dashboard/v2.7.0/aio/deploy/recommended.yaml',
  },
} as const;

/** One file provisioner: a host file uploaded into GUEST_UPLOAD_DIR under a fixed name. */
export interface Upload {
  /** The Vagrant provisioner name. */
  provisioner: string;
  /** Relative to the cluster directory. */
  source: string;
  /** The file name inside GUEST_UPLOAD_DIR. */
  target: string;
}

/**
 * A file provisioner uploads one file, and Vagrant merges provisioners that share a name, so each
 * secret has its own provisioner; `provisionersFor` lists them with the shell phase they feed.
 */
export function uploadsFor(node: NodePlan): Upload[] {
  if (node.role === 'control-plane') {
    return [
      { provisioner: 'control-plane-files', source: `${KUBEADM_DIR}/init.yaml`, target: 'init.yaml' },
      { provisioner: 'control-plane-ca-cert', source: CA_CERT, target: 'ca.crt' },
      { provisioner: 'control-plane-ca-key', source: CA_KEY, target: 'ca.key' },
    ];
  }
  return [{ provisioner: 'worker-files', source: joinConfigPath(node), target: 'join.yaml' }];
}

const UPLOAD_PROVISIONERS: Record<ProvisionPhase, readonly string[]> = {
  'ssh-key': [],
  prerequisites: [],
  packages: [],
  'control-plane': ['control-plane-files', 'control-plane-ca-cert', 'control-plane-ca-key'],
  worker: ['worker-files'],
};

/**
 * The Vagrant provisioner names that run exactly these phases, in Vagrantfile order, for
 * `vagrant up|provision --provision-with <names joined by ",">`: a shell phase that reads uploaded
 * files comes with the file provisioners that upload them.
 */
export function provisionersFor(phases: readonly ProvisionPhase[]): string[] {
  return PROVISION_PHASES.filter((p) => phases.includes(p)).flatMap((p) => [...UPLOAD_PROVISIONERS[p], p]);
}

/** A YAML double-quoted scalar (JSON's string syntax is a subset of YAML's). */
export function yamlQuote(s: string): string {
  return JSON.stringify(s);
}

/** A Ruby double-quoted string literal, with `#` escaped so `#{...}` never interpolates. */
export function rubyQuote(s: string): string {
  return JSON.stringify(s).replace(/#/g, '\\#');
}

/** An extended regular expression that matches exactly the addresses of a /24 written `a.b.c.0/24`. */
export function slash24AddressRegex(cidr: string): string {
  const prefix = cidr.split('.').slice(0, 3).join('\\.');
  return `^${prefix}\\.[0-9]+$`;
}

/** Package versions of a pinned patch on pkgs.k8s.io: deb `1.33.2-1.1`, rpm `1.33.2`. */
export function packageVersions(plan: ClusterPlan): { deb: string; rpm: string } | undefined {
  const patch = plan.kubernetes.patch;
  return patch === undefined ? undefined : { deb: `${patch}-1.1`, rpm: patch };
}

const templateCache = new Map<string, string>();
function template(name: string): string {
  let text = templateCache.get(name);
  if (text === undefined) {
    text = readFileSync(join(templatesDir, name), 'utf8');
    templateCache.set(name, text);
  }
  return text;
}

/** Renders one template; `include()` inside templates resolves relative to the including template. */
export function renderTemplate(name: string, data: Record<string, unknown>): string {
  return ejs.render(template(name), data, {
    filename: join(templatesDir, name),
    strict: false,
    rmWhitespace: false,
    escape: (s: unknown) => String(s),
  });
}

/** Values every template sees besides the plan. */
function templateData(plan: ClusterPlan): Record<string, unknown> {
  return {
    plan,
    paths: { stateDir: STATE_DIR, kubeadmDir: KUBEADM_DIR, sshPrivateKey: SSH_PRIVATE_KEY, caCert: CA_CERT, caKey: CA_KEY },
    joinConfigPath,
    phases: PROVISION_PHASES,
    guest: { uploadDir: GUEST_UPLOAD_DIR, configDir: GUEST_CONFIG_DIR, nodeEnvVar: NODE_ENV_VAR, criSocket: CRI_SOCKET },
    addons: ADDONS,
    versionPlaceholder: KUBERNETES_VERSION_PLACEHOLDER,
    packageVersions: packageVersions(plan),
    nodeAddressRegex: slash24AddressRegex(plan.network.nodeNetwork),
    uploadsFor,
    sh: shellQuote,
    yq: yamlQuote,
    rb: rubyQuote,
  };
}

/** Every generated file for a plan, sorted by path: a pure function, so output is deterministic. */
export function renderAll(plan: ClusterPlan): RenderedFile[] {
  const data = templateData(plan);
  const files: RenderedFile[] = [
    { path: 'Vagrantfile', content: renderTemplate('Vagrantfile.ejs', data), mode: 0o644 },
    ...PROVISION_PHASES.map((phase) => ({
      path: `provision/${phase}.sh`,
      content: renderTemplate(`provision/${phase}.sh.ejs`, data),
      mode: 0o755,
    })),
    { path: `${KUBEADM_DIR}/init.yaml`, content: renderTemplate('kubeadm/init.yaml.ejs', data), mode: 0o600 },
    ...plan.workers.map((node) => ({
      path: joinConfigPath(node),
      content: renderTemplate('kubeadm/join.yaml.ejs', { ...data, node }),
      mode: 0o600,
    })),
  ];
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
