import type { KubeObject } from "../kube/object.ts";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RateLimiter } from "./backoff.ts";
import { Controller, generationChanged, outcomeOf, type Reconciler, type Result } from "./controller.ts";
import { Informer } from "./informer.ts";
import { ownerKeys } from "./keys.ts";
import { captureLogger, configMap, FakeWatch, metricValue, settle } from "../../e2e/support/runtime.ts";

// Retries at once, so tests need no clock; counts how often each key was rate-limited.
class ImmediateLimiter implements RateLimiter {
  readonly counts = new Map<string, number>();
  when(key: string): number {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    return 0;
  }
  forget(key: string): void {
    this.counts.delete(key);
  }
  numRequeues(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function make(reconcile: Reconciler, extra: { workers?: number; rateLimiter?: RateLimiter } = {}) {
  const registry = new Registry();
  const { logger, lines } = captureLogger();
  const controller = new Controller({ name: "things", reconcile, logger, registry, ...extra });
  const total = (result: string) =>
    metricValue(registry, "controller_runtime_reconcile_total", { controller: "things", result });
  return { controller, registry, lines, total };
}

describe("outcomeOf", () => {
  it("follows controller-runtime's precedence: requeueAfter over requeue over success", () => {
    expect(outcomeOf({})).toEqual({ kind: "success" });
    expect(outcomeOf({ requeue: true })).toEqual({ kind: "requeue" });
    expect(outcomeOf({ requeue: true, requeueAfter: 500 })).toEqual({ kind: "requeue_after", ms: 500 });
    expect(outcomeOf({ requeueAfter: 0 })).toEqual({ kind: "success" });
    expect(outcomeOf(undefined)).toEqual({ kind: "success" });
  });
});

describe("Controller", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reconciles enqueued keys and counts successes", async () => {
    const seen: string[] = [];
    const { controller, total } = make(async (key) => {
      seen.push(key);
      return Promise.resolve({});
    });
    await controller.start();
    controller.enqueue("ns/a");
    controller.enqueue("ns/b");
    await vi.waitFor(() => {
      expect(seen).toEqual(["ns/a", "ns/b"]);
    });
    expect(await total("success")).toBe(2);
    await controller.stop();
  });

  it("survives reconcilers that throw or reject with anything, logs the key, and retries with backoff", async () => {
    const limiter = new ImmediateLimiter();
    let calls = 0;
    const failures: (() => never)[] = [
      () => {
        throw new Error("boom");
      },
      () => {
        throw "a string"; // eslint-disable-line @typescript-eslint/only-throw-error
      },
    ];
    // Not async on purpose: a synchronous throw must be caught too.
    const reconcile = ((key: string): Promise<Result> => {
      const fail = failures[calls++];
      if (fail) fail();
      if (calls === 3) return Promise.reject(new TypeError(`cannot read ${key}`));
      return Promise.resolve({});
    }) as Reconciler;
    const { controller, lines, total, registry } = make(reconcile, { rateLimiter: limiter });
    await controller.start();
    controller.enqueue("ns/flaky");
    await vi.waitFor(async () => {
      expect(await total("success")).toBe(1);
    });
    expect(calls).toBe(4);
    expect(await total("error")).toBe(3);
    expect(
      await metricValue(registry, "controller_runtime_reconcile_errors_total", { controller: "things" }),
    ).toBe(3);
    const errors = lines.filter((l) => l.msg === "Reconciler error");
    expect(errors).toHaveLength(3);
    expect(errors.every((l) => l.key === "ns/flaky" && l.controller === "things")).toBe(true);
    const messages = errors.map((l) =>
      typeof l.err === "string" ? l.err : (l.err as { message: string }).message,
    );
    expect(messages).toEqual(["boom", "a string", "cannot read ns/flaky"]);
    expect(limiter.numRequeues("ns/flaky")).toBe(0); // the success forgot the failures
    await controller.stop();
  });

  it("requeues after the asked delay", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const { controller, total } = make(() => Promise.resolve(++calls === 1 ? { requeueAfter: 30_000 } : {}));
    await controller.start();
    controller.enqueue("ns/a");
    await vi.advanceTimersByTimeAsync(29_999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    expect(await total("requeue_after")).toBe(1);
    expect(await total("success")).toBe(1);
    await controller.stop();
  });

  it("runs different keys in parallel on N workers but never one key twice at once", async () => {
    const running = new Set<string>();
    const starts: string[] = [];
    let overlapSameKey = false;
    let maxParallel = 0;
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const { controller, registry } = make(
      async (key) => {
        if (running.has(key)) overlapSameKey = true;
        running.add(key);
        starts.push(key);
        maxParallel = Math.max(maxParallel, running.size);
        const gate = deferred();
        gates.set(key, gate);
        await gate.promise;
        running.delete(key);
        return {};
      },
      { workers: 3 },
    );
    expect(
      await metricValue(registry, "controller_runtime_max_concurrent_reconciles", { controller: "things" }),
    ).toBe(3);
    await controller.start();
    for (const key of ["a", "b", "c", "a", "a"]) controller.enqueue(key);
    await vi.waitFor(() => {
      expect(running.size).toBe(3);
    });
    expect(await metricValue(registry, "controller_runtime_active_workers", { controller: "things" })).toBe(
      3,
    );
    controller.enqueue("a"); // while "a" runs: must wait for it
    await settle();
    expect(overlapSameKey).toBe(false);
    gates.get("a")?.resolve();
    await vi.waitFor(() => {
      expect(starts.filter((k) => k === "a")).toHaveLength(2); // all those adds: one more round
    });
    for (const key of ["a", "b", "c"]) gates.get(key)?.resolve();
    await vi.waitFor(() => {
      expect(running.size).toBe(0);
    });
    expect(overlapSameKey).toBe(false);
    expect(maxParallel).toBe(3);
    expect(starts.sort()).toEqual(["a", "a", "b", "c"]);
    await controller.stop();
  });

  it("on stop, aborts running reconciles' signal, waits for them, and starts no queued ones", async () => {
    const gate = deferred();
    const started: string[] = [];
    let sawAbort = false;
    const { controller } = make(async (key, { signal }) => {
      started.push(key);
      await gate.promise;
      sawAbort = signal.aborted;
      return {};
    });
    await controller.start();
    controller.enqueue("a");
    controller.enqueue("b");
    await vi.waitFor(() => {
      expect(started).toEqual(["a"]);
    });
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(sawAbort).toBe(true);
    expect(started).toEqual(["a"]);
    expect(controller.running).toBe(false);
    controller.enqueue("c"); // ignored while stopped
  });

  it("waits for its informers, enqueues objects and their owners, and replays the cache on restart", async () => {
    const watch = new FakeWatch();
    const { logger } = captureLogger();
    const child = configMap("child", "2", {
      ownerReferences: [
        { apiVersion: "example.dev/v1", kind: "Parent", name: "parent", uid: "u", controller: true },
      ],
    });
    let list = [configMap("parent", "1"), child];
    const informer = new Informer<KubeObject>({
      path: "/api/v1/namespaces/ns/configmaps",
      logger,
      watch,
      relistIntervalMs: 0,
      list: () => Promise.resolve({ metadata: { resourceVersion: "2" }, items: list }),
    });
    const seen: string[] = [];
    const { controller } = make((key) => {
      seen.push(key);
      return Promise.resolve({});
    });
    controller.watch(informer).watch(informer, ownerKeys({ group: "example.dev", kind: "Parent" }));
    const starting = controller.start();
    await settle();
    expect(controller.running).toBe(true);
    expect(seen).toEqual([]); // not before the cache is synced
    informer.start();
    await starting;
    await vi.waitFor(() => {
      expect(seen.sort()).toEqual(["ns/child", "ns/parent"]);
    });
    seen.length = 0;
    watch.last().send("MODIFIED", { ...child, metadata: { ...child.metadata, resourceVersion: "3" } });
    await vi.waitFor(() => {
      expect(new Set(seen)).toEqual(new Set(["ns/child", "ns/parent"]));
    });

    await controller.stop();
    seen.length = 0;
    list = [configMap("parent", "1")];
    watch.last().send("DELETED", configMap("child", "4"));
    await settle();
    expect(seen).toEqual([]); // stopped
    await controller.start();
    await vi.waitFor(() => {
      expect(seen).toEqual(["ns/parent"]); // replayed from the cache
    });
    await controller.stop();
    await informer.stop();
  });

  it("fails start() when caches do not sync in time", async () => {
    vi.useFakeTimers();
    const watch = new FakeWatch();
    const { logger } = captureLogger();
    const informer = new Informer({
      path: "/x",
      logger,
      watch,
      list: () => new Promise<never>(() => undefined),
    });
    informer.start();
    const registry = new Registry();
    const controller = new Controller({
      name: "slow",
      reconcile: () => Promise.resolve({}),
      logger,
      registry,
      cacheSyncTimeoutMs: 1000,
    });
    controller.watch(informer);
    const start = controller.start();
    const failed = expect(start).rejects.toThrow(/did not sync within 1000 ms/);
    await vi.advanceTimersByTimeAsync(1000);
    await failed;
    expect(controller.running).toBe(false);
    await informer.stop();
  });
});

describe("generationChanged", () => {
  const obj = (generation: number | undefined, extra: Record<string, unknown> = {}) => ({
    metadata: { name: "x", ...(generation === undefined ? {} : { generation }), ...extra },
  });
  it("ignores status and finalizer writes, and wakes for spec changes and deletion", () => {
    expect(generationChanged(obj(3), obj(3, { finalizers: ["a"] }))).toBe(false);
    expect(generationChanged(obj(3), obj(4))).toBe(true);
    expect(generationChanged(obj(3), obj(3, { deletionTimestamp: "2026-01-01T00:00:00Z" }))).toBe(true);
    // Kinds without generations (most built-ins' subresources aside) always pass.
    expect(generationChanged(obj(undefined), obj(undefined))).toBe(true);
  });
});
