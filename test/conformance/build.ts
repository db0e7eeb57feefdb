/**
 * What the conformance run needs built, each built or reused by its script (cached by recipe beside the
 * artifacts under /var/cache/kubeadm-vagrant): e2e.test and ginkgo (build.sh), shared by the dry-run listing
 * and the run, and the e2e test images the run imports into the nodes (build-images.sh).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface ConformanceBinaries {
  e2eTest: string;
  ginkgo: string;
}

/** Runs one of this directory's build scripts (its part times on stderr, inherited); the v*\/amd64 directory of the root it printed. */
function build(script: string, args: string[], timeoutMs: number): string {
  const out = execFileSync('bash', [join(import.meta.dirname, script), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: timeoutMs,
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin` },
  });
  const root = out.trim().split('\n').at(-1)!;
  const versions = existsSync(root) ? readdirSync(root).filter((d) => /^v\d/.test(d)) : [];
  if (versions.length !== 1) throw new Error(`test/conformance/${script} printed ${root}, which has not exactly one v*/ directory`);
  return join(root, versions[0]!, 'amd64');
}

/** The files below DIR, each checked to exist. */
function files<T extends Record<string, string>>(dir: string, script: string, paths: T): T {
  const found = Object.fromEntries(Object.entries(paths).map(([k, p]) => [k, join(dir, p)])) as T;
  for (const path of Object.values(found)) if (!existsSync(path)) throw new Error(`test/conformance/${script} built ${dir}, which has no ${path}`);
  return found;
}

/** e2e.test and ginkgo (build.sh). */
export function buildOrReuseBinaries(timeoutMs: number): ConformanceBinaries {
  return files(build('build.sh', [], timeoutMs), 'build.sh', { e2eTest: 'bin/e2e.test', ginkgo: 'bin/ginkgo' });
}

/** The e2e test images' archive (build-images.sh), checked with the containerd of the artifacts root given. */
export function buildOrReuseTestImages(artifactsRoot: string, timeoutMs: number): string {
  return files(build('build-images.sh', [artifactsRoot], timeoutMs), 'build-images.sh', { archive: 'images/e2e-test-images.tar' }).archive;
}
