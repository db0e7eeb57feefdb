/** Typed errors; src/cli.ts maps each kind to an exit code (config 2, command 1, usage 2). */

export interface ConfigProblem {
  /** Dotted field path, e.g. `workers.count`, or the env var / flag that supplied it. */
  path: string;
  message: string;
  hint?: string;
}

export class ConfigError extends Error {
  readonly kind = 'config';
  constructor(readonly problems: ConfigProblem[], readonly file?: string) {
    super(formatProblems(problems, file));
  }
}

export function formatProblems(problems: ConfigProblem[], file?: string, noun = 'problem'): string {
  const head = `${file ?? 'config'}: ${problems.length} ${noun}${problems.length === 1 ? '' : 's'}`;
  const lines = problems.map((p) => `  ${p.path}: ${p.message}${p.hint ? `\n      hint: ${p.hint}` : ''}`);
  return [head, ...lines].join('\n');
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A wrong argument or an impossible request; exits 2 like a config error. */
export class UsageError extends Error {
  readonly kind = 'usage';
}

/** An external command (vagrant, ssh) failed: carries the command and the tail of its output. */
export class CommandError extends Error {
  readonly kind = 'command';
  constructor(
    message: string,
    readonly details: { command?: string; output?: string; logFile?: string } = {},
  ) {
    super(message);
  }
}
