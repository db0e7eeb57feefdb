import { loadConfig, type LoadOptions, type LoadedConfig } from '../config/load.js';
import { buildPlan, hostArch, type ClusterPlan, type PlanSecrets } from '../plan/plan.js';
import { renderAll } from '../render/render.js';
import { ensureSecrets } from '../secrets.js';
import { readState } from '../state.js';
import { writeFiles } from '../write.js';

/** Stand-in secrets for a first planning pass that catches plan errors before anything is written. */
export const PLACEHOLDER_SECRETS: PlanSecrets = { token: 'aaaaaa.aaaaaaaaaaaaaaaa', caCertHash: 'sha256:' + '0'.repeat(64), sshPublicKey: 'ssh-rsa AAAA placeholder' };

export interface GenerateResult {
  loaded: LoadedConfig;
  plan: ClusterPlan;
  outDir: string;
  written: string[];
}

/** config → secrets → plan → files. Nothing is written when the config or the plan is invalid. */
export async function generate(opts: LoadOptions & { outDir?: string }): Promise<GenerateResult> {
  const loaded = loadConfig(opts);
  const outDir = opts.outDir ?? loaded.dir;
  const state = readState(outDir);
  const inputs = { config: loaded.config, arch: hostArch(), ...(state.workers ? { workerIndices: state.workers } : {}) };
  buildPlan({ ...inputs, secrets: PLACEHOLDER_SECRETS });
  const secrets = await ensureSecrets(outDir, loaded.config.name, loaded.config.kubernetes.token);
  const plan = buildPlan({ ...inputs, secrets });
  const written = writeFiles(outDir, renderAll(plan));
  return { loaded, plan, outDir, written };
}
