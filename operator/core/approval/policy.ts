// The approval decision: given what each candidate signature proved (on chain,
// at one pinned block) and who the owners were at that block, does the
// manifest meet its tier? Pure: no clock, no chain, no Kubernetes.
import { getAddress, type Address } from "viem";
import type { SignedSafe } from "../../api/v1alpha1/consortium-manifest.ts";
import type { Tier } from "../../api/v1alpha1/fields.ts";
import type { LocalTiers, TierPolicy } from "../../api/v1alpha1/federation.ts";
import type { SignatureKind } from "./signatures.ts";
import { tierRank, type Floor } from "./tier-floor.ts";

export type ApprovalSource = "inline" | "safe-service" | "chain";

/** One candidate approval after verification. */
export interface Verdict {
  readonly safe: SignedSafe;
  readonly signer: Address | undefined;
  readonly kind: SignatureKind | "unknown";
  readonly source: ApprovalSource;
  readonly valid: boolean;
  readonly reason?: string;
}

export interface Owners {
  readonly consortium: readonly Address[];
  readonly board: readonly Address[];
}

/** The Safe versions whose checkNSignatures this verifier calls as it means to. */
export const SUPPORTED_SAFE_VERSIONS: readonly string[] = ["1.5.0"];

/** What the chain says about a Safe that decides whether it can judge a signature. */
export interface SafeIdentity {
  readonly safe: SignedSafe;
  readonly address: Address;
  readonly version: string | undefined;
  readonly refusesForgery: boolean;
}

/**
 * Why this Safe's checkNSignatures cannot be taken as a judgement, or
 * undefined. Safe 1.4.1's function has another selector, so our call lands in
 * its fallback, and with no handler set that returns empty success for any
 * signature: a Safe is refused by its version, and by behaviour when it
 * accepts a signature nobody made.
 */
export function safeProblem(identity: SafeIdentity, block: bigint): string | undefined {
  const which = identity.safe === "consortium" ? "the Consortium Safe" : "the DAO Board Safe";
  const at = `${which} ${identity.address} at block ${block.toString()}`;
  if (identity.version === undefined)
    return `${at} has no VERSION(): not a Safe; this operator verifies Safe ${SUPPORTED_SAFE_VERSIONS.join(", ")}`;
  if (!SUPPORTED_SAFE_VERSIONS.includes(identity.version))
    return `${at} is Safe ${JSON.stringify(identity.version).slice(0, 40)}; this operator verifies only Safe ${SUPPORTED_SAFE_VERSIONS.join(", ")}`;
  if (!identity.refusesForgery)
    return `${at} accepted a signature nobody made: its checkNSignatures judges nothing`;
  return undefined;
}

/** The version in place: its nonce is final, and a newer version may not lower its tier. */
export interface AppliedVersion {
  readonly nonce: number;
  readonly digest: string;
  /** Unknown when neither status nor the federation state says (applied by an older operator). */
  readonly tier: Tier | undefined;
}

/** The version a manifest's status says is applied in this region, if it says one. */
export function appliedInStatus(
  status: { appliedNonce?: number; appliedDigest?: string; appliedTier?: Tier } | undefined,
): AppliedVersion | undefined {
  if (status?.appliedNonce === undefined || status.appliedDigest === undefined) return undefined;
  return { nonce: status.appliedNonce, digest: status.appliedDigest, tier: status.appliedTier };
}

/**
 * The policy a region decides by: the federation's, made stricter (never
 * looser) by the region's own Federation spec, tier by tier. A region's admin
 * who lowers `spec.tiers` changes nothing; one who raises them only holds
 * their own region back.
 */
export function effectivePolicy(federation: TierPolicy, local: LocalTiers | undefined): TierPolicy {
  if (!local) return federation;
  const stricter = (tier: Tier) => ({
    dspApprovals: Math.max(federation[tier].dspApprovals, local[tier]?.dspApprovals ?? 0),
    boardApprovals: Math.max(federation[tier].boardApprovals, local[tier]?.boardApprovals ?? 0),
  });
  return {
    critical: stricter("critical"),
    upgrade: stricter("upgrade"),
    operational: stricter("operational"),
  };
}

/** The tiers where a region's own policy is stricter than the federation's. */
export function stricterTiers(federation: TierPolicy, local: LocalTiers | undefined): Tier[] {
  if (!local) return [];
  return (["critical", "upgrade", "operational"] as const).filter(
    (t) =>
      (local[t]?.dspApprovals ?? 0) > federation[t].dspApprovals ||
      (local[t]?.boardApprovals ?? 0) > federation[t].boardApprovals,
  );
}

export interface DecisionInput {
  readonly tier: Tier;
  /** Reasons the Safes cannot judge signatures (safeProblem); any one refuses the manifest. */
  readonly safeProblems: readonly string[];
  readonly policy: TierPolicy;
  readonly owners: Owners;
  readonly verdicts: readonly Verdict[];
  /** Unix seconds: the pinned block's timestamp, so expiry is the chain's clock. */
  readonly now: number;
  readonly expiresAt: number;
  readonly nonce: number;
  readonly digest: string;
  /** The version this manifest has applied in this region, if any. */
  readonly applied: AppliedVersion | undefined;
  /** The highest floor of the manifest's objects (tier-floor.ts). */
  readonly floor: Floor | undefined;
  readonly proposer: { readonly valid: boolean; readonly reason?: string };
}

export type DecisionReason =
  | "Verified"
  | "UnsupportedSafe"
  | "Expired"
  | "NonceRegression"
  | "BelowTierFloor"
  | "TierRegression"
  | "InvalidProposer"
  | "InsufficientApprovals";

export interface Decision {
  readonly verified: boolean;
  readonly reason: DecisionReason;
  readonly message: string;
  /** e.g. "2/2", or "3/3+1/1" when the Board counts. */
  readonly summary: string;
  readonly dsp: { readonly approvers: readonly Address[]; readonly required: number };
  readonly board: { readonly approvers: readonly Address[]; readonly required: number };
}

/** Distinct current owners of `safe` with at least one valid approval, in owner order. */
export function approvers(
  verdicts: readonly Verdict[],
  safe: SignedSafe,
  owners: readonly Address[],
): Address[] {
  const proven = new Set(
    verdicts
      .filter((v) => v.safe === safe && v.valid && v.signer)
      .map((v) => getAddress(v.signer as Address)),
  );
  return [...new Set(owners.map((o) => getAddress(o)))].filter((o) => proven.has(o));
}

export function decide(input: DecisionInput): Decision {
  const required = input.policy[input.tier];
  const dsp = {
    approvers: approvers(input.verdicts, "consortium", input.owners.consortium),
    required: required.dspApprovals,
  };
  const board = {
    approvers: approvers(input.verdicts, "board", input.owners.board),
    required: required.boardApprovals,
  };
  const summary =
    `${String(Math.min(dsp.approvers.length, dsp.required))}/${String(dsp.required)}` +
    (board.required > 0
      ? `+${String(Math.min(board.approvers.length, board.required))}/${String(board.required)}`
      : "");
  const result = (verified: boolean, reason: DecisionReason, message: string): Decision => ({
    verified,
    reason,
    message,
    summary,
    dsp,
    board,
  });

  if (input.safeProblems.length > 0) {
    return result(false, "UnsupportedSafe", input.safeProblems.join("; "));
  }
  if (input.now >= input.expiresAt) {
    return result(false, "Expired", `approvals expired at ${new Date(input.expiresAt * 1000).toISOString()}`);
  }
  const applied = input.applied;
  if (applied && input.nonce < applied.nonce) {
    return result(
      false,
      "NonceRegression",
      `nonce ${String(input.nonce)} is lower than the applied nonce ${String(applied.nonce)}; raise spec.nonce`,
    );
  }
  if (applied && input.nonce === applied.nonce && input.digest !== applied.digest) {
    return result(
      false,
      "NonceRegression",
      `nonce ${String(input.nonce)} is applied already as digest ${applied.digest}: an applied nonce is final; raise spec.nonce`,
    );
  }
  if (input.floor && tierRank(input.tier) < tierRank(input.floor.tier)) {
    return result(
      false,
      "BelowTierFloor",
      `${input.floor.object} needs tier ${input.floor.tier} (${input.floor.why}); the manifest is labelled ${input.tier}: raise spec.tier to ${input.floor.tier}`,
    );
  }
  if (applied?.tier && input.digest !== applied.digest && tierRank(input.tier) < tierRank(applied.tier)) {
    return result(
      false,
      "TierRegression",
      `tier ${input.tier} is below tier ${applied.tier} of the version it replaces (nonce ${String(applied.nonce)}): a newer version keeps the tier or raises it`,
    );
  }
  if (!input.proposer.valid) {
    return result(
      false,
      "InvalidProposer",
      `proposer not accepted: ${input.proposer.reason ?? "unknown reason"}`,
    );
  }
  const missing: string[] = [];
  if (dsp.approvers.length < dsp.required) {
    missing.push(
      `${String(dsp.approvers.length)} of ${String(dsp.required)} DSP approvals for tier ${input.tier}` +
        ` (owners at this block: ${String(input.owners.consortium.length)})`,
    );
  }
  if (board.approvers.length < board.required) {
    missing.push(`${String(board.approvers.length)} of ${String(board.required)} DAO Board approvals`);
  }
  if (dsp.required > input.owners.consortium.length) {
    missing.push(
      `tier ${input.tier} needs ${String(dsp.required)} DSPs but the Consortium Safe has ${String(input.owners.consortium.length)} owners`,
    );
  }
  if (missing.length > 0) return result(false, "InsufficientApprovals", missing.join("; "));
  return result(
    true,
    "Verified",
    `${String(dsp.approvers.length)} DSP${board.required > 0 ? ` + ${String(board.approvers.length)} Board` : ""} approvals meet tier ${input.tier}`,
  );
}
