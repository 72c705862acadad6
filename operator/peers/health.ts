// Decisions about peers, as pure functions of names, counts and clock readings.
import { exponentialBackoff } from "../runtime/backoff.ts";

/** Heartbeats a peer may miss before its connection is closed (and, by the dialling side, redialled). */
export const SILENT_HEARTBEATS = 3;

// At most 2 s: only the region whose name sorts first dials, so a region that comes
// back waits out the others' backoff before it can catch up.
export const DEFAULT_RECONNECT = { initialMs: 100, maxMs: 2_000 } as const;

export interface ReconnectPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Whether this region dials `peer` (else it waits for `peer` to dial). One
 * side only, so a pair never has two connections to reconcile: the region
 * whose name sorts first dials.
 */
export function dials(self: string, peer: string): boolean {
  return self < peer;
}

/**
 * Whether a connection last heard from at `lastHeardAt` has been silent too
 * long. Readings are from a monotonic clock, so a wall-clock step cannot
 * drop every peer at once.
 */
export function isSilent(lastHeardAt: number, now: number, heartbeatMs: number): boolean {
  return now - lastHeardAt > SILENT_HEARTBEATS * heartbeatMs;
}

/** The wait before dial attempt `failures + 1` after `failures` attempts failed in a row. */
export function reconnectDelay(failures: number, policy: ReconnectPolicy = DEFAULT_RECONNECT): number {
  return exponentialBackoff(failures, policy.initialMs, policy.maxMs);
}

/**
 * The round trip a PONG measures, or undefined for an echo no PING of ours
 * could have produced (from the future, or not a number): a peer can lie, but
 * not make us report a negative or infinite RTT.
 */
export function roundTripMs(sentAt: number, now: number): number | undefined {
  const rtt = now - sentAt;
  return Number.isFinite(rtt) && rtt >= 0 ? rtt : undefined;
}
