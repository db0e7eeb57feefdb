/**
 * Which of Kubernetes' conformance tests run against the e2e cluster (selection.yaml), turned into the
 * ginkgo flags that select them, and what a ginkgo JSON report says about a run. Pure, apart from
 * reading the file; used by the dry-run listing (list.test.ts) and the run (conformance.e2e.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as z from 'zod';

export const SELECTION_FILE = join(import.meta.dirname, 'selection.yaml');

/** The ginkgo label every [Conformance] test carries (framework.ConformanceIt). */
export const CONFORMANCE_LABEL = 'Conformance';

const reason = z.string().trim().min(10, 'say why in a sentence');
const pattern = z.string().min(1).refine(
  (s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);
const namedTest = z.strictObject({ test: z.string().min(1), why: reason });
const selectionSchema = z.strictObject({
  sigs: z.array(z.string().regex(/^sig-[a-z-]+$/)).min(1),
  groups: z.array(z.strictObject({ name: z.string().min(1), focus: pattern, why: reason })).min(1),
  exclusions: z.array(namedTest).default([]),
  extras: z.array(namedTest).default([]),
});
export type Selection = z.infer<typeof selectionSchema>;

/** Reads and checks selection.yaml; a problem names the file and the field. */
export function loadSelection(file = SELECTION_FILE): Selection {
  const parsed = selectionSchema.safeParse(parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  }
  const names = parsed.data.groups.map((g) => g.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length) throw new Error(`${file}: group names given twice: ${twice.join(', ')}`);
  return parsed.data;
}

/** A regular expression (RE2 and JavaScript alike) matching exactly the text given. */
export function literalPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What e2e.test's suite is called (test/e2e/e2e.go's RunSpecs). */
export const SUITE_DESCRIPTION = 'Kubernetes e2e suite';

/**
 * The regular expression that matches one test by its exact full name: ginkgo matches focus and skip
 * against the suite's description, a space and the test's full name.
 */
export function exclusionPattern(test: string): string {
  return `^${literalPattern(`${SUITE_DESCRIPTION} ${test}`)}$`;
}

/**
 * The flags that select the chosen tests, for e2e.test (`--ginkgo.` prefix) or the ginkgo CLI (`--`):
 * one focus per group (ginkgo ORs them), each requiring the [Conformance] tag in the name, one per
 * extra (its exact name), one skip per exclusion. Which of those carry the Conformance label is
 * list.test.ts's to check against the dry run.
 */
export function selectionFlags(sel: Selection, prefix: '--ginkgo.' | '--'): string[] {
  return [
    ...sel.groups.map((g) => `${prefix}focus=(?:${g.focus}).*\\[${CONFORMANCE_LABEL}\\]`),
    ...sel.extras.map((e) => `${prefix}focus=${exclusionPattern(e.test)}`),
    ...sel.exclusions.map((e) => `${prefix}skip=${exclusionPattern(e.test)}`),
  ];
}

export interface RunOptions {
  /** The e2e.test binary. */
  e2eTest: string;
  selection: Selection;
  /** List what would run, without a cluster. */
  dryRun?: boolean;
  /** Where ginkgo writes report.json (the complete JSON report). */
  outputDir: string;
  /** Parallel ginkgo processes (1: one test at a time). */
  procs?: number;
  /** ginkgo's bound on the whole suite, e.g. `8h`. */
  timeout?: string;
  /** e2e.test's own flags (after `--`). */
  e2eFlags?: string[];
}

/** The ginkgo CLI's argv (as upstream's hack/ginkgo-e2e.sh runs a built e2e.test): ginkgo flags, the binary, `--`, e2e.test's flags. */
export function ginkgoArgv(o: RunOptions): string[] {
  return [
    ...(o.dryRun ? ['--dry-run'] : []),
    `--procs=${o.procs ?? 1}`,
    `--timeout=${o.timeout ?? '1h'}`,
    '--no-color',
    `--output-dir=${o.outputDir}`,
    '--json-report=report.json',
    ...selectionFlags(o.selection, '--'),
    o.e2eTest,
    '--',
    ...(o.e2eFlags ?? []),
  ];
}

/**
 * e2e.test's flags for a run against a cluster: the kubeconfig and kubectl, the JUnit report
 * (`<reportDir>/junit_01.xml`), and e2e.test's own waits for the cluster (system pods, daemon sets,
 * schedulable nodes) multiplied by the slowdown: the only timeouts it has flags for. The tests' own
 * timeouts (a pod's 5 minutes to start, ...) stay upstream's.
 */
export function e2eRunFlags(o: { kubeconfig: string; kubectl: string; reportDir: string; slowdown: number }): string[] {
  const minutes = (m: number) => `${m * o.slowdown}m`;
  return [
    `--kubeconfig=${o.kubeconfig}`,
    '--provider=skeleton',
    `--kubectl-path=${o.kubectl}`,
    `--report-dir=${o.reportDir}`,
    `--e2e-output-dir=${o.reportDir}`,
    `--system-pods-startup-timeout=${minutes(10)}`,
    `--system-daemonsets-startup-timeout=${minutes(5)}`,
    `--node-schedulable-timeout=${minutes(30)}`,
    // The skeleton provider cannot fetch the nodes' logs; the failed tests' namespaces are still dumped.
    '--disable-log-dump',
  ];
}

/** The group a test's full name falls in (the first whose focus matches), or undefined. */
export function groupOf(sel: Selection, test: string): string | undefined {
  return sel.groups.find((g) => new RegExp(g.focus).test(test))?.name;
}

/** The SIG a test belongs to: the `[sig-…]` its full name starts with. */
export function sigOf(test: string): string | undefined {
  return /^\[(sig-[a-z-]+)\]/.exec(test)?.[1];
}

// ---- ginkgo's JSON report (--ginkgo.json-report, or <report-dir>/ginkgo/report.json) -------------

const specReportSchema = z.looseObject({
  ContainerHierarchyTexts: z.array(z.string()).nullish(),
  LeafNodeType: z.string(),
  LeafNodeText: z.string(),
  LeafNodeLabels: z.array(z.string()).nullish(),
  State: z.string(),
  RunTime: z.number().optional(),
  Failure: z.looseObject({ Message: z.string().optional(), Location: z.looseObject({ FileName: z.string().optional(), LineNumber: z.number().optional() }).optional() }).optional(),
});
const reportSchema = z.array(
  z.looseObject({ SuiteDescription: z.string().optional(), SuiteConfig: z.looseObject({ DryRun: z.boolean().optional() }).optional(), SpecReports: z.array(specReportSchema).nullish() }),
);

export interface SpecResult {
  /** The full name: the containers' texts and the test's own, as --list-tests prints it. */
  name: string;
  labels: string[];
  /** passed, failed, skipped, pending, panicked, timedout, interrupted, aborted (ginkgo's SpecState). */
  state: string;
  seconds: number;
  /** The failure's message and where it happened, for a test that did not pass. */
  failure?: string;
}

/** The tests (`It`s) of a ginkgo JSON report; suite-level nodes (BeforeSuite, ReportAfterSuite, …) are left out. */
export function specResults(json: string): SpecResult[] {
  return resultsOf(reportSchema.parse(JSON.parse(json)));
}

function resultsOf(reports: z.infer<typeof reportSchema>): SpecResult[] {
  return reports.flatMap((r) =>
    (r.SpecReports ?? [])
      .filter((s) => s.LeafNodeType === 'It')
      .map((s): SpecResult => {
        const where = s.Failure?.Location?.FileName ? ` (${s.Failure.Location.FileName}:${s.Failure.Location.LineNumber ?? '?'})` : '';
        return {
          name: [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' '),
          labels: s.LeafNodeLabels ?? [],
          state: s.State,
          seconds: (s.RunTime ?? 0) / 1e9,
          ...(s.Failure?.Message !== undefined && s.State !== 'passed' && s.State !== 'skipped' ? { failure: `${s.Failure.Message.trim()}${where}` } : {}),
        };
      }),
  );
}

/**
 * The tests an earlier run passed, from its ginkgo JSON report (`report` names it in errors). A dry run's
 * report is refused: it marks every test it would run as passed.
 */
export function passedIn(json: string, report: string): string[] {
  const reports = reportSchema.parse(JSON.parse(json));
  if (reports.some((r) => r.SuiteConfig?.DryRun)) throw new Error(`${report} is a dry run's report (ginkgo --dry-run): its tests were listed, not run`);
  return resultsOf(reports).filter((s) => s.state === 'passed').map((s) => s.name);
}

/**
 * The selection without the tests given (those an earlier run passed): each becomes an exclusion by its
 * exact name, so that a run cut short, or run again after a fix, goes on with the rest. A name the
 * selection does not choose excludes nothing.
 */
export function without(sel: Selection, tests: string[], why: string): Selection {
  return { ...sel, exclusions: [...sel.exclusions, ...tests.map((test) => ({ test, why }))] };
}

/** Ran and did not pass: failed, panicked, timed out, interrupted or aborted. */
export const didNotPass = (s: SpecResult) => !['passed', 'skipped', 'pending'].includes(s.state);

/** passed / failed / skipped counts and each failure's name and message, as printed after a run. */
export function summary(results: SpecResult[]): string {
  const count = (f: (s: SpecResult) => boolean) => results.filter(f).length;
  const failed = results.filter(didNotPass);
  const lines = [
    `${count((s) => s.state === 'passed')} passed, ${failed.length} failed, ${count((s) => s.state === 'skipped' || s.state === 'pending')} skipped`,
    ...failed.map((s) => `FAILED (${s.state}, ${s.seconds.toFixed(0)} s) ${s.name}\n  ${(s.failure ?? 'no message').split('\n').join('\n  ')}`),
  ];
  return lines.join('\n');
}
