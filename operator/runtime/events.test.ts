import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../kube/client.ts";
import { EventRecorder, type EventObject, type EventSeries, type EventSink } from "./events.ts";
import { captureLogger } from "../../e2e/support/runtime.ts";

class FakeSink implements EventSink {
  readonly created: EventObject[] = [];
  readonly series: { name: string; series: EventSeries }[] = [];
  failCreate = false;
  gone = new Set<string>();

  create(event: EventObject): Promise<void> {
    if (this.failCreate) return Promise.reject(new Error("forbidden"));
    this.created.push(event);
    return Promise.resolve();
  }

  updateSeries(_namespace: string, name: string, series: EventSeries): Promise<void> {
    if (this.gone.has(name))
      return Promise.reject(new ApiError(404, { reason: "NotFound", message: "not found" }));
    this.series.push({ name, series });
    return Promise.resolve();
  }
}

const service = {
  apiVersion: "dsc.federation.dev/v1alpha1",
  kind: "SafeService",
  metadata: { name: "svc", namespace: "team", uid: "uid-1", resourceVersion: "42" },
};
const failed = { type: "Warning", reason: "ReconcileFailed", note: "Safe API unreachable" } as const;

describe("EventRecorder", () => {
  let sink: FakeSink;
  let recorder: EventRecorder;
  let lines: ReturnType<typeof captureLogger>["lines"];

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-03-01T12:00:00.250Z"));
    sink = new FakeSink();
    const log = captureLogger();
    lines = log.lines;
    recorder = new EventRecorder({
      logger: log.logger,
      sink,
      reportingInstance: "dsc-operator-0",
      seriesFlushMs: 10_000,
      maxEntries: 3,
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes an events.k8s.io/v1 Event about the object, with MicroTime and the operator as reporter", async () => {
    recorder.event(service, { ...failed, action: "Reconcile" });
    await recorder.flush();
    expect(sink.created).toHaveLength(1);
    const event = sink.created[0];
    expect(event).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { namespace: "team" },
      eventTime: "2026-03-01T12:00:00.250000Z",
      type: "Warning",
      reason: "ReconcileFailed",
      action: "Reconcile",
      note: "Safe API unreachable",
      reportingController: "dsc.federation.dev/operator",
      reportingInstance: "dsc-operator-0",
      regarding: {
        apiVersion: service.apiVersion,
        kind: "SafeService",
        namespace: "team",
        name: "svc",
        uid: "uid-1",
      },
    });
    expect(event?.metadata.name).toMatch(/^svc\.[0-9a-f]+$/);
  });

  it("folds repeats into one Event whose series count is written at most once per interval", async () => {
    for (let i = 0; i < 5; i++) recorder.event(service, failed);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(sink.created).toHaveLength(1);
    expect(sink.series).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.series).toEqual([
      {
        name: sink.created[0]?.metadata.name,
        series: { count: 5, lastObservedTime: "2026-03-01T12:00:00.250000Z" },
      },
    ]);
    await vi.advanceTimersByTimeAsync(20_000);
    recorder.event(service, failed);
    recorder.event(service, failed);
    await recorder.flush(); // shutdown writes what is pending without waiting for the interval
    expect(sink.series.map((s) => s.series)).toEqual([
      { count: 5, lastObservedTime: "2026-03-01T12:00:00.250000Z" },
      { count: 7, lastObservedTime: "2026-03-01T12:00:30.250000Z" },
    ]);
    expect(sink.created).toHaveLength(1);
  });

  it("keeps distinct Events for a different note, reason or object, and starts anew after six quiet minutes", async () => {
    recorder.event(service, failed);
    recorder.event(service, { ...failed, note: "other note" });
    recorder.event({ ...service, metadata: { ...service.metadata, name: "svc2", uid: "uid-2" } }, failed);
    // A new resourceVersion is the same object: still a repeat.
    const updated = { ...service, metadata: { ...service.metadata, resourceVersion: "43" } };
    recorder.event(updated, failed);
    await recorder.flush();
    expect(sink.created).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(6 * 60_000 + 1);
    recorder.event(service, failed);
    await recorder.flush();
    expect(sink.created).toHaveLength(4);
  });

  it("remembers a bounded number of Events, writing an evicted one's pending count first", async () => {
    recorder.event(service, { ...failed, note: "a" });
    recorder.event(service, { ...failed, note: "a" });
    for (const note of ["b", "c", "d"]) recorder.event(service, { ...failed, note });
    await recorder.flush();
    expect(sink.series.map((s) => s.series.count)).toEqual([2]); // "a" was evicted with a repeat pending
    recorder.event(service, { ...failed, note: "a" }); // forgotten: a new Event
    await recorder.flush();
    expect(sink.created.map((e) => e.note)).toEqual(["a", "b", "c", "d", "a"]);
  });

  it("never throws: failed writes are logged, and an expired Event is replaced by a new one", async () => {
    sink.failCreate = true;
    expect(() => {
      recorder.event(service, failed);
    }).not.toThrow();
    await recorder.flush();
    expect(lines.some((l) => l.msg === "could not write an Event")).toBe(true);

    sink.failCreate = false;
    recorder.event(service, { ...failed, note: "x" });
    await recorder.flush();
    const name = sink.created[0]?.metadata.name ?? "";
    sink.gone.add(name);
    recorder.event(service, { ...failed, note: "x" });
    await recorder.flush(); // 404: the Event expired
    recorder.event(service, { ...failed, note: "x" });
    await recorder.flush();
    expect(sink.created.map((e) => e.note)).toEqual(["x", "x"]);
  });

  it("cuts notes to the API's 1 kB limit without splitting a character", async () => {
    recorder.event(service, { ...failed, note: "é".repeat(2000) });
    await recorder.flush();
    const note = sink.created[0]?.note ?? "";
    expect(Buffer.byteLength(note)).toBeLessThanOrEqual(1024);
    expect(note).toMatch(/^é+$/);
  });

  it("files an Event about a cluster-scoped object in the default namespace", async () => {
    recorder.event({ apiVersion: "v1", kind: "Node", metadata: { name: "node-1" } }, failed);
    await recorder.flush();
    expect(sink.created[0]?.metadata.namespace).toBe("default");
  });
});
