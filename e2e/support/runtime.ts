// Helpers for the runtime's tests (operator/runtime/*.test.ts) and the peer
// helpers: a logger whose lines can be inspected, metric values by name and
// labels, and a fake watch for informers.
import { pino, type Logger } from "pino";
import type { Registry } from "prom-client";
import type { WatchEvent, WatchHandle, WatchOptions, Watcher } from "../../operator/kube/client.ts";

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
  readonly params: Readonly<Record<string, string>>;
  /** The Accept header asked for, if not plain JSON. */
  readonly accept: string | undefined;
  /** Delivers a watch event, as the API server would. */
  readonly send: (type: WatchEvent["type"], object: unknown) => void;
  /** Ends the watch: with an error, as a broken connection does, or cleanly (a server timeout) without. */
  readonly end: (err?: Error) => void;
  readonly aborted: () => boolean;
}

/** A Watcher without a server: each watch() is recorded and driven by the test. */
export class FakeWatch implements Watcher {
  readonly calls: WatchCall[] = [];

  watch(
    path: string,
    params: Readonly<Record<string, string>>,
    onEvent: (event: WatchEvent) => void,
    onDone: (err?: Error) => void,
    options?: WatchOptions,
  ): WatchHandle {
    let ended = false;
    let aborted = false;
    this.calls.push({
      path,
      params,
      accept: options?.accept,
      send: (type, object) => {
        if (!ended) onEvent({ type, object });
      },
      end: (err) => {
        if (ended) return;
        ended = true;
        // As KubeClient's watch: an aborted watch reports nothing.
        if (!aborted) onDone(err);
      },
      aborted: () => aborted,
    });
    return {
      abort: () => {
        aborted = ended = true;
      },
    };
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
