// The peer transport's metrics. Peer labels are pinned region names only,
// never anything a connecting stranger chose, so the series stay bounded.
import { Counter, Gauge, type Registry } from "prom-client";
import type { RefusalReason } from "./identity.ts";

export interface PeerMetrics {
  readonly connected: Gauge<"peer">;
  readonly protocol: Gauge<"peer">;
  readonly rttSeconds: Gauge<"peer">;
  readonly lastHeardSeconds: Gauge<"peer">;
  readonly syncBytes: Counter<"peer" | "direction">;
  readonly refused: Counter<"reason">;
  readonly malformed: Counter<"peer">;
  /** Told of every refusal besides the count (to record it). */
  readonly onRefused?: ((reason: RefusalReason) => void) | undefined;
}

export function peerMetrics(registry: Registry): PeerMetrics {
  return {
    connected: gauge(
      registry,
      "dsc_peer_connected",
      "1 while the peer's connection is up (HELLO exchanged).",
      ["peer"],
    ),
    protocol: gauge(
      registry,
      "dsc_peer_protocol",
      "The protocol version spoken with the peer: the highest both speak.",
      ["peer"],
    ),
    rttSeconds: gauge(registry, "dsc_peer_rtt_seconds", "Last heartbeat round-trip time to the peer.", [
      "peer",
    ]),
    lastHeardSeconds: gauge(
      registry,
      "dsc_peer_last_heard_timestamp_seconds",
      "When the peer last sent a valid frame (Unix time).",
      ["peer"],
    ),
    syncBytes: counter(
      registry,
      "dsc_sync_bytes_total",
      "Sync payload bytes exchanged with the peer (direction: in, out).",
      ["peer", "direction"],
    ),
    refused: counter(
      registry,
      "dsc_peer_refused_total",
      "Connections refused: no_certificate, unknown_certificate, wrong_region, wrong_direction, version_mismatch, tls_handshake.",
      ["reason"],
    ),
    malformed: counter(
      registry,
      "dsc_peer_malformed_total",
      "Frames from an authenticated peer that were dropped as malformed.",
      ["peer"],
    ),
  };
}

export function countRefusal(metrics: PeerMetrics, reason: RefusalReason): void {
  metrics.refused.inc({ reason });
  metrics.onRefused?.(reason);
}

/** Drops a peer's gauges, so a region that left the federation does not linger as "disconnected". */
export function forgetPeer(metrics: PeerMetrics, peer: string): void {
  for (const gauge of [metrics.connected, metrics.protocol, metrics.rttSeconds, metrics.lastHeardSeconds])
    gauge.remove({ peer });
}

// A transport rebuilt in the same process (the operator restarting it) finds its metrics registered already.
function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Gauge) return existing;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter({ name, help, labelNames, registers: [registry] });
}
