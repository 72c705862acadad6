// A token bucket per client address, for an endpoint any stranger can call,
// or per peer, counting bytes. Each address has its own bucket, so one sender's flood is refused without
// taking the budget of another; the number of addresses kept is bounded, the
// idlest forgotten first (a forgotten address starts with a full bucket,
// which is what an idle one has anyway).

export interface RateLimitOptions {
  /** Requests per second each address may sustain. */
  readonly perSecond: number;
  /** How many it may send at once after being idle. */
  readonly burst: number;
  /** Addresses remembered at most. */
  readonly maxAddresses?: number;
  /** ms; injectable for tests. */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #o: Required<RateLimitOptions>;
  // A Map iterates in insertion order: re-inserting on use keeps the idlest first.
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#o = { maxAddresses: 10_000, now: () => performance.now(), ...options };
  }

  /** Takes `cost` tokens for `address`; false when it has fewer left (the caller answers 429, or drops). */
  take(address: string, cost = 1): boolean {
    const now = this.#o.now();
    const bucket = this.#buckets.get(address) ?? { tokens: this.#o.burst, at: now };
    this.#buckets.delete(address);
    bucket.tokens = Math.min(this.#o.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#o.perSecond);
    bucket.at = now;
    const allowed = bucket.tokens >= cost;
    if (allowed) bucket.tokens -= cost;
    this.#buckets.set(address, bucket);
    if (this.#buckets.size > this.#o.maxAddresses) {
      const idlest = this.#buckets.keys().next().value;
      if (idlest !== undefined) this.#buckets.delete(idlest);
    }
    return allowed;
  }

  /** Seconds until `address` has a token again, for Retry-After. */
  retryAfter(address: string): number {
    const bucket = this.#buckets.get(address);
    if (!bucket || bucket.tokens >= 1) return 0;
    return Math.ceil((1 - bucket.tokens) / this.#o.perSecond);
  }
}
