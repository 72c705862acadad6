import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.ts";

describe("a rate limit per address", () => {
  it("lets a burst through, then the sustained rate, and refuses the rest", () => {
    let now = 0;
    const limiter = new RateLimiter({ perSecond: 2, burst: 3, now: () => now });
    expect([1, 2, 3, 4].map(() => limiter.take("a"))).toEqual([true, true, true, false]);
    expect(limiter.retryAfter("a")).toBe(1);
    now += 500; // one token back
    expect([limiter.take("a"), limiter.take("a")]).toEqual([true, false]);
    now += 10_000; // never more than the burst
    expect([1, 2, 3, 4].map(() => limiter.take("a"))).toEqual([true, true, true, false]);
  });

  it("keeps one sender's flood from taking another's budget", () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 2, now: () => 0 });
    for (let i = 0; i < 1000; i++) limiter.take("flood");
    expect(limiter.take("flood")).toBe(false);
    expect(limiter.take("agent")).toBe(true);
  });

  it("remembers a bounded number of addresses, forgetting the idlest", () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1, maxAddresses: 3, now: () => 0 });
    for (const a of ["a", "b", "c"]) limiter.take(a);
    limiter.take("a"); // a is refused, and now the most recent
    limiter.take("d"); // b, the idlest, is forgotten
    expect(limiter.take("b")).toBe(true);
    expect(limiter.take("a")).toBe(false);
  });
});
