// A controller in controller-runtime's manner: informers feed keys into a
// work queue, N workers take keys off it and call the reconciler, and the
// outcome decides what happens to the key next. A reconciler may fail in any
// way (reject, throw, time out on the network): the error is logged with the
// key, counted, and the key retried with backoff; the process never crashes.
//
// A controller can be stopped and started again (on losing and regaining
// leadership): each start makes a fresh queue, and registering the informer
// handlers replays every cached object, so nothing is missed in between.
import { randomUUID } from "node:crypto";
import type { KubeObject } from "../kube/object.ts";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { RateLimiter } from "./backoff.ts";
import type { EventHandler, Informer } from "./informer.ts";
import { ownKey, type KeyMapper } from "./keys.ts";
import { controllerMetrics, type ControllerMetrics, type ReconcileResultLabel } from "./metrics.ts";
import { WorkQueue } from "./workqueue.ts";
import { trace, tracing } from "./trace.ts";

/** `{}`: done. `requeueAfter`: check again after that many ms. `requeue`: again soon, with backoff. */
export interface Result {
  readonly requeue?: boolean;
  readonly requeueAfter?: number;
}

export interface ReconcileContext {
  /** A logger that carries the controller name, the key and a reconcile id. */
  readonly log: Logger;
  /** Aborted when the controller stops: long reconciles should give up. */
  readonly signal: AbortSignal;
}

/** Brings the world in line with the object named by `key` (`namespace/name`); throw to retry with backoff. */
export type Reconciler = (key: string, context: ReconcileContext) => Promise<Result>;

export interface ControllerOptions {
  /** Unique within the registry: the `controller` and `name` labels of the metrics. */
  readonly name: string;
  readonly reconcile: Reconciler;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Concurrent reconciles (never two for one key). Default 1. */
  readonly workers?: number;
  /** The per-key backoff; by default 5 ms doubling to 1000 s, fresh at each start. */
  readonly rateLimiter?: RateLimiter;
  /** How long start() waits for the watched informers' first list. Default 2 min. */
  readonly cacheSyncTimeoutMs?: number;
  /** A monotonic clock in milliseconds. */
  readonly now?: () => number;
}

export type QueueOutcome =
  | { readonly kind: "success" }
  | { readonly kind: "requeue" }
  | { readonly kind: "requeue_after"; readonly ms: number }
  | { readonly kind: "error"; readonly error: unknown };

/** What a reconcile's result means for its key (controller-runtime's precedence: requeueAfter, then requeue). */
export function outcomeOf(result: Result | undefined): QueueOutcome {
  const after = result?.requeueAfter;
  if (after !== undefined && after > 0) return { kind: "requeue_after", ms: after };
  if (result?.requeue === true) return { kind: "requeue" };
  return { kind: "success" };
}

interface Watched {
  readonly waitForSync: () => Promise<void>;
  readonly subscribe: (enqueue: (key: string) => void) => () => void;
}

interface Run {
  readonly queue: WorkQueue;
  readonly abort: AbortController;
  readonly unsubscribe: (() => void)[];
  workers: Promise<void>[];
}

export class Controller {
  readonly name: string;
  readonly workers: number;
  readonly #options: ControllerOptions;
  readonly #log: Logger;
  readonly #metrics: ControllerMetrics;
  readonly #now: () => number;
  readonly #watched: Watched[] = [];
  #run: Run | undefined;

  constructor(options: ControllerOptions) {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new Error(`workers must be a positive integer`);
    this.name = options.name;
    this.workers = workers;
    this.#options = options;
    this.#log = options.logger.child({ controller: options.name });
    this.#metrics = controllerMetrics(options.registry, options.name, workers);
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Reconciles the keys `map` gives for every object the informer adds,
   * updates (old and new object) or deletes. The default is the object's own
   * key; use ownerKeys() for objects this controller owns. Call before start().
   */
  watch<T extends KubeObject>(
    informer: Informer<T>,
    map: KeyMapper<T> = ownKey,
    options: WatchOptions<T> = {},
  ): this {
    if (this.#run) throw new Error(`controller ${this.name}: watch() must be called before start()`);
    this.#watched.push({
      waitForSync: () => informer.waitForSync(),
      subscribe: (enqueue) => informer.addHandler(keysHandler(map, enqueue, options.update)),
    });
    return this;
  }

  /**
   * Reconciles keys from outside the cluster, as controller-runtime's
   * source.Channel does: at each start, `subscribe` gets a function that
   * queues a key (it may queue what it already knows, as an informer replays
   * its cache) and returns how to unsubscribe. Call before start().
   */
  watchChannel(subscribe: (enqueue: (key: string) => void) => () => void): this {
    if (this.#run) throw new Error(`controller ${this.name}: watchChannel() must be called before start()`);
    this.#watched.push({ waitForSync: () => Promise.resolve(), subscribe });
    return this;
  }

  get running(): boolean {
    return this.#run !== undefined;
  }

  /** Queues a key now (ignored while the controller is stopped). */
  enqueue(key: string): void {
    this.#run?.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.#run?.queue.addAfter(key, ms);
  }

  /** Waits for the watched informers to sync, then starts the workers. */
  async start(): Promise<void> {
    if (this.#run) throw new Error(`controller ${this.name} is already started`);
    const run: Run = {
      queue: new WorkQueue({
        name: this.name,
        registry: this.#options.registry,
        ...(this.#options.rateLimiter && { rateLimiter: this.#options.rateLimiter }),
        now: this.#now,
      }),
      abort: new AbortController(),
      unsubscribe: [],
      workers: [],
    };
    this.#run = run;
    try {
      await this.#waitForCaches(run.abort.signal);
    } catch (err) {
      await this.#shutDown(run);
      throw err;
    }
    if (run.abort.signal.aborted) return; // stop() came first
    const enqueue = (key: string): void => {
      if (tracing()) trace(`${this.name}/${key}`, "queued", { controller: this.name });
      run.queue.add(key);
    };
    for (const watched of this.#watched) run.unsubscribe.push(watched.subscribe(enqueue));
    run.workers = Array.from({ length: this.workers }, () => this.#work(run));
    this.#log.info({ workers: this.workers }, "controller started");
  }

  /** Lets running reconciles finish (their signal is aborted), starts no new ones, and stops. */
  async stop(): Promise<void> {
    const run = this.#run;
    if (!run) return;
    await this.#shutDown(run);
    this.#log.info("controller stopped");
  }

  async #shutDown(run: Run): Promise<void> {
    run.abort.abort();
    for (const unsubscribe of run.unsubscribe.splice(0)) unsubscribe();
    await run.queue.shutDown();
    await Promise.all(run.workers);
    if (this.#run === run) this.#run = undefined;
  }

  async #waitForCaches(signal: AbortSignal): Promise<void> {
    const timeoutMs = this.#options.cacheSyncTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    let onAbort = (): void => undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`controller ${this.name}: caches did not sync within ${timeoutMs} ms`));
      }, timeoutMs);
      onAbort = () => {
        reject(new Error(`controller ${this.name} stopped before its caches synced`));
      };
      signal.addEventListener("abort", onAbort);
    });
    try {
      await Promise.race([Promise.all(this.#watched.map((w) => w.waitForSync())), failed]);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  async #work(run: Run): Promise<void> {
    for (;;) {
      const key = await run.queue.get();
      if (key === undefined) return;
      // Once stopping, queued keys are drained unprocessed: whoever runs
      // next lists everything again.
      if (!run.abort.signal.aborted) await this.#reconcileOne(run, key);
      run.queue.done(key);
    }
  }

  async #reconcileOne(run: Run, key: string): Promise<void> {
    const log = this.#log.child({ key, reconcileID: randomUUID() });
    const started = this.#now();
    let outcome: QueueOutcome;
    this.#metrics.activeWorkers(1);
    try {
      outcome = outcomeOf(await this.#options.reconcile(key, { log, signal: run.abort.signal }));
    } catch (error) {
      outcome = { kind: "error", error };
    } finally {
      this.#metrics.activeWorkers(-1);
    }
    const label: ReconcileResultLabel = outcome.kind;
    this.#metrics.reconciled(label, (this.#now() - started) / 1000);
    switch (outcome.kind) {
      case "error":
        log.error({ err: outcome.error, retries: run.queue.numRequeues(key) }, "Reconciler error");
        run.queue.addRateLimited(key);
        break;
      case "requeue":
        run.queue.addRateLimited(key);
        break;
      case "requeue_after":
        run.queue.forget(key);
        run.queue.addAfter(key, outcome.ms);
        break;
      case "success":
        run.queue.forget(key);
        break;
    }
  }
}

/** An informer handler that queues the keys an object maps to; a mapper that throws is the handler's error. */
export interface WatchOptions<T extends KubeObject> {
  /** Whether an update is worth a reconcile (controller-runtime's predicates); by default every one is. */
  readonly update?: (oldObj: T, newObj: T) => boolean;
}

/**
 * controller-runtime's GenerationChangedPredicate, plus deletion: a
 * controller's own status and finalizer writes do not wake it up again
 * (periodic resyncs still come, and put drift back).
 */
export function generationChanged<T extends KubeObject>(oldObj: T, newObj: T): boolean {
  const o = oldObj.metadata;
  const n = newObj.metadata;
  return (
    o?.generation !== n?.generation ||
    o?.deletionTimestamp !== n?.deletionTimestamp ||
    n?.generation === undefined
  );
}

export function keysHandler<T extends KubeObject>(
  map: KeyMapper<T>,
  enqueue: (key: string) => void,
  worthIt: (oldObj: T, newObj: T) => boolean = () => true,
): EventHandler<T> {
  const all = (obj: T): void => {
    for (const key of map(obj)) enqueue(key);
  };
  return {
    add: all,
    update: (oldObj, newObj) => {
      if (!worthIt(oldObj, newObj)) return;
      all(oldObj);
      all(newObj);
    },
    delete: all,
  };
}
