/**
 * `npm run bench`: prints figures, asserts nothing. Cold start of `generate` (a fresh node
 * process each run) for 1+2 and 1+50 nodes, the time to make the keys and the CA, and verify
 * time against 1 and 50 loopback sshd endpoints.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateClusterCa, generateSshKeyPair } from '../../src/ssh/keys.js';
import { cacheEnv } from '../helpers/artifacts.js';
import { CLI } from '../helpers/cli.js';
import { childrenCpuMs } from './link.js';


function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function ms(n: number): string {
  return `${n.toFixed(1)} ms`;
}


/** Wall and CPU time of one run of `node ARGS`, to completion. */
function timeNode(args: string[], env: NodeJS.ProcessEnv = {}): { wall: number; cpu: number } {
  const [t0, c0] = [performance.now(), childrenCpuMs()];
  execFileSync(process.execPath, args, { stdio: 'ignore', env: { ...process.env, NODE_COUNT: '', ...env } });
  return { wall: performance.now() - t0, cpu: childrenCpuMs() - c0 };
}

type Timing = { wall: number; cpu: number };
const medianTiming = (t: Timing[]): Timing => ({ wall: median(t.map((x) => x.wall)), cpu: median(t.map((x) => x.cpu)) });
const timing = (t: Timing) => `${ms(t.wall)} (CPU ${t.cpu.toFixed(0)} ms)`;

function timeGenerate(workers: number, runs: number): { first: Timing; warm: Timing } {
  const firsts: Timing[] = [];
  const warms: Timing[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'kv-bench-'));
    try {
      writeFileSync(join(dir, 'cluster.yaml'), `apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: bench\nworkers:\n  count: ${workers}\n`);
      // A cache holding the default cluster's artifacts (fakes of the real layout): generate installs nothing, but checks them.
      for (const bucket of [firsts, warms]) bucket.push(timeNode([CLI, 'generate', '-c', join(dir, 'cluster.yaml')], cacheEnv()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { first: medianTiming(firsts), warm: medianTiming(warms) };
}

async function timeAsync(fn: () => Promise<unknown>, runs: number): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  lines.push(`kubeadm-vagrant benchmarks (median of ${runs} runs, node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  // What any node process costs on this machine, for scale: the cold starts below include it.
  lines.push(`node startup alone (node -e ''): ${timing(medianTiming(Array.from({ length: runs }, () => timeNode(['-e', '']))))}`);
  for (const workers of [2, 50]) {
    const r = timeGenerate(workers, runs);
    lines.push(`generate cold start, 1+${workers} nodes: ${timing(r.warm)} (secrets present), ${timing(r.first)} (first run, makes the keys and the CA)`);
  }
  lines.push(`SSH key pair (ECDSA P-256, native crypto): ${ms(await timeAsync(() => generateSshKeyPair('bench'), runs))}`);
  lines.push(`cluster CA (ECDSA P-256, native crypto): ${ms(await timeAsync(() => generateClusterCa(), runs))}`);
  try {
    const { benchVerify, benchVerifyOverLink } = await import('./verify-bench.js');
    lines.push(...(await benchVerify()));
    lines.push(...(await benchVerifyOverLink()));
  } catch (err) {
    lines.push(`verify bench not available: ${(err as Error).message}`);
  }
  try {
    const { benchArtifacts } = await import('./artifacts-bench.js');
    lines.push(...(await benchArtifacts()));
  } catch (err) {
    lines.push(`artifacts fetch bench not available: ${(err as Error).message}`);
  }
  for (const l of lines) console.log(l);
}

await main();
