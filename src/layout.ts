import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where things live: the package's own files, a cluster directory on the host, and the guests.
 * Every path of the tool is defined here once; everything else imports it from here. Importing
 * this module reads nothing from the disk.
 */

/**
 * The package root (holds package.json, templates/, boxes/) from the directory of the module that
 * asks: src/ (the sources, under vitest), dist/src/ (tsc's output) or dist/cli/ (the bundle). A
 * computation on the path alone: the layout of the package decides it, not a look at the disk.
 */
export function packageRootOf(moduleDir: string): string {
  for (let dir = moduleDir; dirname(dir) !== dir; dir = dirname(dir)) {
    const parent = dirname(dir);
    if (basename(parent) === 'dist' && (basename(dir) === 'src' || basename(dir) === 'cli')) return dirname(parent);
    if (basename(dir) === 'src') return parent;
  }
  throw new Error(`kubeadm-vagrant: ${moduleDir} is not inside src/, dist/src/ or dist/cli/ of the package`);
}

/** The package root of this installation. */
export const packageRoot: string = packageRootOf(dirname(fileURLToPath(import.meta.url)));

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
  /** The cloud-init seed of each machine of a box of ours (public data: the login user and the cluster's public key). */
  seedsDir: `${STATE_DIR}/seeds`,
} as const;

/** Directories of a cluster directory and the modes every `generate` puts back, whatever the umask. */
export const HOST_DIRS: readonly { path: string; mode: number }[] = [
  { path: HOST.stateDir, mode: 0o700 },
  { path: HOST.sshDir, mode: 0o700 },
  { path: HOST.pkiDir, mode: 0o700 },
  { path: HOST.kubeadmDir, mode: 0o700 },
  { path: HOST.seedsDir, mode: 0o700 },
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

/** The cloud-init NoCloud seed image of one machine, relative to the cluster directory. */
export function seedPath(machine: string): string {
  return `${HOST.seedsDir}/${machine}-cidata.iso`;
}

/** The seed's volume in the provider's storage, where the provider needs it there (libvirt): unique per cluster and machine. */
export function seedVolumeName(cluster: string, machine: string): string {
  return `${cluster}-${machine}-cidata.iso`;
}

/** Where Vagrant keeps the provider's id of a machine it created (a libvirt domain's or VirtualBox VM's UUID), relative to the cluster directory. */
export function vagrantMachineIdPath(machine: string, provider: string): string {
  return `.vagrant/machines/${machine}/${provider}/id`;
}

/** Absolute host paths of one cluster directory. */
export function hostPaths(clusterDir: string): { [K in keyof typeof HOST]: string } {
  return Object.fromEntries(Object.entries(HOST).map(([k, v]) => [k, join(clusterDir, v)])) as { [K in keyof typeof HOST]: string };
}

/** kubeadm's directory on a node. */
const KUBERNETES_DIR = '/etc/kubernetes';
/** The tool's own state on a guest (root-owned). */
const GUEST_STATE_DIR = '/var/lib/kubeadm-vagrant';

/**
 * Paths on the guests that more than one part of the tool knows (templates, checks, the scripts'
 * guards). A path one part owns alone (a family's files, a CNI's
 * NetworkManager file) is defined once where that part lives (its template partial).
 */
export const GUEST = {
  /** The user Vagrant and every check log in as: the box's own (`vagrant`), or the one a box of ours gets from its seed. */
  loginUser: 'vagrant',
  /** The directory (0700, owned by vagrant) that file provisioners upload secrets into. */
  uploadDir: '/home/vagrant/.kubeadm-vagrant',
  /** kubeadm's directory: its kubeconfigs, manifests and PKI. */
  kubernetesDir: KUBERNETES_DIR,
  /** Where the scripts keep the kubeadm configs and add-on manifests (0700, root). */
  configDir: `${KUBERNETES_DIR}/kubeadm-vagrant`,
  pkiDir: `${KUBERNETES_DIR}/pki`,
  /** The cluster CA's certificate: kubeadm join writes it first, so with no kubelet.conf it means a join stopped half-way. */
  caCert: `${KUBERNETES_DIR}/pki/ca.crt`,
  /** The static pods' manifests: kube-apiserver.yaml there with no admin.conf means an init stopped half-way. */
  staticPodsDir: `${KUBERNETES_DIR}/manifests`,
  /** The admin kubeconfig kubeadm init writes on the control plane: the control plane is initialised. */
  adminKubeconfig: `${KUBERNETES_DIR}/admin.conf`,
  /** The kubelet's kubeconfig, written by kubeadm init or join: the node has joined. */
  kubeletKubeconfig: `${KUBERNETES_DIR}/kubelet.conf`,
  /** The kubelet's bootstrap kubeconfig during kubeadm join's TLS bootstrap. */
  bootstrapKubeletKubeconfig: `${KUBERNETES_DIR}/bootstrap-kubelet.conf`,
  /** The kubelet's own directory (config.yaml, kubeadm-flags.env). */
  kubeletDir: '/var/lib/kubelet',
  /** What `box build --bake` put into a box (src/vagrant/boxes.ts BakeRecord, as JSON). */
  bakedRecord: '/etc/kubeadm-vagrant/baked.json',
  /** The artifacts, once their checksums are verified (root-owned). */
  artifactsDir: `${GUEST_STATE_DIR}/artifacts`,
  /** The image archives imported into containerd so far, by checksum. */
  imagesImported: `${GUEST_STATE_DIR}/images-imported`,
  /** Where the CNI plugins are (the artifacts and the CNIs' installers put them there) and containerd must look. */
  cniBinDir: '/opt/cni/bin',
  containerdConfig: '/etc/containerd/config.toml',
  /** crictl's configuration (which CRI socket). */
  crictlConfig: '/etc/crictl.yaml',
  /** The kernel modules and sysctls Kubernetes needs, loaded at every boot. */
  modulesLoadConf: '/etc/modules-load.d/kubernetes.conf',
  sysctlConf: '/etc/sysctl.d/99-kubernetes.conf',
  /** Systemd units the tool installs itself (containerd and the kubelet from archives). */
  systemdUnitDir: '/usr/local/lib/systemd/system',
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
