import { describe, expect, it } from 'vitest';
import { backoffDelay, withRetry } from '../../src/ssh/retry.js';

function recorder(): { waits: number[]; sleep: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return { waits, sleep: async (ms) => void waits.push(ms) };
}

describe('backoffDelay', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 250, 2000))).toEqual([250, 500, 1000, 2000, 2000, 2000]);
  });

  it('stays finite for absurd attempt numbers', () => {
    expect(backoffDelay(10_000, 1000, 30_000)).toBe(30_000);
  });
});

describe('withRetry', () => {
  it('returns the first success without waiting', async () => {
    const r = recorder();
    await expect(withRetry(async () => 'ok', { retries: 3, initialDelayMs: 100, maxDelayMs: 1000, sleep: r.sleep })).resolves.toBe('ok');
    expect(r.waits).toEqual([]);
  });

  it('retries with growing waits until it succeeds', async () => {
    const r = recorder();
    let calls = 0;
    const value = await withRetry(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return attempt;
      },
      { retries: 5, initialDelayMs: 100, maxDelayMs: 300, sleep: r.sleep },
    );
    expect(value).toBe(3);
    expect(calls).toBe(4);
    expect(r.waits).toEqual([100, 200, 300]);
  });

  it('gives up after the retries with the last error', async () => {
    const r = recorder();
    let calls = 0;
    const run = withRetry(
      async (attempt) => {
        calls++;
        throw new Error(`fail ${attempt}`);
      },
      { retries: 2, initialDelayMs: 10, maxDelayMs: 10, sleep: r.sleep },
    );
    await expect(run).rejects.toThrow('fail 2');
    expect(calls).toBe(3);
    expect(r.waits).toEqual([10, 10]);
  });

  it('does not retry what shouldRetry refuses', async () => {
    const r = recorder();
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw new TypeError('permanent');
      },
      { retries: 5, initialDelayMs: 10, maxDelayMs: 10, shouldRetry: (err) => !(err instanceof TypeError), sleep: r.sleep },
    );
    await expect(run).rejects.toThrow('permanent');
    expect(calls).toBe(1);
    expect(r.waits).toEqual([]);
  });

  it('tells onRetry about each wait', async () => {
    const seen: string[] = [];
    await withRetry(
      async (attempt) => {
        if (attempt === 0) throw new Error('boom');
        return attempt;
      },
      { retries: 1, initialDelayMs: 5, maxDelayMs: 5, onRetry: (err, attempt, delay) => seen.push(`${(err as Error).message}/${attempt}/${delay}`), sleep: recorder().sleep },
    );
    expect(seen).toEqual(['boom/1/5']);
  });

  it('waits for real by default, within the bound', async () => {
    const t0 = performance.now();
    await expect(
      withRetry(
        async () => {
          throw new Error('x');
        },
        { retries: 2, initialDelayMs: 20, maxDelayMs: 30 },
      ),
    ).rejects.toThrow('x');
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(45);
    expect(took).toBeLessThan(1000);
  });
});
