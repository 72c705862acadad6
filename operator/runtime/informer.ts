// A watch-backed cache of one collection, made to keep running: list, then
// watch from the list's resourceVersion (with bookmarks, so a quiet
// collection's version stays fresh). When the server ends a watch (at its
// timeoutSeconds) the watch resumes from the last version seen. When the
// version has expired (410 Gone, after etcd compaction) it re-lists at once.
// After any other error (HTTP, network, a failed list) it re-lists after a
// backoff, and it re-lists on a timer as a watchdog against a watch that
// stalls without an error. The cache outlives each list and watch, so a
// re-list is diffed against what handlers have already seen: they get an
// add, update or delete for each real change, and nothing for objects that
// did not change.
import type { Logger } from "pino";
import { kubeClient, type KubeAccess } from "../kube/access.ts";
import {
  ApiError,
  PARTIAL_METADATA,
  PARTIAL_METADATA_LIST,
  type WatchEvent,
  type WatchHandle,
  type Watcher,
} from "../kube/client.ts";
import { httpStatus } from "../kube/errors.ts";
import type { KubeList, KubeObject, Status } from "../kube/object.ts";
import { ObjectApi } from "../kube/objects-api.ts";
import { exponentialBackoff } from "./backoff.ts";
import { objectKey } from "./keys.ts";

/**
 * Called synchronously, in watch order. The objects are the cache's own,
 * shared with every handler and reader: treat them as read-only.
 */
export interface EventHandler<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  /** The API server (a KubeClient, or a client-node KubeConfig in tests); needed unless `list` and `watch` are given. */
  readonly kubeConfig?: KubeAccess;
  /** The collection's path: `/api/v1/namespaces/ns/configmaps`, `/apis/group/v1/plural`, ... */
  readonly path: string;
  readonly logger: Logger;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Lists the collection; by default a plain-JSON list of `path`, the same shape as watch events. */
  readonly list?: () => Promise<KubeList<T>>;
  /** Re-list this often in case a watch stalls silently; 0 turns the watchdog off. Default 5 min. */
  readonly relistIntervalMs?: number;
  /** Backoff of restarts after errors: 1 s doubling to 30 s by default. */
  readonly restartBaseDelayMs?: number;
  readonly restartMaxDelayMs?: number;
  /**
   * Cache only the objects' metadata (PartialObjectMetadata), as
   * controller-runtime's metadata-only watches do: for kinds whose bodies are
   * large and many, read whole when needed. Ignored with a custom `list`.
   */
  readonly metadataOnly?: boolean;
  /**
   * With `metadataOnly`: the watch carries whole objects, each handed here as
   * it comes, and the cache keeps only their metadata (the list stays
   * metadata only). What a reconcile would read whole next, it need not read
   * (manifests/recent-writes.ts): a round trip less for the change just seen.
   * The handler must not keep the object (managedFields are dropped; the
   * cache then shares its metadata): a copy, if anything.
   */
  readonly whole?: (object: T) => void;
  /** The watch client; tests replace it. */
  readonly watch?: Watcher;
  /** A monotonic clock in milliseconds. */
  readonly now?: () => number;
}

// A watch that the server ends sooner than this after it started is treated as a failure (with
// backoff), so that a proxy closing every watch at once cannot make a busy loop.
const MIN_WATCH_MS = 1000;

export class Informer<T extends KubeObject> {
  readonly path: string;
  readonly #objects = new Map<string, T>();
  readonly #handlers = new Set<EventHandler<T>>();
  readonly #options: InformerOptions<T>;
  readonly #log: Logger;
  readonly #watcher: Watcher;
  readonly #list: () => Promise<KubeList<T>>;
  readonly #now: () => number;
  readonly #selectors: Record<string, string>;
  readonly #syncWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  // Each list-and-watch gets a generation; callbacks from one that was
  // replaced (a list in flight, a watch event already read) see a stale
  // generation and are ignored.
  #generation = 0;
  #watch: WatchHandle | undefined;
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
    const access = (): KubeAccess => {
      if (!options.kubeConfig) throw new Error(`informer ${options.path} needs a kubeConfig`);
      return options.kubeConfig;
    };
    this.#watcher = options.watch ?? kubeClient(access());
    this.#selectors = {
      ...(options.labelSelector !== undefined && { labelSelector: options.labelSelector }),
      ...(options.fieldSelector !== undefined && { fieldSelector: options.fieldSelector }),
    };
    this.#list = options.list ?? this.#listAll(access());
    this.#now = options.now ?? (() => performance.now());
  }

  #listAll(access: KubeAccess): () => Promise<KubeList<T>> {
    const accept = this.#options.metadataOnly ? { accept: PARTIAL_METADATA_LIST } : {};
    return () => ObjectApi.forConfig(access).list<T>(this.path, { ...this.#selectors, ...accept });
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

  stop(): Promise<void> {
    this.#running = false;
    this.#generation++;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#relistTimer);
    this.#restartTimer = this.#relistTimer = undefined;
    for (const waiter of this.#syncWaiters.splice(0))
      waiter.reject(new Error(`informer ${this.path} stopped`));
    this.#watch?.abort();
    this.#watch = undefined;
    return Promise.resolve();
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
    this.#connectedAt = this.#now();
    this.#list().then(
      (list) => {
        if (generation !== this.#generation) return;
        this.#replace(list.items);
        this.#startWatch(generation, list.metadata?.resourceVersion ?? "");
      },
      (err: unknown) => {
        if (generation === this.#generation) this.#failed(err);
      },
    );
  }

  // Watches from `resourceVersion` on; resumes from the last version seen when the server ends the watch.
  #startWatch(generation: number, resourceVersion: string): void {
    const current = (): boolean => generation === this.#generation;
    let version = resourceVersion;
    const startedAt = this.#now();
    const onEvent = (event: WatchEvent): void => {
      if (!current()) return;
      if (event.type === "ERROR") {
        const status = event.object as Status;
        this.#watchFailed(new ApiError(status.code ?? 500, status));
        return;
      }
      const obj = event.object as T;
      version = obj.metadata?.resourceVersion ?? version;
      if (event.type === "ADDED" || event.type === "MODIFIED") this.#upsert(this.#trimmed(obj, true));
      else if (event.type === "DELETED") this.#remove(objectKey(obj), this.#trimmed(obj, false));
      // BOOKMARK: only the version moves on.
    };
    const onDone = (err?: Error): void => {
      if (!current()) return;
      if (err) this.#watchFailed(err);
      else if (this.#now() - startedAt < MIN_WATCH_MS)
        this.#failed(new Error("the API server ended the watch at once"));
      else this.#startWatch(generation, version);
    };
    // client-go's spread of watch lengths (5 to 10 min), so that informers do not all reconnect at once.
    const timeoutSeconds = String(300 + Math.floor(Math.random() * 300));
    const query = {
      ...this.#selectors,
      resourceVersion: version,
      allowWatchBookmarks: "true",
      timeoutSeconds,
    };
    try {
      this.#watch = this.#watcher.watch(
        this.path,
        query,
        onEvent,
        onDone,
        this.#options.metadataOnly && !this.#options.whole ? { accept: PARTIAL_METADATA } : {},
      );
    } catch (err) {
      // Only when the request cannot even be built (an unreadable token file).
      this.#failed(err);
    }
  }

  /** A whole object from the watch (handed to `whole` if `hand`), as the metadata-only list shows it. */
  #trimmed(obj: T, hand: boolean): T {
    const { metadataOnly, whole } = this.#options;
    if (!metadataOnly || !whole) return obj;
    // Nothing here reads managedFields (see #upsert); the handler gets the object without them.
    if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
    if (hand)
      this.#call("whole", () => {
        whole(obj);
      });
    return { apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: obj.metadata } as T;
  }

  // 410 Gone: the version is too old to resume from (etcd compacted it); a fresh list is the only way on.
  #watchFailed(err: Error): void {
    if (httpStatus(err) !== 410) {
      this.#failed(err);
      return;
    }
    this.#log.debug({ err }, "watch version expired; re-listing");
    this.#retire();
    this.#connect();
  }

  // Drops the current list-and-watch: an aborted watch reports nothing, and a list in flight is ignored.
  #retire(): void {
    this.#generation++;
    this.#watch?.abort();
    this.#watch = undefined;
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
    // As controller-runtime's TransformStripManagedFields: nothing here reads
    // managedFields, and on an object several managers write they are about a
    // fifth of it (measured once: 17 MB of the 65 MB of heap that 10,000
    // ConsortiumManifests took). The object is fresh from JSON.parse and the
    // cache's own, so it is trimmed in place.
    if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
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

  // A throwing handler must not stop the others, nor unwind into the watch
  // (which would end it as failed) or the list.
  #call(event: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err, event }, "informer event handler threw");
    }
  }
}
