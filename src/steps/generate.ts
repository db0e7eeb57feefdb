import { statSync } from 'node:fs';
import { loadConfig, rememberedPath, type LoadOptions, type LoadedConfig } from '../config/load.js';
import { UsageError } from '../errors.js';
import { HOST_DIRS } from '../layout.js';
import { checkForeignOutputs, checkOwnership, staleOutputs } from '../ownership.js';
import type { ClusterPlan } from '../plan/plan.js';
import { renderAll } from '../render/render.js';
import { prepareSecrets } from '../secrets.js';
import { generatedRecordFile, readGenerated, readState } from '../state.js';
import { writeAllOrNothing } from '../write.js';
import { planOf } from './cluster.js';

export interface GenerateOptions extends LoadOptions {
  /** `-o DIR`: the cluster directory, when it is not the config file's. */
  outDir?: string;
  /** Replace a Vagrantfile kubeadm-vagrant did not write, or take over another cluster's directory. */
  force?: boolean;
  /** Make a new SSH key pair, CA and token. */
  rotateSecrets?: boolean;
}

export interface GenerateResult {
  loaded: LoadedConfig;
  plan: ClusterPlan;
  outDir: string;
  /** The files written or removed, relative to outDir (a second generate with the same inputs changes none). */
  written: string[];
  /** For the user: secrets made again or rotated. */
  notes: string[];
}

/** `-o` must name a directory (or a path where one can be made). */
function checkOutDir(dir: string): void {
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory (-o names the directory to generate into)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * config → secrets → plan → files, all or nothing: an invalid config, a file generate did not
 * write, another cluster's directory, a broken secret or an unusable path is a user error, and
 * then nothing is written. Remembers what it used (config file, variables, flags) for the other
 * commands, and removes the outputs it wrote before and no longer needs.
 */
export async function generate(opts: GenerateOptions): Promise<GenerateResult> {
  if (opts.outDir) checkOutDir(opts.outDir);
  const loaded = loadConfig({ ...opts, ...(opts.outDir ? { clusterDir: opts.outDir } : {}) });
  const outDir = loaded.dir;
  const { config } = loaded;
  const record = readGenerated(outDir);
  // Whose directory it is, before reading any secret there: another cluster's are never reused.
  const ours = opts.force === true || checkOwnership(outDir, config.name, record);
  const secrets = await prepareSecrets(outDir, config.name, config.kubernetes.token, { rotate: opts.rotateSecrets === true });
  const plan = planOf(loaded, readState(outDir), secrets.values);
  const rendered = renderAll(plan);
  const outputs = rendered.map((f) => f.path);
  if (!ours) checkForeignOutputs(outDir, outputs);
  const remembered = generatedRecordFile({
    name: config.name,
    // Relative to the directory: a moved or copied directory reads its own config.
    ...(loaded.file ? { file: rememberedPath(loaded.file, outDir) } : {}),
    ...(loaded.fileSha256 ? { fileSha256: loaded.fileSha256 } : {}),
    overrides: loaded.remember,
    config,
    outputs,
  });
  const written = writeAllOrNothing(outDir, {
    dirs: HOST_DIRS,
    files: [...secrets.files, ...rendered, remembered],
    removals: [...staleOutputs(outDir, record, outputs), ...secrets.removals],
  });
  return { loaded, plan, outDir, written, notes: secrets.notes };
}
