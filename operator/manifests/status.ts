// The ConsortiumManifest's status, computed from what a reconcile found.
// Pure: the reconciler decides what happened, this says how it reads.
import type { ConsortiumManifestStatus, ObjectReference } from "../api/v1alpha1/consortium-manifest.ts";
import type { Condition } from "../runtime/conditions.ts";
import { setCondition } from "../runtime/conditions.ts";
import type { VerificationReport } from "../verification/verify.ts";
import { describeRef } from "./labels.ts";
import { sortedJson } from "../kube/object.ts";

/** What one reconcile pass ended with. */
export type Outcome =
  | { readonly kind: "invalid"; readonly message: string }
  | { readonly kind: "no-federation"; readonly message: string }
  | { readonly kind: "chain-unavailable"; readonly message: string }
  | { readonly kind: "refused"; readonly report: VerificationReport }
  | { readonly kind: "not-targeted"; readonly report: VerificationReport; readonly region: string }
  | { readonly kind: "apply-failed"; readonly report: VerificationReport; readonly message: string }
  /** Verified, but a policy of a higher nonce is in force already. */
  | { readonly kind: "superseded"; readonly report: VerificationReport; readonly message: string }
  /** Verified, but the guardian pause holds it back (or, for a resume, the chain is still paused). */
  | { readonly kind: "paused"; readonly report: VerificationReport; readonly message: string }
  | {
      readonly kind: "applied";
      readonly report: VerificationReport;
      readonly objects: readonly ObjectReference[];
      readonly pruned: readonly ObjectReference[];
    };

type Status = "True" | "False" | "Unknown";
interface Cond {
  readonly status: Status;
  readonly reason: string;
  readonly message: string;
}

function verifiedCondition(outcome: Outcome): Cond {
  switch (outcome.kind) {
    case "invalid":
      return { status: "False", reason: "InvalidSpec", message: outcome.message };
    case "no-federation":
      return { status: "Unknown", reason: "NoFederation", message: outcome.message };
    case "chain-unavailable":
      return {
        status: "Unknown",
        reason: "ChainUnavailable",
        message: `${outcome.message}; nothing new is applied until the chain can be read`,
      };
    default: {
      const d = outcome.report.decision;
      const note = outcome.report.serviceError
        ? ` (${outcome.report.serviceError}; other sources were read)`
        : "";
      return { status: d.verified ? "True" : "False", reason: d.reason, message: `${d.message}${note}` };
    }
  }
}

/** Objects named in a condition at most: up to 256 references would pass its 32,768 characters. */
const MAX_CONDITION_REFS = 20;

const refList = (refs: readonly Parameters<typeof describeRef>[0][]): string =>
  refs.slice(0, MAX_CONDITION_REFS).map(describeRef).join(", ") +
  (refs.length > MAX_CONDITION_REFS ? ` and ${String(refs.length - MAX_CONDITION_REFS)} more` : "");

function appliedCondition(outcome: Outcome, previous: ConsortiumManifestStatus | undefined): Cond {
  const kept =
    previous?.appliedDigest !== undefined
      ? `nonce ${String(previous.appliedNonce ?? "?")} (digest ${previous.appliedDigest.slice(0, 10)}…) stays applied`
      : "nothing applied";
  switch (outcome.kind) {
    case "applied":
      if (outcome.report.manifest.action === "withdraw")
        return {
          status: "True",
          reason: "Withdrawn",
          message:
            outcome.pruned.length > 0
              ? `withdrawn: pruned ${refList(outcome.pruned)}`
              : "withdrawn: nothing it applied is left in this region",
        };
      return {
        status: "True",
        reason: "Applied",
        message:
          `applied ${refList(outcome.objects)}` +
          (outcome.pruned.length > 0 ? `; pruned ${refList(outcome.pruned)}` : ""),
      };
    case "not-targeted":
      return {
        status: "False",
        reason: "NotTargeted",
        message: `targets ${outcome.report.manifest.targets.join(", ")}; this region is ${outcome.region}`,
      };
    case "apply-failed":
      return { status: "False", reason: "ApplyFailed", message: `${outcome.message}; ${kept}` };
    case "paused":
      return { status: "False", reason: "GuardianPaused", message: `${outcome.message}; ${kept}` };
    case "superseded":
      return { status: "False", reason: "Superseded", message: outcome.message };
    default:
      return {
        status: previous?.appliedDigest ? "True" : "False",
        reason: previous?.appliedDigest ? "PreviousVersionApplied" : "NotVerified",
        message: kept,
      };
  }
}

function stateOf(
  outcome: Outcome,
  previous: ConsortiumManifestStatus | undefined,
): NonNullable<ConsortiumManifestStatus["state"]> {
  switch (outcome.kind) {
    case "applied":
      return outcome.report.manifest.action === "withdraw" ? "Withdrawn" : "Applied";
    case "not-targeted":
      return "Verified";
    case "paused":
      return "Paused";
    case "apply-failed":
    case "chain-unavailable":
    case "no-federation":
      return previous?.state ?? "Pending";
    case "invalid":
    case "superseded":
      return "Refused";
    case "refused":
      switch (outcome.report.decision.reason) {
        case "Expired":
          return "Expired";
        case "InsufficientApprovals":
          return "Pending";
        default:
          return "Refused";
      }
  }
}

export function manifestStatus(
  previous: ConsortiumManifestStatus | undefined,
  generation: number,
  outcome: Outcome,
  now: Date,
): ConsortiumManifestStatus {
  const verified = verifiedCondition(outcome);
  const applied = appliedCondition(outcome, previous);
  const ready: Cond =
    verified.status === "True" && (outcome.kind === "applied" || outcome.kind === "not-targeted")
      ? {
          status: "True",
          reason: "Ready",
          message:
            outcome.kind !== "applied"
              ? "approved; not for this region"
              : outcome.report.manifest.action === "withdraw"
                ? "approved and withdrawn"
                : "approved and applied",
        }
      : {
          status: "False",
          reason: verified.status === "True" ? applied.reason : verified.reason,
          message: verified.status === "True" ? applied.message : verified.message,
        };

  let conditions: readonly Condition[] = previous?.conditions ?? [];
  for (const [type, c] of [
    ["Verified", verified],
    ["Applied", applied],
    ["Ready", ready],
  ] as const) {
    conditions = setCondition(conditions, { type, ...c, observedGeneration: generation }, now);
  }

  const base: ConsortiumManifestStatus = {
    ...previous,
    observedGeneration: generation,
    state: stateOf(outcome, previous),
    conditions: [...conditions],
  };
  if (!("report" in outcome)) return base;
  const { report } = outcome;
  const status: ConsortiumManifestStatus = {
    ...base,
    digest: report.hashes.digest,
    safeMessageHash: report.hashes.consortiumMessageHash,
    boardMessageHash: report.hashes.boardMessageHash,
    block: Number(report.block),
    approvalSummary: report.decision.summary,
    approvals: bounded(report.verdicts).map((v) => ({
      signer: v.signer ?? "0x0000000000000000000000000000000000000000",
      safe: v.safe,
      kind: v.kind,
      source: v.source,
      valid: v.valid,
      ...(v.reason ? { reason: v.reason.slice(0, 1024) } : {}),
    })),
    proposer: {
      agent: report.proposer.agent,
      ...(report.proposer.dsp ? { dsp: report.proposer.dsp } : {}),
      valid: report.proposer.valid,
      ...(report.proposer.reason ? { reason: report.proposer.reason } : {}),
    },
  };
  if (outcome.kind !== "applied") return status;
  return {
    ...status,
    appliedDigest: report.hashes.digest,
    appliedNonce: report.manifest.nonce,
    appliedTier: report.manifest.tier,
    appliedObjects: [...outcome.objects],
  };
}

/** The CRD's limit on status.approvals: a write beyond it fails, and appliedNonce with it. */
export const MAX_STATUS_APPROVALS = 256;

/**
 * The verdicts status can hold: the valid ones first (they are what the
 * decision counted), then the refused ones, up to the CRD's limit. The summary
 * and the Event say what was counted over all of them.
 */
function bounded(verdicts: VerificationReport["verdicts"]): VerificationReport["verdicts"] {
  if (verdicts.length <= MAX_STATUS_APPROVALS) return verdicts;
  return [...verdicts.filter((v) => v.valid), ...verdicts.filter((v) => !v.valid)].slice(
    0,
    MAX_STATUS_APPROVALS,
  );
}

/**
 * Whether writing `next` over `shown` would change nothing worth a write (and a watch event):
 * the block moves on every read and is left out, and keys are compared in any order, since the
 * API server returns them sorted and a status built here has them in the order it set them.
 */
export function sameStatus(
  shown: ConsortiumManifestStatus | undefined,
  next: ConsortiumManifestStatus,
): boolean {
  return sortedJson({ ...shown, block: undefined }) === sortedJson({ ...next, block: undefined });
}
