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
  const policies = spec.objects
    .map((o: unknown, i) => ({ o, i }))
    .filter(
      (x): x is { o: Record<string, unknown>; i: number } =>
        isRecord(x.o) && x.o.kind === POLICY_KIND && x.o.apiVersion === API_VERSION,
    );
  if ((spec.action ?? "apply") !== "policy") {
    const first = policies[0];
    return first
      ? {
          error: `spec.objects[${String(first.i)}]: a ${POLICY_KIND} belongs in a manifest whose action is policy`,
        }
      : undefined;
  }
  const only = policies[0];
  if (spec.objects.length !== 1 || !only)
    return { error: `spec.objects: a policy manifest holds exactly one object, ${example}` };
  try {
    return { policy: parsePolicy(only.o.spec, "spec.objects[0].spec") };
  } catch (error) {
    if (error instanceof PolicyError) return { error: error.message };
    throw error;
  }
}

/** What a region does with a verified policy manifest, given the policy in force. */
export type PolicyStep =
  | { readonly kind: "adopt" }
  /** It is the policy in force already. */
  | { readonly kind: "in-force" }
  /** A policy of this nonce or higher is in force: the change is stale. */
  | { readonly kind: "stale"; readonly message: string };

/**
 * The highest nonce wins, whatever order the regions see the policy manifests
 * in, so every region ends on the same policy; a nonce is used once.
 */
export function policyStep(inForce: AdoptedPolicy, change: { nonce: number; digest: string }): PolicyStep {
  if (inForce.digest === change.digest) return { kind: "in-force" };
  if (change.nonce > inForce.nonce) return { kind: "adopt" };
  return {
    kind: "stale",
    message: `the federation policy in force came from ${inForce.manifest ?? "the built-in policy"} at nonce ${String(inForce.nonce)}; a policy change needs a higher nonce than that`,
  };
}

/** The policy in one line, for status and `dsc status`. */
export function describePolicy(adopted: AdoptedPolicy): string {
  const from = adopted.manifest
    ? `manifest ${adopted.manifest} nonce ${String(adopted.nonce)}`
    : "built in (the seeds' policy)";
  const floors = adopted.policy.floors.map((f) => `${f.kind}≥${f.tier}`).join(", ");
  return floors ? `${from}; raised floors: ${floors}` : from;
}
