import type { ConfigProblem } from '../errors.js';
import { hostArch, loadCatalog } from '../distros.js';
import { without } from './fields.js';
import { schemaProblems } from './hints.js';
import { API_VERSION, KIND, clusterSchema, type ClusterConfig } from './schema.js';
import { crossFieldChecks, type ValidationContext } from './validate.js';

/** A raw config (file, variables and flags applied) checked: the schema's problems, then those between fields. */

/** This host's view: the catalog shipped with the tool and this machine's architecture. */
export function defaultValidationContext(): ValidationContext {
  return { catalog: loadCatalog(), arch: hostArch() };
}

/** Validates a raw config object (after env and flags are applied): every problem at once. */
export function validateRaw(
  raw: Record<string, unknown>,
  ctx: ValidationContext = defaultValidationContext(),
  sources = new Map<string, string>(),
): { config?: ClusterConfig; errors: ConfigProblem[]; warnings: ConfigProblem[] } {
  const parsed = clusterSchema.safeParse(raw);
  const errors = parsed.success ? [] : schemaProblems(parsed.error.issues as never, sources, raw);
  // Cross-field checks see defaults for absent fields, and nothing of a field that failed its own
  // checks: one bad value gives one error, not follow-on errors about the fields it meets.
  const failed = parsed.success ? [] : parsed.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k]) : [i.path]));
  const loose = parsed.success ? parsed.data : without(withDefaults(raw), failed);
  const cross = crossFieldChecks(loose, { ...ctx, sources });
  errors.push(...cross.errors);
  return { config: errors.length === 0 && parsed.success ? parsed.data : undefined, errors, warnings: cross.warnings };
}

/** The raw object with every absent field taken from the defaults; present fields stay as given. */
export function withDefaults(raw: Record<string, unknown>): Record<string, unknown> {
  const defaults = clusterSchema.parse({ apiVersion: API_VERSION, kind: KIND }) as unknown as Record<string, unknown>;
  const merge = (d: Record<string, unknown>, r: unknown): Record<string, unknown> => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return d;
    const out: Record<string, unknown> = { ...d };
    for (const [k, v] of Object.entries(r)) {
      const dv = d[k];
      out[k] = typeof dv === 'object' && dv !== null && !Array.isArray(dv) ? merge(dv as Record<string, unknown>, v) : v;
    }
    return out;
  };
  return merge(defaults, raw);
}
