import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_PHASE, JOIN_PHASE, MIN_VERIFY_PHASE, PHASE_IDS, PHASES, passedFromRecord, phaseDef, POSITIONAL_PHASES } from '../../src/phases.js';
import { normalizeState, passedPhases, readState, recordPassed, updateState, type ClusterState } from '../../src/state.js';
import { hasControlPlane } from '../../src/steps/cluster.js';
import { machinesToSetUp, pendingNodes, upSteps } from '../../src/steps/up-steps.js';
import { testOffline, testPlan } from '../helpers/plans.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('what a phase means is a property of its entry', () => {
  it('each marking property marks exactly one phase, and the named constants are those', () => {
    for (const [property, id] of [['startsControlPlane', CONTROL_PLANE_PHASE], ['joinsWorkers', JOIN_PHASE], ['verifyAtLeast', MIN_VERIFY_PHASE]] as const) {
      expect(PHASES.filter((p) => p[property]).map((p) => p.id), property).toEqual([id]);
    }
    expect([CONTROL_PLANE_PHASE, JOIN_PHASE, MIN_VERIFY_PHASE]).toEqual(['control-plane', 'workers', 'prerequisites']);
  });

  it('the control plane is up once it passed the phase that starts it, not before, whatever else it passed', () => {
    const plan = testPlan({});
    const cluster = (passed: string[] | string | undefined) => ({ plan, state: normalizeState(passed === undefined ? {} : { nodePhases: { master: passed } }) });
    expect(hasControlPlane(cluster(undefined))).toBe(false);
    expect(hasControlPlane(cluster(['machines', 'prerequisites', 'packages']))).toBe(false);
    expect(hasControlPlane(cluster(['machines', 'prerequisites', 'packages', 'control-plane']))).toBe(true);
    expect(hasControlPlane(cluster('workers'))).toBe(true);
    expect(hasControlPlane(cluster('packages'))).toBe(false);
  });

  it('up --until a phase before the control plane fetches no kubeconfig; from it on, it does', () => {
    const plan = testPlan({});
    const kubeconfig = (until: (typeof PHASE_IDS)[number]) => upSteps(plan, {}, { until }).some((s) => s.kind === 'kubeconfig');
    expect(PHASE_IDS.filter(kubeconfig)).toEqual(['control-plane', 'workers', 'verified']);
  });

  it('the workers that have joined are those that passed the join phase', () => {
    const plan = testPlan({});
    const state = normalizeState({ nodePhases: { master: 'verified', 'worker-1': ['machines', 'prerequisites', 'packages', 'workers'], 'worker-2': ['machines', 'prerequisites', 'packages', 'verified'] } });
    expect(machinesToSetUp(plan, state, { controlPlane: false, workers: true }).map((n) => n.name)).toEqual(['worker-2']);
  });
});

describe('a phase a machine has not run runs, even where the machine is recorded past it', () => {
  it('a cluster an older version installed from the package repositories: the artifacts phase runs on every machine, the phases they passed do not', () => {
    const offline = testPlan({ provider: 'libvirt' }, { offline: testOffline() });
    // What an older up recorded without artifacts: every phase but artifacts, which that plan did not have.
    const online = ['machines', 'prerequisites', 'packages'];
    const state = normalizeState({ phase: 'verified', nodePhases: { master: [...online, 'control-plane', 'verified'], 'worker-1': [...online, 'workers', 'verified'], 'worker-2': [...online, 'workers', 'verified'] } });
    expect(pendingNodes(phaseDef('artifacts'), offline.nodes, state).map((n) => n.name)).toEqual(['master', 'worker-1', 'worker-2']);
    expect(pendingNodes(phaseDef('packages'), offline.nodes, state)).toEqual([]);
    const steps = upSteps(offline, state, { until: 'verified' }).map((s) => `${s.kind}${'phase' in s ? ` ${s.phase}` : ''}`);
    expect(steps).toEqual(['seeds', 'vagrant machines', 'verify machines', 'vagrant artifacts', 'verify artifacts', 'verify verified', 'kubeconfig']);
  });

  it('a phase added to the table later is not passed by a machine whose old state.json recorded a phase after its place', () => {
    // The table of tomorrow, with a phase inserted before control-plane.
    const tomorrow = ['machines', 'artifacts', 'prerequisites', 'packages', 'clock', 'control-plane', 'workers', 'verified'] as const;
    expect(passedFromRecord('workers', tomorrow, POSITIONAL_PHASES)).toEqual(['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers']);
    // Lists written today do not name it either.
    expect(passedFromRecord(['machines', 'prerequisites', 'packages', 'control-plane', 'workers'], tomorrow, POSITIONAL_PHASES)).not.toContain('clock');
    // A phase removed from the table is dropped; an unknown record is nothing passed.
    expect(passedFromRecord(['machines', 'gone'], PHASE_IDS, POSITIONAL_PHASES)).toEqual(['machines']);
    expect(passedFromRecord('gone', PHASE_IDS, POSITIONAL_PHASES)).toEqual([]);
    expect(passedFromRecord(42, PHASE_IDS, POSITIONAL_PHASES)).toEqual([]);
  });
});

describe('state.json', () => {
  it('reads the old form (one phase per machine) as the phases up to it, and an unknown cluster phase as none', () => {
    const state = normalizeState({ phase: 'workers', nodePhases: { master: 'workers', 'worker-1': 'packages' }, workers: [1], lastVerify: { at: 'x' } });
    expect(state.nodePhases).toEqual({
      master: ['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers'],
      'worker-1': ['machines', 'artifacts', 'prerequisites', 'packages'],
    });
    expect(state.phase).toBe('workers');
    expect(state.workers).toEqual([1]);
    expect(normalizeState({ phase: 'renamed' }).phase).toBeUndefined();
    expect(() => normalizeState([])).toThrow();
  });

  it('recordPassed: the machines verified get the phase (in table order, once), the cluster phase only moves on', () => {
    const before: ClusterState = normalizeState({ phase: 'packages', nodePhases: { master: ['machines', 'packages'] }, workers: [1, 2] });
    const frozen = JSON.stringify(before);
    const after = recordPassed(before, 'prerequisites', ['master', 'worker-1']);
    expect(JSON.stringify(before)).toBe(frozen);
    expect(after).toEqual({ phase: 'packages', nodePhases: { master: ['machines', 'prerequisites', 'packages'], 'worker-1': ['prerequisites'] }, workers: [1, 2] });
    expect(recordPassed(after, 'prerequisites', ['master', 'worker-1'])).toEqual(after);
    const cp = recordPassed(after, 'control-plane', ['master']);
    expect(cp.phase).toBe('control-plane');
    expect([...passedPhases(cp, 'master')]).toEqual(['machines', 'prerequisites', 'packages', 'control-plane']);
    expect([...passedPhases(cp, 'worker-9')]).toEqual([]);
  });

  it('an old state.json is read, and written back as lists at the next update', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-state-'));
    dirs.push(dir);
    mkdirSync(join(dir, '.kubeadm-vagrant'));
    writeFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), JSON.stringify({ phase: 'verified', nodePhases: { master: 'verified' } }));
    expect(passedPhases(readState(dir), 'master').has('control-plane')).toBe(true);
    updateState(dir, (s) => recordPassed(s, 'verified', ['worker-1']));
    expect(JSON.parse(readFileSync(join(dir, '.kubeadm-vagrant', 'state.json'), 'utf8'))).toEqual({
      phase: 'verified',
      nodePhases: { master: ['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers', 'verified'], 'worker-1': ['verified'] },
    });
  });
});

describe("up's state update after each phase, without VMs", () => {
  /** What `up` writes after each verify step passes: recordPassed of the step's phase for its machines. */
  const afterSteps = (plan: ReturnType<typeof testPlan>, state: ClusterState, until: (typeof PHASE_IDS)[number], opts: Omit<Parameters<typeof upSteps>[2], 'until'> = {}) =>
    upSteps(plan, state, { until, ...opts }).reduce((s, step) => (step.kind === 'verify' ? recordPassed(s, step.phase, step.record.map((n) => n.name)) : s), state);

  it('a full up records every phase on every machine it applies to; up again runs nothing but starting the machines and the checks', () => {
    const plan = testPlan({ provider: 'libvirt' });
    const state = afterSteps(plan, {}, 'verified');
    expect(state.phase).toBe('verified');
    expect(state.nodePhases).toEqual({
      master: ['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers', 'verified'],
      'worker-1': ['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers', 'verified'],
      'worker-2': ['machines', 'artifacts', 'prerequisites', 'packages', 'control-plane', 'workers', 'verified'],
    });
    expect(upSteps(plan, state, { until: 'verified' }).map((s) => `${s.kind}${'phase' in s ? ` ${s.phase}` : ''}`)).toEqual(['seeds', 'vagrant machines', 'verify machines', 'verify verified', 'kubeconfig']);
  });

  it('up --until packages, then up: the second run starts where the first stopped', () => {
    const plan = testPlan({});
    const first = afterSteps(plan, {}, 'packages');
    expect(first.phase).toBe('packages');
    expect(hasControlPlane({ plan, state: first })).toBe(false);
    const rest = upSteps(plan, first, { until: 'verified' }).filter((s) => s.kind === 'vagrant').map((s) => s.kind === 'vagrant' && s.phase);
    expect(rest).toEqual(['machines', 'control-plane', 'workers']);
    expect(hasControlPlane({ plan, state: afterSteps(plan, first, 'verified') })).toBe(true);
  });

  it('the control plane alone, then the workers: the second step sees the first', () => {
    const plan = testPlan({});
    const cp = afterSteps(plan, {}, 'verified', { setup: { controlPlane: true, workers: false } });
    expect(Object.keys(cp.nodePhases!)).toEqual(['master']);
    expect(machinesToSetUp(plan, cp, { controlPlane: false, workers: true }).map((n) => n.name)).toEqual(['worker-1', 'worker-2']);
    const all = afterSteps(plan, cp, 'verified', { setup: { controlPlane: false, workers: true } });
    expect(machinesToSetUp(plan, all, { controlPlane: false, workers: true })).toEqual([]);
  });
});
