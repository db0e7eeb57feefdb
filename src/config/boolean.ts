/**
 * The one rule for booleans, wherever they come from (cluster.yaml, a classic variable, a flag):
 * these words in any case, and in YAML also the bare true/false and 1/0 it reads as a boolean or a
 * number. Strict, so that "false" never means true (the original project's `if ENV["SETUP_MASTER"]`).
 */
export const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, yes: true, no: false, '1': true, '0': false };
export const BOOLEAN_WORD_LIST = 'true, false, yes, no, 1, 0';

/** The boolean a value stands for, or undefined when it is none of the accepted words. */
export function booleanOf(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : undefined;
  if (typeof value === 'string') return BOOLEAN_WORDS[value.trim().toLowerCase()];
  return undefined;
}
