import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { findChecksum, parseChecksumFile } from '../../src/download/checksums.js';
import { SignatureError, verifyClearsigned, verifyDetached, type TrustedKey } from '../../src/download/pgp.js';
import { TestGpg } from '../helpers/gpg.js';
import { rejectionOf } from '../helpers/rejection.js';
import { needTool, toolPath } from '../helpers/tools.js';

/**
 * Keys and signatures made by the real gpg, verified in-process by openpgp: what a distro publishes
 * (detached armored/binary, clearsigned), and what an attacker or time does to it.
 */
const SUMS = `${'a'.repeat(64)} *ubuntu-24.04-server-cloudimg-amd64.img\n${'b'.repeat(64)} *ubuntu-24.04-server-cloudimg-arm64.img\n`;

interface Keys {
  gpg: TestGpg;
  ed: string; // ed25519 primary key that signs
  rsa: string; // RSA primary key (certify only) ...
  rsaSub: string; // ... with an RSA signing subkey
  other: string; // a key nobody pinned
  expired: string; // made in 2020, expired a day later
  revoked: string;
  trust: (fpr: string, name?: string) => TrustedKey;
  sigs: { expired: Buffer; revoked: Buffer };
}

let keys: Keys | undefined;

beforeAll(() => {
  const gpgPath = toolPath('gpg');
  if (!gpgPath) return; // each test then fails (CI) or skips through needTool
  const gpg = new TestGpg(gpgPath);
  const ed = gpg.genKey('Test Ed25519 <ed@example.test>', 'ed25519', 'sign');
  const rsa = gpg.genKey('Test RSA <rsa@example.test>', 'rsa2048', 'cert');
  const rsaSub = gpg.addSubkey(rsa, 'rsa2048', 'sign');
  const other = gpg.genKey('Someone Else <other@example.test>', 'ed25519', 'sign');
  const expired = gpg.genKey('Expired <expired@example.test>', 'ed25519', 'sign', '1d', '20200101T000000');
  const revoked = gpg.genKey('Revoked <revoked@example.test>', 'ed25519', 'sign');
  const sigs = { expired: gpg.detachSign(SUMS, expired, { fakedTime: '20200101T010000' }), revoked: gpg.detachSign(SUMS, revoked) };
  gpg.revoke(revoked); // after signing: the signature was good when made
  const exported = new Map<string, string>();
  const trust = (fpr: string, name?: string): TrustedKey => {
    if (!exported.has(fpr)) exported.set(fpr, gpg.exportKey(fpr));
    return { fingerprint: fpr, armoredKey: exported.get(fpr)!, ...(name ? { name } : {}) };
  };
  keys = { gpg, ed, rsa, rsaSub, other, expired, revoked, trust, sigs };
}, 60_000);

afterAll(() => keys?.gpg.close());

function need(ctx: TestContext): Keys {
  needTool(ctx, 'gpg');
  return keys!;
}

const refused = (p: Promise<unknown>): Promise<SignatureError> => rejectionOf(p, SignatureError);

describe('verifyDetached', () => {
  it('accepts an armored signature by a pinned ed25519 key', async (ctx) => {
    const k = need(ctx);
    const { signer } = await verifyDetached({ data: SUMS, signature: k.gpg.detachSign(SUMS, k.ed, { armor: true }).toString(), trusted: [k.trust(k.other), k.trust(k.ed)] });
    expect(signer.fingerprint).toBe(k.ed);
    expect(signer.keyID).toBe(k.ed.slice(-16));
    expect(signer.userIDs).toEqual(['Test Ed25519 <ed@example.test>']);
  });

  it('accepts a binary signature (SHA256SUMS.gpg style) made by the signing subkey of a pinned RSA primary key', async (ctx) => {
    const k = need(ctx);
    const sig = k.gpg.detachSign(SUMS, k.rsa);
    expect(sig[0]! & 0x80).toBe(0x80); // binary packets, not armor
    const { signer } = await verifyDetached({ data: Buffer.from(SUMS), signature: new Uint8Array(sig), trusted: [k.trust(k.rsa)] });
    expect(signer.fingerprint).toBe(k.rsa);
    expect(signer.keyID).toBe(k.rsaSub.slice(-16)); // the subkey signed
  });

  it('accepts armor given as bytes, and a --textmode signature', async (ctx) => {
    const k = need(ctx);
    const sig = k.gpg.detachSign(SUMS, k.ed, { armor: true, textmode: true });
    await expect(verifyDetached({ data: SUMS, signature: sig, trusted: [k.trust(k.ed)] })).resolves.toBeDefined();
  });

  it('accepts a file signed by two keys when one of them is pinned', async (ctx) => {
    const k = need(ctx);
    const { signer } = await verifyDetached({ data: SUMS, signature: k.gpg.detachSign(SUMS, [k.other, k.ed]), trusted: [k.trust(k.ed)] });
    expect(signer.fingerprint).toBe(k.ed);
  });

  it('refuses a signature by another key, naming it and the pinned one', async (ctx) => {
    const k = need(ctx);
    const err = await refused(verifyDetached({ data: SUMS, signature: k.gpg.detachSign(SUMS, k.other), trusted: [k.trust(k.ed, 'Ubuntu Cloud Image Builder')], what: 'SHA256SUMS' }));
    expect(err.kind).toBe('untrusted');
    expect(err.message).toContain(`SHA256SUMS: refused: signed by key ${k.other.slice(-16)} (fingerprint ${k.other}), which is not pinned`);
    expect(err.message).toContain(`the pinned key is ${k.ed} (Test Ed25519 <ed@example.test>)`);
  });

  it('refuses a key whose fingerprint is not the pinned one', async (ctx) => {
    const k = need(ctx);
    const sig = k.gpg.detachSign(SUMS, k.ed);
    const err = await refused(verifyDetached({ data: SUMS, signature: sig, trusted: [{ fingerprint: k.other, armoredKey: k.trust(k.ed).armoredKey, name: 'ubuntu-cloud' }] }));
    expect(err.kind).toBe('key');
    expect(err.message).toBe(`the key file pinned as ubuntu-cloud (${k.other}) holds ${k.ed} (Test Ed25519 <ed@example.test>), not the pinned fingerprint ${k.other}`);
  });

  it('refuses a short key ID as a pin', async (ctx) => {
    const k = need(ctx);
    const err = await refused(verifyDetached({ data: SUMS, signature: k.gpg.detachSign(SUMS, k.ed), trusted: [{ ...k.trust(k.ed), fingerprint: k.ed.slice(-16) }] }));
    expect(err.message).toContain('is not a full fingerprint');
  });

  it('refuses tampered data', async (ctx) => {
    const k = need(ctx);
    const sig = k.gpg.detachSign(SUMS, k.ed);
    const tampered = SUMS.replace('a'.repeat(64), 'c'.repeat(64));
    const err = await refused(verifyDetached({ data: tampered, signature: sig, trusted: [k.trust(k.ed)] }));
    expect(err.kind).toBe('invalid');
    expect(err.message).toContain(`the signature by key ${k.ed.slice(-16)} (fingerprint ${k.ed}) of pinned key ${k.ed}`);
    expect(err.message).toContain('does not verify');
  });

  it('refuses a signature by a key that has expired since, even though it was valid when it signed', async (ctx) => {
    const k = need(ctx);
    const err = await refused(verifyDetached({ data: SUMS, signature: k.sigs.expired, trusted: [k.trust(k.expired)] }));
    expect(err.kind).toBe('key');
    expect(err.message).toContain(`of pinned key ${k.expired} (Expired <expired@example.test>), which is not valid now`);
  });

  it('refuses a signature by a revoked key', async (ctx) => {
    const k = need(ctx);
    const err = await refused(verifyDetached({ data: SUMS, signature: k.sigs.revoked, trusted: [k.trust(k.revoked)] }));
    expect(err.kind).toBe('key');
    expect(err.message).toContain(`of pinned key ${k.revoked} (Revoked <revoked@example.test>), which is not valid now: Primary key is revoked`);
  });

  it('refuses a missing or empty signature, and one that is not a signature', async (ctx) => {
    const k = need(ctx);
    for (const signature of [undefined, '', new Uint8Array()]) {
      expect((await refused(verifyDetached({ data: SUMS, signature, trusted: [k.trust(k.ed)] }))).kind).toBe('missing');
    }
    expect((await refused(verifyDetached({ data: SUMS, signature: '<html>404</html>', trusted: [k.trust(k.ed)] }))).kind).toBe('invalid');
    expect((await refused(verifyDetached({ data: SUMS, signature: k.gpg.detachSign(SUMS, k.ed), trusted: [] }))).message).toContain('no trusted key is pinned');
  });
});

describe('verifyClearsigned', () => {
  it('returns only the signed text, not lines added outside the signature', async (ctx) => {
    const k = need(ctx);
    const signed = k.gpg.clearsign(SUMS, k.rsa);
    const evil = `${'d'.repeat(64)} *evil-before.img\n`;
    const text = `${evil}${signed}${'e'.repeat(64)} *ubuntu-24.04-server-cloudimg-amd64.img\n`;
    const { data, signer } = await verifyClearsigned({ text, trusted: [k.trust(k.rsa)] });
    expect(signer.fingerprint).toBe(k.rsa);
    expect(data.trimEnd()).toBe(SUMS.trimEnd());
    const entries = parseChecksumFile(data);
    expect(entries).toHaveLength(2);
    expect(findChecksum(entries, 'ubuntu-24.04-server-cloudimg-amd64.img')?.hex).toBe('a'.repeat(64));
  });

  it('refuses a clearsigned text by another key, a tampered one, and plain text', async (ctx) => {
    const k = need(ctx);
    const byOther = k.gpg.clearsign(SUMS, k.other);
    expect((await refused(verifyClearsigned({ text: byOther, trusted: [k.trust(k.ed)] }))).message).toContain(`signed by key ${k.other.slice(-16)}`);
    const tampered = k.gpg.clearsign(SUMS, k.ed).replace('a'.repeat(64), 'c'.repeat(64));
    expect((await refused(verifyClearsigned({ text: tampered, trusted: [k.trust(k.ed)] }))).kind).toBe('invalid');
    const plain = await refused(verifyClearsigned({ text: SUMS, trusted: [k.trust(k.ed)], what: 'Fedora CHECKSUM' }));
    expect(plain.kind).toBe('missing');
    expect(plain.message).toContain('Fedora CHECKSUM: not clearsigned');
  });
});
