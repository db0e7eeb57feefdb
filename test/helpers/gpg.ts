import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The real gpg in a temporary GNUPGHOME, to make keys and signatures the way distros do; the code
 * under test verifies them in-process. close() stops the agent gpg started and removes the home.
 */
export class TestGpg {
  readonly home = mkdtempSync(join(tmpdir(), 'kv-gpg-'));

  constructor(private readonly gpg: string) {}

  run(args: string[], input?: string | Buffer): Buffer {
    return execFileSync(this.gpg, ['--batch', '--no-tty', '--quiet', ...args], {
      env: { ...process.env, GNUPGHOME: this.home, LC_ALL: 'C' },
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** A new primary key; returns its fingerprint. `fakedTime` (YYYYMMDDTHHMMSS) makes it in the past. */
  genKey(uid: string, algo: string, usage: string, expire = '0', fakedTime?: string): string {
    this.run([...(fakedTime ? ['--faked-system-time', fakedTime] : []), '--passphrase', '', '--quick-gen-key', uid, algo, usage, expire]);
    return this.fingerprints(uid)[0]!;
  }

  addSubkey(fpr: string, algo: string, usage: string): string {
    this.run(['--passphrase', '', '--quick-add-key', fpr, algo, usage, '0']);
    return this.fingerprints(fpr).at(-1)!;
  }

  /** The primary key's fingerprint first, then its subkeys'. */
  fingerprints(who: string): string[] {
    const out = this.run(['--with-colons', '--list-keys', who]).toString();
    return out.split('\n').filter((l) => l.startsWith('fpr:')).map((l) => l.split(':')[9]!);
  }

  exportKey(fpr: string): string {
    return this.run(['--armor', '--export', fpr]).toString();
  }

  /** Several fingerprints: one signature by each, in one file (as Ubuntu's SHA256SUMS.gpg has). */
  detachSign(data: string | Buffer, fpr: string | string[], opts: { armor?: boolean; fakedTime?: string; textmode?: boolean } = {}): Buffer {
    const file = join(this.home, 'to-sign');
    writeFileSync(file, data);
    return this.run([
      ...(opts.fakedTime ? ['--faked-system-time', opts.fakedTime] : []),
      ...[fpr].flat().flatMap((f) => ['--local-user', f]),
      ...(opts.armor ? ['--armor'] : []),
      ...(opts.textmode ? ['--textmode'] : []),
      '--output',
      '-',
      '--detach-sign',
      file,
    ]);
  }

  clearsign(text: string, fpr: string): string {
    const file = join(this.home, 'to-clearsign');
    writeFileSync(file, text);
    return this.run(['--local-user', fpr, '--output', '-', '--clearsign', file]).toString();
  }

  /** Imports the revocation certificate gpg made with the key, so its export is revoked. */
  revoke(fpr: string): void {
    const cert = readFileSync(join(this.home, 'openpgp-revocs.d', `${fpr}.rev`), 'utf8').replace(/^:-----/m, '-----');
    this.run(['--import'], cert);
  }

  close(): void {
    try {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: this.home }, stdio: 'ignore' });
    } catch {
      // no agent was started, or gpgconf is missing: nothing to stop
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}
