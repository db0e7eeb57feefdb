import { describe, expect, it } from 'vitest';
import { HEADLAMP } from '../../src/addons.js';
import { calico as CALICO } from '../../src/cni/calico.js';
import { flannel as FLANNEL } from '../../src/cni/flannel.js';
import { HOST, joinConfigPath, SSH_KEY_KINDS, STATE_DIR } from '../../src/layout.js';
import { scriptPhases } from '../../src/phases.js';
import { renderAll, rubyQuote, slash24AddressRegex, yamlQuote, type RenderedFile } from '../../src/render/render.js';

const KUBEADM_DIR = HOST.kubeadmDir;
import { shellQuote } from '../../src/shell.js';
import { FIXED_CA_CERT_HASH, FIXED_SECRETS, FIXED_SSH_PUBLIC_KEY, FIXED_TOKEN, PLAN_CASES, casePlan, testPlan } from '../helpers/plans.js';
import { textOf } from '../helpers/rendered.js';

function file(files: RenderedFile[], path: string): RenderedFile {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} was not rendered; got ${files.map((x) => x.path).join(', ')}`);
  return f;
}

const allCases = Object.keys(PLAN_CASES).map((name) => ({ name, plan: casePlan(name), files: renderAll(casePlan(name)) }));

describe('renderAll', () => {
  it('is deterministic: the same plan gives the same bytes, and plans built twice agree', () => {
    const plan = testPlan({ kubernetes: { cni: 'calico' }, addons: { dashboard: true } });
    expect(renderAll(plan)).toEqual(renderAll(plan));
    expect(renderAll(testPlan({ kubernetes: { cni: 'calico' }, addons: { dashboard: true } }))).toEqual(renderAll(plan));
  });

  it('does not change the plan it renders', () => {
    const plan = testPlan();
    const before = JSON.stringify(plan);
    renderAll(plan);
    expect(JSON.stringify(plan)).toBe(before);
  });

  it('lists the files sorted by path, with one join config per worker', () => {
    const files = renderAll(testPlan());
    const paths = files.map((f) => f.path);
    expect(paths).toEqual([
      `${KUBEADM_DIR}/init.yaml`,
      `${KUBEADM_DIR}/join-worker-1.yaml`,
      `${KUBEADM_DIR}/join-worker-2.yaml`,
      `${STATE_DIR}/seeds/master-cidata.iso`,
      `${STATE_DIR}/seeds/worker-1-cidata.iso`,
      `${STATE_DIR}/seeds/worker-2-cidata.iso`,
      'Vagrantfile',
      'provision/artifacts.sh',
      'provision/control-plane.sh',
      'provision/packages.sh',
      'provision/prerequisites.sh',
      'provision/ssh-key.sh',
      'provision/worker.sh',
    ]);
    expect([...paths].sort((a, b) => (a < b ? -1 : 1))).toEqual(paths);
  });

  it('renders no join config without workers, and join configs named after kept worker indices', () => {
    expect(renderAll(testPlan({ workers: { count: 0 } })).filter((f) => f.path.includes('join-'))).toEqual([]);
    const plan = testPlan({ workers: { count: 2 } }, { workerIndices: [1, 3] });
    const files = renderAll(plan);
    const worker3 = plan.workers.find((w) => w.index === 3)!;
    expect(file(files, joinConfigPath(worker3.name)).content).toContain(`value: "${worker3.ip}"`);
    expect(files.some((f) => f.path.endsWith('join-worker-2.yaml'))).toBe(false);
  });

  it('gives kubeadm configs mode 0600, scripts 0755 and the Vagrantfile 0644', () => {
    for (const { files } of allCases) {
      for (const f of files) {
        if (f.path.startsWith(`${KUBEADM_DIR}/`)) expect(f.mode, f.path).toBe(0o600);
        else if (f.path.startsWith('provision/')) expect(f.mode, f.path).toBe(0o755);
        else expect(f.mode, f.path).toBe(0o644);
      }
    }
  });

  it('puts the token only in the 0600 files inside the state directory', () => {
    for (const { name, files } of allCases) {
      for (const f of files) {
        if (f.content.includes(FIXED_TOKEN)) {
          expect(f.mode, `${name}: ${f.path}`).toBe(0o600);
          expect(f.path.startsWith(`${STATE_DIR}/`), `${name}: ${f.path}`).toBe(true);
        }
      }
      expect(file(files, `${KUBEADM_DIR}/init.yaml`).content).toContain(FIXED_TOKEN);
      // Neither the token's secret half alone nor the CA hash leaks into scripts or the Vagrantfile.
      for (const f of files.filter((x) => x.mode !== 0o600)) {
        expect(f.content, f.path).not.toContain(FIXED_TOKEN.split('.')[1]);
        expect(f.content, f.path).not.toContain(FIXED_CA_CERT_HASH);
      }
    }
  });

  it("puts the cluster public key only in ssh-key.sh and, for a box of ours, the machines' seeds", () => {
    for (const { plan, files } of allCases) {
      for (const f of files) expect(f.content.includes(FIXED_SSH_PUBLIC_KEY), f.path).toBe(f.path === 'provision/ssh-key.sh' || (plan.box.ours && f.path.startsWith(`${STATE_DIR}/seeds/`)));
    }
  });

  it('syncs nothing into the guests: the only synced folder is the disabled default one', () => {
    for (const { name, files } of allCases) {
      const vagrantfile = textOf(file(files, 'Vagrantfile'));
      const synced = vagrantfile.split('\n').filter((l) => l.includes('synced_folder'));
      expect(synced, name).toEqual(['  config.vm.synced_folder ".", "/vagrant", disabled: true']);
      expect(vagrantfile).not.toMatch(/rsync|nfs|smb|9p|virtiofs/);
    }
  });

  it('keeps secrets out of provisioner arguments and environment', () => {
    for (const { files } of allCases) {
      const vagrantfile = file(files, 'Vagrantfile').content;
      expect(vagrantfile).not.toMatch(/args:|inline:/);
      expect(vagrantfile).toContain('env = { "KUBEADM_VAGRANT_NODE" => n[:name] }');
    }
  });

  it('a box of ours: the cluster key only, never the insecure key; each machine its seed', () => {
    const plan = testPlan({ provider: 'libvirt' });
    expect(plan.box).toEqual({ name: 'kubeadm-vagrant/ubuntu-24.04', ours: true });
    const files = renderAll(plan);
    const vagrantfile = file(files, 'Vagrantfile').content;
    expect(vagrantfile).toContain('config.ssh.private_key_path = [File.join(__dir__, ".kubeadm-vagrant/ssh/id_rsa")]');
    expect(vagrantfile).toContain('config.ssh.username = "vagrant"');
    expect(vagrantfile).not.toContain('INSECURE_KEYS');
    expect(vagrantfile).toContain('lv.storage :file, path: n[:seed_volume], type: "raw", bus: "virtio", allow_existing: true if n[:seed_volume]');
    expect(vagrantfile).toContain('vb.customize ["storageattach", :id, "--storagectl", "SATA Controller", "--port", "1", "--device", "0", "--type", "dvddrive", "--medium", File.join(__dir__, n[:seed_iso])] if n[:seed_iso]');
    for (const n of plan.nodes) {
      expect(vagrantfile).toContain(`    seed_iso: ".kubeadm-vagrant/seeds/${n.name}-cidata.iso",\n    seed_volume: "demo-${n.name}-cidata.iso",\n`);
      const seed = files.find((f) => f.path === `.kubeadm-vagrant/seeds/${n.name}-cidata.iso`);
      expect(Buffer.isBuffer(seed?.content) && seed.content.includes(FIXED_SSH_PUBLIC_KEY), n.name).toBe(true);
      expect(seed?.mode).toBe(0o644);
    }
  });

  it("another box: the cluster key, or the insecure key of the running Vagrant the first time; no seeds", () => {
    const files = renderAll(testPlan({ box: 'example/ubuntu-noble' }));
    expect(files.filter((f) => f.path.includes('seeds'))).toEqual([]);
    const vagrantfile = file(files, 'Vagrantfile').content;
    expect(vagrantfile).toContain('config.ssh.insert_key = false');
    expect(vagrantfile).toContain('config.ssh.private_key_path = [File.join(__dir__, ".kubeadm-vagrant/ssh/id_rsa"), *INSECURE_KEYS]');
    expect(vagrantfile).toContain('Vagrant.source_root.to_s, "keys", "vagrant{,.key.rsa,.key.ed25519}"');
    expect(SSH_KEY_KINDS.rsa.privateKey).toBe(`${STATE_DIR}/ssh/id_rsa`);
    // A new cluster's ECDSA key, by the kind its public key says.
    const ecdsa = file(renderAll(testPlan({ box: 'example/ubuntu-noble' }, { secrets: { ...FIXED_SECRETS, sshPublicKey: 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= lab' } })), 'Vagrantfile').content;
    expect(ecdsa).toContain('config.ssh.private_key_path = [File.join(__dir__, ".kubeadm-vagrant/ssh/id_ecdsa"), *INSECURE_KEYS]');
  });

  it('declares every node with its planned name, hostname, address and resources', () => {
    const plan = casePlan('virtualbox-custom-network-box-version');
    const vagrantfile = file(renderAll(plan), 'Vagrantfile').content;
    for (const n of plan.nodes) {
      expect(vagrantfile).toContain(
        `    name: "${n.name}",\n    hostname: "${n.hostname}",\n    role: "${n.role}",\n    ip: "${n.ip}",\n    cpus: ${n.cpus},\n    memory: ${n.memory},\n`,
      );
    }
    expect(vagrantfile).toContain('config.vm.box = "example/ubuntu-noble"\n  config.vm.box_version = "202502.21.0"');
    expect(vagrantfile).toContain('lv.default_prefix = "lab-"');
    expect(vagrantfile).toContain('vb.name = n[:hostname]');
    expect(file(renderAll(testPlan()), 'Vagrantfile').content).not.toContain('box_version');
  });

  it('uses the planned provider by default and the planned libvirt driver', () => {
    expect(file(renderAll(testPlan()), 'Vagrantfile').content).toContain('ENV["VAGRANT_DEFAULT_PROVIDER"] ||= "virtualbox"');
    const libvirt = file(renderAll(testPlan({ provider: 'libvirt', libvirt: { driver: 'qemu' } })), 'Vagrantfile').content;
    expect(libvirt).toContain('ENV["VAGRANT_DEFAULT_PROVIDER"] ||= "libvirt"');
    expect(libvirt).toContain('lv.driver = "qemu"');
  });

  it('gives each machine its provisioners in phase order, with the uploads just before the phase that reads them', () => {
    const vagrantfile = textOf(file(renderAll(testPlan()), 'Vagrantfile'));
    const masterBlock = vagrantfile.slice(vagrantfile.indexOf('name: "master"'), vagrantfile.indexOf('name: "worker-1"'));
    expect([...masterBlock.matchAll(/\{ name: "([\w-]+)", type: "(\w+)"/g)].map((m) => `${m[1]}:${m[2]}`)).toEqual([
      'ssh-key:shell', 'artifacts-files:file', 'artifacts:shell', 'prerequisites:shell', 'packages:shell', 'control-plane-files:file', 'control-plane-ca-cert:file', 'control-plane-ca-key:file', 'control-plane:shell',
    ]);
    const workerBlock = vagrantfile.slice(vagrantfile.indexOf('name: "worker-2"'), vagrantfile.indexOf('].freeze'));
    expect(workerBlock).toContain('{ name: "worker-files", type: "file", source: ".kubeadm-vagrant/kubeadm/join-worker-2.yaml", destination: "/home/vagrant/.kubeadm-vagrant/join.yaml" },\n      { name: "worker", type: "shell", path: "provision/worker.sh" },');
    expect(vagrantfile).toContain('n[:provisioners].each do |p|');
  });

  it('never disables the CA pin and never uses the NAT address', () => {
    for (const { files } of allCases) {
      for (const f of files) {
        expect(f.content, f.path).not.toContain('unsafe-skip-ca-verification');
        expect(f.content, f.path).not.toContain('unsafeSkipCAVerification');
        expect(f.content, f.path).not.toContain('10.0.2.15');
      }
    }
  });

  it('starts every script with bash in strict mode and logs with the phase name', () => {
    for (const { name, files } of allCases) {
      for (const phase of scriptPhases(casePlan(name)).map((p) => p.script!)) {
        const script = textOf(file(files, `provision/${phase}.sh`));
        expect(script.startsWith('#!/usr/bin/env bash\n'), phase).toBe(true);
        expect(script).toContain('\nset -euo pipefail\n');
        expect(script).toContain(`\nKV_PHASE=${phase}\n`);
        expect(script).toContain(`printf '[kubeadm-vagrant] %s: %s\\n' "\${KV_PHASE}" "$*"`);
        expect(script.endsWith('\nif [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi\n'), phase).toBe(true);
      }
    }
  });

  it('renders the distro family\'s package manager only for what a box lacks, and Kubernetes from the artifacts alone', () => {
    const apt = renderAll(testPlan({ distro: 'debian-12', kubernetes: { version: '1.36.2' } }));
    const dnf = renderAll(testPlan({ distro: 'rocky-9', kubernetes: { version: '1.36.2' } }));
    const aptPackages = file(apt, 'provision/packages.sh').content;
    const dnfPackages = file(dnf, 'provision/packages.sh').content;
    for (const packages of [aptPackages, dnfPackages]) {
      expect(packages).toContain("readonly K8S_PATCH='1.36.2'");
      expect(packages).toContain('for bin in kubeadm kubelet kubectl crictl; do copy_file "${ARTIFACTS_DIR}/bin/${bin}" "/usr/local/bin/${bin}" 0755; done');
      expect(packages).toContain('  import_images "${ARTIFACTS_DIR}"\n');
    }
    expect(aptPackages).toContain('/etc/default/kubelet');
    expect(aptPackages).not.toMatch(/\bdnf\b/);
    expect(dnfPackages).toContain('/etc/sysconfig/kubelet');
    expect(dnfPackages).not.toContain('apt-get');
    // The guest-side package path is gone: no Kubernetes repository, no package held, nothing downloaded.
    for (const { files } of allCases) {
      for (const f of files.filter((x) => x.path.startsWith('provision/'))) {
        expect(f.content, f.path).not.toMatch(/pkgs\.k8s\.io|apt-mark|exclude=kubelet|kubernetes-cni|cri-tools|curl -fsSL|https:\/\/(github\.com|raw\.githubusercontent\.com|dl\.k8s\.io)/);
      }
    }
    const dnfPrereq = file(dnf, 'provision/prerequisites.sh').content;
    expect(dnfPrereq).toContain('setenforce 0');
    expect(dnfPrereq).toContain('conntrack=conntrack-tools');
    expect(file(renderAll(testPlan({ distro: 'rocky-9', runtime: { containerd: 'distro' } })), 'provision/prerequisites.sh').content).toContain('containerd=containerd.io');
    expect(file(apt, 'provision/prerequisites.sh').content).not.toContain('setenforce');
  });

  it('renders the CNI and the dashboard the plan asks for, at pinned versions', () => {
    const flannel = file(renderAll(testPlan()), 'provision/control-plane.sh').content;
    // The manifests come from the artifacts (fetched at their pinned tags on the host), never from their URLs.
    expect(flannel).toContain(`get_manifest ${FLANNEL.manifests[0]!.name} "\${FLANNEL_UPSTREAM}"`);
    expect(flannel).toContain(`readonly FLANNEL_MANIFEST="\${CONFIG_DIR}/kube-flannel-${FLANNEL.version}.yml"`);
    expect(flannel).not.toContain(FLANNEL.manifests[0]!.url);
    expect(flannel).toContain("readonly FLANNEL_ARGS=(\n  '--iface-regex=^192\\.168\\.56\\.[0-9]+$'\n)");
    expect(flannel).not.toContain('tigera');
    expect(flannel).not.toContain('dashboard');
    const calico = file(renderAll(testPlan({ kubernetes: { cni: 'calico', podSubnet: '10.32.0.0/16' }, addons: { dashboard: true } })), 'provision/control-plane.sh').content;
    for (const m of CALICO.manifests) expect(calico).toContain(`get_manifest ${m.name} `);
    for (const m of CALICO.manifests) expect(calico).not.toContain(m.url);
    expect(calico).toContain("readonly POD_SUBNET='10.32.0.0/16'");
    expect(calico).toContain('canReach: ${MASTER_IP}');
    expect(calico).toContain('encapsulation: VXLANCrossSubnet');
    expect(calico).toContain(`image: ${HEADLAMP.image}`);
    expect(calico).toContain(`nodePort: ${HEADLAMP.nodePort}`);
    expect(calico).not.toMatch(/headlamp:latest|kubernetes\/dashboard/);
    expect(calico).not.toContain('flannel');
  });

  it("names the artifacts' patch as kubeadm's version (a minor took its newest known patch)", () => {
    const minor = file(renderAll(testPlan({ kubernetes: { version: '1.33' } })), `${KUBEADM_DIR}/init.yaml`).content;
    expect(minor).toContain('kubernetesVersion: "v1.33.13"');
    const patch = file(renderAll(testPlan({ kubernetes: { version: '1.33.2' } })), `${KUBEADM_DIR}/init.yaml`).content;
    expect(patch).toContain('kubernetesVersion: "v1.33.2"');
    expect(patch).toContain('imagePullPolicy: Never');
  });

  it('lets the control plane run workloads only when there are no workers', () => {
    expect(file(renderAll(testPlan({ workers: { count: 0 } })), `${KUBEADM_DIR}/init.yaml`).content).toContain('  taints: []\n');
    expect(file(renderAll(testPlan()), `${KUBEADM_DIR}/init.yaml`).content).not.toContain('taints');
  });
});


describe('quoting and small helpers', () => {
  it('quotes for the shell', () => {
    expect(shellQuote('plain')).toBe("'plain'");
    expect(shellQuote("it's $HOME `x`")).toBe("'it'\\''s $HOME `x`'");
  });

  it('quotes for YAML and Ruby', () => {
    expect(yamlQuote('a"b\\c: #d')).toBe('"a\\"b\\\\c: #d"');
    expect(rubyQuote('box #{`rm -rf`}')).toBe('"box \\#{`rm -rf`}"');
  });

  it('matches the addresses of a /24', () => {
    const re = new RegExp(slash24AddressRegex('192.168.56.0/24'));
    expect(re.test('192.168.56.10')).toBe(true);
    expect(re.test('192.168.5.10')).toBe(false);
    expect(re.test('192.168.566.1')).toBe(false);
    expect(re.test('192x168.56.1')).toBe(false);
  });

});
