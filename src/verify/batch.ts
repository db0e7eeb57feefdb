import { randomBytes } from 'node:crypto';

/**
 * A node's checks in one remote command: one SSH session and one sudo per node instead of one
 * per check. Each check's command runs in its own subshell, one after the other; its stdout,
 * exit status and stderr come back framed by marker lines that carry a random nonce, so no
 * output can fake a frame. The checks stay data (src/verify/node-checks.ts); only the transport
 * changes.
 */

/** What one check's command gave, as if it had run alone. */
export interface BatchPart {
  stdout: string;
  stderr: string;
  code: number;
}

/** A fresh nonce for the markers of one batch. */
export function batchNonce(): string {
  return randomBytes(8).toString('hex');
}

const marker = (nonce: string): string => `kubeadm-vagrant-check-${nonce}`;

/**
 * The POSIX sh script. Per check: a begin line, the command's stdout as it is, then (after a
 * newline of the frame's own) an exit line, its stderr, and an end line. fd 3 carries the
 * command's stdout past the command substitution that captures its stderr. The commands are the
 * checks' own (constants of this tool, each valid for `sh -c`); they run inline in a subshell,
 * which costs a fork where `sh -c` would cost a fork and an exec.
 */
export function batchCommand(commands: readonly string[], nonce: string): string {
  const m = marker(nonce);
  const lines = ['exec 3>&1'];
  commands.forEach((command, i) => {
    lines.push(
      `printf '%s\\n' '${m} ${i} begin'`,
      `e=$( { ${command}
} 2>&1 1>&3 3>&- </dev/null ); c=$?`,
      `printf '\\n%s %s\\n%s\\n%s\\n' '${m} ${i} exit' "$c" "$e" '${m} ${i} end'`,
    );
  });
  return lines.join('\n');
}

/**
 * Splits the batch's output into one part per command; a part is undefined when its frame is
 * missing or cut (the batch died before that command finished).
 */
export function parseBatchOutput(stdout: string, count: number, nonce: string): (BatchPart | undefined)[] {
  const m = marker(nonce);
  const parts: (BatchPart | undefined)[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const begin = `${m} ${i} begin\n`;
    const start = stdout.indexOf(begin, at);
    if (start < 0) {
      parts.push(undefined);
      continue;
    }
    const exitRe = new RegExp(`\\n${m} ${i} exit (\\d+)\\n`, 'g');
    exitRe.lastIndex = start + begin.length;
    const exit = exitRe.exec(stdout);
    const endLine = `\n${m} ${i} end\n`;
    const end = exit ? stdout.indexOf(endLine, exit.index + exit[0].length) : -1;
    if (!exit || end < 0) {
      parts.push(undefined);
      continue;
    }
    parts.push({
      stdout: stdout.slice(start + begin.length, exit.index),
      stderr: stdout.slice(exit.index + exit[0].length, end),
      code: Number(exit[1]),
    });
    at = end + endLine.length;
  }
  return parts;
}
