import pLimit from 'p-limit';

/** Parallel downloads by default: enough to hide latency, few enough not to thrash a disk or a mirror. */
export const DEFAULT_PARALLEL = 4;

const SKIPPED = Symbol('skipped after a failure');

/**
 * `fn` over `items`, at most `limit` at a time, results in the items' order. After the first
 * failure no new item starts; those running finish (a download keeps its partial), then the first
 * error is thrown.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const run = pLimit(Math.max(1, Math.floor(limit)));
  let failure: { err: unknown } | undefined;
  const settled = await Promise.allSettled(
    items.map((item, index) =>
      run(async () => {
        if (failure) throw SKIPPED;
        try {
          return await fn(item, index);
        } catch (err) {
          failure ??= { err };
          throw err;
        }
      }),
    ),
  );
  if (failure) throw failure.err;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
