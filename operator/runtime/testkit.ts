// Helpers for this directory's tests: a logger whose lines can be inspected,
// metric values by name and labels, and a fake watch for informers.
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { pino, type Logger } from "pino";
import type { Registry } from "prom-client";

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A debug-level pino logger that keeps its lines in `lines`. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: "debug" },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { logger, lines };
}

/** The value of one series of a metric (a histogram's `_count` with `suffix: "count"`). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
  suffix?: "count" | "sum",
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  // Histograms name each series (`_sum`, `_count`, `_bucket`); other metrics do not.
  const values: { value: number; labels: Record<string, unknown>; metricName?: string }[] = (
    await metric.get()
  ).values;
  const wanted = suffix ? `${name}_${suffix}` : name;
  const match = values.find(
    (v) =>
      (v.metricName ?? name) === wanted &&
      Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
  return match?.value;
}

interface WatchCall {
  readonly path: string;
  readonly params: Record<string, string | number | boolean | undefined>;
  /** Delivers a watch event, as the API server would. */
  readonly send: (type: "ADDED" | "MODIFIED" | "DELETED", object: unknown) => void;
  /** Ends the watch: with an error, as a broken connection does, or cleanly with null. */
  readonly end: (err: unknown) => void;
  readonly aborted: () => boolean;
}

/** client-node's Watch without a server: each watch() is recorded and driven by the test. */
export class FakeWatch extends Watch {
  readonly calls: WatchCall[] = [];

  constructor() {
    super(new KubeConfig());
  }

  override watch(
    path: string,
    params: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    let ended = false;
    const end = (err: unknown): void => {
      if (ended) return;
      ended = true;
      done(err);
    };
    // The real Watch reports its own abort to `done` as an AbortError.
    controller.signal.addEventListener("abort", () => {
      queueMicrotask(() => {
        end(new DOMException("This operation was aborted", "AbortError"));
      });
    });
    this.calls.push({
      path,
      params,
      send: (type, object) => {
        if (!ended) callback(type, object);
      },
      end,
      aborted: () => controller.signal.aborted,
    });
    return Promise.resolve(controller);
  }

  last(): WatchCall {
    const call = this.calls.at(-1);
    if (!call) throw new Error("no watch was started");
    return call;
  }
}

/** A ConfigMap as the API server sends it. */
export function configMap(
  name: string,
  resourceVersion: string,
  extra: { namespace?: string; data?: Record<string, string>; ownerReferences?: unknown[] } = {},
): { apiVersion: string; kind: string; metadata: Record<string, unknown>; data?: Record<string, string> } {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace: extra.namespace ?? "ns",
      resourceVersion,
      ...(extra.ownerReferences && { ownerReferences: extra.ownerReferences }),
    },
    ...(extra.data && { data: extra.data }),
  };
}

/** Lets pending promise callbacks run (several rounds, for chains of awaits). */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
