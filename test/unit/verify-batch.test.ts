import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchCommand, batchNonce, parseBatchOutput } from '../../src/verify/batch.js';

/** Runs a batch with the real POSIX sh, as the node does (`sh -c SCRIPT`). */
function runBatch(commands: string[]) {
  const nonce = batchNonce();
  const r = spawnSync('sh', ['-c', batchCommand(commands, nonce)], { encoding: 'utf8', input: 'not for the checks\n' });
  return { parts: parseBatchOutput(r.stdout, commands.length, nonce), stdout: r.stdout, status: r.status };
}

describe("a node's checks in one command", () => {
  it("gives each command's stdout, stderr and exit status as if it had run alone", () => {
    const { parts, status } = runBatch(['echo one; echo two', 'echo warn >&2; exit 3', 'printf no-newline', 'true', 'cat', 'for h in a b; do (echo "$h") & done; wait']);
    expect(status).toBe(0);
    expect(parts).toEqual([
      { stdout: 'one\ntwo\n', stderr: '', code: 0 },
      { stdout: '', stderr: 'warn', code: 3 },
      { stdout: 'no-newline', stderr: '', code: 0 },
      { stdout: '', stderr: '', code: 0 },
      // stdin is closed for each command: `cat` reads nothing and returns.
      { stdout: '', stderr: '', code: 0 },
      { stdout: expect.stringMatching(/^(a\nb|b\na)\n$/), stderr: '', code: 0 },
    ]);
  });

  it('output that imitates a frame of another nonce stays output', () => {
    const fake = 'kubeadm-vagrant-check-0000000000000000 1 exit 0';
    const { parts } = runBatch([`echo '${fake}'`, 'echo real']);
    expect(parts[0]).toEqual({ stdout: `${fake}\n`, stderr: '', code: 0 });
    expect(parts[1]).toEqual({ stdout: 'real\n', stderr: '', code: 0 });
  });

  it('a batch cut short leaves the unfinished commands without a part', () => {
    const nonce = batchNonce();
    const r = spawnSync('sh', ['-c', batchCommand(['echo done', 'kill -9 $$', 'echo never'], nonce)], { encoding: 'utf8' });
    expect(parseBatchOutput(r.stdout, 3, nonce)).toEqual([{ stdout: 'done\n', stderr: '', code: 0 }, undefined, undefined]);
    expect(parseBatchOutput('', 2, nonce)).toEqual([undefined, undefined]);
  });
});
