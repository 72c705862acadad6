// ConsortiumManifest: Kubernetes objects that the Consortium Safe approves as
// one unit, for a tier and a set of target regions.
import {
  array,
  boolean,
  embeddedResource,
  integer,
  literal,
  object,
  optional,
  string,
  type Infer,
} from "../schema.ts";
import { address, bytes32, condition, hexBytes, region, tier } from "./fields.ts";

const MANIFEST_ACTIONS = ["apply", "resume", "policy", "withdraw"] as const;
export type ManifestAction = (typeof MANIFEST_ACTIONS)[number];

/** Which Safe's message a signature signs: the Consortium's or the DAO Board's. */
const SIGNED_SAFES = ["consortium", "board"] as const;
export type SignedSafe = (typeof SIGNED_SAFES)[number];

/** Inline approvals a spec may carry: the federation state holds no more per version (state/validate.ts). */
export const MAX_INLINE_SIGNATURES = 64;
/** The most objects one version holds (spec.objects, status.appliedObjects). */
const MAX_OBJECTS = 256;
/** spec.objects: also what a spec read back from the spec store is checked against. */
export const manifestObjects = array(embeddedResource(), { maxItems: MAX_OBJECTS });

export const consortiumManifestSpec = object({
  tier: tier().describe("critical, upgrade or operational: how many approvals it needs."),
  action: optional(
    literal(...MANIFEST_ACTIONS)
      .describe(
        "apply (the default) applies objects; resume lifts a guardian pause; policy changes the federation's tier policy (both critical only); withdraw, a newer version with no objects at the tier of the one it replaces or higher, prunes what the manifest applied in every region.",
      )
      .withDefault("apply"),
  ),
  targets: array(region(), { minItems: 1, maxItems: 16, listType: "set" }).describe(
    "Regions that apply the objects. An operator applies only to its own cluster.",
  ),
  nonce: integer({ minimum: 1 }).describe(
    "Raise it with every change; a lower nonce never replaces a higher one.",
  ),
  expiresAt: string({ format: "date-time" }).describe("Approvals are refused after this time (RFC 3339)."),
  objects: manifestObjects.describe("The Kubernetes objects to apply, as written."),
  signatures: optional(
    array(
      object({
        safe: literal(...SIGNED_SAFES).describe("The Safe whose message this signs."),
        data: hexBytes().describe("One Safe signature (r, s, v and any contract-signature data)."),
      }),
      { maxItems: MAX_INLINE_SIGNATURES },
    ).describe("Optional inline approvals; each is verified on chain like any other."),
  ),
  proposal: object({
    agent: address().describe("The proposing agent: it must hold a soulbound agent token bound to a DSP."),
    signature: hexBytes().describe("The agent's EIP-712 signature of the manifest's typed message."),
  }),
})
  .rule("self.action != 'resume' || self.tier == 'critical'", "a resume must be critical tier", ".tier")
  .rule(
    "self.action != 'policy' || self.tier == 'critical'",
    "a policy change must be critical tier",
    ".tier",
  )
  .rule(
    "self.action == 'resume' || self.action == 'withdraw' || size(self.objects) > 0",
    "an apply needs at least one object",
    ".objects",
  )
  .rule(
    "self.action != 'withdraw' || size(self.objects) == 0",
    "a withdraw holds no objects: it prunes what the versions before it applied",
    ".objects",
  );

const approval = object({
  signer: address(),
  safe: literal(...SIGNED_SAFES),
  kind: literal("ecdsa", "eth_sign", "approved_hash", "contract", "unknown"),
  source: literal("inline", "safe-service", "chain"),
  valid: boolean(),
  reason: optional(string({ maxLength: 1024 })),
});

const objectReference = object({
  apiVersion: string(),
  kind: string(),
  namespace: optional(string()),
  name: string(),
});

export const MANIFEST_STATES = [
  "Pending",
  "Verified",
  "Applied",
  "Withdrawn",
  "Refused",
  "Expired",
  "Paused",
] as const;

export const consortiumManifestStatus = object({
  observedGeneration: optional(integer({ minimum: 0 })),
  state: optional(literal(...MANIFEST_STATES)),
  digest: optional(bytes32()),
  safeMessageHash: optional(bytes32()),
  boardMessageHash: optional(bytes32()),
  block: optional(integer({ minimum: 0 })),
  approvalSummary: optional(string({ maxLength: 64 })),
  approvals: optional(array(approval, { maxItems: 256 })),
  proposer: optional(
    object({ agent: address(), dsp: optional(address()), valid: boolean(), reason: optional(string()) }),
  ),
  appliedDigest: optional(bytes32()),
  appliedNonce: optional(integer({ minimum: 0 })),
  appliedTier: optional(
    tier().describe("The tier of the version applied: a newer version may not be lower."),
  ),
  appliedObjects: optional(array(objectReference, { maxItems: MAX_OBJECTS })),
  regions: optional(
    array(
      object({
        region: string(),
        state: string({ maxLength: 32 }),
        nonce: optional(integer({ minimum: 0 })),
      }),
      { maxItems: 16 },
    ),
  ),
  /** e.g. "alpha ✓ beta ✓ gamma pending", for the kubectl column. */
  regionSummary: optional(string({ maxLength: 256 })),
  conditions: optional(array(condition(), { maxItems: 16 })),
});

export type ConsortiumManifestSpec = Infer<typeof consortiumManifestSpec>;
export type ConsortiumManifestStatus = Infer<typeof consortiumManifestStatus>;
export type Approval = Infer<typeof approval>;
export type ObjectReference = Infer<typeof objectReference>;
