/**
 * `npm run bench`: prints figures, asserts nothing. Cold start of `generate` (a fresh node
 * process each run) for 1+2 and 1+50 nodes, the time to make the keys and the CA, and verify
 * time against 1 and 50 loopback sshd endpoints.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { packageRoot } from '../../src/layout.js';
import { generateClusterCa, generateSshKeyPair } from '../../src/ssh/keys.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli.js');

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function ms(n: number): string {
  return `${n.toFixed(1)} ms`;
}

function timeGenerate(workers: number, runs: number): { first: number; warm: number } {
  const firsts: number[] = [];
  const warms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'kv-bench-'));
    try {
      writeFileSync(join(dir, 'cluster.yaml'), `apiVersion: kubeadm-vagrant/v1alpha1\nkind: Cluster\nname: bench\nworkers:\n  count: ${workers}\n`);
      for (const bucket of [firsts, warms]) {
        const t0 = performance.now();
        execFileSync(process.execPath, [CLI, 'generate', '-c', join(dir, 'cluster.yaml')], { stdio: 'ignore', env: { ...process.env, NODE_COUNT: '' } });
        bucket.push(performance.now() - t0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { first: median(firsts), warm: median(warms) };
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
  lines.push(`kubeadm-vagrant benchmarks (median of ${runs} runs, node ${process.version}, ${process.platform}/${process.arch})`);
  for (const workers of [2, 50]) {
    const r = timeGenerate(workers, runs);
    lines.push(`generate cold start, 1+${workers} nodes: ${ms(r.warm)} (secrets present), ${ms(r.first)} (first run, makes the keys and the CA)`);
  }
  lines.push(`SSH key pair (RSA 3072, node-forge): ${ms(await timeAsync(() => generateSshKeyPair('bench'), runs))}`);
  lines.push(`cluster CA (RSA 2048, node-forge): ${ms(await timeAsync(() => generateClusterCa(), runs))}`);
  try {
    const { benchVerify, benchVerifyOverLink } = await import('./verify-bench.js');
    lines.push(...(await benchVerify()));
    lines.push(...(await benchVerifyOverLink()));
  } catch (err) {
    lines.push(`verify bench not available: ${(err as Error).message}`);
  }
  for (const l of lines) console.log(l);
}

await main();
