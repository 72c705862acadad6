import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { exponentialBackoff, ItemExponentialRateLimiter } from "./backoff.ts";
import { metricValue, settle } from "../../e2e/support/runtime.ts";
import { WorkQueue } from "./workqueue.ts";

// Resolves to the key, or to "pending" if get() has not answered once queued callbacks ran.
async function poll(promise: Promise<string | undefined>): Promise<string | undefined> {
  const result = await Promise.race([promise, settle().then(() => "pending")]);
  return result;
}

describe("exponentialBackoff", () => {
  it("doubles from the base and stops at the cap, even for absurd failure counts", () => {
    expect([0, 1, 2, 3].map((n) => exponentialBackoff(n, 5, 1_000_000))).toEqual([5, 10, 20, 40]);
    expect(exponentialBackoff(17, 5, 1_000_000)).toBe(655_360);
    expect(exponentialBackoff(18, 5, 1_000_000)).toBe(1_000_000);
    expect(exponentialBackoff(5000, 5, 1_000_000)).toBe(1_000_000);
  });

  it("keeps a count per key that forget() resets", () => {
    const limiter = new ItemExponentialRateLimiter();
    expect([limiter.when("a"), limiter.when("a"), limiter.when("a")]).toEqual([5, 10, 20]);
    expect(limiter.when("b")).toBe(5);
    expect(limiter.numRequeues("a")).toBe(3);
    limiter.forget("a");
    expect(limiter.numRequeues("a")).toBe(0);
    expect(limiter.when("a")).toBe(5);
  });
});

describe("WorkQueue", () => {
  let registry: Registry;
  beforeEach(() => {
    registry = new Registry();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hands out a key once however often it was added, in the order keys first came", async () => {
    const q = new WorkQueue({ name: "q", registry });
    for (const key of ["a", "b", "a", "a", "c", "b"]) q.add(key);
    expect(q.len()).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(["a", "b", "c"]);
    expect(await poll(q.get())).toBe("pending");
    expect(await metricValue(registry, "workqueue_adds_total", { name: "q" })).toBe(3);
  });

  it("never hands one key to two workers: a key added while processed comes back after done()", async () => {
    const q = new WorkQueue({ name: "q" });
    q.add("a");
    expect(await q.get()).toBe("a");
    q.add("a");
    q.add("a");
    const second = q.get();
    expect(await poll(second)).toBe("pending");
    q.add("b");
    expect(await second).toBe("b"); // other keys are not held up
    q.done("a");
    expect(await q.get()).toBe("a");
    q.done("a");
    q.done("b");
    expect(await poll(q.get())).toBe("pending");
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const q = new WorkQueue({ name: "q" });
    const waiting = q.get();
    expect(await poll(waiting)).toBe("pending");
    q.add("x");
    expect(await waiting).toBe("x");
  });

  it("adds after a delay, and the earliest of several delays for one key wins", async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ name: "q" });
    q.addAfter("a", 1000);
    q.addAfter("a", 300);
    q.addAfter("a", 5000);
    const got = q.get();
    await vi.advanceTimersByTimeAsync(299);
    expect(await poll(got)).toBe("pending");
    await vi.advanceTimersByTimeAsync(1);
    expect(await got).toBe("a");
    q.done("a");
    // The later delays were folded into the earliest: nothing more comes.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(q.len()).toBe(0);
  });

  it("backs off per key on addRateLimited and starts over after forget()", async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ name: "q", registry });
    const arrivals: number[] = [];
    const start = Date.now();
    for (let i = 0; i < 4; i++) {
      q.addRateLimited("a");
      const key = await Promise.all([q.get(), vi.runOnlyPendingTimersAsync()]).then(([k]) => k);
      arrivals.push(Date.now() - start);
      q.done(key ?? "");
    }
    // 5, 10, 20 and 40 ms after each retry was asked for.
    expect(arrivals).toEqual([5, 15, 35, 75]);
    expect(q.numRequeues("a")).toBe(4);
    expect(await metricValue(registry, "workqueue_retries_total", { name: "q" })).toBe(4);
    q.forget("a");
    expect(q.numRequeues("a")).toBe(0);
    q.addRateLimited("a");
    const got = q.get();
    await vi.advanceTimersByTimeAsync(5);
    expect(await got).toBe("a");
  });

  it("on shutDown, drains what is queued, drops delayed keys, refuses new ones, then releases workers", async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ name: "q" });
    q.add("a");
    q.add("b");
    q.addAfter("later", 100);
    expect(await q.get()).toBe("a"); // in progress when the queue shuts down
    let drained = false;
    const shutDown = q.shutDown().then(() => (drained = true));
    q.add("c");
    expect(await q.get()).toBe("b");
    q.done("b");
    await vi.advanceTimersByTimeAsync(1000);
    expect(await q.get()).toBeUndefined(); // "c" was refused and "later" dropped
    await settle();
    expect(drained).toBe(false); // "a" is still being processed
    q.done("a");
    await shutDown;
    expect(drained).toBe(true);
  });

  it("releases workers already waiting when it shuts down empty", async () => {
    const q = new WorkQueue({ name: "q" });
    const workers = [q.get(), q.get()];
    await q.shutDown();
    expect(await Promise.all(workers)).toEqual([undefined, undefined]);
  });

  it("reports depth, time in queue, work time and stuck work under controller-runtime's names", async () => {
    let now = 0;
    const q = new WorkQueue({ name: "q", registry, now: () => now });
    q.add("a");
    q.add("b");
    expect(await metricValue(registry, "workqueue_depth", { name: "q" })).toBe(2);
    now = 2000;
    await q.get();
    expect(await metricValue(registry, "workqueue_depth", { name: "q" })).toBe(1);
    expect(await metricValue(registry, "workqueue_queue_duration_seconds", { name: "q" }, "sum")).toBe(2);
    now = 5000;
    expect(await metricValue(registry, "workqueue_unfinished_work_seconds", { name: "q" })).toBe(3);
    expect(await metricValue(registry, "workqueue_longest_running_processor_seconds", { name: "q" })).toBe(3);
    q.done("a");
    expect(await metricValue(registry, "workqueue_work_duration_seconds", { name: "q" }, "sum")).toBe(3);
    expect(await metricValue(registry, "workqueue_work_duration_seconds", { name: "q" }, "count")).toBe(1);
    expect(await metricValue(registry, "workqueue_unfinished_work_seconds", { name: "q" })).toBe(0);
  });

  it("refuses a second live queue of the same name in one registry, and frees the name on shutDown", async () => {
    const q = new WorkQueue({ name: "dup", registry });
    expect(() => new WorkQueue({ name: "dup", registry })).toThrow(/unique/);
    await q.shutDown();
    expect(() => new WorkQueue({ name: "dup", registry })).not.toThrow();
    expect(() => new WorkQueue({ name: "dup", registry: new Registry() })).not.toThrow();
  });
});
