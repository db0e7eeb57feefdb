/**
 * Verify time against real sshd endpoints: connect, pin, and run the node-level check commands
 * on each. The verdicts mean nothing here (the endpoints are not cluster nodes); the time is the
 * point. Two settings:
 *  - loopback: client and 50 sshds share this machine's cores and no network delay, so it
 *    measures CPU;
 *  - a simulated link (./link.ts): the sshds in a network namespace of their own, 25 ms away in
 *    each direction (50 ms round trip), so it measures what parallel verification hides.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { packageRoot } from '../../src/layout.js';
import { generateSshKeyPair } from '../../src/ssh/keys.js';
import { verifyNodes, type VerifyNode } from '../../src/verify/verify.js';
import { currentUser, sshdAvailability, startSshdFleet } from '../helpers/sshd.js';
import { benchSshOptions, createLink } from './link.js';
import type { LinkJob, LinkRun } from './verify-link-client.js';

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
      const ssh = benchSshOptions(privateKey, join(dir, `known_hosts-${count}-${r}`));
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

/** One-way delay of the simulated link: 50 ms round trip, a slow LAN or a nearby cloud region. */
const LINK_DELAY_MS = 25;
const LINK_SIZES = [1, 50];
/** Bounds the client process: every run of both sizes. */
const LINK_CLIENT_TIMEOUT_MS = 4 * 60_000;
const CLIENT_JS = join(packageRoot, 'dist', 'test', 'bench', 'verify-link-client.js');

/** Runs the client inside its namespace with the job on stdin; its JSON answer, bounded in time. */
function runLinkClient(clientNs: string, job: LinkJob): Promise<LinkRun[]> {
  const child = spawn('ip', ['netns', 'exec', clientNs, process.execPath, CLIENT_JS], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  child.stdin.end(JSON.stringify(job));
  return new Promise((resolve, reject) => {
    // `ip netns exec` execs node in place: the PID is the client's own.
    const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), LINK_CLIENT_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve((JSON.parse(out) as { runs: LinkRun[] }).runs);
      reject(new Error(`the link client failed (${code ?? signal}${signal === 'SIGKILL' ? `, after ${LINK_CLIENT_TIMEOUT_MS} ms` : ''}): ${err.trim().split('\n').slice(-3).join(' ')}`));
    });
  });
}

/**
 * Printable lines: verify time for 1 and 50 endpoints behind a simulated 50 ms round-trip link,
 * their ratio against the target (50 at most twice 1), and the CPU both sides used. Never throws.
 */
export async function benchVerifyOverLink(): Promise<string[]> {
  const available = sshdAvailability();
  if (!available.ok) return [`verify over a simulated link skipped: ${available.reason}`];
  if (process.getuid?.() !== 0) return ['verify over a simulated link skipped: creating network namespaces needs root'];
  const runs = Math.max(1, Math.min(Number(process.env.BENCH_RUNS ?? 3), 3));
  let link: Awaited<ReturnType<typeof createLink>> | undefined;
  let fleet: Awaited<ReturnType<typeof startSshdFleet>> | undefined;
  try {
    const keys = await generateSshKeyPair('kubeadm-vagrant-bench');
    link = await createLink({ oneWayDelayMs: LINK_DELAY_MS });
    fleet = await startSshdFleet(Math.max(...LINK_SIZES), { authorizedKeys: [keys.publicKeyOpenSsh], netns: { name: link.serverNs, host: link.serverIp, basePort: 2200 } });
    const results = await runLinkClient(link.clientNs, {
      privateKeyPem: keys.privateKeyPem,
      username: currentUser(),
      hostname: hostname(),
      endpoints: fleet.endpoints,
      sizes: LINK_SIZES,
      runs,
      serverPids: fleet.servers.flatMap((s) => (s.pid !== undefined ? [s.pid] : [])),
      linkPids: link.pids,
    });
    const of = (count: number) => {
      const r = results.filter((x) => x.count === count);
      return { wall: median(r.map((x) => x.wallMs)), client: median(r.map((x) => x.clientCpuMs)), server: median(r.map((x) => x.serverCpuMs)), link: median(r.map((x) => x.linkCpuMs)) };
    };
    const kind = link.kind;
    const what = kind === 'netem' ? 'tc netem' : 'a userspace delay line standing in for tc netem, which this kernel lacks';
    const one = of(1);
    const many = of(50);
    const ratio = many.wall / one.wall;
    const cores = availableParallelism();
    // Everything the 50 endpoints' side computes runs on this machine's cores too: no wall time can be below it.
    const floor = (many.server + many.client + many.link) / cores;
    return [
      `verify over a simulated link (${2 * LINK_DELAY_MS} ms round trip: ${LINK_DELAY_MS} ms each way by ${what}; sshds in their own network namespace):`,
      ...LINK_SIZES.map((n) => {
        const r = of(n);
        return `  ${n} endpoint${n === 1 ? '' : 's'}: ${r.wall.toFixed(0)} ms (median of ${runs}); CPU: client ${r.client.toFixed(0)} ms, sshd side ${r.server.toFixed(0)} ms${kind === 'delay-line' ? `, delay line ${r.link.toFixed(0)} ms` : ''}`;
      }),
      `  50 endpoints / 1 endpoint = ${ratio.toFixed(2)} (target: at most 2): ${ratio <= 2 ? 'met' : 'NOT met'}`,
      `  CPU floor of the 50-endpoint run on ${cores} shared cores: ${floor.toFixed(0)} ms (= ${(floor / one.wall).toFixed(1)}x the 1-endpoint time); the client's own share: ${(many.client / 50).toFixed(0)} ms per endpoint`,
    ];
  } catch (err) {
    return [`verify over a simulated link failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`];
  } finally {
    await fleet?.stop();
    await link?.close();
  }
}
