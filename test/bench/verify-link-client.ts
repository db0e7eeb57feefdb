/**
 * The client side of the verify benchmark over a simulated link: run by verify-bench.ts inside
 * the client network namespace (`ip netns exec`), it reads one job as JSON on stdin, times
 * verifyNodes against the endpoints in the server namespace, and prints the result as JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { verifyNodes, type VerifyNode } from '../../src/verify/verify.js';
import { benchSshOptions, cpuMsOf } from './link.js';

export interface LinkJob {
  privateKeyPem: string;
  username: string;
  hostname: string;
  endpoints: { host: string; port: number }[];
  /** Endpoint counts to time, each `runs` times: the first `count` endpoints. */
  sizes: number[];
  runs: number;
  /** The sshds, whose CPU time (with their sessions' commands) is counted. */
  serverPids: number[];
  /** The link's own processes (the delay line, where there is one), counted apart. */
  linkPids: number[];
}

export interface LinkRun {
  count: number;
  wallMs: number;
  clientCpuMs: number;
  serverCpuMs: number;
  linkCpuMs: number;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as LinkJob;
  const dir = mkdtempSync(join(tmpdir(), 'kv-link-client-'));
  const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const runs: LinkRun[] = [];
  try {
    for (const count of job.sizes) {
      const nodes: VerifyNode[] = job.endpoints.slice(0, count).map((e, i) => ({
        planned: { name: `node-${i + 1}`, hostname: job.hostname, ip: e.host, role: i === 0 ? 'control-plane' : 'worker' },
        target: { name: `node-${i + 1}`, host: e.host, port: e.port, username: job.username },
      }));
      for (let r = 0; r < job.runs; r++) {
        const ssh = benchSshOptions(job.privateKeyPem, join(dir, `known_hosts-${count}-${r}`));
        const cpu0 = process.cpuUsage();
        const server0 = cpuOf(job.serverPids);
        const link0 = cpuOf(job.linkPids);
        const t0 = performance.now();
        const report = await verifyNodes(nodes, ssh, { phase: 'node', probePort: job.endpoints[0]!.port });
        const wallMs = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        // sshd counts a connection's CPU once it has reaped it, shortly after the client closed.
        await new Promise((r) => setTimeout(r, 300));
        const failedLogins = report.nodes.filter((n) => !n.checks[0]?.ok);
        if (failedLogins.length > 0) throw new Error(`${failedLogins.length} of ${count} endpoints could not be reached: ${failedLogins[0]!.checks[0]?.seen}`);
        runs.push({ count, wallMs, clientCpuMs: (cpu.user + cpu.system) / 1000, serverCpuMs: cpuOf(job.serverPids) - server0, linkCpuMs: cpuOf(job.linkPids) - link0 });
      }
    }
    process.stdout.write(JSON.stringify({ runs }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
