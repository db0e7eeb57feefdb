import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { contextName, defaultKubeconfigFile, mergeKubeconfig, removeFromKubeconfig, rewriteAdminConf, type Kubeconfig } from '../../src/kubeconfig.js';

// The shape kubeadm writes to /etc/kubernetes/admin.conf (data shortened).
const ADMIN_CONF = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTi1DQQ==
    server: https://192.168.56.10:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tLS1DRVJU
    client-key-data: LS0tLS1LRVk=
`;

const OTHER: Kubeconfig = parse(`apiVersion: v1
kind: Config
clusters:
- name: kind-kind
  cluster: {server: https://127.0.0.1:40000}
users:
- name: kind-kind
  user: {token: x}
contexts:
- name: kind-kind
  context: {cluster: kind-kind, user: kind-kind}
current-context: kind-kind
`) as Kubeconfig;

describe('kubeconfig', () => {
  it('rewrites admin.conf to our names and the master address', () => {
    const k = rewriteAdminConf(ADMIN_CONF.replace('192.168.56.10', '10.0.2.15'), 'demo', '192.168.56.10');
    expect(k.clusters![0]).toEqual({ name: 'kubeadm-vagrant-demo', cluster: { 'certificate-authority-data': 'LS0tLS1CRUdJTi1DQQ==', server: 'https://192.168.56.10:6443' } });
    expect(k.users![0]!.name).toBe('kubeadm-vagrant-demo');
    expect(k.contexts![0]).toEqual({ name: 'kubeadm-vagrant-demo', context: { cluster: 'kubeadm-vagrant-demo', user: 'kubeadm-vagrant-demo' } });
    expect(k['current-context']).toBe(contextName('demo'));
  });

  it('refuses a file without cluster or user', () => {
    expect(() => rewriteAdminConf('apiVersion: v1\nkind: Config\n', 'demo', '192.168.56.10')).toThrow(/no cluster or user/);
  });

  it('merges without touching other entries, replaces its own, and removes cleanly', () => {
    const ours = rewriteAdminConf(ADMIN_CONF, 'demo', '192.168.56.10');
    const merged = mergeKubeconfig(OTHER, ours);
    expect(merged.clusters!.map((c) => c.name)).toEqual(['kind-kind', 'kubeadm-vagrant-demo']);
    expect(merged.clusters![0]).toEqual(OTHER.clusters![0]);
    expect(merged['current-context']).toBe('kubeadm-vagrant-demo');
    const again = mergeKubeconfig(merged, ours);
    expect(again.contexts!.length).toBe(2);
    const removed = removeFromKubeconfig(again, 'kubeadm-vagrant-demo');
    expect(removed.clusters).toEqual(OTHER.clusters);
    expect(removed.users).toEqual(OTHER.users);
    expect(removed.contexts).toEqual(OTHER.contexts);
    expect(removed['current-context']).toBe('');
    expect(removeFromKubeconfig({ ...again, 'current-context': 'kind-kind' }, 'kubeadm-vagrant-demo')['current-context']).toBe('kind-kind');
  });

  it('merges into nothing', () => {
    const merged = mergeKubeconfig(null, rewriteAdminConf(ADMIN_CONF, 'demo', '192.168.56.10'));
    expect(merged.kind).toBe('Config');
    expect(merged.clusters!.length).toBe(1);
  });

  it('picks the first KUBECONFIG entry, else ~/.kube/config', () => {
    expect(defaultKubeconfigFile({ KUBECONFIG: '/a/b:/c/d' })).toBe('/a/b');
    expect(defaultKubeconfigFile({ KUBECONFIG: '' })).toMatch(/\.kube\/config$/);
  });
});
