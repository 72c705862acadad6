// Prometheus metrics under controller-runtime's names, so dashboards and
// alerts written for Go operators work unchanged. Metric families live once
// per caller-supplied Registry (prom-client refuses a second registration of
// a name), and every queue or controller is one label value within them.
import { Counter, Gauge, Histogram, exponentialBuckets, type Registry } from "prom-client";

/** What a work queue reports at scrape time; computed then rather than kept up to date by timers. */
interface QueueSnapshot {
  readonly depth: number;
  readonly unfinishedWorkSeconds: number;
  readonly longestRunningProcessorSeconds: number;
}

export interface WorkQueueMetrics {
  added(): void;
  retried(): void;
  queued(seconds: number): void;
  worked(seconds: number): void;
  /** Stops reporting this queue, so its name may be used again. */
  release(): void;
}

export interface ControllerMetrics {
  reconciled(result: ReconcileResultLabel, seconds: number): void;
  activeWorkers(delta: 1 | -1): void;
}

export type ReconcileResultLabel = "success" | "error" | "requeue" | "requeue_after";
const RESULTS: readonly ReconcileResultLabel[] = ["success", "error", "requeue", "requeue_after"];

// controller-runtime's buckets: 10 ns to 1000 s for queue and work time, and
// its hand-picked reconcile-time buckets.
const QUEUE_BUCKETS = exponentialBuckets(10e-9, 10, 12);
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

interface WorkQueueFamilies {
  readonly sources: Map<string, () => QueueSnapshot>;
  readonly adds: Counter<"name">;
  readonly retries: Counter<"name">;
  readonly queueDuration: Histogram<"name">;
  readonly workDuration: Histogram<"name">;
}

interface ControllerFamilies {
  readonly names: Set<string>;
  readonly total: Counter<"controller" | "result">;
  readonly errors: Counter<"controller">;
  readonly time: Histogram<"controller">;
  readonly active: Gauge<"controller">;
  readonly maxConcurrent: Gauge<"controller">;
}

const queueFamilies = new WeakMap<Registry, WorkQueueFamilies>();
const controllerFamilies = new WeakMap<Registry, ControllerFamilies>();

function sampled(
  registry: Registry,
  sources: Map<string, () => QueueSnapshot>,
  name: string,
  help: string,
  pick: (s: QueueSnapshot) => number,
): void {
  new Gauge({
    name,
    help,
    labelNames: ["name"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [queue, snapshot] of sources) this.set({ name: queue }, pick(snapshot()));
    },
  });
}

function workQueueFamilies(registry: Registry): WorkQueueFamilies {
  const existing = queueFamilies.get(registry);
  if (existing) return existing;
  const sources = new Map<string, () => QueueSnapshot>();
  const registers = [registry];
  sampled(registry, sources, "workqueue_depth", "Current depth of workqueue", (s) => s.depth);
  sampled(
    registry,
    sources,
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. " +
      "Large values indicate stuck threads.",
    (s) => s.unfinishedWorkSeconds,
  );
  sampled(
    registry,
    sources,
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    (s) => s.longestRunningProcessorSeconds,
  );
  const families: WorkQueueFamilies = {
    sources,
    adds: new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames: ["name"],
      registers,
    }),
    retries: new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames: ["name"],
      registers,
    }),
    queueDuration: new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames: ["name"],
      buckets: QUEUE_BUCKETS,
      registers,
    }),
    workDuration: new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes.",
      labelNames: ["name"],
      buckets: QUEUE_BUCKETS,
      registers,
    }),
  };
  queueFamilies.set(registry, families);
  return families;
}

const noQueueMetrics: WorkQueueMetrics = {
  added: () => undefined,
  retried: () => undefined,
  queued: () => undefined,
  worked: () => undefined,
  release: () => undefined,
};

/** The metrics of one named queue; none at all when no registry is given. */
export function workQueueMetrics(
  registry: Registry | undefined,
  name: string,
  snapshot: () => QueueSnapshot,
): WorkQueueMetrics {
  if (!registry) return noQueueMetrics;
  const f = workQueueFamilies(registry);
  if (f.sources.has(name)) {
    throw new Error(`a work queue named "${name}" already reports to this registry; names must be unique`);
  }
  f.sources.set(name, snapshot);
  const labels = { name };
  // Zero the counters now so a dashboard sees the series before the first event.
  f.adds.inc(labels, 0);
  f.retries.inc(labels, 0);
  return {
    added: () => {
      f.adds.inc(labels);
    },
    retried: () => {
      f.retries.inc(labels);
    },
    queued: (seconds) => {
      f.queueDuration.observe(labels, seconds);
    },
    worked: (seconds) => {
      f.workDuration.observe(labels, seconds);
    },
    release: () => {
      f.sources.delete(name);
    },
  };
}

function controllerFamiliesOf(registry: Registry): ControllerFamilies {
  const existing = controllerFamilies.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const families: ControllerFamilies = {
    names: new Set(),
    total: new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    }),
    errors: new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    }),
    time: new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: RECONCILE_BUCKETS,
      registers,
    }),
    active: new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"],
      registers,
    }),
    maxConcurrent: new Gauge({
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller",
      labelNames: ["controller"],
      registers,
    }),
  };
  controllerFamilies.set(registry, families);
  return families;
}

/** The metrics of one named controller; names must be unique within a registry, as in controller-runtime. */
export function controllerMetrics(
  registry: Registry,
  controller: string,
  workers: number,
): ControllerMetrics {
  const f = controllerFamiliesOf(registry);
  if (f.names.has(controller)) {
    throw new Error(
      `a controller named "${controller}" already reports to this registry; names must be unique`,
    );
  }
  f.names.add(controller);
  const labels = { controller };
  for (const result of RESULTS) f.total.inc({ controller, result }, 0);
  f.errors.inc(labels, 0);
  f.active.set(labels, 0);
  f.maxConcurrent.set(labels, workers);
  return {
    reconciled: (result, seconds) => {
      f.total.inc({ controller, result });
      if (result === "error") f.errors.inc(labels);
      f.time.observe(labels, seconds);
    },
    activeWorkers: (delta) => {
      f.active.inc(labels, delta);
    },
  };
}

const leaderGauges = new WeakMap<Registry, Gauge<"name">>();

/** client-go's leader_election_master_status{name}: 1 while this process leads. */
export function leaderMetrics(registry: Registry | undefined, name: string): (leading: boolean) => void {
  if (!registry) return () => undefined;
  let gauge = leaderGauges.get(registry);
  if (!gauge) {
    gauge = new Gauge({
      name: "leader_election_master_status",
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.",
      labelNames: ["name"],
      registers: [registry],
    });
    leaderGauges.set(registry, gauge);
  }
  const g = gauge;
  g.set({ name }, 0);
  return (leading) => {
    g.set({ name }, leading ? 1 : 0);
  };
}
