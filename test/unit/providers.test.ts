import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { hintFor } from '../../src/config/load.js';
import { clusterSchema, defaultConfig } from '../../src/config/schema.js';
import { execProbe } from '../../src/doctor/types.js';
import { loadCatalog } from '../../src/distros.js';
import { templatesDir } from '../../src/layout.js';
import { renderClusterYaml } from '../../src/render/render.js';
import { PROVIDER_HOSTS } from '../../src/providers/hosts.js';
import { PROVIDER_IDS, PROVIDERS, providerSectionDefs } from '../../src/providers/index.js';
import { libvirtHost, libvirtUri } from '../../src/providers/libvirt-host.js';
import { testPlan } from '../helpers/plans.js';

describe('one provider registry', () => {
  it('every provider has its Vagrantfile block and its host checks', () => {
    for (const p of PROVIDERS) {
      expect(existsSync(join(templatesDir, 'providers', `${p.id}.rb.ejs`)), p.id).toBe(true);
      expect(PROVIDER_HOSTS[p.id].checks.length, p.id).toBeGreaterThan(0);
    }
    expect(Object.keys(PROVIDER_HOSTS).sort()).toEqual([...PROVIDER_IDS].sort());
  });

  it("a provider's section is in the schema, the defaults, the plan, the hints and init's cluster.yaml, from its entry alone", () => {
    const sections = providerSectionDefs();
    expect(sections.map((s) => s.id)).toEqual(['libvirt']);
    const defaults = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
    const init = parse(renderClusterYaml()) as Record<string, Record<string, unknown>>;
    const initText = renderClusterYaml();
    for (const { id, options } of sections) {
      expect(Object.keys(clusterSchema.shape)).toContain(id);
      expect(init[id], id).toEqual(defaults[id]);
      for (const [field, comment] of Object.entries(options.comments)) {
        expect(initText, `${id}.${field}`).toMatch(new RegExp(`^ {2}${field}: \\S+ +# ${comment.replace(/[|()]/g, '\\$&')}$`, 'm'));
        expect(hintFor(`${id}.${field}`), `${id}.${field}`).toBe((options.hints as Record<string, string>)[field]);
      }
    }
    // Every provider's options travel in the plan, by id (the Vagrantfile has a block for each).
    const plan = testPlan({ provider: 'libvirt', libvirt: { driver: 'qemu' } });
    expect(plan.providerOptions).toEqual({ virtualbox: undefined, libvirt: { driver: 'qemu' } });
    expect(plan.slowdown).toBe(5);
    expect(testPlan({ libvirt: { driver: 'qemu' } }).slowdown).toBe(1);
  });

  it("libvirt's host checks connect where LIBVIRT_DEFAULT_URI says, from the context's environment", () => {
    expect(libvirtUri({})).toBe('qemu:///system');
    expect(libvirtUri({ LIBVIRT_DEFAULT_URI: 'qemu:///session' })).toBe('qemu:///session');
    const plan = testPlan({ provider: 'libvirt' });
    const ctx = { plan, machines: plan.nodes, machineIds: {}, arch: 'amd64' as const, catalog: loadCatalog(), env: { LIBVIRT_DEFAULT_URI: 'qemu:///session' } };
    const libvirtd = libvirtHost.checks.find((c) => c.id === 'libvirtd')!;
    expect(libvirtd.probes(ctx, new Map())).toEqual([execProbe('virsh', ['-c', 'qemu:///session', 'version'])]);
  });
});
