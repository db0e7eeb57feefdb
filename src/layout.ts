import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where things live: the package's own files, a cluster directory on the host, and the guests.
 * Every path of the tool is defined here once; everything else imports it from here.
 */

/** The package root (holds package.json, templates/, boxes/), from src/, dist/src/ or the bundle in dist/cli/. */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('kubeadm-vagrant: cannot find package.json above ' + import.meta.url);
    dir = up;
  }
  return dir;
})();

export const templatesDir = join(packageRoot, 'templates');
export const boxesDir = join(packageRoot, 'boxes');

/** The config file a cluster directory holds by default. */
export const DEFAULT_CONFIG_FILE = 'cluster.yaml';

/** The state directory inside a cluster directory: secrets, known_hosts, logs, state. Never synced to guests. */
export const STATE_DIR = '.kubeadm-vagrant';

/** Paths inside a cluster directory, relative to it (the generated files and the state directory). */
export const HOST = {
  vagrantfile: 'Vagrantfile',
  provisionDir: 'provision',
  stateDir: STATE_DIR,
  /** The rendered kubeadm configs hold the bootstrap token, so they live in the state directory. */
  kubeadmDir: `${STATE_DIR}/kubeadm`,
  initConfig: `${STATE_DIR}/kubeadm/init.yaml`,
  token: `${STATE_DIR}/token`,
  /** The cluster's SSH key pair lives here; its file names say its kind (SSH_KEY_KINDS). */
  sshDir: `${STATE_DIR}/ssh`,
  pkiDir: `${STATE_DIR}/pki`,
  caCert: `${STATE_DIR}/pki/ca.crt`,
  caKey: `${STATE_DIR}/pki/ca.key`,
  knownHosts: `${STATE_DIR}/known_hosts`,
  /** The kubeconfig `up` writes for every cluster (0600). */
  kubeconfig: `${STATE_DIR}/kubeconfig`,
  logsDir: `${STATE_DIR}/logs`,
  stateFile: `${STATE_DIR}/state.json`,
  /** What the last `generate` used and wrote: config file, flags and variables, outputs (0600: it may hold the token). */
  generatedFile: `${STATE_DIR}/generated.json`,
} as const;

/** Directories of a cluster directory and the modes every `generate` puts back, whatever the umask. */
export const HOST_DIRS: readonly { path: string; mode: number }[] = [
  { path: HOST.stateDir, mode: 0o700 },
  { path: HOST.sshDir, mode: 0o700 },
  { path: HOST.pkiDir, mode: 0o700 },
  { path: HOST.kubeadmDir, mode: 0o700 },
  { path: HOST.provisionDir, mode: 0o755 },
];

/**
 * The kinds of cluster SSH key, with their files (OpenSSH's names) and OpenSSH key type. A new
 * cluster gets ECDSA P-256; a cluster made before keeps the RSA key its machines accept.
 */
export const SSH_KEY_KINDS = {
  ecdsa: { privateKey: `${HOST.sshDir}/id_ecdsa`, publicKey: `${HOST.sshDir}/id_ecdsa.pub`, sshType: 'ecdsa-sha2-nistp256' },
  rsa: { privateKey: `${HOST.sshDir}/id_rsa`, publicKey: `${HOST.sshDir}/id_rsa.pub`, sshType: 'ssh-rsa' },
} as const;
export type SshKeyKind = keyof typeof SSH_KEY_KINDS;
export const NEW_SSH_KEY_KIND: SshKeyKind = 'ecdsa';

/** The kind of key an OpenSSH public key line (`ecdsa-sha2-nistp256 AAAA... comment`) holds. */
export function sshKeyKindOf(publicKeyLine: string): SshKeyKind {
  const type = publicKeyLine.trim().split(/\s+/)[0];
  const kind = (Object.keys(SSH_KEY_KINDS) as SshKeyKind[]).find((k) => SSH_KEY_KINDS[k].sshType === type);
  if (!kind) throw new Error(`internal: no SSH key kind for the key type ${type}`);
  return kind;
}

/** The private and public key files of the key a plan's public key line names, relative to the cluster directory. */
export function sshKeyFilesOf(publicKeyLine: string): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = SSH_KEY_KINDS[sshKeyKindOf(publicKeyLine)];
  return { privateKey, publicKey };
}

/** The provisioning script of a phase, relative to the cluster directory. */
export function scriptPath(script: string): string {
  return `${HOST.provisionDir}/${script}.sh`;
}

/** The JoinConfiguration of one worker (it holds the token), relative to the cluster directory. */
export function joinConfigPath(machine: string): string {
  return `${HOST.kubeadmDir}/join-${machine}.yaml`;
}

/** Where Vagrant keeps the provider's id of a machine it created (a libvirt domain's or VirtualBox VM's UUID), relative to the cluster directory. */
export function vagrantMachineIdPath(machine: string, provider: string): string {
  return `.vagrant/machines/${machine}/${provider}/id`;
}

/** Absolute host paths of one cluster directory. */
export function hostPaths(clusterDir: string): { [K in keyof typeof HOST]: string } {
  return Object.fromEntries(Object.entries(HOST).map(([k, v]) => [k, join(clusterDir, v)])) as { [K in keyof typeof HOST]: string };
}

/** Paths on the guests. */
export const GUEST = {
  /** The directory (0700, owned by vagrant) that file provisioners upload secrets into. */
  uploadDir: '/home/vagrant/.kubeadm-vagrant',
  /** Where the scripts keep the kubeadm configs and add-on manifests (0700, root). */
  configDir: '/etc/kubernetes/kubeadm-vagrant',
  pkiDir: '/etc/kubernetes/pki',
  /** Offline installs: the artifacts, once their checksums are verified (root-owned). */
  artifactsDir: '/var/lib/kubeadm-vagrant/artifacts',
  /** The admin kubeconfig kubeadm init writes on the control plane. */
  adminKubeconfig: '/etc/kubernetes/admin.conf',
  /** The kubelet's kubeconfig, written by kubeadm init or join: the node has joined. */
  kubeletKubeconfig: '/etc/kubernetes/kubelet.conf',
  criSocket: 'unix:///run/containerd/containerd.sock',
  /** Set by the Vagrantfile on every shell provisioner: the Vagrant machine name (not a secret). */
  nodeEnvVar: 'KUBEADM_VAGRANT_NODE',
} as const;

/**
 * What `upgrade` puts on a node besides the binaries it installs: the host uploads (SFTP, as the
 * vagrant user) the target's artifacts, the upgrade script and its UpgradeConfiguration into
 * `upload`; the script's `stage` checks the artifacts and moves them under `staged`, the script and
 * its configuration into GUEST.configDir.
 */
export const GUEST_UPGRADE = {
  upload: `${GUEST.uploadDir}/upgrade`,
  /** The target's artifacts once their checksums are verified, one directory per version (v1.37.2), root-owned. */
  staged: '/var/lib/kubeadm-vagrant/upgrade',
  script: `${GUEST.configDir}/upgrade.sh`,
  config: `${GUEST.configDir}/upgrade.yaml`,
} as const;

/** kubectl as root on the control plane, with the admin kubeconfig kubeadm wrote. */
export const ADMIN_KUBECTL = `kubectl --kubeconfig=${GUEST.adminKubeconfig}`;
