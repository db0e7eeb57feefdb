import { loadConfig, type LoadOptions, type LoadedConfig } from '../config/load.js';
import type { ClusterPlan } from '../plan/plan.js';
import { renderAll } from '../render/render.js';
import { ensureSecrets, PLACEHOLDER_SECRETS } from '../secrets.js';
import { readState } from '../state.js';
import { writeFiles } from '../write.js';
import { planOf } from './cluster.js';


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
  // A first pass with stand-in secrets catches plan errors before any secret is made.
  planOf(loaded, state, PLACEHOLDER_SECRETS);
  const secrets = await ensureSecrets(outDir, loaded.config.name, loaded.config.kubernetes.token);
  const plan = planOf(loaded, state, secrets);
  const written = writeFiles(outDir, renderAll(plan));
  return { loaded, plan, outDir, written };
}
