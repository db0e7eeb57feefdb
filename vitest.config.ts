import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/golden/**/*.test.ts'],
          setupFiles: ['test/helpers/cleanup.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Needs the built artifacts: its own project, run by .ci/run once they are built (below).
          exclude: [...configDefaults.exclude, 'test/integration/mirrors.test.ts', 'test/integration/artifacts-fetch.test.ts'],
          // The CLI runs as a process from dist/: compiled from today's sources before any test.
          globalSetup: ['test/helpers/build-cli.ts'],
          setupFiles: ['test/helpers/cleanup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The local mirrors (test/mirror) serving the artifacts test/artifacts builds: .ci/run runs it after
        // waiting for that build (in the background meanwhile), before the e2e, which uses the same mirrors.
        test: {
          name: 'mirrors',
          include: ['test/integration/mirrors.test.ts', 'test/integration/artifacts-fetch.test.ts'],
          // artifacts-fetch.test.ts runs the CLI as a process.
          globalSetup: ['test/helpers/build-cli.ts'],
          testTimeout: 10 * 60_000,
          // A cold artifacts build when neither KUBEADM_VAGRANT_ARTIFACTS_DIR nor the cache has them.
          hookTimeout: 80 * 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The upgrade scenario is a project of its own (npm run test:e2e:upgrade).
          exclude: [...configDefaults.exclude, 'test/e2e/upgrade.e2e.test.ts'],
          globalSetup: ['test/helpers/build-cli.ts'],
          testTimeout: 80 * 60_000,
          hookTimeout: 20 * 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e-upgrade',
          include: ['test/e2e/upgrade.e2e.test.ts'],
          globalSetup: ['test/helpers/build-cli.ts'],
          // `upgrade` alone may take an hour or more under software emulation.
          testTimeout: 180 * 60_000,
          hookTimeout: 120 * 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Kubernetes' conformance tests chosen by test/conformance/selection.yaml, listed by e2e.test's dry
          // run (builds or reuses e2e.test and ginkgo first: minutes after the artifacts' build, which .ci/run
          // runs it after; up to an hour and a half with a cold Go cache).
          name: 'conformance-list',
          include: ['test/conformance/list.test.ts'],
          testTimeout: 5 * 60_000,
          hookTimeout: 100 * 60_000,
        },
      },
      {
        test: {
          // ...and run against the e2e cluster on VMs (hours under emulation; not in .ci/run).
          name: 'conformance',
          include: ['test/conformance/**/*.e2e.test.ts'],
          globalSetup: ['test/helpers/build-cli.ts'],
          // The tests after the cluster's setup: the cluster itself, then ginkgo's run (its own bound: 9 h).
          testTimeout: 10 * 60 * 60_000,
          // The artifacts, e2e.test and the test images built or reused, the namespace and mirrors started.
          hookTimeout: 4 * 60 * 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
