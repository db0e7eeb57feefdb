import { chmodSync, createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CommandError } from '../errors.js';
import { fileSystemError } from '../write.js';
import { HOST } from '../layout.js';
import { Redactor } from '../redact.js';
import type { ExternalCommand } from './commands.js';

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

/** Timestamp for log file names: sortable, no colons. */
export function logStamp(now = new Date()): string {
  return now.toISOString().replace(/[:.]/g, '-');
}

/**
 * Runs external commands in the cluster directory; their full, redacted output goes to one log
 * file per CLI invocation. With dryRun, prints each command and runs nothing.
 */
export function createRunner(opts: { clusterDir: string; dryRun: boolean; logName: string; redactor?: Redactor; print?: (line: string) => void; env?: NodeJS.ProcessEnv }): Runner {
  const logFile = join(opts.clusterDir, HOST.logsDir, `${opts.logName}-${logStamp()}.log`);
  const redactor = opts.redactor ?? new Redactor();
  const print = opts.print ?? ((l: string) => process.stdout.write(l + '\n'));
  let log: WriteStream | undefined;
  const openLog = () => {
    if (!log) {
      // Opened synchronously, so an unwritable directory is a user error naming it, not a stream error later.
      const logsDir = join(opts.clusterDir, HOST.logsDir);
      try {
        mkdirSync(logsDir, { recursive: true, mode: 0o700 });
        chmodSync(logsDir, 0o700);
        log = createWriteStream('', { fd: openSync(logFile, 'a', 0o600) });
      } catch (err) {
        throw fileSystemError(err, 'write the log', logFile);
      }
    }
    return log;
  };

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
      const child = execa(cmd.command, cmd.args, {
        cwd: opts.clusterDir,
        env: { ...opts.env, VAGRANT_NO_COLOR: '1' },
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
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        runOpts.onLine?.(line);
      };
      child.stdout?.on('data', (chunk: string) => stdoutLines.push(chunk));
      const result = await child;
      if (partial) handle(partial);
      out.write(`# exit ${result.exitCode ?? 'signal'}${result.timedOut ? ' (timed out)' : ''}\n`);
      const exitCode = result.exitCode ?? 1;
      if (exitCode !== 0 && !runOpts.allowFailure) {
        throw new CommandError(`${cmd.title} failed with exit code ${exitCode}${result.timedOut ? ' (timed out)' : ''}`, {
          command: cmd.title,
          output: tail.join('\n'),
          logFile,
        });
      }
      return { exitCode, tail, stdout: stdoutLines.join('') };
    },
  };
}
