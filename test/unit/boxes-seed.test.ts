import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { iso9660Image } from '../../src/boxes/iso9660.js';
import { SEED_LABEL, seedDocuments, seedImage, type SeedInput } from '../../src/boxes/seed.js';
import { UsageError } from '../../src/errors.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixedPlaceholderKeyForTests000000000000000 kubeadm-vagrant';
const INPUT: SeedInput = { instanceId: 'kv-demo-master-1', hostname: 'master-1', user: 'vagrant', authorizedKeys: [KEY] };

describe('seedDocuments', () => {
  it('writes meta-data and a #cloud-config user-data, exactly', () => {
    const docs = seedDocuments({ ...INPUT, timezone: 'Europe/Berlin' });
    expect(docs['meta-data']).toBe('instance-id: "kv-demo-master-1"\nlocal-hostname: "master-1"\n');
    expect(docs['user-data']).toBe(
      [
        '#cloud-config',
        'users:',
        '  - name: "vagrant"',
        '    shell: "/bin/bash"',
        '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
        '    lock_passwd: true',
        '    ssh_authorized_keys:',
        `      - "${KEY}"`,
        'ssh_pwauth: false',
        'disable_root: true',
        'package_update: false',
        'package_upgrade: false',
        'timezone: "Europe/Berlin"',
        '',
      ].join('\n'),
    );
  });

  it('parses back to exactly the keys cloud-init is meant to act on', () => {
    const docs = seedDocuments(INPUT);
    expect(parse(docs['meta-data'])).toEqual({ 'instance-id': 'kv-demo-master-1', 'local-hostname': 'master-1' });
    expect(docs['user-data'].startsWith('#cloud-config\n')).toBe(true);
    expect(parse(docs['user-data'])).toEqual({
      users: [{ name: 'vagrant', shell: '/bin/bash', sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true, ssh_authorized_keys: [KEY] }],
      ssh_pwauth: false,
      disable_root: true,
      package_update: false,
      package_upgrade: false,
    });
  });

  it('keeps a hostile key comment a string: no key, document, anchor or tag comes out of it', () => {
    const comments = [
      '# ssh_pwauth: true',
      'x" ssh_pwauth: true "y',
      "it's: {ssh_pwauth: true}",
      '- root',
      '&a *a !!python/object:os.system [\'id\'] %TAG ! x',
      '--- \\"...',
      'ünïcode ☃ end',
    ];
    const keys = comments.map((c) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostile ${c}`);
    const docs = seedDocuments({ ...INPUT, authorizedKeys: keys });
    const all = parseAllDocuments(docs['user-data']);
    expect(all).toHaveLength(1);
    const parsed = all[0]!.toJS() as { users: { ssh_authorized_keys: string[] }[]; ssh_pwauth: boolean };
    expect(Object.keys(parsed).sort()).toEqual(['disable_root', 'package_update', 'package_upgrade', 'ssh_pwauth', 'users']);
    expect(parsed.ssh_pwauth).toBe(false);
    expect(parsed.users).toHaveLength(1);
    expect(Object.keys(parsed.users[0]!).sort()).toEqual(['lock_passwd', 'name', 'shell', 'ssh_authorized_keys', 'sudo']);
    expect(parsed.users[0]!.ssh_authorized_keys).toEqual(keys);
  });

  it('refuses a key with a line end of any kind (or another control character): it would be a second authorized_keys line', () => {
    const evils = [`${KEY}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther attacker`, `${KEY}\rx`, `${KEY}\0`, `${KEY}\n`, `${KEY}\tx`, `${KEY} \u2028ssh-rsa AAAA`, `${KEY} \u0085x`];
    for (const evil of evils) {
      expect(() => seedDocuments({ ...INPUT, authorizedKeys: [KEY, evil] })).toThrow(/authorizedKeys\[1\]: not one OpenSSH public key line/);
    }
  });

  it('refuses what is not a public key line', () => {
    for (const notKey of ['', 'AAAAC3NzaC1lZDI1NTE5AAAAI', 'ssh-ed25519', 'ssh-ed25519  AAAA', 'command="sh" ssh-ed25519 AAAA', 'ssh-dss AAAA', '-----BEGIN OPENSSH PRIVATE KEY-----']) {
      expect(() => seedDocuments({ ...INPUT, authorizedKeys: [notKey] }), notKey).toThrow(UsageError);
    }
  });

  it('names every bad field at once', () => {
    let message = '';
    try {
      seedDocuments({ instanceId: 'a b', hostname: '-bad-', user: 'root', authorizedKeys: [], timezone: '../../etc/passwd' });
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      message = (err as Error).message;
    }
    for (const field of ['instanceId', 'hostname', 'user', 'authorizedKeys: at least one key', 'timezone']) expect(message).toContain(field);
  });

  it('accepts host names with dots and the usual key types', () => {
    const keys = ['ecdsa-sha2-nistp256 AAAAE2VjZHNh= a@b', 'ssh-rsa AAAAB3NzaC1yc2E=', 'sk-ssh-ed25519@openssh.com AAAAGnNr yubikey'];
    expect(parse(seedDocuments({ ...INPUT, hostname: 'worker-1.cluster.local', authorizedKeys: keys })['user-data']).users[0].ssh_authorized_keys).toEqual(keys);
  });
});

describe('seedImage', () => {
  it('is the ISO 9660 image labelled cidata holding exactly the two documents', () => {
    const docs = seedDocuments(INPUT);
    expect(SEED_LABEL).toBe('cidata');
    expect(seedImage(INPUT).equals(iso9660Image({ volumeId: 'cidata', files: [{ name: 'user-data', data: docs['user-data'] }, { name: 'meta-data', data: docs['meta-data'] }] }))).toBe(true);
  });
});
