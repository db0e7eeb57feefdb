import { chmodSync, createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CommandError } from '../errors.js';
import { fileSystemError } from '../write.js';
import { HOST } from '../layout.js';
import { Redactor } from '../redact.js';
import { machineReadableError, readableLines, type ExternalCommand } from './commands.js';

export interface RunResult {
  exitCode: number;
  /** The last lines of output, redacted. */
  tail: string[];
  stdout: string;
}

export interface Runner {
  readonly dryRun: boolean;
  readonly logFile: string;
  run(cmd: ExternalCommand, opts?: { onLine?: (line: string) => void; allowFailure?: boolean; timeoutMs?: number }): Promise<RunResult>;
  /** Flushes and closes the log file. */
  close(): Promise<void>;
}

const TAIL_LINES = 25;

/** The paragraph of a Vagrant error that says what is wrong (after "The reason is shown below:" when Vagrant wraps it), in one line. */
export function vagrantSummary(message: string): string {
  const paragraphs = message.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter(Boolean);
  const reasonAt = paragraphs.findIndex((p) => /reason is shown below:$/.test(p));
  return paragraphs[reasonAt >= 0 && reasonAt + 1 < paragraphs.length ? reasonAt + 1 : 0] ?? '';
}

/** Timestamp for log file names: sortable, no colons. */
export function logStamp(now = new Date()): string {
  return now.toISOString().replace(/[:.]/g, '-');
}

/** A command's log file in the cluster's logs directory (0700), opened for appending (0600). */
export function logFileFor(clusterDir: string, logName: string): string {
  return join(clusterDir, HOST.logsDir, `${logName}-${logStamp()}.log`);
}

/**
 * Opens a log file of logFileFor; synchronously, so an unwritable directory is a user error naming
 * it, not a stream error later.
 */
export function openLogFile(clusterDir: string, logFile: string): WriteStream {
  const logsDir = join(clusterDir, HOST.logsDir);
  try {
    mkdirSync(logsDir, { recursive: true, mode: 0o700 });
    chmodSync(logsDir, 0o700);
    return createWriteStream('', { fd: openSync(logFile, 'a', 0o600) });
  } catch (err) {
    throw fileSystemError(err, 'write the log', logFile);
  }
}

/**
 * Runs external commands in the cluster directory; their full, redacted output goes to one log
 * file per CLI invocation. With dryRun, prints each command and runs nothing.
 */
export function createRunner(opts: { clusterDir: string; dryRun: boolean; logName: string; redactor?: Redactor; print?: (line: string) => void; env?: NodeJS.ProcessEnv }): Runner {
  const logFile = logFileFor(opts.clusterDir, opts.logName);
  const redactor = opts.redactor ?? new Redactor();
  const print = opts.print ?? ((l: string) => process.stdout.write(l + '\n'));
  let log: WriteStream | undefined;
  const openLog = () => (log ??= openLogFile(opts.clusterDir, logFile));

  return {
    dryRun: opts.dryRun,
    logFile,
    close: () => new Promise<void>((resolve) => (log ? log.end(() => resolve()) : resolve())),
    async run(cmd, runOpts = {}) {
      if (opts.dryRun) {
        print(`would run: ${cmd.title}`);
        return { exitCode: 0, tail: [], stdout: '' };
      }
      const out = openLog();
      out.write(`\n$ ${cmd.title}\n`);
      const tail: string[] = [];
      const stdoutLines: string[] = [];
      let vagrantError: ReturnType<typeof machineReadableError>;
      const child = execa(cmd.command, cmd.args, {
        cwd: opts.clusterDir,
        // No call to HashiCorp's version-check server from a tool that only drives local machines (a user's own setting wins).
        env: { VAGRANT_CHECKPOINT_DISABLE: '1', ...(opts.env ?? process.env), VAGRANT_NO_COLOR: '1' },
        all: true,
        reject: false,
        stdin: 'ignore',
        ...(runOpts.timeoutMs ? { timeout: runOpts.timeoutMs } : {}),
      });
      child.stdout?.setEncoding('utf8');
      let partial = '';
      child.all?.on('data', (chunk: Buffer | string) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const raw of lines) handle(raw);
      });
      const handle = (raw: string) => {
        const line = redactor.line(raw.replace(/\r$/, ''));
        out.write(line + '\n');
        vagrantError = machineReadableError(line) ?? vagrantError;
        // `--machine-readable` output is shown as the text a person reads.
        for (const readable of readableLines(line)) {
          tail.push(readable);
          if (tail.length > TAIL_LINES) tail.shift();
        }
        runOpts.onLine?.(line);
      };
      child.stdout?.on('data', (chunk: string) => stdoutLines.push(chunk));
      const result = await child;
      if (partial) handle(partial);
      if ((result as { code?: string }).code === 'ENOENT') {
        out.write(`# could not start: ${cmd.command} is not installed (not found on PATH)\n`);
        throw new CommandError(`${cmd.command} is not installed (not found on PATH), so \`${cmd.title}\` cannot run; \`kubeadm-vagrant doctor\` says what this host needs`, { command: cmd.title, logFile });
      }
      out.write(`# exit ${result.exitCode ?? `signal ${result.signal ?? '?'}`}${result.timedOut ? ' (timed out)' : ''}\n`);
      const exitCode = result.exitCode ?? 1;
      if (exitCode !== 0 && !runOpts.allowFailure) {
        const how = result.exitCode === undefined ? `was killed by ${result.signal ?? 'a signal'}` : `failed with exit code ${exitCode}`;
        const says = vagrantError ? `: ${vagrantSummary(vagrantError.message)}` : '';
        throw new CommandError(`${cmd.title} ${how}${result.timedOut ? ' (timed out)' : ''}${says}`, {
          command: cmd.title,
          output: tail.join('\n'),
          logFile,
        });
      }
      return { exitCode, tail, stdout: stdoutLines.join('') };
    },
  };
}
