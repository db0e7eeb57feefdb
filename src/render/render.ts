import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ejs from 'ejs';
import { HEADLAMP } from '../addons.js';
import { CNI_IDS, cniDef } from '../cni/index.js';
import { OVERRIDES } from '../config/flags.js';
import { CONTAINERD_SOURCES, CONTROL_PLANE_MIN_CPUS, CONTROL_PLANE_MIN_MEMORY_MIB, defaultConfig, MIN_K8S_MINOR, MIN_TOKEN_TTL, PROXY_MODES } from '../config/schema.js';
import { distroIds, FAMILIES } from '../distros.js';
import { GUEST, GUEST_UPGRADE, HOST, joinConfigPath, scriptPath, seedPath, seedVolumeName, sshKeyFilesOf, templatesDir } from '../layout.js';
import { VIRTUALBOX_SATA } from '../boxes/formats.js';
import { seedImage } from '../boxes/seed.js';
import { provisionersOf, scriptPhases } from '../phases.js';
import type { ClusterPlan } from '../plan/plan.js';
import { PROVIDER_IDS, PROVIDERS, providerSectionDefs } from '../providers/index.js';
import { rubyQuote, yamlQuote } from '../quote.js';
import { shellQuote } from '../shell.js';
import { CONTROL_PLANE_IMAGES } from '../versions.js';
import { componentArgs, kubeletArgs, probePatches } from './slowdown.js';

export interface RenderedFile {
  /** Relative to the cluster directory. */
  path: string;
  /** Text; bytes only for a machine's seed image. */
  content: string | Buffer;
  /** 0o600 for anything holding a secret (the token), 0o755 for scripts. */
  mode: number;
}

export { rubyQuote, yamlQuote };

/** An extended regular expression that matches exactly the addresses of a /24 written `a.b.c.0/24`. */
export function slash24AddressRegex(cidr: string): string {
  const prefix = cidr.split('.').slice(0, 3).join('\\.');
  return `^${prefix}\\.[0-9]+$`;
}


const templateCache = new Map<string, string>();
/** A template of the package (templates/<name>), read once per process. */
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
    // Compile each template once per process: an include (the family's, the common helpers)
    // is otherwise read and compiled again by every template that includes it.
    cache: true,
    strict: false,
    rmWhitespace: false,
    escape: (s: unknown) => String(s),
  });
}

/** Values every template sees besides the plan: the layout, and the plan's CNI, family and providers. */
function templateData(plan: ClusterPlan): Record<string, unknown> {
  return {
    plan,
    // The cluster's own key files: the kind its public key says (ECDSA, or RSA for a cluster made before).
    host: { ...HOST, sshPrivateKey: sshKeyFilesOf(plan.secrets.sshPublicKey).privateKey },
    guest: GUEST,
    cni: cniDef(plan.kubernetes.cni),
    family: FAMILIES[plan.distro.family],
    providers: PROVIDERS,
    provisionersOf: (node: ClusterPlan['nodes'][number]) => provisionersOf(node, plan),
    seedOf: (node: ClusterPlan['nodes'][number]) => ({ iso: seedPath(node.name), volume: seedVolumeName(plan.name, node.name) }),
    virtualboxSata: VIRTUALBOX_SATA,
    headlamp: HEADLAMP,
    controlPlaneImages: CONTROL_PLANE_IMAGES,
    probePatches: probePatches(plan.slowdown),
    componentArgs: componentArgs(plan.slowdown),
    kubeletArgs: kubeletArgs(plan.slowdown),
    /** Seconds on hardware → seconds on these machines. */
    scaled: (seconds: number) => seconds * plan.slowdown,
    nodeAddressRegex: slash24AddressRegex(plan.network.nodeNetwork),
    sh: shellQuote,
    yq: yamlQuote,
    rb: rubyQuote,
  };
}

/**
 * Every generated file for a plan, sorted by path. Deterministic: a function of the plan and of the
 * package's templates/ (each read from the disk, with its includes, once per process by this module
 * and ejs: rendering's only I/O); it writes nothing and reads nothing else.
 */
export function renderAll(plan: ClusterPlan): RenderedFile[] {
  const data = templateData(plan);
  const files: RenderedFile[] = [
    { path: HOST.vagrantfile, content: renderTemplate('Vagrantfile.ejs', data), mode: 0o644 },
    ...scriptPhases(plan).map((phase) => ({
      path: scriptPath(phase.script!),
      content: renderTemplate(`provision/${phase.script}.sh.ejs`, data),
      mode: 0o755,
    })),
    { path: HOST.initConfig, content: renderTemplate('kubeadm/init.yaml.ejs', data), mode: 0o600 },
    ...plan.workers.map((node) => ({
      path: joinConfigPath(node.name),
      content: renderTemplate('kubeadm/join.yaml.ejs', { ...data, node }),
      mode: 0o600,
    })),
    ...seedFiles(plan),
  ];
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A box of ours has no login user and no key: each machine's first boot reads a cloud-init NoCloud
 * seed that creates the login user with the cluster's own public key (public data, 0644).
 */
export function seedFiles(plan: ClusterPlan): RenderedFile[] {
  if (!plan.box.ours) return [];
  return plan.nodes.map((node) => ({
    path: seedPath(node.name),
    content: seedImage({ instanceId: `${plan.name}-${node.name}`, hostname: node.hostname, user: GUEST.loginUser, authorizedKeys: [plan.secrets.sshPublicKey] }),
    mode: 0o644,
  }));
}

/**
 * What `upgrade` uploads to every node, for the plan of the target version (its artifacts): the
 * upgrade script and kubeadm's UpgradeConfiguration. Pure, like renderAll; generate does not write
 * them (the Vagrantfile stays the same whatever the target).
 */
export function renderUpgrade(plan: ClusterPlan): { script: string; config: string } {
  const data = { ...templateData(plan), upgrade: GUEST_UPGRADE };
  return { script: renderTemplate('provision/upgrade.sh.ejs', data), config: renderTemplate('kubeadm/upgrade.yaml.ejs', data) };
}

/** The commented cluster.yaml `init` writes: the schema's defaults and the registries' choices. */
export function renderClusterYaml(): string {
  return renderTemplate('cluster.yaml.ejs', {
    d: defaultConfig(),
    providers: PROVIDER_IDS,
    providerSections: providerSectionDefs().map((p) => ({ id: p.id, comments: p.options.comments })),
    distros: distroIds(),
    cnis: CNI_IDS,
    proxyModes: PROXY_MODES,
    containerdSources: CONTAINERD_SOURCES,
    classicVariables: OVERRIDES.flatMap((o) => (o.env ? [o.env] : [])),
    minMinor: `1.${MIN_K8S_MINOR}`,
    minTokenTTL: MIN_TOKEN_TTL,
    cpMinCpus: CONTROL_PLANE_MIN_CPUS,
    cpMinMemory: CONTROL_PLANE_MIN_MEMORY_MIB,
    line: (text: string, comment: string) => `${text.padEnd(28)}# ${comment}`,
  });
}
