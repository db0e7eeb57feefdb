import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { OperationError } from './errors.js';
import { writeFileAtomic } from './write.js';

interface Named<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

export interface Kubeconfig {
  apiVersion?: string;
  kind?: string;
  clusters?: Named<{ server?: string; [k: string]: unknown }>[];
  users?: Named<Record<string, unknown>>[];
  contexts?: Named<{ cluster?: string; user?: string; namespace?: string }>[];
  'current-context'?: string;
  preferences?: Record<string, unknown>;
  [key: string]: unknown;
}

export function contextName(clusterName: string): string {
  return `kubeadm-vagrant-${clusterName}`;
}

/**
 * Turns the control plane's admin.conf into ours: one cluster, user and context, all named
 * `kubeadm-vagrant-<name>`, with the server at the master's private address.
 */
export function rewriteAdminConf(adminConf: string, clusterName: string, masterIP: string): Kubeconfig {
  const conf = parse(adminConf) as Kubeconfig | null;
  const cluster = conf?.clusters?.[0]?.cluster;
  const user = conf?.users?.[0]?.user;
  if (!cluster || !user) throw new OperationError('the admin kubeconfig from the control plane has no cluster or user entry');
  const name = contextName(clusterName);
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { ...cluster, server: `https://${masterIP}:6443` } }],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
    preferences: {},
  };
}

function replaceNamed<T extends { name: string }>(list: T[] | undefined, entry: T): T[] {
  return [...(list ?? []).filter((e) => e.name !== entry.name), entry];
}

/** Adds (or replaces) our entries without touching any other cluster, user or context. */
export function mergeKubeconfig(existing: Kubeconfig | null, ours: Kubeconfig): Kubeconfig {
  const base: Kubeconfig = existing ?? { apiVersion: 'v1', kind: 'Config', preferences: {} };
  return {
    ...base,
    apiVersion: base.apiVersion ?? 'v1',
    kind: base.kind ?? 'Config',
    clusters: replaceNamed(base.clusters, ours.clusters![0]!),
    users: replaceNamed(base.users, ours.users![0]!),
    contexts: replaceNamed(base.contexts, ours.contexts![0]!),
    'current-context': ours['current-context'],
  };
}

/** Removes our entries; other entries stay, and current-context is cleared only if it was ours. */
export function removeFromKubeconfig(existing: Kubeconfig, name: string): Kubeconfig {
  const out: Kubeconfig = {
    ...existing,
    clusters: (existing.clusters ?? []).filter((e) => e.name !== name),
    users: (existing.users ?? []).filter((e) => e.name !== name),
    contexts: (existing.contexts ?? []).filter((e) => e.name !== name),
  };
  if (out['current-context'] === name) out['current-context'] = '';
  return out;
}

/** The file `--merge` writes to: the first entry of $KUBECONFIG, else ~/.kube/config (as kubectl, kind and k3d do). */
export function defaultKubeconfigFile(env: NodeJS.ProcessEnv = process.env): string {
  const first = env.KUBECONFIG?.split(delimiter).find((p) => p !== '');
  return first ?? join(homedir(), '.kube', 'config');
}

export function readKubeconfig(file: string): Kubeconfig | null {
  if (!existsSync(file)) return null;
  return (parse(readFileSync(file, 'utf8')) as Kubeconfig | null) ?? null;
}

export function writeKubeconfig(file: string, conf: Kubeconfig): void {
  writeFileAtomic(file, stringify(conf, { lineWidth: 0 }), 0o600);
}
