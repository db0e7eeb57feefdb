import { formatTable } from '../table.js';
import type { VerifySummary } from '../state.js';
import type { CheckResult, VerifyReport } from './types.js';

const SEEN_WIDTH = 72;

function clip(s: string, width: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 3)}...` : flat;
}


/** Adds checks run apart from verifyNodes (insecure key, smoke test) to their nodes' reports, and re-derives ok. */
export function addChecks(report: VerifyReport, checks: readonly CheckResult[]): void {
  for (const c of checks) report.nodes.find((n) => n.name === c.node)?.checks.push(c);
  for (const n of report.nodes) n.ok = n.checks.every((c) => c.ok);
  report.ok = report.nodes.every((n) => n.ok);
}

/** One line: `verify (cluster): all 34 checks passed on 3 nodes in 4.1 s` or what failed where. */
export function summarizeReport(report: VerifyReport): string {
  const all = report.nodes.flatMap((n) => n.checks);
  const failed = all.filter((c) => !c.ok);
  const took = `${(report.durationMs / 1000).toFixed(1)} s`;
  const nodes = `${report.nodes.length} node${report.nodes.length === 1 ? '' : 's'}`;
  if (failed.length === 0) return `verify (${report.phase}): all ${all.length} checks passed on ${nodes} in ${took}`;
  const bad = report.nodes.filter((n) => !n.ok).map((n) => n.name);
  return `verify (${report.phase}): ${failed.length} of ${all.length} checks FAILED on ${bad.join(', ')} (${nodes}, ${took})`;
}

/** The human table: one row per check; EXPECTED only where a check failed. */
export function formatReportTable(report: VerifyReport): string {
  const row = (c: CheckResult): string[] => [c.node, c.check, c.ok ? 'ok' : 'FAIL', clip(c.seen, SEEN_WIDTH), c.ok ? '' : clip(c.expected, 48)];
  const rows = [['NODE', 'CHECK', 'RESULT', 'SEEN', 'EXPECTED'], ...report.nodes.flatMap((n) => n.checks.map(row))];
  return [...formatTable(rows), '', summarizeReport(report)].join('\n');
}

/** The machine-readable form (`verify --json`): the whole report, stable key order. */
export function reportToJson(report: VerifyReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

/** What state.json remembers of a verification. */
export function toVerifySummary(report: VerifyReport): VerifySummary {
  return {
    at: report.startedAt,
    ok: report.ok,
    phase: report.phase,
    nodes: report.nodes.map((n) => {
      const seen = (id: string) => n.checks.find((c) => c.check === id)?.seen;
      const kubelet = seen('kubelet-version');
      const controlPlane = seen('control-plane-version');
      return { name: n.name, ok: n.ok, failed: n.checks.filter((c) => !c.ok).map((c) => c.check), ...(kubelet ? { kubelet } : {}), ...(controlPlane ? { controlPlane } : {}) };
    }),
  };
}
