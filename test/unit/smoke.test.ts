import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { offlineNeeds } from '../../src/offline/needs.js';
import { nodePortProbe, SMOKE_APP, smokeSetup } from '../../src/steps/smoke.js';
import { API_UNAVAILABLE } from '../../src/steps/tokens.js';
import { SMOKE_IMAGE } from '../../src/versions.js';
import { testConfig, testPlan } from '../helpers/plans.js';

describe('verify --smoke', () => {
  it('deploys the image the offline artifacts carry: an image not imported would be pulled, and guests reach no registry', () => {
    const { command } = smokeSetup(testPlan());
    const images = [...command.matchAll(/--image=(\S+)/g)].map((m) => m[1]);
    expect(images).toEqual([SMOKE_IMAGE]);
    expect(offlineNeeds(testConfig(), '1.37.2').images).toContain(images[0]);
    expect(command).toContain(`create deployment ${SMOKE_APP} `);
  });

  it('waits for the rollout as long as the machines are slow', () => {
    const hardware = smokeSetup(testPlan());
    const emulated = smokeSetup(testPlan({ provider: 'libvirt', libvirt: { driver: 'qemu' } }));
    expect(hardware.command).toContain('rollout status deployment/kubeadm-vagrant-smoke --timeout=180s');
    expect(emulated.command).toContain('rollout status deployment/kubeadm-vagrant-smoke --timeout=900s');
    // The SSH command outlives the rollout's own wait.
    expect(hardware.timeoutMs).toBeGreaterThan(180_000);
    expect(emulated.timeoutMs).toBeGreaterThan(900_000);
  });

  describe('asking again is safe: a create whose answer timed out may have created the app', () => {
    let dir: string | undefined;
    afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

    /** Real bash runs the setup with a fake kubectl first on PATH that answers `create` with `createAnswer` (exit 1), `get deployment` per `exists`, everything else as a healthy cluster. */
    async function setup(createAnswer: string, exists: boolean): Promise<{ code: number; stdout: string; stderr: string; calls: string[] }> {
      dir = mkdtempSync(join(tmpdir(), 'kv-smoke-'));
      const log = join(dir, 'calls');
      writeFileSync(
        join(dir, 'kubectl'),
        [
          '#!/bin/bash',
          `echo "$2 $3" >> ${log}`,
          'case "$2 $3" in',
          `  "create deployment") echo '${createAnswer}' >&2; exit 1 ;;`,
          `  "get deployment") ${exists ? 'exit 0' : `echo 'Error from server (NotFound): deployments.apps "${SMOKE_APP}" not found' >&2; exit 1`} ;;`,
          '  "get service") echo -n 31234 ;;',
          'esac',
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      const r = await promisify(execFile)('bash', ['-c', smokeSetup(testPlan()).command], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } }).then(
        (ok) => ({ code: 0, ...ok }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
      );
      return { ...r, calls: readFileSync(log, 'utf8').trim().split('\n') };
    }

    it('an app that exists already is deployed: the rollout is awaited and the NodePort printed', async () => {
      const r = await setup(`Error from server (AlreadyExists): deployments.apps "${SMOKE_APP}" already exists`, true);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('31234');
      expect(r.calls).toEqual(['create deployment', 'get deployment', 'expose deployment', 'rollout status', 'get service']);
    });

    it('a create that timed out and left nothing fails with the answer that makes smokeTest ask again', async () => {
      const r = await setup('Error from server (Timeout): Timeout: request did not complete within requested timeout - context deadline exceeded', false);
      expect(r.code).not.toBe(0);
      expect(r.calls).toEqual(['create deployment', 'get deployment']);
      expect(API_UNAVAILABLE.test(r.stderr)).toBe(true);
    });
  });

  describe("reaching the NodePort: each node's kube-proxy may route it later than the rollout is ready", () => {
    let server: Server | undefined;
    afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

    /** A real HTTP server on loopback that answers 503 to the first `refusals` requests, then 200; its port and the paths asked. */
    async function app(refusals: number): Promise<{ port: number; asked: string[] }> {
      const asked: string[] = [];
      server = createServer((req, res) => {
        asked.push(req.url ?? '');
        res.writeHead(asked.length > refusals ? 200 : 503).end();
      });
      await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
      return { port: (server.address() as AddressInfo).port, asked };
    }

    /** The probe as a node runs it: real bash, real curl. */
    async function probe(port: number, waitSeconds: number): Promise<string> {
      const { command } = nodePortProbe('127.0.0.1', port, waitSeconds);
      const { stdout } = await promisify(execFile)('bash', ['-c', command], { encoding: 'utf8', timeout: 60_000 });
      return stdout.trim();
    }

    it('asks again until the app answers 200', async () => {
      const { port, asked } = await app(2);
      expect(await probe(port, 60)).toBe('200');
      expect(asked).toEqual(['/hostname', '/hostname', '/hostname']);
    }, 30_000);

    it('gives up when the wait is over, printing the last code (000: nothing listening)', async () => {
      const { port } = await app(0);
      await new Promise<void>((done) => server!.close(() => done()));
      server = undefined;
      const started = Date.now();
      expect(await probe(port, 4)).toBe('000');
      // It kept asking until its deadline, not once (the deadline is in milliseconds: in whole
      // seconds it ended up to a second early, a rare failure of this test).
      expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    }, 30_000);

    it('outlives its own wait over SSH', () => {
      expect(nodePortProbe('10.0.0.1', 1, 300).timeoutMs).toBeGreaterThan(300_000);
    });
  });
});
