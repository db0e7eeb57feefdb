import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { remote } from '../../src/remote.js';
import { Redactor } from '../../src/redact.js';
import { machineReadableError, parseMachineReadable, readableLines, vagrantDestroy, vagrantProvision, vagrantStatus, vagrantUp } from '../../src/vagrant/commands.js';
import { vagrantSummary } from '../../src/vagrant/runner.js';
import { joinTokenPolicy, tokenStillGood } from '../../src/steps/tokens.js';
import { kubeToolsCheck } from '../../src/verify/package-checks.js';
import type { TokenInfo } from '../../src/verify/index.js';

// `vagrant status --machine-readable` as vagrant-libvirt 0.11 prints it (Vagrant 2.3.4).
const STATUS = `1732230000,master,metadata,provider,libvirt
1732230000,worker-1,metadata,provider,libvirt
1732230000,worker-2,metadata,provider,libvirt
1732230001,master,provider-name,libvirt
1732230001,master,state,running
1732230001,master,state-human-short,running
1732230001,master,state-human-long,The Libvirt domain is running. To stop this machine%!(VAGRANT_COMMA) you can run\\n\`vagrant halt\`.
1732230001,worker-1,provider-name,libvirt
1732230001,worker-1,state,shutoff
1732230001,worker-2,provider-name,libvirt
1732230001,worker-2,state,not_created
1732230001,,ui,info,Current machine states:\\n\\nmaster                    running (libvirt)
`;

describe('vagrant commands are data', () => {
  it('builds up, status and destroy argument lists', () => {
    expect(vagrantUp({ provider: 'libvirt', parallel: true }).args).toEqual(['up', '--provider=libvirt', '--parallel', '--no-provision']);
    expect(vagrantUp({ provider: 'virtualbox', machines: ['worker-3'], parallel: false }).args).toEqual(['up', '--provider=virtualbox', '--no-parallel', '--no-provision', 'worker-3']);
    expect(vagrantProvision('worker-3', ['worker-files', 'worker']).args).toEqual(['provision', 'worker-3', '--provision-with=worker-files,worker']);
    expect(vagrantStatus().args).toEqual(['status', '--machine-readable']);
    expect(vagrantDestroy(['worker-2']).args).toEqual(['destroy', '--force', 'worker-2']);
  });

  it('parses machine-readable status', () => {
    expect(parseMachineReadable(STATUS)).toEqual([
      { name: 'master', state: 'running', provider: 'libvirt' },
      { name: 'worker-1', state: 'shutoff', provider: 'libvirt' },
      { name: 'worker-2', state: 'not_created', provider: 'libvirt' },
    ]);
  });
});

describe("Vagrant's machine-readable errors, readable", () => {
  // Real Vagrant 2.3.4 output: `vagrant status --machine-readable` without VirtualBox, and with a
  // stand-in VBoxManage that answers --version with 7.1.4r165100.
  const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8').trimEnd().split('\n');

  it('no VirtualBox: the text a person reads, and the reason in one line', () => {
    const lines = fixture('vagrant-status-no-virtualbox.txt');
    expect(lines.flatMap(readableLines)).toEqual([
      "The provider 'virtualbox' that was requested to back the machine",
      "'master' is reporting that it isn't usable on this system. The",
      'reason is shown below:',
      '',
      'Vagrant could not detect VirtualBox! Make sure VirtualBox is properly installed.',
      'Vagrant uses the `VBoxManage` binary that ships with VirtualBox, and requires',
      'this to be available on the PATH. If VirtualBox is installed, please find the',
      '`VBoxManage` binary and add it to the PATH environmental variable.',
    ]);
    expect(lines.flatMap(readableLines).join('\n')).not.toContain('VAGRANT_COMMA');
    const error = machineReadableError(lines[1]!)!;
    expect(error.errorClass).toBe('Vagrant::Errors::ProviderNotUsable');
    expect(vagrantSummary(error.message)).toBe(
      'Vagrant could not detect VirtualBox! Make sure VirtualBox is properly installed. Vagrant uses the `VBoxManage` binary that ships with VirtualBox, and requires this to be available on the PATH. If VirtualBox is installed, please find the `VBoxManage` binary and add it to the PATH environmental variable.',
    );
  });

  it('VirtualBox 7.1 with Vagrant 2.3.4: "not supported", with the list it accepts', () => {
    const lines = fixture('vagrant-status-virtualbox-7.1.txt');
    expect(lines.flatMap(readableLines)).toContain('4.0, 4.1, 4.2, 4.3, 5.0, 5.1, 5.2, 6.0, 6.1, 7.0');
    expect(vagrantSummary(machineReadableError(lines[1]!)!.message)).toMatch(/^Vagrant has detected that you have a version of VirtualBox installed that is not supported by this version of Vagrant\./);
    // Status records are for the parser, not for people.
    expect(readableLines('1732230001,master,state,running')).toEqual([]);
    expect(readableLines('plain text')).toEqual(['plain text']);
  });
});

describe('SSH commands sent to the control plane', () => {
  it('are exactly these command lines', () => {
    const K = 'kubectl --kubeconfig=/etc/kubernetes/admin.conf';
    expect(remote.catAdminConf()).toBe('cat /etc/kubernetes/admin.conf');
    expect(remote.tokenList()).toBe('kubeadm token list --kubeconfig=/etc/kubernetes/admin.conf -o json');
    expect(remote.tokenCreate('2h', 'kubeadm-vagrant', 'abcdef.0123456789abcdef')).toBe(
      "kubeadm token create 'abcdef.0123456789abcdef' --kubeconfig=/etc/kubernetes/admin.conf --ttl '2h' --description 'kubeadm-vagrant'",
    );
    expect(remote.tokenDelete('abcdef')).toBe("kubeadm token delete --kubeconfig=/etc/kubernetes/admin.conf 'abcdef'");
    expect(remote.drain('demo-worker-2', 120)).toBe(`${K} drain 'demo-worker-2' --ignore-daemonsets --delete-emptydir-data --force --timeout=120s`);
    expect(remote.deleteNode('demo-worker-2')).toBe(`${K} delete node 'demo-worker-2' --ignore-not-found --timeout=60s`);
  });

  it('quotes what it interpolates', () => {
    expect(remote.tokenDelete("a'b")).toContain(`'a'\\''b'`);
  });
});

describe('join token freshness', () => {
  const now = new Date('2026-11-21T12:00:00Z');
  const tok = (id: string, expires?: string): TokenInfo => ({ id, expires: expires ? new Date(expires) : undefined, usages: [], description: '', groups: [] });
  it('is good with more than an hour left', () => {
    expect(tokenStillGood([tok('abcdef', '2026-11-21T13:30:00Z')], 'abcdef.0123456789abcdef', now)).toBe(true);
  });
  it('is not good within the hour, when expired, or when absent', () => {
    expect(tokenStillGood([tok('abcdef', '2026-11-21T12:59:00Z')], 'abcdef.0123456789abcdef', now)).toBe(false);
    expect(tokenStillGood([tok('abcdef', '2026-11-20T12:00:00Z')], 'abcdef.0123456789abcdef', now)).toBe(false);
    expect(tokenStillGood([tok('zzzzzz', '2026-11-22T12:00:00Z')], 'abcdef.0123456789abcdef', now)).toBe(false);
  });
});

describe('join token policy', () => {
  it('makes 2h tokens, replaced in their last hour, for the usual TTLs', () => {
    expect(joinTokenPolicy('24h')).toEqual({ ttl: '2h', minRemainingMs: 3_600_000 });
    expect(joinTokenPolicy('2h')).toEqual({ ttl: '2h', minRemainingMs: 3_600_000 });
  });
  it('honours a shorter configured TTL, replacing its tokens in the last half', () => {
    expect(joinTokenPolicy('90m')).toEqual({ ttl: '90m', minRemainingMs: 2_700_000 });
    expect(joinTokenPolicy('30m')).toEqual({ ttl: '30m', minRemainingMs: 900_000 });
    expect(tokenStillGood([{ id: 'abcdef', expires: new Date('2026-11-21T12:20:00Z'), usages: [], description: '', groups: [] }], 'abcdef.0123456789abcdef', new Date('2026-11-21T12:00:00Z'), joinTokenPolicy('30m').minRemainingMs)).toBe(true);
  });
});

describe('redaction', () => {
  it('hides bootstrap tokens wherever they appear and private key blocks', () => {
    const r = new Redactor(['s3cret-literal-value']);
    expect(r.line('    master: kubeadm join 192.168.56.10:6443 --token abcdef.0123456789abcdef \\')).toBe('    master: kubeadm join 192.168.56.10:6443 --token abcdef.<redacted> \\');
    expect(r.line('x s3cret-literal-value y')).toBe('x <redacted> y');
    expect(r.text('a\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nb')).toBe('a\n<private key redacted>\n<private key redacted>\n<private key redacted>\nb');
  });
});

describe('kube tools check', () => {
  const out = 'kubeadm v1.33.2\nkubelet v1.33.2\nkubectl v1.33.2\n';
  it('passes on the planned patch', () => {
    expect(kubeToolsCheck('1.33.2').parse(out, 0, {} as never).ok).toBe(true);
    expect(kubeToolsCheck('1.33.2').expected({} as never)).toBe('all three at v1.33.2');
  });
  it('fails on a missing tool or another version', () => {
    expect(kubeToolsCheck('1.33.1').parse(out, 0, {} as never).ok).toBe(false);
    expect(kubeToolsCheck('1.32.2').parse(out, 0, {} as never).ok).toBe(false);
    expect(kubeToolsCheck('1.33.2').parse('kubeadm v1.33.2\nkubelet v1.33.3\nkubectl v1.33.2\n', 0, {} as never).ok).toBe(false);
    const missing = kubeToolsCheck('1.33.2').parse('kubeadm v1.33.2\nkubelet \nkubectl v1.33.2\n', 0, {} as never);
    expect(missing).toEqual({ ok: false, seen: 'kubeadm v1.33.2, kubelet missing, kubectl v1.33.2' });
  });
});
