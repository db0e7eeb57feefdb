import { CommanderError } from 'commander';

/** Typed errors, and what each means for the user (describeError); src/cli.ts prints it and exits. */

export const EXIT = { ok: 0, failed: 1, config: 2 } as const;

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

/** Where a failure's details are: the command line, the last lines of its output, the full log. */
export interface FailureDetails {
  command?: string;
  output?: string;
  logFile?: string;
}

/**
 * An operation on the cluster failed (a phase did not verify, a node is not reachable over SSH, an
 * answer made no sense): exits 1 with its details.
 */
export class OperationError extends Error {
  constructor(
    message: string,
    readonly details: FailureDetails = {},
  ) {
    super(message);
  }
}

/** An external command (vagrant, or one run over SSH) failed: carries the command and the tail of its output. */
export class CommandError extends OperationError {}

/**
 * What an error means for the user: its exit code and the text to print (none for commander's
 * own errors, which it has printed). Config and usage errors exit 2, failed operations 1.
 */
export function describeError(err: unknown, verbose: boolean): { exitCode: number; text: string } {
  if (err instanceof CommanderError) return { exitCode: err.exitCode === 0 ? EXIT.ok : EXIT.config, text: '' };
  if (err instanceof ConfigError || err instanceof UsageError) return { exitCode: EXIT.config, text: `error: ${err.message}\n` };
  if (err instanceof OperationError) {
    const d = err.details;
    const lines = [`error: ${err.message}`];
    if (d.command) lines.push(`  command: ${d.command}`);
    if (d.output) lines.push(`  last output:\n${d.output.replace(/^/gm, '    ')}`);
    if (d.logFile) lines.push(`  full log: ${d.logFile}`);
    return { exitCode: EXIT.failed, text: lines.join('\n') + '\n' };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { exitCode: EXIT.failed, text: `internal error: ${e.message}\n${verbose ? `${e.stack}\n` : '  (run with --verbose for the stack trace)\n'}` };
}
