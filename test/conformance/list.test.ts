/**
 * The chosen conformance tests, listed by ginkgo's dry run of the e2e.test built from k8s.io/kubernetes at
 * the cluster's tag, with exactly the selection flags the run uses (selection.yaml). It proves that
 * e2e.test and ginkgo build (build.sh builds or reuses them), that the selection names real tests, and
 * that it stays what it says: tagged [Conformance] (but for the named extras), of the chosen SIGs, every
 * group and extra matching, every exclusion an existing test that the run leaves out. No cluster.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolPath } from '../helpers/tools.js';
import { buildOrReuseBinaries, type ConformanceBinaries } from './build.js';
import { CONFORMANCE_LABEL, ginkgoArgv, groupOf, loadSelection, sigOf, specResults, without, type SpecResult } from './selection.js';

const MINUTE = 60_000;
const selection = loadSelection();
const haveGo = toolPath('go') !== undefined || toolPath('/usr/local/go/bin/go') !== undefined;
if (!haveGo && process.env.CI === 'true') throw new Error('the conformance listing needs `go` (to build e2e.test); .ci/run has it');

describe.skipIf(!haveGo)('the chosen conformance tests, listed by e2e.test (ginkgo --dry-run)', () => {
  let binaries: ConformanceBinaries;
  let all: SpecResult[] = [];
  let chosen: SpecResult[] = [];
  const out = mkdtempSync(join(tmpdir(), 'kv-conformance-list-'));
  // e2e.test makes temporary files as it starts (kubectl's test-kuberc*): in `out`, removed after, not in /tmp.
  const dryRunOptions: ExecFileSyncOptions = { stdio: ['ignore', 'ignore', 'inherit'], timeout: 5 * MINUTE, env: { ...process.env, TMPDIR: out } };

  beforeAll(() => {
    binaries = buildOrReuseBinaries(90 * MINUTE);
    const started = Date.now();
    execFileSync(binaries.ginkgo, ginkgoArgv({ e2eTest: binaries.e2eTest, selection, dryRun: true, outputDir: out }), dryRunOptions);
    all = specResults(readFileSync(join(out, 'report.json'), 'utf8'));
    chosen = all.filter((s) => s.state === 'passed');
    const bySig = selection.sigs.map((sig) => `${sig} ${chosen.filter((s) => sigOf(s.name) === sig).length}`);
    const byGroup = selection.groups.map((g) => `${g.name} ${chosen.filter((s) => groupOf(selection, s.name) === g.name).length}`);
    process.stdout.write(`[conformance] ${chosen.length} of ${all.length} tests chosen (dry run ${Date.now() - started} ms): ${bySig.join(', ')}\n[conformance] by group: ${byGroup.join(', ')}\n`);
  }, 100 * MINUTE);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('is a non-empty set of real tests, each of the chosen SIGs and tagged [Conformance], or a named extra', () => {
    expect(all.length, 'the dry run reported the whole suite').toBeGreaterThan(1000);
    expect(chosen.length).toBeGreaterThan(0);
    const extras = new Set(selection.extras.map((e) => e.test));
    const untagged = chosen.filter((s) => !extras.has(s.name) && !(s.labels.includes(CONFORMANCE_LABEL) && s.name.includes(`[${CONFORMANCE_LABEL}]`)));
    expect(untagged.map((s) => s.name), 'chosen but not [Conformance]').toEqual([]);
    const otherSigs = chosen.filter((s) => !selection.sigs.includes(sigOf(s.name) ?? ''));
    expect(otherSigs.map((s) => s.name), 'chosen but of another SIG').toEqual([]);
  });

  it('every group chooses at least one test, and every extra is chosen', () => {
    const empty = selection.groups.filter((g) => !chosen.some((s) => groupOf(selection, s.name) === g.name)).map((g) => g.name);
    expect(empty, 'groups that match no test').toEqual([]);
    const chosenNames = new Set(chosen.map((s) => s.name));
    expect(selection.extras.filter((e) => !chosenNames.has(e.test)).map((e) => e.test), 'extras not chosen').toEqual([]);
    const taggedExtras = selection.extras.filter((e) => all.find((s) => s.name === e.test)?.labels.includes(CONFORMANCE_LABEL));
    expect(taggedExtras.map((e) => e.test), 'extras that are [Conformance] (belong in a group)').toEqual([]);
  });

  it('a resumed run (KUBEADM_VAGRANT_CONFORMANCE_RESUME) chooses exactly the tests the earlier run did not pass', () => {
    // Every third chosen test as passed before: names with brackets, quotes and parentheses among them.
    const earlier = chosen.filter((_, i) => i % 3 === 0).map((s) => s.name);
    const dir = join(out, 'resumed');
    mkdirSync(dir);
    execFileSync(binaries.ginkgo, ginkgoArgv({ e2eTest: binaries.e2eTest, selection: without(selection, earlier, 'passed before'), dryRun: true, outputDir: dir }), dryRunOptions);
    const left = specResults(readFileSync(join(dir, 'report.json'), 'utf8')).filter((s) => s.state === 'passed').map((s) => s.name);
    expect(earlier.length).toBeGreaterThan(0);
    expect(left.sort()).toEqual(chosen.map((s) => s.name).filter((n) => !earlier.includes(n)).sort());
  });

  it('every exclusion names one existing [Conformance] test of a chosen group, and the run leaves it out', () => {
    for (const e of selection.exclusions) {
      const found = all.filter((s) => s.name === e.test);
      expect(found.length, `exclusion "${e.test}" names exactly one test of e2e.test`).toBe(1);
      expect(found[0]!.labels, `exclusion "${e.test}"`).toContain(CONFORMANCE_LABEL);
      expect(groupOf(selection, e.test), `exclusion "${e.test}" falls in no group: it excludes nothing`).toBeDefined();
      expect(found[0]!.state, `exclusion "${e.test}" is still chosen`).toBe('skipped');
    }
  });
});
