import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, sshArgs, type SshTarget } from '../../src/ssh/client.js';
import { generateSshKeyPair, publicKeyFromPrivate } from '../../src/ssh/keys.js';
import { currentUser, type Sshd, sshdAvailability, startSshd } from '../helpers/sshd.js';
import { needTool } from '../helpers/tools.js';

/**
 * The cluster's key must open the machines for every SSH client that uses it: ssh2 (verify, the
 * token commands), OpenSSH (`kubeadm-vagrant ssh`, `vagrant ssh`) and Net::SSH as Vagrant itself
 * loads it (provisioning), for a new cluster's ECDSA key and an existing cluster's RSA key.
 */

/** Net::SSH from the gems the installed Vagrant activates, with the options of Vagrant's SSH communicator. */
const VAGRANT_NET_SSH = `
gem "vagrant"
require "net/ssh"
host, port, user, key = ARGV
insecure = File.join(Gem::Specification.find_by_name("vagrant").gem_dir, "keys", "vagrant")
opts = { auth_methods: ["none", "hostbased", "publickey"], config: false, keys_only: true, verify_host_key: :never,
         keys: [key, insecure].select { |k| File.exist?(k) }, port: port.to_i, timeout: 10, user_known_hosts_file: [], non_interactive: true }
Net::SSH.start(host, user, opts) { |ssh| puts "net-ssh #{Net::SSH::Version::STRING}: #{ssh.exec!("echo logged-in").strip}" }
`;

const availability = sshdAvailability();

describe.skipIf(!availability.ok && process.env.CI !== 'true')('the cluster key opens a real sshd for ssh2, OpenSSH and Vagrant\'s Net::SSH', () => {
  let dir: string;
  let sshd: Sshd;
  let target: SshTarget;
  const keys: Record<'ecdsa' | 'rsa', { file: string; pem: string }> = {} as never;

  beforeAll(async () => {
    if (!availability.ok) throw new Error(`these tests need sshd: ${availability.reason}`);
    dir = mkdtempSync(join(tmpdir(), 'kv-ssh-keys-'));
    const ecdsa = await generateSshKeyPair('kubeadm-vagrant-new');
    // An existing cluster's key: PKCS#1 RSA, as node-forge wrote it before.
    const rsaPem = execFileSync('openssl', ['genrsa', '-traditional', '3072'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    for (const [kind, pem] of [['ecdsa', ecdsa.privateKeyPem], ['rsa', rsaPem]] as const) {
      const file = join(dir, `id_${kind}`);
      writeFileSync(file, pem, { mode: 0o600 });
      keys[kind] = { file, pem };
    }
    sshd = await startSshd({ authorizedKeys: [ecdsa.publicKeyOpenSsh, publicKeyFromPrivate(rsaPem, 'kubeadm-vagrant-old')] });
    target = { name: 'master', host: sshd.endpoints[0]!.host, port: sshd.endpoints[0]!.port, username: currentUser() };
  });

  afterAll(async () => {
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['ecdsa', 'rsa'] as const) {
    it(`${kind}: ssh2`, async () => {
      const session = await connect(target, { privateKey: Buffer.from(keys[kind].pem), knownHostsFile: join(dir, `known_hosts-${kind}`), connectTimeoutMs: 5000, commandTimeoutMs: 10_000, retries: 0, backoffMs: 100 });
      try {
        expect((await session.exec('echo logged-in')).stdout).toBe('logged-in\n');
      } finally {
        await session.close();
      }
    });

    it(`${kind}: OpenSSH with the argv of kubeadm-vagrant ssh`, (ctx) => {
      needTool(ctx, 'ssh');
      const knownHosts = join(dir, `known_hosts-openssh-${kind}`);
      writeFileSync(knownHosts, `[${target.host}]:${target.port} ${sshd.hostPublicKey()}\n`);
      const args = sshArgs(target, { identityFile: keys[kind].file, knownHostsFile: knownHosts, interactive: false, command: ['echo', 'logged-in'] });
      expect(execFileSync('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()).toBe('logged-in\n');
    });

    it(`${kind}: Net::SSH as the installed Vagrant loads it`, (ctx) => {
      needTool(ctx, 'ruby');
      needTool(ctx, 'vagrant');
      const script = join(dir, 'net-ssh.rb');
      writeFileSync(script, VAGRANT_NET_SSH);
      const out = execFileSync('ruby', [script, target.host, String(target.port), target.username, keys[kind].file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      expect(out).toMatch(/^net-ssh \d+\.\d+\.\d+: logged-in$/m);
      expect(readFileSync(keys[kind].file, 'utf8')).toBe(keys[kind].pem);
    });
  }
});
