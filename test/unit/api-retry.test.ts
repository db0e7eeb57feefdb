import { describe, expect, it } from 'vitest';
import { OperationError } from '../../src/errors.js';
import type { ExecResult, SshSession } from '../../src/ssh/client.js';
import { API_UNAVAILABLE, createToken, sudoUntilAnswered } from '../../src/steps/tokens.js';
import { TOKEN_PATTERN } from '../../src/token.js';

/** A session whose commands answer from a list, recording each try's command and timeout. */
function session(answers: ExecResult[]): { s: SshSession; timeouts: number[]; commands: string[] } {
  const timeouts: number[] = [];
  const commands: string[] = [];
  const s = {
    exec: async (command: string, o: { timeoutMs?: number }) => {
      commands.push(command);
      timeouts.push(o.timeoutMs ?? 0);
      return answers.shift() ?? { code: 0, stdout: 'done', stderr: '' };
    },
  } as unknown as SshSession;
  return { s, timeouts, commands };
}

const EVICT_TIMEOUT = 'error: unable to drain node "w2" due to error: error when evicting pods/"web" -n "default": Timeout: request did not complete within requested timeout - context deadline exceeded, continuing command...';

describe('an idempotent command on the control plane, asked again while the API server answers as unavailable', () => {
  it('retries on the API server\'s own timeout, and says why', async () => {
    const { s, timeouts } = session([{ code: 1, stdout: '', stderr: EVICT_TIMEOUT }]);
    const said: string[] = [];
    const out = await sudoUntilAnswered(s, 'kubectl drain w2', 'kubectl drain w2', { timeoutMs: 60_000, pauseMs: 1, onRetry: (w) => said.push(w) });
    expect(out).toBe('done');
    expect(timeouts).toHaveLength(2);
    expect(timeouts[1]!).toBeLessThanOrEqual(60_000);
    expect(said).toEqual(['kubectl drain w2: the API server answered "Timeout: request did not complete within requested timeout"; asking again']);
  });

  it('does not retry what asking again cannot change, and keeps kubectl\'s last words in the error', async () => {
    const { s, timeouts } = session([{ code: 1, stdout: '', stderr: 'error: cannot delete Pods declare no controller (use --force to override): default/web' }]);
    const err = await sudoUntilAnswered(s, 'kubectl drain w2', 'kubectl drain w2', { timeoutMs: 60_000, pauseMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as OperationError).details.output).toContain('declare no controller');
    expect(timeouts).toHaveLength(1);
  });

  it('a retry may find the work done: `tolerate` accepts the answer (a token delete whose first answer timed out finds it gone)', async () => {
    const { s, timeouts } = session([
      { code: 1, stdout: '', stderr: 'Error from server (Timeout): Timeout: request did not complete within requested timeout - context deadline exceeded' },
      { code: 1, stdout: '', stderr: 'error: secrets "bootstrap-token-abcdef" not found' },
    ]);
    await expect(sudoUntilAnswered(s, 'kubeadm token delete abcdef', 'kubeadm token delete abcdef', { timeoutMs: 60_000, pauseMs: 1, tolerate: (r) => /not found/.test(r.stderr) })).resolves.toBe('');
    expect(timeouts).toHaveLength(2);
  });

  it('gives up when the time is spent', async () => {
    const { s } = session(Array.from({ length: 50 }, () => ({ code: 1, stdout: '', stderr: 'Unable to connect to the server: net/http: TLS handshake timeout' })));
    const err = await sudoUntilAnswered(s, 'kubectl delete node w2', 'kubectl delete node w2', { timeoutMs: 50, pauseMs: 20 }).catch((e: unknown) => e);
    expect((err as OperationError).details.output).toContain('TLS handshake timeout');
  });

  it('knows the unavailable answers from the wrong requests', () => {
    for (const t of [EVICT_TIMEOUT, 'Error from server: etcdserver: request timed out', 'dial tcp 192.168.56.10:6443: connect: connection refused', 'Error from server (ServiceUnavailable): apiserver is shutting down', 'The connection to the server 192.168.56.10:6443 was refused - did you specify the right host or port?', 'read tcp 192.168.56.10:34476->192.168.56.10:6443: read: connection reset by peer']) expect(API_UNAVAILABLE.test(t), t).toBe(true);
    for (const t of ['Error from server (NotFound): nodes "w3" not found', 'error: cannot delete Pods declare no controller', 'Error from server (Forbidden): nodes is forbidden']) expect(API_UNAVAILABLE.test(t), t).toBe(false);
  });
});

describe('kubeadm token create, asked again while the API server answers as unavailable', () => {
  const DEADLINE = 'error: failed to create or update bootstrap token with name bootstrap-token-3n8g6i: unable to create *v1.Secret: Post "https://192.168.56.10:6443/api/v1/namespaces/kube-system/secrets?timeout=10s": context deadline exceeded';
  const tokenIn = (command: string) => /kubeadm token create '([^']+)'/.exec(command)?.[1];

  it('draws the token on the host and sends the same one every try', async () => {
    const { s, commands } = session([{ code: 1, stdout: '', stderr: DEADLINE }, { code: 0, stdout: '', stderr: '' }]);
    const drawn = await createToken(s, '2h', { patienceMs: 60_000, pauseMs: 1 });
    expect(drawn).toMatch(TOKEN_PATTERN);
    expect(commands.map(tokenIn)).toEqual([drawn, drawn]);
  });

  it('a retry told "already exists" made it: the first try timed out after making the secret (as in CI)', async () => {
    const { s, commands } = session([
      { code: 1, stdout: '', stderr: DEADLINE },
      { code: 1, stdout: '', stderr: 'error: a token with id "3n8g6i" already exists' },
    ]);
    const token = await createToken(s, '2h', { patienceMs: 60_000, pauseMs: 1, value: '3n8g6i.0123456789abcdef' });
    expect(token).toBe('3n8g6i.0123456789abcdef');
    expect(commands.map(tokenIn)).toEqual(['3n8g6i.0123456789abcdef', '3n8g6i.0123456789abcdef']);
  });

  it('a first try told "already exists" is an error: that ID belongs to another token', async () => {
    const { s, commands } = session([{ code: 1, stdout: '', stderr: 'error: a token with id "abcdef" already exists' }]);
    const err = await createToken(s, '2h', { patienceMs: 60_000, pauseMs: 1, value: 'abcdef.0123456789abcdef' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as OperationError).details.output).toContain('already exists');
    expect(commands).toHaveLength(1);
  });

  it('two fresh tokens differ, and kubeadm printing another token is an error', async () => {
    const a = await createToken(session([{ code: 0, stdout: '', stderr: '' }]).s, '1h', { patienceMs: 60_000 });
    const b = await createToken(session([{ code: 0, stdout: '', stderr: '' }]).s, '1h', { patienceMs: 60_000 });
    expect(a).not.toBe(b);
    const err = await createToken(session([{ code: 0, stdout: 'zzzzzz.0123456789abcdef\n', stderr: '' }]).s, '1h', { patienceMs: 60_000, value: 'abcdef.0123456789abcdef' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
  });
});
