// The federation's own metrics, beside the controller_runtime_* and
// workqueue_* ones the runtime registers with the names SREs' dashboards know.
//
// Counters whose label values are known in advance start at zero for every
// combination: a series that first appears at 1 has no earlier sample, so
// rate() and increase() miss that first event, and dashboards show "No data"
// instead of 0 on a healthy operator.
import { VERSION } from "../version.ts";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { TIERS } from "../api/v1alpha1/fields.ts";
import type { DecisionReason } from "../core/approval/policy.ts";

export interface OperatorMetrics {
  readonly verifications: Counter<"tier" | "result">;
  readonly appliedObjects: Gauge<"namespace" | "manifest">;
  readonly chainReadSeconds: Histogram<"method" | "outcome">;
  readonly chainErrors: Counter<"method">;
  readonly applySeconds: Histogram;
}

/** Every result of dsc_verifications_total: the decision's reason, or ChainUnavailable when it could not be made. */
const VERIFICATION_RESULTS = Object.keys({
  Verified: true,
  UnsupportedSafe: true,
  InsufficientApprovals: true,
  Expired: true,
  NonceRegression: true,
  BelowTierFloor: true,
  TierRegression: true,
  InvalidProposer: true,
  ChainUnavailable: true,
} satisfies Record<DecisionReason | "ChainUnavailable", true>);

/** The `method` labels ChainReader times (operator/chain/reader.ts); a unit test keeps the two in step. */
export const CHAIN_READ_METHODS = [
  "eth_blockNumber",
  // Every read of a manifest verification in one eth_call (operator/chain/lens.ts).
  "manifest_lens",
  "eth_getBlockByNumber",
  "safe_state",
  "safe_judgement",
  "checkNSignatures",
  "approvedHashes",
  "eth_getCode",
  "guardianPause",
  "logAnchor",
  "anchorEvents",
  "agentOf",
  "dspAgent",
] as const;

export function operatorMetrics(registry: Registry): OperatorMetrics {
  const metrics: OperatorMetrics = {
    verifications: new Counter({
      name: "dsc_verifications_total",
      help: "ConsortiumManifest verifications by tier and result (Verified, InsufficientApprovals, Expired, NonceRegression, InvalidProposer, ChainUnavailable).",
      labelNames: ["tier", "result"],
      registers: [registry],
    }),
    appliedObjects: new Gauge({
      name: "dsc_applied_objects",
      help: "Objects currently applied by each ConsortiumManifest in this region.",
      labelNames: ["namespace", "manifest"],
      registers: [registry],
    }),
    chainReadSeconds: new Histogram({
      name: "dsc_chain_read_seconds",
      help: "Latency of chain reads (JSON-RPC round trips) by method.",
      labelNames: ["method", "outcome"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    chainErrors: new Counter({
      name: "dsc_chain_errors_total",
      help: "Chain reads that failed (the chain could not be read; nothing new is applied meanwhile).",
      labelNames: ["method"],
      registers: [registry],
    }),
    applySeconds: new Histogram({
      name: "dsc_apply_seconds",
      help: "Time to server-side apply one approved manifest's objects.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
  for (const tier of TIERS)
    for (const result of VERIFICATION_RESULTS) metrics.verifications.inc({ tier, result }, 0);
  for (const method of CHAIN_READ_METHODS) metrics.chainErrors.inc({ method }, 0);
  // Which release runs where, in the manner of kube-state-metrics' *_build_info: a rolling
  // upgrade shows as two versions side by side.
  new Gauge({
    name: "dsc_build_info",
    help: "The operator's release (version) and Node.js (node_version); always 1.",
    labelNames: ["version", "node_version"],
    registers: [registry],
  }).set({ version: VERSION, node_version: process.version }, 1);
  return metrics;
}
