// Which manifest decisions become receipts, and what each says. Pure: a
// reconcile's outcome and the status before it in, a receipt (or none) out.
// A receipt marks a change, like an Event: a resync that decides what the
// last pass decided records nothing, so the log grows with decisions, not time.
import type { ConsortiumManifestStatus } from "../api/v1alpha1/consortium-manifest.ts";
import type { Json, ReceiptKind } from "../core/receipt/receipt.ts";
import { describeRef } from "./labels.ts";
import type { Outcome } from "./status.ts";

/** Objects named in one receipt at most; the count says how many there were. */
const MAX_REFS = 32;

export interface ManifestReceipt {
  readonly kind: ReceiptKind;
  readonly details: Record<string, Json>;
}

export function manifestReceipt(
  previous: ConsortiumManifestStatus | undefined,
  next: ConsortiumManifestStatus,
  outcome: Outcome,
): ManifestReceipt | undefined {
  if (!("report" in outcome)) return undefined; // no verification took place: nothing was decided
  if (outcome.kind === "apply-failed") return undefined; // a failure to act, retried; not a decision
  const { report } = outcome;
  const reason = (s: ConsortiumManifestStatus | undefined) =>
    s?.conditions?.find((c) => c.type === "Verified")?.reason;
  const same =
    previous?.state === next.state &&
    previous?.digest === next.digest &&
    previous?.appliedDigest === next.appliedDigest &&
    reason(previous) === reason(next);
  if (same) return undefined;
  const d = report.decision;
  const base: Record<string, Json> = {
    digest: report.hashes.digest,
    nonce: report.manifest.nonce,
    tier: report.manifest.tier,
    block: report.block.toString(),
    reason: d.reason,
    approvals: d.summary,
    dspApprovers: [...d.dsp.approvers],
    boardApprovers: [...d.board.approvers],
    state: next.state ?? "Pending",
  };
  if (!d.verified)
    return { kind: "manifest.refused", details: { ...base, message: d.message.slice(0, 1024) } };
  if (
    outcome.kind === "applied" &&
    previous?.appliedDigest !== report.hashes.digest &&
    outcome.objects.length > 0
  )
    return {
      kind: "manifest.applied",
      details: {
        ...base,
        objects: outcome.objects.slice(0, MAX_REFS).map(describeRef),
        objectCount: outcome.objects.length,
        pruned: outcome.pruned.slice(0, MAX_REFS).map(describeRef),
      },
    };
  // A withdrawal in effect: what it pruned here, as a local delete's receipt says it.
  if (
    outcome.kind === "applied" &&
    report.manifest.action === "withdraw" &&
    previous?.appliedDigest !== report.hashes.digest
  )
    return {
      kind: "manifest.pruned",
      details: {
        ...base,
        action: "withdraw",
        pruned: outcome.pruned.slice(0, MAX_REFS).map(describeRef),
        prunedCount: outcome.pruned.length,
      },
    };
  if (outcome.kind === "superseded")
    return { kind: "manifest.refused", details: { ...base, message: outcome.message } };
  return {
    kind: "manifest.verified",
    details: { ...base, ...("message" in outcome ? { message: outcome.message.slice(0, 1024) } : {}) },
  };
}
