import { describe, expect, it } from 'vitest';
import { formatReportTable, reportToJson, summarizeReport, toVerifySummary } from '../../src/verify/report.js';
import type { VerifyReport } from '../../src/verify/types.js';

const report: VerifyReport = {
  phase: 'node',
  ok: false,
  startedAt: '2025-06-02T10:00:00.000Z',
  durationMs: 4150,
  nodes: [
    {
      name: 'master',
      hostname: 'demo-master',
      ip: '192.168.56.10',
      role: 'control-plane',
      ok: true,
      checks: [
        { node: 'master', check: 'ssh', title: 'SSH login', ok: true, seen: 'logged in as vagrant@192.168.56.10:22', expected: 'key accepted' },
        { node: 'master', check: 'swap-off', title: 'swap off', ok: true, seen: 'no active swap', expected: 'no active swap' },
      ],
    },
    {
      name: 'worker-1',
      hostname: 'demo-worker-1',
      ip: '192.168.56.21',
      role: 'worker',
      ok: false,
      checks: [
        { node: 'worker-1', check: 'ssh', title: 'SSH login', ok: true, seen: 'logged in', expected: 'key accepted' },
        { node: 'worker-1', check: 'swap-off', title: 'swap off', ok: false, seen: 'active: /swap.img (file, 2097148 KiB)', expected: 'no active swap' },
        { node: 'worker-1', check: 'containerd-systemd-cgroup', title: 'cgroup', ok: false, seen: 'x'.repeat(200), expected: 'SystemdCgroup = true' },
      ],
    },
  ],
};

describe('formatReportTable', () => {
  const table = formatReportTable(report);
  const lines = table.split('\n');

  it('has a header and one aligned row per check', () => {
    expect(lines[0]).toMatch(/^NODE\s+CHECK\s+RESULT\s+SEEN\s+EXPECTED$/);
    expect(lines.slice(1, 6)).toHaveLength(5);
    const seenColumn = lines[0]!.indexOf('SEEN');
    expect(lines[2]!.slice(seenColumn)).toMatch(/^no active swap/);
    expect(lines[4]!.slice(seenColumn)).toMatch(/^active: \/swap\.img/);
  });

  it('marks failures and shows what was expected only for them', () => {
    expect(lines[2]).toMatch(/\sok\s/);
    expect(lines[2]).not.toContain('no active swap  no active swap');
    expect(lines[4]).toMatch(/\sFAIL\s.*no active swap$/);
  });

  it('clips very long findings', () => {
    expect(lines[5]).toContain('x'.repeat(69) + '...');
    expect(lines[5]).not.toContain('x'.repeat(80));
  });

  it('ends with the summary', () => {
    expect(lines.at(-1)).toBe('verify (node): 2 of 5 checks FAILED on worker-1 (2 nodes, 4.2 s)');
  });
});

describe('summaries', () => {
  it('says all passed when they did', () => {
    const good: VerifyReport = { ...report, ok: true, nodes: [report.nodes[0]!] };
    expect(summarizeReport(good)).toBe('verify (node): all 2 checks passed on 1 node in 4.2 s');
  });

  it('JSON round-trips the whole report', () => {
    expect(JSON.parse(reportToJson(report))).toEqual(report);
  });

  it('state summary lists the failed check ids per node', () => {
    expect(toVerifySummary(report)).toEqual({
      at: '2025-06-02T10:00:00.000Z',
      ok: false,
      phase: 'node',
      nodes: [
        { name: 'master', ok: true, failed: [] },
        { name: 'worker-1', ok: false, failed: ['swap-off', 'containerd-systemd-cgroup'] },
      ],
    });
  });
});
