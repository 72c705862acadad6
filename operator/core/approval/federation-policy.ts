// The federation's policy: how many approvals each tier needs, and the floors
// that say which tier an object needs. It is one policy for every region, and
// it changes only through a critical manifest whose action is `policy`, which
// every region verifies itself under the policy in force before it adopts it.
// Until one is adopted, the policy is the seeds' (3+1 / 2 / 1, and the
// built-in floors of tier-floor.ts). A region's own Federation spec can only
// make it stricter (policy.ts, effectivePolicy). Pure: parsing, validation and
// the decision whether to adopt; the ledger that remembers it is state/.
import { DEFAULT_TIERS, type TierPolicy } from "../../api/v1alpha1/federation.ts";
import type { ConsortiumManifestSpec } from "../../api/v1alpha1/consortium-manifest.ts";
import { API_VERSION, TIERS, type Tier } from "../../api/v1alpha1/fields.ts";
import { actionObject } from "../manifest/action-object.ts";

export const POLICY_KIND = "FederationPolicy";
const MAX_FLOORS = 64;
const MAX_APPROVALS = 16;
/** `group/Kind`, the core group empty: `apps/Deployment`, `/ConfigMap`. */
const KIND = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)?\/[A-Za-z][A-Za-z0-9]{0,62}$/;

/** A floor the policy raises above the built-in one for one kind of object. */
export interface PolicyFloor {
  /** `group/Kind`, the core group empty: `apps/Deployment`, `/ConfigMap`. */
  readonly kind: string;
  readonly tier: Exclude<Tier, "operational">;
}

export interface FederationPolicy {
  readonly tiers: TierPolicy;
  /** Raise a kind's floor; the built-in floors are the least any kind gets. */
  readonly floors: readonly PolicyFloor[];
}

/** The policy in force and where it came from: the manifest that carried it, or the seeds'. */
export interface AdoptedPolicy {
  readonly policy: FederationPolicy;
  /** namespace/name of the policy manifest; undefined for the built-in policy. */
  readonly manifest?: string;
  readonly nonce: number;
  readonly digest?: string;
  /** ms: when this region adopted it. */
  readonly at?: number;
}

export const BUILT_IN_POLICY: AdoptedPolicy = {
  policy: { tiers: DEFAULT_TIERS, floors: [] },
  nonce: 0,
};

const example = `{apiVersion: ${API_VERSION}, kind: ${POLICY_KIND}, metadata: {name: federation}, spec: {tiers: {critical: {dspApprovals: 3, boardApprovals: 1}, upgrade: {dspApprovals: 2, boardApprovals: 0}, operational: {dspApprovals: 1, boardApprovals: 0}}, floors: [{kind: apps/Deployment, tier: critical}]}}`;

export class PolicyError extends Error {
  override name = "PolicyError";
}

/** JSON.stringify says nothing (undefined) for undefined, functions and symbols. */
const stringify = JSON.stringify as (value: unknown) => string | undefined;
const shown = (value: unknown): string => {
  try {
    return stringify(value) ?? "nothing";
  } catch {
    return "a value JSON cannot hold";
  }
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A FederationPolicy object's spec, checked field by field; throws a
 * PolicyError naming the field under `at` and what to write instead.
 */
export function parsePolicy(spec: unknown, at: string): FederationPolicy {
  const fail = (field: string, why: string): never => {
    throw new PolicyError(`${at}${field}: ${why}`);
  };
  if (!isRecord(spec)) return fail("", `a ${POLICY_KIND} needs a spec: ${example}`);
  const tiersIn = spec.tiers;
  if (!isRecord(tiersIn)) return fail(".tiers", "give critical, upgrade and operational");
  const count = (tier: Tier, field: "dspApprovals" | "boardApprovals", least: number): number => {
    const value = (tiersIn[tier] as Record<string, unknown> | undefined)?.[field];
    if (!Number.isSafeInteger(value) || (value as number) < least || (value as number) > MAX_APPROVALS)
      fail(
        `.tiers.${tier}.${field}`,
        `${shown(value)} is not a whole number from ${String(least)} to ${String(MAX_APPROVALS)}`,
      );
    return value as number;
  };
  const tiers = Object.fromEntries(
    TIERS.map((tier) => {
      if (!isRecord(tiersIn[tier])) fail(`.tiers.${tier}`, "give dspApprovals and boardApprovals");
      return [
        tier,
        { dspApprovals: count(tier, "dspApprovals", 1), boardApprovals: count(tier, "boardApprovals", 0) },
      ];
    }),
  ) as unknown as TierPolicy;
  // No single member acts alone where it matters: one DSP may not make a critical or upgrade
  // change, nor the DSPs a critical one without the Board.
  if (tiers.critical.dspApprovals < 2 || tiers.critical.boardApprovals < 1)
    fail(".tiers.critical", "needs at least 2 DSP and 1 Board approvals: no single member acts alone");
  if (tiers.upgrade.dspApprovals < 2)
    fail(".tiers.upgrade.dspApprovals", "needs at least 2: no single DSP pushes code to every region");
  for (const field of ["dspApprovals", "boardApprovals"] as const) {
    if (tiers.critical[field] < tiers.upgrade[field] || tiers.upgrade[field] < tiers.operational[field])
      fail(
        `.tiers`,
        `tiers must not weaken upwards: critical.${field} >= upgrade.${field} >= operational.${field}`,
      );
  }
  const floorsIn = spec.floors ?? [];
  if (!Array.isArray(floorsIn) || floorsIn.length > MAX_FLOORS)
    return fail(
      ".floors",
      `a list of at most ${String(MAX_FLOORS)} {kind: group/Kind, tier: upgrade|critical}`,
    );
  const seen = new Set<string>();
  const floors = floorsIn.map((floor: unknown, i): PolicyFloor => {
    const where = `.floors[${String(i)}]`;
    if (!isRecord(floor)) return fail(where, "write {kind: group/Kind, tier: upgrade|critical}");
    const { kind, tier } = floor;
    if (typeof kind !== "string" || !KIND.test(kind))
      fail(
        `${where}.kind`,
        `${shown(kind)} is not group/Kind (apps/Deployment; /ConfigMap for the core group)`,
      );
    if (tier !== "upgrade" && tier !== "critical")
      fail(`${where}.tier`, `${shown(tier)}: a floor raises a kind to upgrade or critical`);
    if (seen.has(kind as string)) fail(`${where}.kind`, `${kind as string} is listed twice`);
    seen.add(kind as string);
    return { kind: kind as string, tier: tier as PolicyFloor["tier"] };
  });
  const extra = Object.keys(spec).filter((k) => k !== "tiers" && k !== "floors");
  if (extra.length > 0) fail(`.${extra[0] ?? ""}`, "unknown field: a policy has tiers and floors");
  return { tiers, floors };
}

/**
 * The policy a manifest carries, or why it is not a well-formed policy
 * manifest (or why an apply or resume must not carry one). Never throws.
 */
export function policyChange(
  spec: ConsortiumManifestSpec,
): { readonly policy: FederationPolicy } | { readonly error: string } | undefined {
  const found = actionObject(spec, {
    action: "policy",
    kind: POLICY_KIND,
    noun: "a policy manifest",
    example,
  });
  if (!found || "error" in found) return found;
  try {
    return { policy: parsePolicy(found.object.spec, "spec.objects[0].spec") };
  } catch (error) {
    if (error instanceof PolicyError) return { error: error.message };
    throw error;
  }
}

/** What a region does with a policy manifest, given the policy in force. */
export type PolicyStep =
  | { readonly kind: "adopt" }
  /** It is the policy in force already (whatever its approvals count under the policy it brought). */
  | { readonly kind: "in-force" }
  /** It cannot be adopted, now or (for "waiting") until the policy before it is. */
  | { readonly kind: "stale" | "waiting" | "unworkable"; readonly message: string };

/** How many owners each Safe has at the pinned block. */
export interface OwnerCounts {
  readonly consortium: number;
  readonly board: number;
}

/**
 * Policies form one chain: a policy of nonce N+1 is verified under the one of
 * nonce N and adopted only once N is in force, so every region verifies each
 * change under the same policy, whatever order it sees them in, and ends on
 * the same one. A nonce is used once: a second policy at a nonce in force, or
 * below it, is stale. A policy the Safes cannot meet (more approvals than
 * owners) would lock the federation out of every critical change, this one's
 * successor included, so it is refused.
 */
export function policyStep(
  inForce: AdoptedPolicy,
  change: { readonly nonce: number; readonly digest: string; readonly policy: FederationPolicy },
  owners: OwnerCounts,
): PolicyStep {
  if (inForce.digest === change.digest) return { kind: "in-force" };
  const from = inForce.manifest
    ? `${inForce.manifest} at nonce ${String(inForce.nonce)}`
    : "the built-in policy (nonce 0)";
  if (change.nonce <= inForce.nonce)
    return {
      kind: "stale",
      message: `the federation policy in force came from ${from}; a policy change takes the next nonce, ${String(inForce.nonce + 1)}`,
    };
  if (change.nonce > inForce.nonce + 1)
    return {
      kind: "waiting",
      message: `the federation policy in force came from ${from}; nonce ${String(change.nonce)} waits for the policy of nonce ${String(inForce.nonce + 1)}, under which it is verified`,
    };
  const critical = change.policy.tiers.critical;
  if (critical.dspApprovals > owners.consortium || critical.boardApprovals > owners.board)
    return {
      kind: "unworkable",
      message: `the policy asks ${String(critical.dspApprovals)} DSP and ${String(critical.boardApprovals)} Board approvals for critical, but the Safes have ${String(owners.consortium)} and ${String(owners.board)} owners at this block: no critical change, the next policy included, could pass`,
    };
  return { kind: "adopt" };
}

/** The status field's limit (api/v1alpha1/federation.ts). */
const MAX_DESCRIPTION = 2048;

/** The policy in one line, for status and `dsc status`, within the status field's limit. */
export function describePolicy(adopted: AdoptedPolicy): string {
  const from = adopted.manifest
    ? `manifest ${adopted.manifest} nonce ${String(adopted.nonce)}`
    : "built in (the seeds' policy)";
  const floors = adopted.policy.floors.map((f) => `${f.kind}≥${f.tier}`).join(", ");
  const text = floors ? `${from}; raised floors: ${floors}` : from;
  return text.length <= MAX_DESCRIPTION ? text : `${text.slice(0, MAX_DESCRIPTION - 1)}…`;
}
