export interface RetryOptions {
  /** Further attempts after the first; 0 means one attempt. */
  retries: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Whether an error is worth another attempt; defaults to every error. */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** The wait before retry `attempt` given its back-off (e.g. a server's Retry-After, or jitter); defaults to the back-off. */
  delayMs?: (err: unknown, attempt: number, backoffMs: number) => number;
  /** Told before each wait, e.g. to log "retrying in 2 s". */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Injected by tests; defaults to a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** The wait before retry number `attempt` (1-based): doubling from the initial delay, capped. */
export function backoffDelay(attempt: number, initialDelayMs: number, maxDelayMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(Math.max(initialDelayMs, 0) * 2 ** exponent, Math.max(maxDelayMs, 0));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `fn` until it resolves, an error is not retryable, or the retries are spent; then rejects
 * with the last error. `fn` receives the attempt number, 0 for the first.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const retries = Math.max(0, Math.floor(options.retries));
  const wait = options.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const next = attempt + 1;
      if (attempt >= retries || (options.shouldRetry && !options.shouldRetry(err, next))) throw err;
      const backoff = backoffDelay(next, options.initialDelayMs, options.maxDelayMs);
      const delay = options.delayMs ? options.delayMs(err, next, backoff) : backoff;
      options.onRetry?.(err, next, delay);
      await wait(delay);
    }
  }
}
