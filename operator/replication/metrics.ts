// The replication's metrics, read when scraped: counting manifests or pending
// changes is a pass over the document, not worth doing at every write.
import { Counter, Gauge, type Registry } from "prom-client";
import type { RebaseOutcome } from "./rebaser.ts";

interface ReplicationGauges {
  readonly epoch: () => number;
  readonly documentBytes: () => number;
  readonly manifests: () => number;
  readonly specsMissing: () => number;
  /** Changes each peer is not known to have, by peer region. */
  readonly pending: () => readonly (readonly [peer: string, changes: number])[];
}

/** What became of a version a peer offered with a hint (replication/setup.ts, verifyEarly). */
export type EarlyOutcome = "verified" | "refused" | "mismatched" | "busy";

/** Registers the gauges; returns the counter of refused peer messages, and what counts a rebase and an early check. */
export function replicationMetrics(
  registry: Registry,
  read: ReplicationGauges,
): {
  refused: Counter;
  rebased: (outcome: RebaseOutcome) => void;
  early: (outcome: EarlyOutcome) => void;
} {
  const gauge = (name: string, help: string, value: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value());
      },
    });
  };
  gauge("dsc_document_bytes", "Size of the federation state document (saved).", read.documentBytes);
  gauge(
    "dsc_state_epoch",
    "The epoch of the federation state this region syncs (a rebase starts the next).",
    read.epoch,
  );
  const rebases = new Counter({
    name: "dsc_state_rebases_total",
    help: "Rebases of the federation state: grown (this region's document outgrew its last carry) or peer (a peer was in a later epoch).",
    labelNames: ["reason"],
    registers: [registry],
  });
  const collected = new Counter({
    name: "dsc_state_collected_total",
    help: "Records no region needs any more, left out by a rebase: superseded versions, and the specs they named.",
    labelNames: ["what"],
    registers: [registry],
  });
  gauge("dsc_document_manifests", "Manifests in the federation state.", read.manifests);
  gauge(
    "dsc_specs_missing",
    "Specs the federation state names that this region does not hold yet (asked of its peers).",
    read.specsMissing,
  );
  new Gauge({
    name: "dsc_peer_changes_pending",
    help: "Changes of the federation state this region holds that the peer is not known to have.",
    labelNames: ["peer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [peer, changes] of read.pending()) this.set({ peer }, changes);
    },
  });
  const refused = new Counter({
    name: "dsc_sync_rejected_messages_total",
    help: "Sync messages that could not be applied, and spec messages that were malformed or did not match their digest; dropped.",
    registers: [registry],
  });
  const early = new Counter({
    name: "dsc_spec_early_verifications_total",
    help: "Versions a peer offered with a hint before its state change named them, by outcome: verified here beside the peer; refused (or the chain could not be read); mismatched (not the spec of its digest, or no Federation yet to tell); busy (too many at once or a second: left to the mirror).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  return {
    refused,
    early(outcome) {
      early.inc({ outcome });
    },
    rebased(outcome) {
      rebases.inc({ reason: outcome.reason });
      collected.inc({ what: "versions" }, outcome.versionsCollected);
      collected.inc({ what: "specs" }, outcome.specsCollected);
    },
  };
}
