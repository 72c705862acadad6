// A keyed work queue with client-go's guarantees, which make reconcilers
// level-triggered and safe to run with several workers:
//  - a key waiting in the queue is there once, however often it was added;
//  - a key is handed to one worker at a time: added while being processed,
//    it is queued again only when that worker calls done();
//  - failures back off per key (addRateLimited), successes forget().
import type { Registry } from "prom-client";
import { ItemExponentialRateLimiter, type RateLimiter } from "./backoff.ts";
import { workQueueMetrics, type WorkQueueMetrics } from "./metrics.ts";

export interface WorkQueueOptions {
  /** The `name` label of the workqueue_* metrics. */
  readonly name: string;
  /** Where the workqueue_* metrics go; none are kept without one. */
  readonly registry?: Registry;
  readonly rateLimiter?: RateLimiter;
  /** A monotonic clock in milliseconds, for the duration metrics. */
  readonly now?: () => number;
}

export class WorkQueue {
  readonly name: string;
  // FIFO of keys ready to be handed out; every key in it is also in #dirty.
  readonly #queue: string[] = [];
  // Keys that need processing: queued, or waiting for a worker to finish them.
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #waiting = new Map<string, { readonly at: number; readonly timer: NodeJS.Timeout }>();
  readonly #getters: ((key: string | undefined) => void)[] = [];
  readonly #drained: (() => void)[] = [];
  readonly #addedAt = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();
  readonly #limiter: RateLimiter;
  readonly #now: () => number;
  readonly #metrics: WorkQueueMetrics;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#limiter = options.rateLimiter ?? new ItemExponentialRateLimiter();
    this.#now = options.now ?? (() => performance.now());
    this.#metrics = workQueueMetrics(options.registry, options.name, () => this.#snapshot());
  }

  /** Queues a key unless it is already waiting; ignored once shutting down. */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics.added();
    this.#dirty.add(key);
    if (!this.#addedAt.has(key)) this.#addedAt.set(key, this.#now());
    if (this.#processing.has(key)) return; // done() queues it again
    this.#queue.push(key);
    this.#dispatch();
  }

  /** Adds the key after `ms`; of several pending delays for one key, the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.#now() + ms;
    const pending = this.#waiting.get(key);
    if (pending) {
      if (pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.#waiting.delete(key);
      this.add(key);
    }, ms);
    this.#waiting.set(key, { at, timer });
  }

  /** Adds the key after its own backoff delay, which grows with every call until forget(key). */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.#metrics.retried();
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Resets the key's backoff: call it when the key was processed successfully. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /** Keys queued and not yet handed out. */
  len(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * The next key to process, waiting for one if need be. Resolves to
   * undefined once the queue is shut down and empty: the worker should exit.
   * Every key received must be passed to done() when its processing ends.
   */
  get(): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.#getters.push(resolve);
      this.#dispatch();
    });
  }

  /** Ends the processing of a key; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    if (!this.#processing.delete(key)) return;
    const started = this.#startedAt.get(key);
    this.#startedAt.delete(key);
    if (started !== undefined) this.#metrics.worked((this.#now() - started) / 1000);
    if (this.#dirty.has(key)) this.#queue.push(key);
    this.#dispatch();
  }

  /**
   * Stops accepting keys and drops pending delayed adds. Keys already queued
   * are still handed out, so workers drain them; resolves when nothing is
   * queued or being processed.
   */
  shutDown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const { timer } of this.#waiting.values()) clearTimeout(timer);
      this.#waiting.clear();
      this.#metrics.release();
    }
    const drained = new Promise<void>((resolve) => this.#drained.push(resolve));
    this.#dispatch();
    return drained;
  }

  // Hands queued keys to waiting workers, and settles shutdown waiters.
  #dispatch(): void {
    while (this.#getters.length > 0 && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      const getter = this.#getters.shift() as (key: string | undefined) => void;
      this.#dirty.delete(key);
      this.#processing.add(key);
      const now = this.#now();
      const added = this.#addedAt.get(key);
      this.#addedAt.delete(key);
      if (added !== undefined) this.#metrics.queued((now - added) / 1000);
      this.#startedAt.set(key, now);
      getter(key);
    }
    if (!this.#shuttingDown || this.#queue.length > 0) return;
    for (const getter of this.#getters.splice(0)) getter(undefined);
    if (this.#processing.size === 0) for (const resolve of this.#drained.splice(0)) resolve();
  }

  #snapshot(): { depth: number; unfinishedWorkSeconds: number; longestRunningProcessorSeconds: number } {
    const now = this.#now();
    let unfinished = 0;
    let longest = 0;
    for (const started of this.#startedAt.values()) {
      unfinished += now - started;
      longest = Math.max(longest, now - started);
    }
    return {
      depth: this.#dirty.size,
      unfinishedWorkSeconds: unfinished / 1000,
      longestRunningProcessorSeconds: longest / 1000,
    };
  }
}
