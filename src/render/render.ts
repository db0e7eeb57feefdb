import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ejs from 'ejs';
import { STATE_DIR, templatesDir } from '../paths.js';
import type { ClusterPlan, NodePlan } from '../plan/plan.js';

export interface RenderedFile {
  /** Relative to the cluster directory. */
  path: string;
  content: string;
  /** 0o600 for anything holding a secret (the token), 0o755 for scripts. */
  mode: number;
}

/** The provisioning phases, in order, each one shell provisioner in the Vagrantfile. */
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

const templateCache = new Map<string, string>();
function template(name: string): string {
  let text = templateCache.get(name);
  if (text === undefined) {
    text = readFileSync(join(templatesDir, name), 'utf8');
    templateCache.set(name, text);
  }
  return text;
}

/** Renders one template; `include()` inside templates resolves relative to templates/. */
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
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
