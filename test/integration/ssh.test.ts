import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthError,
  ConnectError,
  connect,
  HostKeyChangedError,
  runAll,
  SshTimeoutError,
  sshArgs,
  type SshOptions,
  type SshTarget,
} from '../../src/ssh/client.js';
import { generateSshKeyPair, sshFingerprint, type SshKeyPair } from '../../src/ssh/keys.js';
import { forgetHost, pinnedKeys } from '../../src/ssh/known-hosts.js';
import { verifyNodes, type VerifyNode } from '../../src/verify/verify.js';
import { flannel } from '../../src/cni/flannel.js';
import { currentUser, freePorts, type Sshd, sshdAvailability, startSilentServer, startSshd, startSshdFleet } from '../helpers/sshd.js';

const run = promisify(execFile);
const availability = sshdAvailability();

if (!availability.ok && process.env.CI === 'true') {
  it('has an sshd to test against (required in CI)', () => {
    throw new Error(`SSH integration tests cannot run: ${availability.reason}`);
  });
} else if (!availability.ok) {
  console.warn(`skipping SSH integration tests: ${availability.reason}`);
}

/** A distinctive slice of the private key body: it must never appear in any error. */
const keyFragment = (pem: string): string => pem.split('\n')[2]!.slice(0, 40);

function hostKeyFingerprint(publicLine: string): string {
  return sshFingerprint(Buffer.from(publicLine.split(' ')[1]!, 'base64'));
}

async function elapsed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T | undefined; error: unknown }> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - t0, value, error: undefined };
  } catch (error) {
    return { ms: performance.now() - t0, value: undefined, error };
  }
}

describe.skipIf(!availability.ok)('SSH against a real OpenSSH sshd on loopback', () => {
  let keys: SshKeyPair;
  let stranger: SshKeyPair;
  let dir: string;
  let identityFile: string;
  let sshd: Sshd;
  let target: SshTarget;
  let khCounter = 0;
  const cleanups: (() => Promise<void>)[] = [];

  const freshKnownHosts = (): string => join(dir, `known_hosts-${++khCounter}`);
  const options = (overrides: Partial<SshOptions> = {}): SshOptions => ({
    privateKey: keys.privateKeyPem,
    knownHostsFile: freshKnownHosts(),
    connectTimeoutMs: 5_000,
    commandTimeoutMs: 10_000,
    retries: 0,
    backoffMs: 100,
    ...overrides,
  });

  beforeAll(async () => {
    [keys, stranger] = await Promise.all([generateSshKeyPair('kv-test'), generateSshKeyPair('stranger')]);
    dir = mkdtempSync(join(tmpdir(), 'kv-ssh-it-'));
    identityFile = join(dir, 'id_rsa');
    writeFileSync(identityFile, keys.privateKeyPem, { mode: 0o600 });
    sshd = await startSshd({ authorizedKeys: [keys.publicKeyOpenSsh] });
    cleanups.push(() => sshd.stop());
    target = { name: 'master', host: sshd.endpoints[0]!.host, port: sshd.endpoints[0]!.port, username: currentUser() };
  });

  afterAll(async () => {
    await Promise.all(cleanups.map((c) => c()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in with the cluster key, pins the host key, and exec returns output and exit code', async () => {
    const opts = options();
    const session = await connect(target, opts);
    try {
      const r = await session.exec('echo hello; echo oops >&2; exit 3');
      expect(r).toEqual({ code: 3, stdout: 'hello\n', stderr: 'oops\n' });
      expect((await session.exec('cat', { stdin: 'from stdin' })).stdout).toBe('from stdin');
      // EOF is always sent, so a command reading stdin cannot hang
      expect((await session.exec('wc -c', { timeoutMs: 3000 })).stdout.trim()).toBe('0');
      expect((await session.exec('id -un', { sudo: true })).stdout.trim()).toBe(currentUser());
    } finally {
      await session.close();
    }
    const line = readFileSync(opts.knownHostsFile, 'utf8').trim();
    const [type, blob] = sshd.hostPublicKey().split(' ');
    expect(line).toBe(`[${target.host}]:${target.port} ${type} ${blob} master`);
  });

  it('a command timeout closes the channel and names node and command; the node kills the command soon after', async () => {
    const session = await connect(target, options());
    try {
      const { ms, error } = await elapsed(() => session.exec('sleep 7.31', { timeoutMs: 400 }));
      expect(error).toBeInstanceOf(SshTimeoutError);
      expect((error as Error).message).toMatch(/node master \(127\.0\.0\.1:\d+\): `sleep 7\.31` did not finish within 400 ms/);
      expect(ms).toBeLessThan(1500);
      expect((await session.exec('echo still usable')).stdout).toBe('still usable\n');
      // the node's own bound: the local timeout rounded up to whole seconds, plus 2 s
      let left = '';
      for (let i = 0; i < 60; i++) {
        left = (await session.exec('pgrep -f "sleep 7[.]31" || true')).stdout.trim();
        if (left === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(left).toBe('');
    } finally {
      await session.close();
    }
  });

  it('refuses a key the server does not know with AuthError, at once and without key material', async () => {
    const { ms, error } = await elapsed(() => connect(target, options({ privateKey: stranger.privateKeyPem, retries: 3, backoffMs: 2_000 })));
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toBe(`node master (127.0.0.1:${target.port}): authentication failed for user ${currentUser()}: the server did not accept the key`);
    expect(ms).toBeLessThan(2_000); // no retry: one backoff alone would be 2 s
    expect(inspect(error, { depth: 10 })).not.toContain(keyFragment(stranger.privateKeyPem));
  });

  it('a key format ssh2 cannot read (PKCS#8) is an AuthError that shows no key', async () => {
    const pkcs8 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { error } = await elapsed(() => connect(target, options({ privateKey: pkcs8, retries: 2 })));
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toMatch(/cannot use the private key.*PKCS#8/);
    expect(inspect(error, { depth: 10 })).not.toContain(keyFragment(pkcs8));
  });

  it('refuses a changed host key with HostKeyChangedError and leaves known_hosts as it was; forgetHost re-pins', async () => {
    const own = await startSshd({ authorizedKeys: [keys.publicKeyOpenSsh] });
    cleanups.push(() => own.stop());
    const node: SshTarget = { name: 'worker-7', host: own.endpoints[0]!.host, port: own.endpoints[0]!.port, username: currentUser() };
    const opts = options({ retries: 3, backoffMs: 2_000 });
    await (await connect(node, opts)).close();
    const pinned = readFileSync(opts.knownHostsFile, 'utf8');
    const oldFp = hostKeyFingerprint(own.hostPublicKey());

    await own.restart({ newHostKey: true });
    const newFp = hostKeyFingerprint(own.hostPublicKey());
    expect(newFp).not.toBe(oldFp);
    const { ms, error } = await elapsed(() => connect(node, opts));
    expect(error).toBeInstanceOf(HostKeyChangedError);
    const msg = (error as Error).message;
    for (const part of ['worker-7', `127.0.0.1:${node.port}`, oldFp, newFp, 'kubeadm-vagrant verify --repin worker-7']) expect(msg).toContain(part);
    expect(ms).toBeLessThan(2_000);
    expect(readFileSync(opts.knownHostsFile, 'utf8')).toBe(pinned);

    await forgetHost(opts.knownHostsFile, node.host, node.port);
    await (await connect(node, opts)).close();
    expect(pinnedKeys(opts.knownHostsFile, node.host, node.port).map((k) => sshFingerprint(k.blob))).toEqual([newFp]);
  });

  it('a silent server hits the connect timeout within its bound, retries included', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const mute: SshTarget = { name: 'mute', host: silent.host, port: silent.port, username: currentUser() };
    const once = await elapsed(() => connect(mute, options({ connectTimeoutMs: 800 })));
    expect(once.error).toBeInstanceOf(SshTimeoutError);
    expect((once.error as Error).message).toMatch(/node mute \(127\.0\.0\.1:\d+\): no SSH handshake within 800 ms/);
    expect(once.ms).toBeGreaterThanOrEqual(750);
    expect(once.ms).toBeLessThan(2_000);

    const retries: number[] = [];
    const twice = await elapsed(() => connect(mute, options({ connectTimeoutMs: 500, retries: 1, backoffMs: 200, onRetry: (_t, _e, _a, d) => retries.push(d) })));
    expect(twice.error).toBeInstanceOf(SshTimeoutError);
    expect(retries).toEqual([200]);
    expect(twice.ms).toBeGreaterThanOrEqual(1_150);
    expect(twice.ms).toBeLessThan(3_500);
  });

  it('a refused connection is a ConnectError, retried with backoff and then given up', async () => {
    const [port] = await freePorts(1);
    const closed: SshTarget = { name: 'down', host: '127.0.0.1', port: port!, username: currentUser() };
    const waits: number[] = [];
    const r = await elapsed(() => connect(closed, options({ retries: 2, backoffMs: 100, onRetry: (_t, _e, _a, d) => waits.push(d) })));
    expect(r.error).toBeInstanceOf(ConnectError);
    expect((r.error as Error).message).toBe(`node down (127.0.0.1:${port}): cannot connect (ECONNREFUSED)`);
    expect(waits).toEqual([100, 200]);
    expect(r.ms).toBeGreaterThanOrEqual(290);
    expect(r.ms).toBeLessThan(2_000);
  });

  it('runAll reports each node on its own: one down does not fail the others', async () => {
    const [port] = await freePorts(1);
    const outcomes = await runAll(
      [target, { ...target, name: 'gone', port: port! }],
      options(),
      async (s) => (await s.exec('echo up')).stdout.trim(),
    );
    expect(outcomes[0]).toMatchObject({ ok: true, value: 'up' });
    expect(outcomes[1]).toMatchObject({ ok: false });
    expect(outcomes[1]!.ok === false && outcomes[1]!.error).toBeInstanceOf(ConnectError);
  });

  it('the system ssh with sshArgs() logs in against the pinned known_hosts, and refuses without a pin', async () => {
    const opts = options();
    await (await connect(target, opts)).close();
    const args = sshArgs(target, { identityFile, knownHostsFile: opts.knownHostsFile, command: ['echo', 'via-openssh', '&&', 'true'] });
    const { stdout } = await run('ssh', args, { timeout: 15_000 });
    expect(stdout).toBe('via-openssh\n');

    const unpinned = sshArgs(target, { identityFile, knownHostsFile: freshKnownHosts(), command: ['true'] });
    const refused = await run('ssh', unpinned, { timeout: 15_000 }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(refused?.code).toBe(255);
    expect(refused?.stderr).toMatch(/Host key verification failed|No .* host key is known/);
  });

  describe('many endpoints', () => {
    const COUNT = 24;
    const SLEEP_S = 0.5;
    let endpoints: SshTarget[];

    beforeAll(async () => {
      const fleet = await startSshdFleet(COUNT, { authorizedKeys: [keys.publicKeyOpenSsh] });
      cleanups.push(() => fleet.stop());
      endpoints = fleet.endpoints.map((e, i) => ({ name: `node-${String(i + 1).padStart(2, '0')}`, host: e.host, port: e.port, username: currentUser() }));
    });

    it(`runs ${COUNT} endpoints in parallel, far below the serial time`, async () => {
      const work = async (s: { exec: (c: string) => Promise<{ code: number }> }): Promise<number> => (await s.exec(`sleep ${SLEEP_S}`)).code;
      const opts = options();
      const serial = await elapsed(async () => {
        for (const t of endpoints.slice(0, 4)) await runAll([t], opts, work);
      });
      const perEndpoint = serial.ms / 4;
      const parallel = await elapsed(() => runAll(endpoints, opts, work, { concurrency: COUNT }));
      const outcomes = parallel.value!;
      expect(outcomes.every((o) => o.ok && o.value === 0)).toBe(true);
      const serialEstimate = perEndpoint * COUNT;
      const sumOfOwnTimes = outcomes.reduce((a, o) => a + o.ms, 0);
      console.info(
        `SSH fan-out: ${COUNT} endpoints in ${parallel.ms.toFixed(0)} ms; serial ${perEndpoint.toFixed(0)} ms each ` +
          `(x${COUNT} = ${serialEstimate.toFixed(0)} ms; speed-up ${(serialEstimate / parallel.ms).toFixed(1)}x)`,
      );
      expect(sumOfOwnTimes).toBeGreaterThanOrEqual(COUNT * SLEEP_S * 1000);
      expect(parallel.ms).toBeLessThan(serialEstimate / 4);
      expect(pinnedKeys(opts.knownHostsFile, '127.0.0.1', endpoints[COUNT - 1]!.port)).toHaveLength(1);
      expect(readFileSync(opts.knownHostsFile, 'utf8').trim().split('\n')).toHaveLength(COUNT);
    });

    it('verifyNodes checks every endpoint and reads real command output', async () => {
      const nodes: VerifyNode[] = endpoints.map((t, i) => ({
        planned: { name: t.name, hostname: hostname(), ip: '127.0.0.1', role: i === 0 ? 'control-plane' : 'worker' },
        target: t,
      }));
      const report = await verifyNodes(nodes, options(), { phase: 'node', probePort: endpoints[0]!.port });
      expect(report.nodes).toHaveLength(COUNT);
      for (const n of report.nodes) {
        const byId = Object.fromEntries(n.checks.map((c) => [c.check, c]));
        expect(Object.keys(byId)).toEqual(['ssh', 'hostname', 'private-ip', 'swap-off', 'kernel-modules', 'sysctl', 'containerd-active', 'containerd-cri', 'peers-reachable']);
        expect(byId.ssh!.ok).toBe(true);
        expect(byId.hostname).toMatchObject({ ok: true, seen: hostname() });
        expect(byId['private-ip']).toMatchObject({ ok: true, seen: '127.0.0.1/8 on lo' });
        expect(byId['peers-reachable']).toMatchObject({ ok: true, seen: 'reached 1 peer address' });
      }
      console.info(`verifyNodes (node phase): ${COUNT} endpoints x ${report.nodes[0]!.checks.length} checks in ${report.durationMs} ms`);
    });

    it("verifyNodes runs a node's checks in one session; a hung check fails alone, the others still pass", async () => {
      const spec = (id: string, command: string) => ({ id, title: id, command, expected: () => 'exit 0', parse: (out: string, code: number) => ({ ok: code === 0, seen: `exit ${code}: ${out.trim()}` }) });
      const specs = () => [spec('first', 'echo one'), spec('hangs', 'sleep 60'), spec('stderr', 'echo to-stderr >&2; exit 3'), spec('last', 'printf no-newline')];
      const started = performance.now();
      const report = await verifyNodes([{ planned: { name: 'n', hostname: hostname(), ip: '127.0.0.1', role: 'worker' }, target: endpoints[0]! }], { ...options(), commandTimeoutMs: 2_000 }, { phase: 'node', specs });
      const ms = performance.now() - started;
      const byId = Object.fromEntries(report.nodes[0]!.checks.map((c) => [c.check, c]));
      // The batch timed out on `sleep 60`; every check ran again on its own, each with its own bound.
      expect(byId.first).toMatchObject({ ok: true, seen: 'exit 0: one' });
      expect(byId.hangs).toMatchObject({ ok: false, seen: expect.stringMatching(/^not checked: .*`sleep 60` did not finish within 2000 ms/) });
      expect(byId.stderr).toMatchObject({ ok: false, seen: 'exit 3:  [exit 3: to-stderr]' });
      expect(byId.last).toMatchObject({ ok: true, seen: 'exit 0: no-newline' });
      expect(ms).toBeLessThan(15_000);
    });

    it('verifyNodes reports an unreachable node and a cluster view it could not read, without throwing', async () => {
      const [port] = await freePorts(1);
      const nodes: VerifyNode[] = [
        { planned: { name: 'master', hostname: 'demo-master', ip: '127.0.0.1', role: 'control-plane' }, target: endpoints[0]! },
        { planned: { name: 'worker-1', hostname: 'demo-worker-1', ip: '127.0.0.1', role: 'worker' }, target: { ...endpoints[1]!, port: port! } },
      ];
      const report = await verifyNodes(nodes, options(), {
        phase: 'cluster',
        cniPod: flannel.nodePod,
        specs: () => [{ id: 'echo', title: 'echo', command: 'echo hi', expected: () => 'hi', parse: (out) => ({ ok: out.trim() === 'hi', seen: out.trim() }) }],
      });
      expect(report.ok).toBe(false);
      const [m, w] = report.nodes;
      expect(m!.checks.slice(0, 2).map((c) => [c.check, c.ok])).toEqual([
        ['ssh', true],
        ['echo', true],
      ]);
      // kubectl is not installed here (or has no admin.conf): every cluster check says so
      const cluster = m!.checks.slice(2);
      expect(cluster.length).toBeGreaterThan(5);
      expect(cluster.every((c) => !c.ok && c.seen.startsWith('not checked: `kubectl'))).toBe(true);
      expect(w!.checks[0]).toMatchObject({ check: 'ssh', ok: false, seen: expect.stringContaining('ECONNREFUSED') });
      expect(w!.checks.filter((c) => c.check.startsWith('pod-'))).toHaveLength(2);
    });
  });
});
