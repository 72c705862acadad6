// Receipts of what another party can set off (a peer's refused message, a
// connection refused, a peer's log warning) are recorded at most once per key
// in a window: each is still counted in a metric, but no one outside the
// region can make it fill its own log.
import type { Json, ReceiptKind } from "../core/receipt/receipt.ts";
import type { Receipts } from "./receipt-log.ts";

/** The window the operator's throttled receipts use: once per kind and key in 10 minutes. */
export const RECEIPT_WINDOW_MS = 10 * 60_000;

/** Keys remembered at most; past it, the expired ones are forgotten. */
const MAX_KEYS = 1024;

export type ThrottledRecord = (
  key: string,
  kind: ReceiptKind,
  subject: string,
  details: Readonly<Record<string, Json>>,
) => boolean;

/** Returns a recorder that records under `key` at most once per `windowMs`; true when it recorded. */
export function throttled(receipts: Receipts, windowMs: number, now: () => number): ThrottledRecord {
  const last = new Map<string, number>();
  return (key, kind, subject, details) => {
    const t = now();
    const previous = last.get(key);
    if (previous !== undefined && t - previous < windowMs) return false;
    if (last.size >= MAX_KEYS)
      for (const [k, at] of last) if (t - at >= windowMs || last.size >= MAX_KEYS) last.delete(k);
    last.set(key, t);
    void receipts.record(kind, subject, details);
    return true;
  };
}
