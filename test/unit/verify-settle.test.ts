import { describe, expect, it } from 'vitest';
import { allAnswered, withPassedBefore, type PassedChecks } from '../../src/steps/verify.js';
import type { CheckResult } from '../../src/verify/types.js';
import type { VerifyReport } from '../../src/verify/index.js';

const check = (id: string, ok: boolean): CheckResult => ({ node: 'master', check: id, title: id, expected: 'x', ok, seen: ok ? 'ok' : 'no' });
const report = (checks: CheckResult[]): VerifyReport => ({
  phase: 'cluster',
  ok: checks.every((c) => c.ok),
  startedAt: '2026-12-01T00:00:00.000Z',
  durationMs: 1,
  nodes: [{ name: 'master', hostname: 'demo-master', ip: '192.168.56.10', role: 'control-plane', ok: checks.every((c) => c.ok), checks }],
});

describe('verify while pods settle: a retry runs only what has not passed', () => {
  it('keeps the checks that passed in an earlier try and reports the new results of the others', () => {
    const passed: PassedChecks = new Map();
    const first = withPassedBefore(report([check('ssh', true), check('swap-off', true), check('node-ready', false)]), passed);
    expect(first.ok).toBe(false);
    expect(first.nodes[0]!.checks.map((c) => c.check)).toEqual(['ssh', 'swap-off', 'node-ready']);
    expect([...passed.get('master')!.keys()]).toEqual(['ssh', 'swap-off']);
    // The second try ran swap-off no more: it is put back, and node-ready now passes.
    const second = withPassedBefore(report([check('ssh', true), check('node-ready', true)]), passed);
    expect(second.ok).toBe(true);
    expect(second.nodes[0]!.checks.map((c) => [c.check, c.ok])).toEqual([['ssh', true], ['swap-off', true], ['node-ready', true]]);
  });

  it('a check that fails again stays failed; nothing of another node is borrowed', () => {
    const passed: PassedChecks = new Map([['worker-1', new Map([['containerd-active', check('containerd-active', true)]])]]);
    const r = withPassedBefore(report([check('ssh', true), check('containerd-active', false)]), passed);
    expect(r.ok).toBe(false);
    expect(r.nodes[0]!.checks.map((c) => [c.check, c.ok])).toEqual([['ssh', true], ['containerd-active', false]]);
  });
});

describe('verify asks again only while every node answers', () => {
  it('a failed check on a node that logged in: asked again; a node that did not log in: not', () => {
    expect(allAnswered(report([check('ssh', true), check('pod-kube-apiserver', false)]))).toBe(true);
    expect(allAnswered(report([check('ssh', false)]))).toBe(false);
    // A check that passed before is no login: a node whose ssh check is missing has not answered.
    expect(allAnswered(report([check('swap-off', true)]))).toBe(false);
  });
});
