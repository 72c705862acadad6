// Exponential backoff, as a pure function and as client-go's per-key rate
// limiter. The defaults are controller-runtime's: a key that keeps failing is
// retried after 5 ms, 10 ms, 20 ms, ... up to 1000 s, so a persistent error
// costs almost nothing while a transient one is retried at once.

export const DEFAULT_BASE_DELAY_MS = 5;
export const DEFAULT_MAX_DELAY_MS = 1_000_000;

/** The delay before retry number `failures` (0 for the first retry): base·2^failures, capped at `maxMs`. */
export function exponentialBackoff(failures: number, baseMs: number, maxMs: number): number {
  // 2 ** 1100 is Infinity, which Math.min turns into the cap: no overflow to guard against.
  return Math.min(baseMs * 2 ** Math.max(0, failures), maxMs);
}

/** Decides how long a key waits before its next retry; `forget` clears what it remembers of a key. */
export interface RateLimiter {
  when(key: string): number;
  forget(key: string): void;
  numRequeues(key: string): number;
}

/** client-go's ItemExponentialFailureRateLimiter: each key backs off on its own. */
export class ItemExponentialRateLimiter implements RateLimiter {
  readonly #failures = new Map<string, number>();
  readonly #baseMs: number;
  readonly #maxMs: number;

  constructor(baseMs: number = DEFAULT_BASE_DELAY_MS, maxMs: number = DEFAULT_MAX_DELAY_MS) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
  }

  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    return exponentialBackoff(failures, this.#baseMs, this.#maxMs);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}
