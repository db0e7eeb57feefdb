import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import { AuthError, connect, type SshOptions, type SshTarget } from '../ssh/client.js';
import { INSECURE_KEY_CHECK, type CheckResult } from './types.js';

/** Vagrant's published insecure private keys, wherever this host's Vagrant keeps them. */
export function findVagrantInsecureKeys(env: NodeJS.ProcessEnv = process.env): string[] {
  const vagrantHome = env.VAGRANT_HOME ?? join(homedir(), '.vagrant.d');
  const gemDirs = ['/usr/share/rubygems-integration/all/gems', '/opt/vagrant/embedded/gems/gems', '/opt/vagrant/embedded/gems/2.3.4/gems'];
  const found: string[] = [];
  for (const dir of gemDirs) {
    if (!existsSync(dir)) continue;
    for (const gem of readdirSync(dir).filter((d) => /^vagrant-\d/.test(d))) {
      for (const key of ['vagrant', 'vagrant.key.rsa', 'vagrant.key.ed25519']) found.push(join(dir, gem, 'keys', key));
    }
  }
  found.push(join(vagrantHome, 'insecure_private_key'));
  const keysDir = join(vagrantHome, 'insecure_private_keys');
  if (existsSync(keysDir)) for (const f of readdirSync(keysDir)) found.push(join(keysDir, f));
  return found.filter((f) => existsSync(f));
}

/** After the ssh-key phase, Vagrant's published insecure key must open no node. */
export function insecureKeyChecks(targets: readonly SshTarget[], base: SshOptions, keys: readonly string[] = findVagrantInsecureKeys()): Promise<CheckResult[]> {
  const result = (target: SshTarget, ok: boolean, seen: string): CheckResult => ({ node: target.name, ...INSECURE_KEY_CHECK, ok, seen });
  return Promise.all(
    targets.map(async (target) => {
      if (keys.length === 0) return result(target, true, "Vagrant's insecure key is not on this host; not tried");
      for (const key of keys) {
        try {
          const session = await connect(target, { ...base, privateKey: readFileSync(key), retries: 0 });
          await session.close();
          return result(target, false, `logged in with ${key}`);
        } catch (err) {
          if (!(err instanceof AuthError)) return result(target, false, `not checked: ${errorMessage(err)}`);
        }
      }
      return result(target, true, `refused (${keys.length} key${keys.length === 1 ? '' : 's'} tried)`);
    }),
  );
}
