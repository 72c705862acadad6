// Kubernetes Events (events.k8s.io/v1) about the objects the operator
// reconciles, aggregated as client-go's events recorder does: a repeat of the
// same (object, type, reason, action, note) within six minutes of the last
// one does not make a new Event; it raises the `series.count` of the first.
// A reconcile loop that fails every few seconds then shows as one Event with
// a growing count, not hundreds of Events.
//
// Series updates are coalesced: at most one write per Event per
// `seriesFlushMs`. Recording never throws and never waits: failures to write
// are logged, as an Event is a courtesy to humans, not part of the state.
import type { KubeAccess } from "../kube/access.ts";
import { httpStatus } from "../kube/errors.ts";
import { ObjectApi } from "../kube/objects-api.ts";
import { JSON_PATCH } from "../kube/patch.ts";
import type { Logger } from "pino";
import { microTime } from "./time.ts";

export const REPORTING_CONTROLLER = "dsc.federation.dev/operator";

/** The object an Event is about: any Kubernetes object, or its identifying fields. */
export interface ReferencedObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly namespace?: string; readonly name?: string; readonly uid?: string };
}

export interface ObjectReference {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly uid?: string;
}

export interface EventInput {
  readonly type: "Normal" | "Warning";
  /** CamelCase, why the action was taken: "ManifestApproved", "ReconcileFailed". */
  readonly reason: string;
  /** Human-readable; cut to 1 kB, the API's limit. */
  readonly note: string;
  /** What was done or failed, CamelCase; defaults to the reason. */
  readonly action?: string;
  readonly related?: ReferencedObject;
}

/** An events.k8s.io/v1 Event as JSON. */
export interface EventObject {
  readonly apiVersion: "events.k8s.io/v1";
  readonly kind: "Event";
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly eventTime: string;
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly action: string;
  readonly note: string;
  readonly regarding: ObjectReference;
  readonly related?: ObjectReference;
  readonly reportingController: string;
  readonly reportingInstance: string;
}

export interface EventSeries {
  readonly count: number;
  readonly lastObservedTime: string;
}

/** Where Events go: the API server by default, a fake in tests. */
export interface EventSink {
  create(event: EventObject): Promise<void>;
  /** Rejects with an error carrying HTTP status 404 when the Event is gone (Events expire, 1 h by default). */
  updateSeries(namespace: string, name: string, series: EventSeries): Promise<void>;
}

export function apiEventSink(kc: KubeAccess): EventSink {
  const api = ObjectApi.forConfig(kc);
  return {
    create: async (event) => {
      await api.createRaw(event);
    },
    updateSeries: async (namespace, name, series) => {
      // A JSON patch: `add` sets /series whether or not it exists.
      await api.patchRaw(
        { apiVersion: "events.k8s.io/v1", kind: "Event", metadata: { name, namespace } },
        JSON_PATCH,
        [{ op: "add", path: "/series", value: series }],
      );
    },
  };
}

export interface EventRecorderOptions {
  readonly logger: Logger;
  /** Which replica reports, e.g. the pod name. */
  readonly reportingInstance: string;
  readonly reportingController?: string;
  /** Where to write (a KubeClient, or a client-node KubeConfig in tests); this or `sink` is required. */
  readonly kubeConfig?: KubeAccess;
  readonly sink?: EventSink;
  /** Repeats further apart than this start a new Event. Default 6 min, as client-go. */
  readonly seriesWindowMs?: number;
  /** Minimum time between two writes of one Event's series. Default 10 s. */
  readonly seriesFlushMs?: number;
  /** Distinct Events remembered for aggregation; the least recently seen is forgotten first. Default 4096. */
  readonly maxEntries?: number;
  readonly now?: () => Date;
}

interface Entry {
  readonly namespace: string;
  readonly name: string;
  // Settles true once the Event exists, false if creating it failed.
  readonly created: Promise<boolean>;
  // The last series write; the next one waits for it, so counts land in order.
  writing: Promise<void>;
  count: number;
  written: number;
  lastObserved: Date;
  timer: NodeJS.Timeout | undefined;
}

/** The fields of an object that name it, as an ObjectReference. */
export function referenceTo(obj: ReferencedObject): ObjectReference {
  const meta = obj.metadata;
  return {
    ...(obj.apiVersion !== undefined && { apiVersion: obj.apiVersion }),
    ...(obj.kind !== undefined && { kind: obj.kind }),
    ...(meta?.namespace !== undefined && { namespace: meta.namespace }),
    ...(meta?.name !== undefined && { name: meta.name }),
    ...(meta?.uid !== undefined && { uid: meta.uid }),
  };
}

function truncateBytes(text: string, max: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= max) return text;
  // Cutting may split a character; the decoder drops the partial one as U+FFFD, hence the margin.
  return bytes
    .subarray(0, max - 3)
    .toString("utf8")
    .replace(/\uFFFD$/, "");
}

export class EventRecorder {
  readonly #log: Logger;
  readonly #sink: EventSink;
  readonly #instance: string;
  readonly #controller: string;
  readonly #windowMs: number;
  readonly #flushMs: number;
  readonly #maxEntries: number;
  readonly #now: () => Date;
  // Insertion order is recency order: a seen entry is deleted and set again.
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #sequence = 0;

  constructor(options: EventRecorderOptions) {
    const sink = options.sink ?? (options.kubeConfig && apiEventSink(options.kubeConfig));
    if (!sink) throw new Error("EventRecorder needs a kubeConfig or a sink");
    this.#sink = sink;
    this.#log = options.logger.child({ component: "events" });
    this.#instance = options.reportingInstance;
    this.#controller = options.reportingController ?? REPORTING_CONTROLLER;
    this.#windowMs = options.seriesWindowMs ?? 6 * 60_000;
    this.#flushMs = options.seriesFlushMs ?? 10_000;
    this.#maxEntries = options.maxEntries ?? 4096;
    this.#now = options.now ?? (() => new Date());
  }

  /** Records an Event about `regarding`, or counts it as a repeat of one already written. */
  event(regarding: ReferencedObject, input: EventInput): void {
    const now = this.#now();
    const ref = referenceTo(regarding);
    const action = input.action ?? input.reason;
    const note = truncateBytes(input.note, 1024);
    const related = input.related && referenceTo(input.related);
    const key = JSON.stringify([ref, related, input.type, input.reason, action, note, this.#controller]);

    const seen = this.#entries.get(key);
    if (seen && now.getTime() - seen.lastObserved.getTime() <= this.#windowMs) {
      seen.count++;
      seen.lastObserved = now;
      this.#entries.delete(key);
      this.#entries.set(key, seen);
      seen.timer ??= setTimeout(() => {
        this.#track(this.#flushEntry(seen));
      }, this.#flushMs);
      return;
    }
    if (seen) this.#forget(key, seen);

    const namespace = ref.namespace ?? "default";
    const name = this.#eventName(ref.name ?? "unnamed", now);
    const event: EventObject = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name, namespace },
      eventTime: microTime(now),
      type: input.type,
      reason: input.reason,
      action,
      note,
      regarding: ref,
      ...(related && { related }),
      reportingController: this.#controller,
      reportingInstance: this.#instance,
    };
    const created = this.#sink.create(event).then(
      () => true,
      (err: unknown) => {
        this.#log.warn({ err, reason: input.reason, regarding: ref }, "could not write an Event");
        return false;
      },
    );
    this.#track(created);
    this.#entries.set(key, {
      namespace,
      name,
      created,
      writing: Promise.resolve(),
      count: 1,
      written: 1,
      lastObserved: now,
      timer: undefined,
    });
    this.#evict();
  }

  /** Writes every pending series count and waits for all writes: call before exit, and in tests. */
  async flush(): Promise<void> {
    for (const entry of this.#entries.values()) {
      if (entry.timer) this.#track(this.#flushEntry(entry));
    }
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  // client-go's name: the object's name and the time in hex nanoseconds, here with a counter for
  // events within one millisecond.
  #eventName(objectName: string, now: Date): string {
    const suffix = (BigInt(now.getTime()) * 1_000_000n + BigInt(this.#sequence++ % 1_000_000)).toString(16);
    return `${objectName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
  }

  #evict(): void {
    while (this.#entries.size > this.#maxEntries) {
      const [key, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#forget(key, oldest);
    }
  }

  // Drops an entry, writing its count first if repeats are still unwritten.
  #forget(key: string, entry: Entry): void {
    this.#entries.delete(key);
    if (entry.timer) this.#track(this.#flushEntry(entry));
  }

  #flushEntry(entry: Entry): Promise<void> {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.writing = entry.writing.then(() => this.#writeSeries(entry));
    return entry.writing;
  }

  async #writeSeries(entry: Entry): Promise<void> {
    if (!(await entry.created) || entry.count === entry.written) return;
    const count = entry.count;
    try {
      await this.#sink.updateSeries(entry.namespace, entry.name, {
        count,
        lastObservedTime: microTime(entry.lastObserved),
      });
      entry.written = Math.max(entry.written, count);
    } catch (err) {
      if (httpStatus(err) === 404) {
        // The Event expired: the next repeat starts a new one.
        for (const [key, e] of this.#entries) if (e === entry) this.#entries.delete(key);
        return;
      }
      this.#log.warn({ err, event: entry.name }, "could not update an Event's series");
    }
  }

  #track(promise: Promise<unknown>): void {
    this.#inFlight.add(promise);
    void promise.finally(() => this.#inFlight.delete(promise));
  }
}
