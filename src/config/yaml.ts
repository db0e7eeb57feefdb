import { parseDocument } from 'yaml';
import { errorMessage, type ConfigProblem } from '../errors.js';

/** The most YAML alias expansions a config may make (yaml's resource-exhaustion guard). */
export const MAX_YAML_ALIASES = 100;

/** Reads a YAML config into a plain object; syntax errors come back with line and column. */
export function parseConfigText(text: string): { raw: Record<string, unknown>; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { uniqueKeys: true });
  const problems: ConfigProblem[] = doc.errors.map((e) => {
    const pos = e.linePos?.[0];
    return {
      path: pos ? `line ${pos.line}, column ${pos.col}` : 'yaml',
      message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      hint: 'fix the YAML syntax (indentation with spaces, a space after each ":")',
    };
  });
  if (problems.length > 0) return { raw: {}, problems };
  let value: unknown;
  try {
    // A few aliases are fine; thousands expanding into each other (a "billion laughs") are refused.
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    return { raw: {}, problems: [{ path: 'yaml', message: `cannot be read: ${errorMessage(err)}`, hint: `write the config without YAML aliases (*name) that expand into more than ${MAX_YAML_ALIASES} nodes` }] };
  }
  if (value === null || value === undefined) return { raw: {}, problems: [] };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { raw: {}, problems: [{ path: '(top level)', message: 'the config must be a YAML mapping', hint: 'start from `kubeadm-vagrant init`' }] };
  }
  return { raw: value as Record<string, unknown>, problems: [] };
}
