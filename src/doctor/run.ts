import { open, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { errorMessage } from '../errors.js';
import { mapConcurrent } from '../ssh/client.js';
import type { DoctorReport, HostCheckResult, HostCheckSpec, HostContext, Probe, ProbeResult } from './types.js';

/** Bounds one probe: Vagrant starts Ruby and loads its plugins, slowly on a busy host. */
export const PROBE_TIMEOUT_MS = 60_000;
/** Probes run at once. */
const PROBE_CONCURRENCY = 6;
/** A probe may follow from another (a network's XML from the list): a few rounds at most. */
const MAX_ROUNDS = 4;

/**
 * The environment of every probe: Vagrant's version check would reach out to the internet, and
 * the parsers read untranslated output.
 */
function probeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // `ip` lives in /usr/sbin, which a user's PATH on Debian leaves out.
  const path = [env.PATH, '/usr/sbin', '/sbin'].filter(Boolean).join(':');
  return { ...env, PATH: path, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_NO_COLOR: '1', LC_ALL: 'C' };
}

async function runProbe(probe: Probe, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ProbeResult> {
  if (probe.kind === 'read') {
    try {
      return { status: 'ok', stdout: await readFile(probe.path, 'utf8'), stderr: '', code: 0 };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? { status: 'missing', message: `${probe.path} does not exist` } : { status: 'error', message: `cannot read ${probe.path}: ${errorMessage(err)}`, ...(code ? { errno: code } : {}) };
    }
  }
  if (probe.kind === 'open-rw') {
    try {
      await (await open(probe.path, 'r+')).close();
      return { status: 'ok', stdout: '', stderr: '', code: 0 };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? { status: 'missing', message: `${probe.path} does not exist` } : { status: 'error', message: `cannot open ${probe.path} read-write (${code ?? errorMessage(err)})`, ...(code ? { errno: code } : {}) };
    }
  }
  const r = await execa(probe.command, probe.args, { env: probeEnv(env), extendEnv: false, reject: false, timeout: timeoutMs, stdin: 'ignore', forceKillAfterDelay: 2_000 });
  if (r.timedOut) return { status: 'timeout', message: `\`${probe.id}\` did not finish within ${Math.round(timeoutMs / 1000)} s` };
  const cause = (r as { code?: string }).code;
  if (cause === 'ENOENT') return { status: 'missing', message: `${probe.command} is not installed (not found on PATH)` };
  if (r.exitCode === undefined) return { status: 'error', message: `\`${probe.id}\` could not run: ${r.shortMessage}` };
  return { status: 'ok', stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), code: r.exitCode };
}

export interface RunChecksOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs every probe the checks need (each once, at most a few at a time), then evaluates each check. Never throws for a host problem. */
export async function runHostChecks(specs: readonly HostCheckSpec[], ctx: HostContext, opts: RunChecksOptions = {}): Promise<DoctorReport> {
  const seen = new Map<string, ProbeResult>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const wanted = new Map<string, Probe>();
    for (const spec of specs) for (const p of spec.probes(ctx, seen)) if (!seen.has(p.id)) wanted.set(p.id, p);
    if (wanted.size === 0) break;
    const probes = [...wanted.values()];
    const results = await mapConcurrent(probes, PROBE_CONCURRENCY, (p) => runProbe(p, opts.env ?? process.env, opts.timeoutMs ?? PROBE_TIMEOUT_MS));
    probes.forEach((p, i) => seen.set(p.id, results[i]!));
  }
  const checks = specs.map((spec): HostCheckResult => {
    try {
      return { id: spec.id, title: spec.title, fatal: spec.fatal, ...spec.evaluate(seen, ctx) };
    } catch (err) {
      return { id: spec.id, title: spec.title, fatal: spec.fatal, verdict: 'warn', seen: `not checked: ${errorMessage(err)}` };
    }
  });
  return { ok: checks.every((c) => c.verdict !== 'fail'), provider: ctx.plan.provider, checks };
}
