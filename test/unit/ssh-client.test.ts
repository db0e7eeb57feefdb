import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { needTool } from '../helpers/tools.js';
import { describeCommand, mapConcurrent, remoteCommand, sshArgs, type SshTarget } from '../../src/ssh/client.js';
import { shellQuote } from '../../src/shell.js';

const target: SshTarget = { name: 'worker-1', host: '192.168.56.21', port: 22, username: 'vagrant' };
const files = { identityFile: '/c/.kubeadm-vagrant/id_rsa', knownHostsFile: '/c/.kubeadm-vagrant/known_hosts' };

const optionValues = (args: string[]): string[] => args.flatMap((a, i) => (args[i - 1] === '-o' ? [a] : []));

describe('sshArgs', () => {
  it('trusts only the pinned known_hosts and uses only the cluster key', () => {
    const args = sshArgs(target, files);
    expect(args.slice(0, 4)).toEqual(['-i', files.identityFile, '-p', '22']);
    expect(optionValues(args)).toEqual(
      expect.arrayContaining([
        'IdentitiesOnly=yes',
        `UserKnownHostsFile=${files.knownHostsFile}`,
        'GlobalKnownHostsFile=/dev/null',
        'StrictHostKeyChecking=yes',
        'BatchMode=yes',
      ]),
    );
    expect(args.slice(-3)).toEqual(['-l', 'vagrant', '192.168.56.21']);
  });

  it('an interactive login drops BatchMode and asks for a terminal', () => {
    const args = sshArgs({ ...target, port: 2222 }, { ...files, interactive: true });
    expect(optionValues(args)).not.toContain('BatchMode=yes');
    expect(args).toContain('-t');
    expect(args[args.indexOf('-p') + 1]).toBe('2222');
  });

  it('puts a remote command after --, so its dashes are not ssh options', () => {
    const args = sshArgs(target, { ...files, command: ['sudo', 'kubectl', '-n', 'kube-system', 'get', 'pods'] });
    const dashes = args.indexOf('--');
    expect(args[dashes - 1]).toBe('192.168.56.21');
    expect(args.slice(dashes)).toEqual(['--', 'sudo', 'kubectl', '-n', 'kube-system', 'get', 'pods']);
    expect(args).not.toContain('-t');
  });

  it('escapes % and quotes spaces in paths, which ssh would expand or split', () => {
    const args = sshArgs(target, { identityFile: '/home/me/100%/id', knownHostsFile: '/home/me/My Clusters/known_hosts' });
    expect(args[1]).toBe('/home/me/100%%/id');
    expect(optionValues(args)).toContain('UserKnownHostsFile="/home/me/My Clusters/known_hosts"');
  });

  it('produces options the installed ssh accepts', (ctx) => {
    const ssh = needTool(ctx, 'ssh');
    // -G prints the resulting configuration without connecting
    const out = execFileSync(ssh, ['-G', ...sshArgs(target, files)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toMatch(/^stricthostkeychecking (yes|true)$/m);
    expect(out).toMatch(/^userknownhostsfile \/c\/\.kubeadm-vagrant\/known_hosts$/m);
    expect(out).toMatch(/^batchmode yes$/m);
    expect(out).toMatch(/^user vagrant$/m);
  });
});

describe('command helpers', () => {
  it('shellQuote survives single quotes', () => {
    expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(`it's "x" $HOME`)}`], { encoding: 'utf8' })).toBe(`it's "x" $HOME`);
  });

  it('remoteCommand bounds the command on the node, inside sudo, and keeps its meaning', () => {
    expect(remoteCommand('echo hi', { sudo: false, timeoutMs: 10_000 })).toBe(`timeout -k 5 12 sh -c 'echo hi'`);
    expect(remoteCommand('echo hi', { sudo: true, timeoutMs: 1_500 })).toBe(`sudo -n -- timeout -k 5 4 sh -c 'echo hi'`);
    const r = spawnSync('sh', ['-c', remoteCommand(`printf '%s|' "it's" $((1+1)); exit 3`, { sudo: false, timeoutMs: 5_000 })], { encoding: 'utf8' });
    expect([r.stdout, r.status]).toEqual(["it's|2|", 3]);
  });

  it('describeCommand hides bootstrap token secrets and shortens long commands', () => {
    const join = 'kubeadm join 192.168.56.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:1234';
    expect(describeCommand(join)).toBe('kubeadm join 192.168.56.10:6443 --token abcdef.<redacted> --discovery-token-ca-cert-hash sha256:1234');
    expect(describeCommand('x'.repeat(500))).toHaveLength(160);
  });
});

describe('mapConcurrent', () => {
  it('keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapConcurrent([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n * 3));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(peak).toBe(3);
  });

  it('handles an empty list', async () => {
    await expect(mapConcurrent([], 4, async () => 1)).resolves.toEqual([]);
  });
});
