import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { offlineNeeds } from '../../src/offline/needs.js';
import { nodePortProbe, SMOKE_APP, smokeSetup } from '../../src/steps/smoke.js';
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

  describe("reaching the NodePort: each node's kube-proxy may route it later than the rollout is ready", () => {
    let dir = '';
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** Runs the probe in bash with a stand-in curl that answers `codes` in turn (the last one from then on); returns what it printed and how often curl was asked. */
    function probe(codes: string[], waitSeconds: number): { out: string; calls: string[] } {
      dir = mkdtempSync(join(tmpdir(), 'kv-smoke-'));
      writeFileSync(join(dir, 'codes'), codes.join('\n') + '\n');
      writeFileSync(
        join(dir, 'curl'),
        `#!/bin/bash\necho "$*" >>"${dir}/calls"\nn=$(wc -l <"${dir}/calls")\ncode=$(sed -n "\${n}p" "${dir}/codes")\n[[ -n $code ]] || code=$(tail -n 1 "${dir}/codes")\nprintf '%s' "$code"\n[[ $code != 000 ]]\n`,
      );
      chmodSync(join(dir, 'curl'), 0o755);
      const { command } = nodePortProbe('192.168.56.10', 30080, waitSeconds);
      const out = execFileSync('bash', ['-c', command], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, timeout: 60_000 });
      return { out: out.trim(), calls: readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') };
    }

    it('asks again until the app answers 200', () => {
      const { out, calls } = probe(['000', '000', '200'], 60);
      expect(out).toBe('200');
      expect(calls).toHaveLength(3);
      expect(calls[0]).toContain('http://192.168.56.10:30080/hostname');
    }, 30_000);

    it('gives up when the wait is over, printing the last code', () => {
      const { out, calls } = probe(['000'], 4);
      expect(out).toBe('000');
      expect(calls.length).toBeGreaterThanOrEqual(2);
      expect(calls.length).toBeLessThanOrEqual(3);
    }, 30_000);

    it('outlives its own wait over SSH', () => {
      expect(nodePortProbe('10.0.0.1', 1, 300).timeoutMs).toBeGreaterThan(300_000);
    });
  });
});
