import ora, { type Ora } from 'ora';

export function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export interface PhaseProgress {
  /** Changes the running text (spinner on a terminal; ignored in plain mode to keep logs short). */
  update(text: string): void;
  /** One line for one node's result in this phase. */
  node(name: string, ok: boolean, detail?: string): void;
  done(ok: boolean, detail?: string): void;
}

export interface Progress {
  phase(title: string): PhaseProgress;
  info(line: string): void;
}

/**
 * `✓ phase (elapsed)` per phase and `  ✓ node` per node; a spinner on a terminal, plain lines
 * elsewhere (CI logs, pipes).
 */
export function createProgress(opts: { stream?: NodeJS.WriteStream; interactive?: boolean; now?: () => number } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const interactive = opts.interactive ?? (stream.isTTY === true && process.env.CI !== 'true');
  const now = opts.now ?? Date.now;
  const write = (l: string) => stream.write(l + '\n');
  return {
    info: write,
    phase(title) {
      const start = now();
      let spinner: Ora | undefined;
      if (interactive) spinner = ora({ text: title, stream }).start();
      else write(`• ${title} ...`);
      const elapsed = () => formatElapsed(now() - start);
      const above = (l: string) => {
        if (spinner) {
          spinner.clear();
          write(l);
          spinner.render();
        } else write(l);
      };
      return {
        update(text) {
          if (spinner) spinner.text = `${title}: ${text} (${elapsed()})`;
        },
        node(name, ok, detail) {
          above(`  ${ok ? '✓' : '✗'} ${name}${detail ? `: ${detail}` : ''} (${elapsed()})`);
        },
        done(ok, detail) {
          const line = `${title}${detail ? `: ${detail}` : ''} (${elapsed()})`;
          if (spinner) (ok ? spinner.succeed(line) : spinner.fail(line));
          else write(`${ok ? '✓' : '✗'} ${line}`);
        },
      };
    },
  };
}
