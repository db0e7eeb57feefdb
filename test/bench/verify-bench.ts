/**
 * Verify time against loopback sshd endpoints: connect, pin, and run the node-level check
 * commands on each. On loopback the checks' verdicts mean nothing; the time is the point.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SshOptions } from '../../src/ssh/client.js';
import { generateSshKeyPair } from '../../src/ssh/keys.js';
import { verifyNodes, type VerifyNode } from '../../src/verify/verify.js';
import { currentUser, sshdAvailability, startSshdFleet } from '../helpers/sshd.js';

const SIZES = [1, 50];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times verifyNodes (node phase) over `count` endpoints, each run with a fresh known_hosts. */
async function timeVerify(count: number, runs: number, privateKey: string, publicKey: string, dir: string): Promise<{ ms: number; checks: number }> {
  const fleet = await startSshdFleet(count, { authorizedKeys: [publicKey] });
  try {
    const nodes: VerifyNode[] = fleet.endpoints.map((e, i) => ({
      planned: { name: `node-${i + 1}`, hostname: hostname(), ip: '127.0.0.1', role: i === 0 ? 'control-plane' : 'worker' },
      target: { name: `node-${i + 1}`, host: e.host, port: e.port, username: currentUser() },
    }));
    const times: number[] = [];
    let checks = 0;
    for (let r = 0; r < runs; r++) {
      const ssh: SshOptions = {
        privateKey,
        knownHostsFile: join(dir, `known_hosts-${count}-${r}`),
        connectTimeoutMs: 30_000,
        commandTimeoutMs: 30_000,
        retries: 0,
        backoffMs: 500,
      };
      const t0 = performance.now();
      const report = await verifyNodes(nodes, ssh, { phase: 'node', probePort: fleet.endpoints[0]!.port });
      times.push(performance.now() - t0);
      const failedLogins = report.nodes.filter((n) => !n.checks[0]?.ok).length;
      if (failedLogins > 0) throw new Error(`${failedLogins} of ${count} endpoints could not be reached`);
      checks = report.nodes[0]!.checks.length;
    }
    return { ms: median(times), checks };
  } finally {
    await fleet.stop();
  }
}

/** Printable lines: verify time for 1 and 50 endpoints and how it scales. Never throws. */
export async function benchVerify(): Promise<string[]> {
  const available = sshdAvailability();
  if (!available.ok) return [`verify bench skipped: ${available.reason}`];
  const runs = Math.max(1, Math.min(Number(process.env.BENCH_RUNS ?? 3), 3));
  const dir = mkdtempSync(join(tmpdir(), 'kv-verify-bench-'));
  try {
    const keys = await generateSshKeyPair('kubeadm-vagrant-bench');
    const results = new Map<number, { ms: number; checks: number }>();
    for (const size of SIZES) results.set(size, await timeVerify(size, runs, keys.privateKeyPem, keys.publicKeyOpenSsh, dir));
    const one = results.get(1)!;
    const many = results.get(50)!;
    return [
      ...SIZES.map((s) => `verify (node phase, ${results.get(s)!.checks} checks/endpoint incl. SSH login), ${s} loopback endpoint${s === 1 ? '' : 's'}: ${results.get(s)!.ms.toFixed(0)} ms (median of ${runs})`),
      `verify scaling: 50 endpoints take ${(many.ms / one.ms).toFixed(1)}x the time of 1 (serial would be 50x); ${(many.ms / 50).toFixed(0)} ms per endpoint`,
    ];
  } catch (err) {
    return [`verify bench failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
