import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  e2eRunFlags,
  exclusionPattern,
  ginkgoArgv,
  groupOf,
  loadSelection,
  passedIn,
  selectionFlags,
  sigOf,
  specResults,
  summary,
  SUITE_DESCRIPTION,
  type Selection,
  without,
} from '../conformance/selection.js';

/** What ginkgo does with the flags: focus strings joined by "|", matched against the suite's description, a space and the test's name. */
function ginkgoChooses(flags: string[], name: string): boolean {
  const text = `${SUITE_DESCRIPTION} ${name}`;
  const of = (kind: string) => flags.filter((f) => f.startsWith(`--ginkgo.${kind}=`)).map((f) => f.slice(`--ginkgo.${kind}=`.length));
  const focus = of('focus');
  const skip = of('skip');
  return (focus.length === 0 || new RegExp(focus.join('|')).test(text)) && !(skip.length > 0 && new RegExp(skip.join('|')).test(text));
}

const sel: Selection = {
  sigs: ['sig-network', 'sig-node'],
  groups: [
    { name: 'services', focus: '\\[sig-network\\] Services ', why: 'kube-proxy carries them' },
    // a top-level alternation must still need the [Conformance] tag on both sides
    { name: 'runtime', focus: '\\[sig-node\\] Containers |\\[sig-node\\] InitContainer ', why: 'containerd and runc' },
  ],
  exclusions: [{ test: '[sig-network] Services should serve a basic endpoint from pods [Conformance]', why: 'a reason long enough' }],
  extras: [{ test: '[sig-network] Services should allow pods to hairpin back to themselves through services', why: 'no conformance test of it' }],
};

describe('conformance selection: the flags choose what selection.yaml says', () => {
  const flags = selectionFlags(sel, '--ginkgo.');
  it.each([
    ['[sig-network] Services should be able to create a functioning NodePort service [Conformance]', true],
    ['[sig-network] Services should be able to switch session affinity for NodePort service [LinuxOnly] [Conformance]', true],
    ['[sig-network] Services should serve a basic endpoint from pods [Conformance]', false], // excluded
    ['[sig-network] Services should allow pods to hairpin back to themselves through services', true], // the extra
    ['[sig-network] Services should allow pods to hairpin back to themselves through services [Slow]', false], // not the extra's exact name
    ['[sig-network] Services should release NodePorts on delete', false], // in the group, not [Conformance]
    ['[sig-node] Containers should use the image defaults if command and args are blank [Conformance] [NodeConformance]', true],
    ['[sig-node] Containers should run with a default entrypoint', false], // the alternation's left side, untagged
    ['[sig-node] InitContainer should invoke init containers on a RestartNever pod [Conformance] [NodeConformance]', true],
    ['[sig-network] DNS should provide DNS for the cluster [Conformance]', false], // no group
  ])('%s → %s', (name, chosen) => {
    expect(ginkgoChooses(flags, name)).toBe(chosen);
  });

  it('an exclusion matches its exact name only, not a longer or a shorter one', () => {
    const skip = new RegExp(exclusionPattern('[sig-node] Pods should be updated [Conformance]'));
    expect(skip.test('Kubernetes e2e suite [sig-node] Pods should be updated [Conformance]')).toBe(true);
    expect(skip.test('Kubernetes e2e suite [sig-node] Pods should be updated [Conformance] [NodeConformance]')).toBe(false);
    expect(skip.test('Kubernetes e2e suite [sig-node] Pods should be updated')).toBe(false);
    expect(skip.test('Kubernetes e2e suite [sig-node] Extra [sig-node] Pods should be updated [Conformance]')).toBe(false);
  });

  it('gives the same choice to the ginkgo CLI (--focus) and e2e.test (--ginkgo.focus)', () => {
    expect(selectionFlags(sel, '--').map((f) => `--ginkgo.${f.slice(2)}`)).toEqual(flags);
  });

  it('groupOf and sigOf', () => {
    expect(groupOf(sel, '[sig-node] InitContainer should invoke init containers on a RestartNever pod [Conformance]')).toBe('runtime');
    expect(groupOf(sel, '[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]')).toBeUndefined();
    expect(sigOf('[sig-cli] Kubectl logs logs should be able to retrieve and filter logs [Conformance]')).toBe('sig-cli');
    expect(sigOf('Kubectl logs')).toBeUndefined();
  });
});

describe('conformance selection: the ginkgo and e2e.test command lines', () => {
  it('runs the built e2e.test through ginkgo, its own flags after --', () => {
    const argv = ginkgoArgv({ e2eTest: '/c/bin/e2e.test', selection: sel, outputDir: '/r', procs: 2, timeout: '9h', e2eFlags: ['--kubeconfig=/k'] });
    expect(argv.slice(0, 5)).toEqual(['--procs=2', '--timeout=9h', '--no-color', '--output-dir=/r', '--json-report=report.json']);
    expect(argv.slice(-3)).toEqual(['/c/bin/e2e.test', '--', '--kubeconfig=/k']);
    expect(ginkgoArgv({ e2eTest: 'e', selection: sel, outputDir: '/r', dryRun: true })[0]).toBe('--dry-run');
  });

  it('multiplies exactly the waits e2e.test has flags for by the slowdown', () => {
    const flags = e2eRunFlags({ kubeconfig: '/k', kubectl: '/a/bin/kubectl', reportDir: '/r', slowdown: 5 });
    expect(flags).toEqual(
      expect.arrayContaining(['--kubeconfig=/k', '--kubectl-path=/a/bin/kubectl', '--report-dir=/r', '--system-pods-startup-timeout=50m', '--system-daemonsets-startup-timeout=25m', '--node-schedulable-timeout=150m']),
    );
    expect(e2eRunFlags({ kubeconfig: '/k', kubectl: 'k', reportDir: '/r', slowdown: 1 })).toContain('--system-pods-startup-timeout=10m');
  });
});

describe('conformance selection: selection.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-selection-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('the real file loads: three SIGs, unique group names, every exclusion and extra with its reason', () => {
    const real = loadSelection();
    expect(real.sigs).toEqual(['sig-network', 'sig-node', 'sig-cli']);
    expect(real.groups.length).toBeGreaterThan(5);
    for (const g of real.groups) expect(() => new RegExp(g.focus)).not.toThrow();
  });

  it.each([
    ['bad-regex.yaml', 'sigs: [sig-node]\ngroups:\n  - {name: a, focus: "[sig-node", why: "a reason long enough"}\n', /groups\.0\.focus: not a valid regular expression/],
    ['no-why.yaml', 'sigs: [sig-node]\ngroups:\n  - {name: a, focus: "x", why: "short"}\n', /groups\.0\.why: say why in a sentence/],
    ['unknown-key.yaml', 'sigs: [sig-node]\ngroups:\n  - {name: a, focus: "x", why: "a reason long enough", typo: 1}\n', /groups\.0/],
    ['twice.yaml', 'sigs: [sig-node]\ngroups:\n  - {name: a, focus: "x", why: "a reason long enough"}\n  - {name: a, focus: "y", why: "a reason long enough"}\n', /group names given twice: a/],
    ['bad-exclusion.yaml', 'sigs: [sig-node]\ngroups:\n  - {name: a, focus: "x", why: "a reason long enough"}\nexclusions:\n  - {test: "t"}\n', /exclusions\.0\.why/],
  ])('%s is refused, naming the file and the field', (name, text, message) => {
    const file = write(name, text);
    expect(() => loadSelection(file)).toThrow(message);
    expect(() => loadSelection(file)).toThrow(file);
  });
});

describe('conformance selection: what a ginkgo JSON report says', () => {
  // Shaped as ginkgo v2.32's report.json: suite-level nodes besides the tests, runtimes in nanoseconds.
  const report = JSON.stringify([
    {
      SuiteDescription: 'Kubernetes e2e suite',
      SpecReports: [
        { LeafNodeType: 'SynchronizedBeforeSuite', LeafNodeText: '', State: 'passed', RunTime: 2e9 },
        { ContainerHierarchyTexts: ['[sig-network] Services'], LeafNodeType: 'It', LeafNodeText: 'should serve multiport endpoints from pods [Conformance]', LeafNodeLabels: ['Conformance'], State: 'passed', RunTime: 61.5e9 },
        {
          ContainerHierarchyTexts: ['[sig-network] DNS'],
          LeafNodeType: 'It',
          LeafNodeText: 'should provide DNS for services [Conformance]',
          LeafNodeLabels: ['Conformance'],
          State: 'failed',
          RunTime: 620e9,
          Failure: { Message: 'Unexpected error:\n    timed out waiting for the condition', Location: { FileName: 'k8s.io/kubernetes@v1.37.2/test/e2e/network/dns_common.go', LineNumber: 471 } },
        },
        { ContainerHierarchyTexts: ['[sig-node] Pods'], LeafNodeType: 'It', LeafNodeText: 'should be updated [Conformance]', LeafNodeLabels: ['Conformance'], State: 'timedout', RunTime: 300e9 },
        { ContainerHierarchyTexts: ['[sig-cli] Kubectl client', 'Kubectl version'], LeafNodeType: 'It', LeafNodeText: 'should check is all data is printed [Conformance]', LeafNodeLabels: null, State: 'skipped' },
        { LeafNodeType: 'ReportAfterSuite', LeafNodeText: 'Kubernetes e2e JUnit report', State: 'passed' },
      ],
    },
  ]);

  it('lists the tests with their full names, states, seconds and failures', () => {
    const results = specResults(report);
    expect(results.map((r) => [r.name, r.state, r.seconds])).toEqual([
      ['[sig-network] Services should serve multiport endpoints from pods [Conformance]', 'passed', 61.5],
      ['[sig-network] DNS should provide DNS for services [Conformance]', 'failed', 620],
      ['[sig-node] Pods should be updated [Conformance]', 'timedout', 300],
      ['[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]', 'skipped', 0],
    ]);
    expect(results[1]!.failure).toBe('Unexpected error:\n    timed out waiting for the condition (k8s.io/kubernetes@v1.37.2/test/e2e/network/dns_common.go:471)');
    expect(results[0]!.failure).toBeUndefined();
  });

  it('summarizes passed, failed (any state but passed and skipped) and skipped, each failure with its message', () => {
    const text = summary(specResults(report));
    expect(text.split('\n')[0]).toBe('1 passed, 2 failed, 1 skipped');
    expect(text).toContain('FAILED (failed, 620 s) [sig-network] DNS should provide DNS for services [Conformance]\n  Unexpected error:\n      timed out waiting for the condition');
    expect(text).toContain('FAILED (timedout, 300 s) [sig-node] Pods should be updated [Conformance]\n  no message');
  });

  it('an earlier run\'s passed tests, to resume it; a dry run\'s report is refused (it marks what it would run as passed)', () => {
    expect(passedIn(report, 'r.json')).toEqual(['[sig-network] Services should serve multiport endpoints from pods [Conformance]']);
    const dry = JSON.stringify(JSON.parse(report).map((r: object) => ({ ...r, SuiteConfig: { DryRun: true } })));
    expect(() => passedIn(dry, 'dry/report.json')).toThrow(/^dry\/report\.json is a dry run's report/);
    expect(() => passedIn('[]x', 'r.json')).toThrow();
  });

  it('resuming leaves out exactly the tests passed before, by their exact names', () => {
    const passed = '[sig-network] Services should serve multiport endpoints from pods [Conformance]';
    const flags = selectionFlags(without(sel, [passed, '[sig-node] Pods should be updated [Conformance]'], 'passed in r.json'), '--ginkgo.');
    expect(ginkgoChooses(flags, passed)).toBe(false);
    expect(ginkgoChooses(flags, '[sig-network] Services should serve multiport endpoints from pods and more [Conformance]')).toBe(true);
    expect(ginkgoChooses(flags, '[sig-network] Services should provide secure master service [Conformance]')).toBe(true);
    // selection.yaml's own exclusions stay
    expect(ginkgoChooses(flags, sel.exclusions[0]!.test)).toBe(false);
    expect(without(sel, [], 'x')).toEqual(sel);
  });

  it('the runs kept in test/conformance/runs/ can be resumed: real runs, each test they passed one that selection.yaml chooses', () => {
    const dir = join(import.meta.dirname, '..', 'conformance', 'runs');
    const flags = selectionFlags(loadSelection(), '--ginkgo.');
    const runs = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(runs.length).toBeGreaterThan(0);
    for (const f of runs) {
      const passed = passedIn(readFileSync(join(dir, f), 'utf8'), f);
      expect(passed.length, f).toBeGreaterThan(0);
      expect(passed.filter((n) => !ginkgoChooses(flags, n)), `${f}: passed tests the selection does not choose`).toEqual([]);
    }
  });

  it('refuses what is not a ginkgo report', () => {
    expect(() => specResults('{"SpecReports": []}')).toThrow();
    expect(() => specResults('[{"SpecReports": [{"State": "passed"}]}]')).toThrow();
  });
});
