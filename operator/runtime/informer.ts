// A watch-backed cache of one collection, over client-node's ListWatch, made
// to keep running. client-node 2.0's ListWatch reconnects after a quiet or
// closed watch, but after an HTTP error, a failed list or a network error it
// emits `error` and stops for good. This informer then starts a fresh
// ListWatch (a new list, so nothing that changed meanwhile is missed) after a
// backoff, and re-lists on a timer as a watchdog against a watch that stalls
// without an error. Its own cache outlives each ListWatch, so a re-list is
// diffed against what handlers have already seen: they get an add, update or
// delete for each real change, and nothing for objects that did not change.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { exponentialBackoff } from "./backoff.ts";
import { objectKey } from "./keys.ts";
import { listJson } from "./listing.ts";

/**
 * Called synchronously, in watch order. The objects are the cache's own,
 * shared with every handler and reader: treat them as read-only.
 */
export interface EventHandler<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  readonly kubeConfig: KubeConfig;
  /** The collection's path: `/api/v1/namespaces/ns/configmaps`, `/apis/group/v1/plural`, ... */
  readonly path: string;
  readonly logger: Logger;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Lists the collection; by default a plain-JSON list of `path`, the same shape as watch events. */
  readonly list?: () => Promise<KubernetesListObject<T>>;
  /** Re-list this often in case a watch stalls silently; 0 turns the watchdog off. Default 5 min. */
  readonly relistIntervalMs?: number;
  /** Backoff of restarts after errors: 1 s doubling to 30 s by default (client-node's own reconnect range). */
  readonly restartBaseDelayMs?: number;
  readonly restartMaxDelayMs?: number;
  /** The watch client; tests replace it. */
  readonly watch?: Watch;
  /** A monotonic clock in milliseconds. */
  readonly now?: () => number;
}

export class Informer<T extends KubernetesObject> {
  readonly path: string;
  readonly #objects = new Map<string, T>();
  readonly #handlers = new Set<EventHandler<T>>();
  readonly #options: InformerOptions<T>;
  readonly #log: Logger;
  readonly #watch: Watch;
  readonly #list: () => Promise<KubernetesListObject<T>>;
  readonly #now: () => number;
  readonly #syncWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  // Each ListWatch gets a generation; callbacks from a ListWatch that was
  // replaced (it may still deliver a few) see a stale generation and are ignored.
  #generation = 0;
  #listWatch: ListWatch<T> | undefined;
  #running = false;
  #synced = false;
  #failures = 0;
  #connectedAt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #relistTimer: NodeJS.Timeout | undefined;

  constructor(options: InformerOptions<T>) {
    this.path = options.path;
    this.#options = options;
    this.#log = options.logger.child({ informer: options.path });
    this.#watch = options.watch ?? new Watch(options.kubeConfig);
    const query = {
      ...(options.labelSelector !== undefined && { labelSelector: options.labelSelector }),
      ...(options.fieldSelector !== undefined && { fieldSelector: options.fieldSelector }),
    };
    this.#list = options.list ?? (() => listJson<T>(options.kubeConfig, options.path, query));
    this.#now = options.now ?? (() => performance.now());
  }

  /** Starts listing and watching; waitForSync() tells when the cache is first complete. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#connect();
    const every = this.#options.relistIntervalMs ?? 300_000;
    if (every > 0) {
      this.#relistTimer = setInterval(() => {
        this.relist("watchdog");
      }, every);
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#generation++;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#relistTimer);
    this.#restartTimer = this.#relistTimer = undefined;
    for (const waiter of this.#syncWaiters.splice(0))
      waiter.reject(new Error(`informer ${this.path} stopped`));
    const listWatch = this.#listWatch;
    this.#listWatch = undefined;
    await listWatch?.stop();
  }

  /** True once a first list has filled the cache; stays true through restarts, as in client-go. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves once synced, even if start() comes later; rejects if stop() comes first. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.#syncWaiters.push({ resolve, reject }));
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#objects.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    const all = [...this.#objects.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /**
   * Calls the handler on every change from now on, after an `add` for each
   * object already cached (as client-go does), so a controller started late
   * still sees every object once. Returns a function that removes the handler.
   */
  addHandler(handler: EventHandler<T>): () => void {
    this.#handlers.add(handler);
    for (const obj of this.#objects.values()) this.#call("add", () => handler.add?.(obj));
    return () => this.#handlers.delete(handler);
  }

  /** Drops the current watch and starts again from a fresh list (a no-op while a restart is pending). */
  relist(reason = "requested"): void {
    if (!this.#running || this.#restartTimer) return;
    this.#log.debug({ reason }, "re-listing");
    this.#retire();
    this.#connect();
  }

  #connect(): void {
    const generation = ++this.#generation;
    const current = (): boolean => generation === this.#generation;
    const listWatch = new ListWatch<T>(
      this.path,
      this.#watch,
      async () => {
        const list = await this.#list();
        if (current()) this.#replace(list.items);
        return list;
      },
      false,
      this.#options.labelSelector,
      this.#options.fieldSelector,
    );
    listWatch.on("add", (obj: T) => {
      if (current()) this.#upsert(obj);
    });
    listWatch.on("update", (obj: T) => {
      if (current()) this.#upsert(obj);
    });
    listWatch.on("delete", (obj: T) => {
      if (current()) this.#remove(objectKey(obj), obj);
    });
    listWatch.on("error", (err: unknown) => {
      if (current()) this.#failed(err);
    });
    this.#listWatch = listWatch;
    this.#connectedAt = this.#now();
    // start() rejects only when the request cannot even be built (no cluster, failing credentials plugin).
    listWatch.start().catch((err: unknown) => {
      if (current()) this.#failed(err);
    });
  }

  // Stops the current ListWatch; stopping aborts its request, and the abort
  // comes back as an `error` that its now stale generation discards.
  #retire(): void {
    this.#generation++;
    const listWatch = this.#listWatch;
    this.#listWatch = undefined;
    void listWatch?.stop();
  }

  #failed(err: unknown): void {
    if (!this.#running) return;
    this.#retire();
    const base = this.#options.restartBaseDelayMs ?? 1000;
    const max = this.#options.restartMaxDelayMs ?? 30_000;
    // A watch that ran for a while before failing was healthy: start the backoff over.
    if (this.#now() - this.#connectedAt >= max) this.#failures = 0;
    const delay = exponentialBackoff(this.#failures++, base, max);
    this.#log.warn({ err, retryInMs: delay }, "list or watch failed; restarting");
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#running) this.#connect();
    }, delay);
  }

  // A complete list: what the cache holds and the list lacks was deleted meanwhile.
  #replace(items: readonly T[]): void {
    const listed = new Set<string>();
    for (const obj of items) {
      listed.add(objectKey(obj));
      this.#upsert(obj);
    }
    for (const [key, obj] of this.#objects) if (!listed.has(key)) this.#remove(key, obj);
    if (!this.#synced) {
      this.#synced = true;
      for (const waiter of this.#syncWaiters.splice(0)) waiter.resolve();
    }
  }

  #upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.#objects.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    this.#objects.set(key, obj);
    for (const h of this.#handlers) {
      if (old) this.#call("update", () => h.update?.(old, obj));
      else this.#call("add", () => h.add?.(obj));
    }
  }

  #remove(key: string, obj: T): void {
    if (!this.#objects.delete(key)) return;
    for (const h of this.#handlers) this.#call("delete", () => h.delete?.(obj));
  }

  // A throwing handler must not stop the others, nor unwind into ListWatch
  // (which would swallow it, or turn it into a failed list).
  #call(event: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err, event }, "informer event handler threw");
    }
  }
}
