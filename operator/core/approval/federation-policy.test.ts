import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ConsortiumManifestSpec } from "../../api/v1alpha1/consortium-manifest.ts";
import { DEFAULT_TIERS } from "../../api/v1alpha1/federation.ts";
import {
  BUILT_IN_POLICY,
  describePolicy,
  parsePolicy,
  POLICY_KIND,
  PolicyError,
  policyChange,
  policyStep,
  type AdoptedPolicy,
} from "./federation-policy.ts";
import { manifestFloor, objectFloor } from "./tier-floor.ts";

const tiers = {
  critical: { dspApprovals: 2, boardApprovals: 1 },
  upgrade: { dspApprovals: 2, boardApprovals: 0 },
  operational: { dspApprovals: 1, boardApprovals: 0 },
};
const base: ConsortiumManifestSpec = {
  tier: "critical",
  action: "policy",
  targets: ["alpha", "beta", "gamma"],
  nonce: 1,
  expiresAt: "2030-01-01T00:00:00Z",
  objects: [],
  proposal: { agent: "0x0000000000000000000000000000000000000001", signature: "0x" },
};
const policyObject = (spec: unknown) => ({
  apiVersion: "dsc.federation.dev/v1alpha1",
  kind: POLICY_KIND,
  metadata: { name: "federation" },
  spec,
});
const withPolicy = (spec: unknown, extra: Record<string, unknown>[] = []): ConsortiumManifestSpec => ({
  ...base,
  objects: [policyObject(spec), ...extra],
});

describe("the federation policy a manifest carries", () => {
  it("is read whole: tiers and the floors it raises", () => {
    expect(
      policyChange(withPolicy({ tiers, floors: [{ kind: "apps/Deployment", tier: "critical" }] })),
    ).toEqual({ policy: { tiers, floors: [{ kind: "apps/Deployment", tier: "critical" }] } });
  });

  it("names the field and the fix for every malformed policy", () => {
    const error = (spec: unknown) => {
      const result = policyChange(withPolicy(spec));
      return result && "error" in result ? result.error : undefined;
    };
    expect(error(undefined)).toMatch(/^spec\.objects\[0\]\.spec: a FederationPolicy needs a spec/);
    expect(error({ tiers: { ...tiers, upgrade: { dspApprovals: 0, boardApprovals: 0 } } })).toBe(
      "spec.objects[0].spec.tiers.upgrade.dspApprovals: 0 is not a whole number from 1 to 16",
    );
    expect(error({ tiers: { ...tiers, upgrade: { dspApprovals: 3, boardApprovals: 0 } } })).toMatch(
      /^spec\.objects\[0\]\.spec\.tiers: tiers must not weaken upwards: critical\.dspApprovals/,
    );
    // No single member acts alone at the critical and upgrade tiers, whatever the policy says.
    expect(error({ tiers: { ...tiers, critical: { dspApprovals: 3, boardApprovals: 0 } } })).toBe(
      "spec.objects[0].spec.tiers.critical: needs at least 2 DSP and 1 Board approvals: no single member acts alone",
    );
    expect(error({ tiers: { ...tiers, upgrade: { dspApprovals: 1, boardApprovals: 0 } } })).toBe(
      "spec.objects[0].spec.tiers.upgrade.dspApprovals: needs at least 2: no single DSP pushes code to every region",
    );
    expect(error({ tiers: { ...tiers, operational: { dspApprovals: 1, boardApprovals: 2 } } })).toMatch(
      /boardApprovals >= upgrade\.boardApprovals/,
    );
    expect(error({ tiers, floors: [{ kind: "Deployment", tier: "critical" }] })).toMatch(
      /^spec\.objects\[0\]\.spec\.floors\[0\]\.kind: "Deployment" is not group\/Kind/,
    );
    expect(error({ tiers, floors: [{ kind: "/ConfigMap", tier: "operational" }] })).toMatch(
      /floors\[0\]\.tier: "operational": a floor raises a kind to upgrade or critical/,
    );
    expect(
      error({
        tiers,
        floors: [
          { kind: "/ConfigMap", tier: "upgrade" },
          { kind: "/ConfigMap", tier: "critical" },
        ],
      }),
    ).toMatch(/floors\[1\]\.kind: \/ConfigMap is listed twice/);
    expect(error({ tiers, board: 0 })).toMatch(/\.board: unknown field/);
    expect(error({ tiers: { ...tiers, upgrade: { dspApprovals: 2.5, boardApprovals: 0 } } })).toMatch(
      /upgrade\.dspApprovals: 2\.5 is not a whole number/,
    );
  });

  it("belongs alone in a manifest whose action is policy, and only there", () => {
    expect(policyChange({ ...withPolicy({ tiers }), action: "apply" })).toEqual({
      error: "spec.objects[0]: a FederationPolicy belongs in a manifest whose action is policy",
    });
    expect(policyChange(withPolicy({ tiers }, [{ apiVersion: "v1", kind: "ConfigMap" }]))).toMatchObject({
      error: expect.stringMatching(/^spec\.objects: a policy manifest holds exactly one object/) as string,
    });
    expect(
      policyChange({ ...base, action: "apply", objects: [{ apiVersion: "v1", kind: "ConfigMap" }] }),
    ).toBe(undefined);
  });

  it("never throws on hostile objects, and a policy it accepts is well formed", () => {
    fc.assert(
      fc.property(
        fc.anything(),
        fc.constantFrom<"apply" | "resume" | "policy">("apply", "resume", "policy"),
        (spec, action) => {
          const result = policyChange({ ...withPolicy(spec), action });
          if (result && "policy" in result) {
            const t = result.policy.tiers;
            expect(t.critical.dspApprovals).toBeGreaterThanOrEqual(t.upgrade.dspApprovals);
            expect(t.operational.dspApprovals).toBeGreaterThanOrEqual(1);
          }
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.record({
          tiers: fc.record({
            critical: fc.record({
              dspApprovals: fc.integer({ min: -2, max: 20 }),
              boardApprovals: fc.integer({ min: -2, max: 20 }),
            }),
            upgrade: fc.record({
              dspApprovals: fc.integer({ min: -2, max: 20 }),
              boardApprovals: fc.integer({ min: -2, max: 20 }),
            }),
            operational: fc.record({
              dspApprovals: fc.integer({ min: -2, max: 20 }),
              boardApprovals: fc.integer({ min: -2, max: 20 }),
            }),
          }),
        }),
        (spec) => {
          try {
            const p = parsePolicy(spec, "spec");
            for (const tier of ["critical", "upgrade", "operational"] as const) {
              expect(p.tiers[tier].dspApprovals).toBeGreaterThanOrEqual(1);
              expect(p.tiers[tier].boardApprovals).toBeGreaterThanOrEqual(0);
            }
            expect(p.tiers.upgrade.boardApprovals).toBeGreaterThanOrEqual(p.tiers.operational.boardApprovals);
          } catch (error) {
            expect(error).toBeInstanceOf(PolicyError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("which policy is in force", () => {
  const adopted = (nonce: number, digest: string): AdoptedPolicy => ({
    policy: { tiers, floors: [] },
    manifest: "dsc/policy",
    nonce,
    digest,
  });

  const owners = { consortium: 3, board: 2 };
  const change = (nonce: number, digest: string, t = tiers) => ({
    nonce,
    digest,
    policy: { tiers: t, floors: [] },
  });

  it("adopts the next nonce only, keeps the one in force, and calls an older or reused nonce stale", () => {
    expect(policyStep(BUILT_IN_POLICY, change(1, "0x1"), owners)).toEqual({ kind: "adopt" });
    expect(policyStep(adopted(2, "0x2"), change(2, "0x2"), owners)).toEqual({ kind: "in-force" });
    expect(policyStep(adopted(2, "0x2"), change(2, "0x9"), owners)).toMatchObject({ kind: "stale" });
    expect(policyStep(adopted(2, "0x2"), change(1, "0x1"), owners)).toEqual({
      kind: "stale",
      message:
        "the federation policy in force came from dsc/policy at nonce 2; a policy change takes the next nonce, 3",
    });
    expect(policyStep(adopted(2, "0x2"), change(4, "0x4"), owners)).toEqual({
      kind: "waiting",
      message:
        "the federation policy in force came from dsc/policy at nonce 2; nonce 4 waits for the policy of nonce 3, under which it is verified",
    });
  });

  it("refuses a policy the Safes' owners could never meet, which would lock out every critical change", () => {
    const locked = { ...tiers, critical: { dspApprovals: 4, boardApprovals: 1 } };
    expect(policyStep(BUILT_IN_POLICY, change(1, "0x1", locked), owners)).toMatchObject({
      kind: "unworkable",
      message: expect.stringMatching(
        /asks 4 DSP and 1 Board approvals for critical, but the Safes have 3 and 2 owners/,
      ) as string,
    });
  });

  it("walks one chain whatever order the changes arrive in, so every region ends on the same policy", () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray([1, 2, 3, 4, 5, 6], { minLength: 6, maxLength: 6 }),
        fc.array(fc.nat(5), { maxLength: 30 }),
        (order, replays) => {
          // A region sees the changes in `order`, then again as resyncs pick them up (`replays`).
          let inForce = BUILT_IN_POLICY;
          const arrivals = [...order, ...replays.map((i) => order[i] ?? 1), 1, 2, 3, 4, 5, 6];
          for (const nonce of arrivals) {
            const step = policyStep(inForce, change(nonce, `0x${nonce.toString(16)}`), owners);
            if (step.kind === "adopt") {
              expect(nonce).toBe(inForce.nonce + 1); // judged under its predecessor, always
              inForce = adopted(nonce, `0x${nonce.toString(16)}`);
            }
          }
          expect(inForce.nonce).toBe(6);
        },
      ),
    );
  });

  it("says where it came from", () => {
    expect(describePolicy(BUILT_IN_POLICY)).toBe("built in (the seeds' policy)");
    expect(BUILT_IN_POLICY.policy.tiers).toBe(DEFAULT_TIERS);
    expect(
      describePolicy({
        ...adopted(3, "0x3"),
        policy: { tiers, floors: [{ kind: "apps/Deployment", tier: "critical" }] },
      }),
    ).toBe("manifest dsc/policy nonce 3; raised floors: apps/Deployment≥critical");
  });
});

describe("floors the policy raises", () => {
  const ctx = { operatorNamespace: "dsc-system", manifestNamespace: "apps" };
  const deployment = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" } };
  const configMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } };

  it("raise a kind above its built-in floor, and never lower one", () => {
    const raised = [
      { kind: "apps/Deployment", tier: "critical" as const },
      { kind: "rbac.authorization.k8s.io/Role", tier: "upgrade" as const },
    ];
    expect(objectFloor(deployment, { ...ctx, raised })).toEqual({
      tier: "critical",
      object: "Deployment apps/web",
      why: "the federation policy raises apps/Deployment to critical",
    });
    expect(objectFloor(configMap, { ...ctx, raised }).tier).toBe("operational");
    const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "r" } };
    expect(objectFloor(role, { ...ctx, raised }).tier).toBe("critical");
    expect(manifestFloor([configMap, deployment], { ...ctx, raised })?.tier).toBe("critical");
    expect(manifestFloor([configMap, deployment], ctx)?.tier).toBe("upgrade");
  });
});
