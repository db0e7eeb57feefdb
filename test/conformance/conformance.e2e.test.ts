/**
 * Kubernetes' own conformance tests against the cluster kubeadm-vagrant builds (`npm run test:conformance`):
 * the main e2e's cluster, brought up its way (test/e2e/cluster-env.ts: one control plane, one worker,
 * flannel, qemu software emulation in the test's own network namespace; the artifacts built from upstream
 * source, fetched by `artifacts fetch` from the test's mirrors; the box made by `box build --bake` from the
 * stand-in of the distro's cloud image), `kubeadm-vagrant up`; then the e2e test images the chosen tests
 * start (build-images.sh: the cluster's artifacts carry only the smoke test's agnhost) imported into every
 * node's containerd over SSH; the kubeconfig from `kubeadm-vagrant kubeconfig`; and the tests selection.yaml
 * chooses, run by the ginkgo and e2e.test built from k8s.io/kubernetes at the cluster's tag (build.sh), from
 * the namespace's host side. Prints passed/failed/skipped with each failure's name and message, and where
 * the JUnit report, ginkgo's JSON report and the full log are kept.
 *
 * KUBEADM_VAGRANT_CONFORMANCE_REPORTS: where each run's reports go (default .conformance-reports/ in the
 * repository, one directory per run). KUBEADM_VAGRANT_CONFORMANCE_PROCS: parallel ginkgo processes
 * (default 1: one test at a time, the figures per test undisturbed). KUBEADM_VAGRANT_CONFORMANCE_GROUPS:
 * a comma-separated list of selection.yaml's group names to run only those (to look at a failure again).
 * KUBEADM_VAGRANT_CONFORMANCE_RESUME: an earlier run's report.json; the tests that passed in it are left
 * out (a run cut short goes on with the rest, on a cluster of its own).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { QEMU_SLOWDOWN } from '../../src/providers/libvirt.js';
import { buildArtifacts, canRunE2e, E2eCluster, MASTER_IP, MINUTE, ROOT, WORKER_IP } from '../e2e/cluster-env.js';
import type { ExecResult } from '../e2e/harness.js';
import { buildOrReuseBinaries, buildOrReuseTestImages, type ConformanceBinaries } from './build.js';
import { didNotPass, e2eRunFlags, ginkgoArgv, groupOf, loadSelection, passedIn, specResults, summary, without, type Selection, type SpecResult } from './selection.js';

const HOUR = 60 * MINUTE;
/** ginkgo's bound on the whole run, and the process's (a little longer, so ginkgo reports first). */
const SUITE_TIMEOUT_HOURS = 9;
const PATCH = '1.37.2';

/** selection.yaml, or only the groups KUBEADM_VAGRANT_CONFORMANCE_GROUPS names; without what KUBEADM_VAGRANT_CONFORMANCE_RESUME's report passed. */
function chosenSelection(): { selection: Selection; resumed?: { report: string; passed: number } } {
  const sel = loadSelection();
  const only = process.env.KUBEADM_VAGRANT_CONFORMANCE_GROUPS?.split(',').map((g) => g.trim()).filter(Boolean);
  const unknown = only?.filter((g) => !sel.groups.some((x) => x.name === g)) ?? [];
  if (unknown.length) throw new Error(`KUBEADM_VAGRANT_CONFORMANCE_GROUPS names no group of selection.yaml: ${unknown.join(', ')}`);
  const grouped = only?.length ? { ...sel, groups: sel.groups.filter((g) => only.includes(g.name)), extras: [] } : sel;
  const report = process.env.KUBEADM_VAGRANT_CONFORMANCE_RESUME;
  if (!report) return { selection: grouped };
  let passed: string[];
  try {
    passed = passedIn(readFileSync(report, 'utf8'), report);
  } catch (e) {
    throw new Error(`KUBEADM_VAGRANT_CONFORMANCE_RESUME=${report}: give an earlier run's report.json (.conformance-reports/<time>/report.json, or one kept in test/conformance/runs/): ${(e as Error).message}`);
  }
  return { selection: without(grouped, passed, `passed in ${report}`), resumed: { report, passed: passed.length } };
}

/** KUBEADM_VAGRANT_CONFORMANCE_PROCS (default 1), refused before the cluster is built unless a whole number of 1 or more. */
function chosenProcs(): number {
  const given = process.env.KUBEADM_VAGRANT_CONFORMANCE_PROCS ?? '1';
  if (!/^[1-9]\d*$/.test(given)) throw new Error(`KUBEADM_VAGRANT_CONFORMANCE_PROCS=${given}: give ginkgo's number of processes, a whole number of 1 or more (default 1)`);
  return Number(given);
}

const canRun = canRunE2e();

describe.skipIf(!canRun)(`Kubernetes conformance tests against a cluster kubeadm-vagrant built on VMs (libvirt, qemu, artifacts from upstream source, fetched; a baked box)`, () => {
  const e2e = new E2eCluster();
  const { env, cli, ssh, show, expectOk, chained } = e2e;
  const step = <T>(name: string, fn: () => Promise<T>) => e2e.step(name, fn);
  const log = (line: string) => e2e.log(line);
  const { selection, resumed } = chosenSelection();
  const procs = chosenProcs();
  const reportDir = join(process.env.KUBEADM_VAGRANT_CONFORMANCE_REPORTS ?? join(ROOT, '.conformance-reports'), new Date().toISOString().replace(/[:.]/g, '-'));
  /** The artifacts built from upstream source (their v<patch>/amd64), which the mirrors serve. */
  let built = '';
  let binaries: ConformanceBinaries;
  /** The e2e test images' archive, and the references it holds. */
  let testImages = '';
  let testImageRefs: string[] = [];
  let kubeconfig = '';
  let results: SpecResult[] = [];

  /** kubectl from the namespace's host side with the kubeconfig the CLI wrote. */
  const kubectl = (args: string[]) => env.exec(join(built, 'bin', 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { reject: false, timeoutMs: 5 * MINUTE });
  /** A CLI command, timed, shown and required to succeed; with watchMs, the cluster diagnosed if it runs longer. */
  const ok = async (what: string, fn: () => Promise<ExecResult>, watchMs?: number): Promise<ExecResult> => {
    const r = await step(`kubeadm-vagrant ${what}`, () => (watchMs ? e2e.watched(what, watchMs, fn) : fn()));
    show(r);
    expectOk(r, what);
    return r;
  };
  /** Whether `up` succeeded: the machines are there to ask. */
  let clusterUp = false;

  beforeAll(async () => {
    mkdirSync(reportDir, { recursive: true });
    log(`reports: ${reportDir}`);
    if (resumed) log(`resuming ${resumed.report}: the ${resumed.passed} tests that passed there are left out`);
    const artifactsRoot = await step('build or reuse the artifacts (npm run test:artifacts)', async () => buildArtifacts());
    built = join(artifactsRoot, `v${PATCH}`, 'amd64');
    binaries = await step('build or reuse e2e.test and ginkgo (test/conformance/build.sh)', async () => buildOrReuseBinaries(90 * MINUTE));
    testImages = await step('build or reuse the e2e test images (test/conformance/build-images.sh)', async () => buildOrReuseTestImages(artifactsRoot, 60 * MINUTE));
    testImageRefs = (JSON.parse(readFileSync(join(dirname(dirname(testImages)), 'build-info.json'), 'utf8')) as { images: { ref: string }[] }).images.map((i) => i.ref);
    await e2e.setUp({ version: '1.37', artifacts: { fetch: built }, bake: true });
  }, 4 * HOUR);

  afterAll(async () => {
    if (kubeconfig && results.some(didNotPass)) {
      for (const args of [['get', 'nodes', '-o', 'wide'], ['get', 'pods', '-A', '-o', 'wide']]) log(`kubectl ${args.join(' ')}:\n${(await kubectl(args)).all.trimEnd()}`);
    }
    if (clusterUp) {
      // The guests never pull: what they were asked for that neither the box nor the test images hold shows here.
      for (const ip of [MASTER_IP, WORKER_IP]) {
        const journal = await ssh(ip, 'sudo journalctl -u containerd --no-pager -o cat | grep PullImage');
        const refs = new Set([...journal.stdout.matchAll(/PullImage \\?"([^"\\]+)/g)].map((m) => m[1]));
        log(`${ip}: images containerd was asked to pull: ${[...refs].sort().join(', ') || 'none'}`);
      }
    }
    await e2e.tearDown();
    log(`JUnit report: ${join(reportDir, 'junit_01.xml')}`);
    log(`ginkgo JSON report: ${join(reportDir, 'report.json')}; full log: ${join(reportDir, 'e2e.log')}`);
  }, 15 * MINUTE);

  chained('1. the cluster, as the main e2e makes it: artifacts fetch from the mirrors, box build --bake, up', async () => {
    await ok('artifacts fetch', () => cli(['artifacts', 'fetch'], 30 * MINUTE));
    await ok('box build --bake', () => e2e.buildBox(true), 40 * MINUTE);
    const up = await ok('up', () => cli(['up'], 90 * MINUTE), 40 * MINUTE);
    expect(up.all).toMatch(/reached phase verified/);
    clusterUp = true;
  });

  chained('2. the e2e test images imported into every node\'s containerd; the kubeconfig written', async () => {
    await step('the e2e test images onto every node (scp, ctr images import)', async () => {
      for (const ip of [MASTER_IP, WORKER_IP]) {
        expectOk(await e2e.copyTo(ip, testImages, '/tmp/e2e-test-images.tar'), `scp to ${ip}`);
        // Its agnhost replaces the artifacts' one (the same reference): the same program, with the tools the tests run.
        expectOk(await ssh(ip, 'sudo ctr -n k8s.io images import /tmp/e2e-test-images.tar && rm /tmp/e2e-test-images.tar', 20 * MINUTE), `ctr images import on ${ip}`);
        const listed = (await ssh(ip, 'sudo ctr -n k8s.io images ls -q')).stdout.split('\n').map((l) => l.trim());
        expect(testImageRefs.filter((r) => !listed.includes(r)), `${ip}: test images not in containerd`).toEqual([]);
      }
    });
    kubeconfig = join(e2e.dir, 'conformance.kubeconfig');
    await ok('kubeconfig --output', () => cli(['kubeconfig', '--output', kubeconfig], 5 * MINUTE));
  });

  chained('3. the chosen conformance tests pass', async () => {
    const logFile = join(reportDir, 'e2e.log');
    const argv = ginkgoArgv({
      e2eTest: binaries.e2eTest,
      selection,
      outputDir: reportDir,
      procs,
      timeout: `${SUITE_TIMEOUT_HOURS}h`,
      e2eFlags: e2eRunFlags({ kubeconfig, kubectl: join(built, 'bin', 'kubectl'), reportDir, slowdown: QEMU_SLOWDOWN }),
    });
    log(`ginkgo ${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ')}`);
    // Progress while it runs: ginkgo -v ends each test's block with a line "• [<seconds>]" (or "• [FAILED] ...").
    const progress = setInterval(() => {
      if (!existsSync(logFile) || statSync(logFile).size === 0) return;
      const done = readFileSync(logFile, 'utf8').match(/^• (\[[A-Z]+\] )?\[\d/gm) ?? [];
      log(`  ${done.length} tests done, ${done.filter((l) => l.includes('[FAILED]') || l.includes('[TIMEDOUT]') || l.includes('[PANICKED]')).length} of them failed`);
    }, 10 * MINUTE);
    // e2e.test's temporary files (kubectl's test-kuberc*, kubectl proxy's sockets) go into a directory of the
    // run's, removed after. A short path: a Unix socket's may not exceed 107 bytes.
    const tmp = mkdtempSync(join(tmpdir(), 'kv-conformance-'));
    const ginkgo = await step('ginkgo: the chosen conformance tests', async () => {
      try {
        // Its output (ginkgo -v: every test's steps and logs, tens of MB) goes to the file, not into memory.
        return await env.exec('sh', ['-c', 'exec "$0" "$@" >>"$E2E_LOG" 2>&1', binaries.ginkgo, '-v', ...argv], {
          cwd: reportDir,
          env: { E2E_LOG: logFile, TMPDIR: tmp },
          reject: false,
          timeoutMs: (SUITE_TIMEOUT_HOURS + 0.25) * HOUR,
        });
      } finally {
        clearInterval(progress);
        rmSync(tmp, { recursive: true, force: true });
      }
    });
    const reportFile = join(reportDir, 'report.json');
    const logTail = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '(no log)');
    expect(existsSync(reportFile), `ginkgo wrote no ${reportFile} (exit ${ginkgo.exitCode}):\n${logTail()}`).toBe(true);
    results = specResults(readFileSync(reportFile, 'utf8'));
    const ran = results.filter((s) => s.state !== 'skipped');
    const seconds = (list: SpecResult[]) => list.reduce((t, s) => t + s.seconds, 0);
    for (const g of selection.groups) {
      const mine = ran.filter((s) => groupOf(selection, s.name) === g.name);
      log(`  group ${g.name.padEnd(20)} ${String(mine.length).padStart(3)} tests ${seconds(mine).toFixed(0).padStart(6)} s, ${mine.filter(didNotPass).length} failed`);
    }
    for (const s of ran) log(`  ${s.state.padEnd(8)} ${s.seconds.toFixed(0).padStart(5)} s  ${s.name}`);
    log(`ginkgo exited ${ginkgo.exitCode} after ${(ginkgo.durationMs / 1000).toFixed(0)} s; tests ${seconds(ran).toFixed(0)} s\n${summary(results)}`);
    expect(ran.length, 'tests run').toBeGreaterThan(0);
    expect(results.filter(didNotPass).map((s) => `${s.name}: ${s.failure ?? s.state}`)).toEqual([]);
    expect(ginkgo.exitCode, logTail()).toBe(0);
  });
});
