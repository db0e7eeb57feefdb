import { describe, expect, it } from 'vitest';
import { offlineNeeds } from '../../src/offline/needs.js';
import { SMOKE_APP, smokeSetup } from '../../src/steps/smoke.js';
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
});
