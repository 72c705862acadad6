// The log discrepancies that warn rather than pause (the seeds' table):
// `timestamp_drift` (a peer's clock, as its cosignatures or receipts state
// it, over 5 minutes from this region's) and `schema_incompatible` (a
// receipt in a peer's log of a version this region cannot read) are
// warnings; `sample_missing` (a receipt a peer's checkpoint covers that the
// peer cannot serve) is informational; `mirror_full` (a peer's log over the
// disk this region keeps for its copy) is a warning. Each is counted, logged, shown in the
// Federation's status (a condition, an Event) and recorded as a receipt, at
// most once per kind and log every 10 minutes, so a peer cannot flood this
// region's log with them.
import type { Logger } from "pino";
import type { Counter } from "prom-client";
import type { Receipts } from "../receipts/receipt-log.ts";
import { RECEIPT_WINDOW_MS, throttled, type ThrottledRecord } from "../receipts/throttled.ts";

export const WARNING_KINDS = [
  "timestamp_drift",
  "schema_incompatible",
  "sample_missing",
  "mirror_full",
] as const;
export type WarningKind = (typeof WARNING_KINDS)[number];

/** The seeds' tolerance for a peer's clock. */
export const MAX_DRIFT_MS = 5 * 60_000;
/** A warning shows in status this long, and is recorded again after it. */
const WARNING_WINDOW_MS = RECEIPT_WINDOW_MS;

export interface LogWarning {
  readonly kind: WarningKind;
  readonly region: string;
  readonly message: string;
  readonly at: number;
}

export type Notice = (kind: WarningKind, region: string, message: string) => void;

interface WarningsOptions {
  /** dsc_log_discrepancies_total. */
  readonly counter: Counter;
  readonly receipts: Receipts;
  readonly logger: Logger;
  readonly now: () => number;
}

export class Warnings {
  readonly #o: WarningsOptions;
  readonly #latest = new Map<string, LogWarning>();
  readonly #record: ThrottledRecord;

  constructor(o: WarningsOptions) {
    this.#o = o;
    this.#record = throttled(o.receipts, WARNING_WINDOW_MS, o.now);
  }

  readonly notice: Notice = (kind, region, message) => {
    const now = this.#o.now();
    const key = `${kind}\n${region}`;
    this.#o.counter.inc({ kind, log: region });
    this.#latest.set(key, { kind, region, message: message.slice(0, 512), at: now });
    const severity = kind === "sample_missing" ? "info" : "warning";
    if (!this.#record(key, "discrepancy", region, { kind, severity, message: message.slice(0, 512) })) return;
    if (severity === "info") this.#o.logger.info({ kind, log: region }, message);
    else this.#o.logger.warn({ kind, log: region }, message);
  };

  /** The latest warning per kind and log, of the last 10 minutes. */
  recent(): LogWarning[] {
    const since = this.#o.now() - WARNING_WINDOW_MS;
    return [...this.#latest.values()].filter((w) => w.at >= since).slice(0, 16);
  }
}
