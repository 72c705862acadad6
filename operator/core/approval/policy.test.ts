import fc from "fast-check";
import { getAddress, type Address } from "viem";
import { describe, expect, it } from "vitest";
import { TIERS, type Tier } from "../../api/v1alpha1/fields.ts";
import { DEFAULT_TIERS } from "../../api/v1alpha1/federation.ts";
import { decide, effectivePolicy, safeProblem, type DecisionInput, type Verdict } from "./policy.ts";

const addr = (n: number): Address => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const dsps = [addr(0xa1), addr(0xb2), addr(0xc3)];
const boardOwners = [addr(0xd4), addr(0xe5)];
const strangers = [addr(0xf6), addr(0xf7)];

const verdict = (
  safe: "consortium" | "board",
  signer: Address,
  valid = true,
  source: Verdict["source"] = "inline",
): Verdict => ({
  safe,
  signer,
  kind: "contract",
  source,
  valid,
});

const input = (tier: Tier, verdicts: Verdict[], overrides: Partial<DecisionInput> = {}): DecisionInput => ({
  tier,
  safeProblems: [],
  policy: DEFAULT_TIERS,
  owners: { consortium: dsps, board: boardOwners },
  verdicts,
  now: 1_000,
  expiresAt: 2_000,
  nonce: 5,
  digest: "0xd1",
  applied: undefined,
  floor: undefined,
  proposer: { valid: true },
  ...overrides,
});

const subsets = <T>(items: readonly T[]): T[][] =>
  items.reduce<T[][]>((all, item) => [...all, ...all.map((s) => [...s, item])], [[]]);

describe("the tier decision", () => {
  it("accepts exactly at each tier's threshold, for every combination of signers", () => {
    for (const tier of TIERS) {
      const need = DEFAULT_TIERS[tier];
      for (const signing of subsets(dsps)) {
        for (const boardSigning of subsets(boardOwners)) {
          const verdicts = [
            ...signing.map((s) => verdict("consortium", s)),
            ...boardSigning.map((s) => verdict("board", s)),
          ];
          const d = decide(input(tier, verdicts));
          const expected = signing.length >= need.dspApprovals && boardSigning.length >= need.boardApprovals;
          expect(d.verified, `${tier} ${String(signing.length)}+${String(boardSigning.length)}`).toBe(
            expected,
          );
          expect(d.reason).toBe(expected ? "Verified" : "InsufficientApprovals");
        }
      }
    }
  });

  it("says what is missing, as a person reads it", () => {
    const d = decide(input("upgrade", [verdict("consortium", dsps[0] as Address)]));
    expect(d.message).toBe("1 of 2 DSP approvals for tier upgrade (owners at this block: 3)");
    expect(d.summary).toBe("1/2");
    const critical = decide(
      input(
        "critical",
        dsps.map((s) => verdict("consortium", s)),
      ),
    );
    expect(critical.message).toBe("0 of 1 DAO Board approvals");
    expect(critical.summary).toBe("3/3+0/1");
  });

  it("counts a signer once, however many valid signatures it sent", () => {
    const a = dsps[0] as Address;
    const d = decide(
      input("upgrade", [
        verdict("consortium", a),
        verdict("consortium", a, true, "chain"),
        verdict("consortium", a, true, "safe-service"),
      ]),
    );
    expect(d.dsp.approvers).toEqual([a]);
    expect(d.verified).toBe(false);
  });

  it("stops counting a DSP rotated out of the Consortium Safe", () => {
    const verdicts = dsps.slice(0, 2).map((s) => verdict("consortium", s));
    expect(decide(input("upgrade", verdicts)).verified).toBe(true);
    const rotated = {
      consortium: [dsps[1] as Address, dsps[2] as Address, strangers[0] as Address],
      board: boardOwners,
    };
    const d = decide(input("upgrade", verdicts, { owners: rotated }));
    expect(d.verified).toBe(false);
    expect(d.dsp.approvers).toEqual([dsps[1]]);
  });

  it("refuses expired approvals, a lower nonce and an invalid proposer, however many approvals", () => {
    const all = [
      ...dsps.map((s) => verdict("consortium", s)),
      ...boardOwners.map((s) => verdict("board", s)),
    ];
    expect(decide(input("operational", all, { now: 2_000 })).reason).toBe("Expired");
    const applied = (nonce: number, digest = "0xd0") => ({
      applied: { nonce, digest, tier: "operational" as const },
    });
    expect(decide(input("operational", all, applied(6))).reason).toBe("NonceRegression");
    expect(decide(input("operational", all, applied(4))).verified).toBe(true);
    // An applied nonce is final: another version with it is refused; the same version is not.
    expect(decide(input("operational", all, applied(5))).message).toMatch(/applied already as digest 0xd0/);
    expect(decide(input("operational", all, applied(5, "0xd1"))).verified).toBe(true);
    expect(
      decide(input("operational", all, { proposer: { valid: false, reason: "no agent token" } })).message,
    ).toMatch(/no agent token/);
  });

  it("refuses, whatever the approvals, when a Safe cannot judge signatures: by version, or by accepting a forgery", () => {
    const all = [
      ...dsps.map((s) => verdict("consortium", s)),
      ...boardOwners.map((s) => verdict("board", s)),
    ];
    const identity = { safe: "consortium" as const, address: dsps[0] as Address, refusesForgery: true };
    expect(safeProblem({ ...identity, version: "1.5.0" }, 7n)).toBeUndefined();
    const old = safeProblem({ ...identity, version: "1.4.1" }, 7n);
    expect(old).toMatch(
      /the Consortium Safe 0x\w+ at block 7 is Safe "1.4.1"; this operator verifies only Safe 1.5.0/,
    );
    expect(safeProblem({ ...identity, version: undefined }, 7n)).toMatch(/has no VERSION\(\): not a Safe/);
    expect(safeProblem({ ...identity, version: "1.5.0", refusesForgery: false }, 7n)).toMatch(
      /accepted a signature nobody made/,
    );
    const d = decide(input("operational", all, { safeProblems: [old as string] }));
    expect(d).toMatchObject({ verified: false, reason: "UnsupportedSafe" });
    expect(d.message).toContain("1.4.1");
  });

  it("refuses a manifest below its floor, and a newer version below the tier it replaces, naming both", () => {
    const all = [
      ...dsps.map((s) => verdict("consortium", s)),
      ...boardOwners.map((s) => verdict("board", s)),
    ];
    const floor = {
      tier: "critical" as const,
      object: "ClusterRoleBinding pwn",
      why: "RBAC decides who may do what",
    };
    const below = decide(input("operational", all, { floor }));
    expect(below).toMatchObject({ verified: false, reason: "BelowTierFloor" });
    expect(below.message).toBe(
      "ClusterRoleBinding pwn needs tier critical (RBAC decides who may do what); the manifest is labelled operational: raise spec.tier to critical",
    );
    expect(decide(input("critical", all, { floor })).verified).toBe(true);

    const applied = { nonce: 4, digest: "0xd0", tier: "upgrade" as const };
    const lower = decide(input("operational", all, { applied }));
    expect(lower).toMatchObject({ verified: false, reason: "TierRegression" });
    expect(lower.message).toMatch(
      /tier operational is below tier upgrade of the version it replaces \(nonce 4\)/,
    );
    expect(decide(input("upgrade", all, { applied })).verified).toBe(true);
    expect(decide(input("critical", all, { applied })).verified).toBe(true);
    // The version in place itself is not a regression of itself.
    expect(
      decide(input("operational", all, { applied: { ...applied, nonce: 5, digest: "0xd1" } })).verified,
    ).toBe(true);
  });

  it("takes a region's own tiers only where they are stricter than the federation's", () => {
    const loose = { dspApprovals: 1, boardApprovals: 0 };
    const strict = { dspApprovals: 3, boardApprovals: 2 };
    expect(effectivePolicy(DEFAULT_TIERS, { critical: loose, upgrade: loose, operational: loose })).toEqual(
      DEFAULT_TIERS,
    );
    expect(effectivePolicy(DEFAULT_TIERS, { critical: strict, upgrade: strict, operational: loose })).toEqual(
      {
        critical: { dspApprovals: 3, boardApprovals: 2 },
        upgrade: { dspApprovals: 3, boardApprovals: 2 },
        operational: DEFAULT_TIERS.operational,
      },
    );
    expect(effectivePolicy(DEFAULT_TIERS, undefined)).toBe(DEFAULT_TIERS);
    // A tier left out follows the federation's.
    expect(effectivePolicy(DEFAULT_TIERS, { upgrade: strict })).toEqual({
      ...DEFAULT_TIERS,
      upgrade: strict,
    });
  });

  it("never passes on hostile sets: invalid, foreign, misattributed or duplicated signatures add nothing", () => {
    const anyone = fc.constantFrom(...dsps, ...boardOwners, ...strangers);
    const hostileVerdict = fc.record({
      safe: fc.constantFrom("consortium" as const, "board" as const),
      signer: fc.option(anyone, { nil: undefined }),
      kind: fc.constantFrom(
        "ecdsa" as const,
        "eth_sign" as const,
        "approved_hash" as const,
        "contract" as const,
        "unknown" as const,
      ),
      source: fc.constantFrom("inline" as const, "safe-service" as const, "chain" as const),
      valid: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...TIERS),
        fc.array(hostileVerdict, { maxLength: 24 }),
        (tier, verdicts) => {
          const d = decide(input(tier, verdicts));
          const proven = (safe: "consortium" | "board", owners: Address[]) =>
            new Set(
              verdicts
                .filter((v) => v.safe === safe && v.valid && v.signer && owners.includes(v.signer))
                .map((v) => v.signer),
            ).size;
          const expected =
            proven("consortium", dsps) >= DEFAULT_TIERS[tier].dspApprovals &&
            proven("board", boardOwners) >= DEFAULT_TIERS[tier].boardApprovals;
          expect(d.verified).toBe(expected);
          // Adding invalid or foreign signatures never turns a refusal into an approval.
          const padded = [
            ...verdicts,
            ...strangers.map((s) => verdict("consortium", s)),
            verdict("consortium", dsps[0] as Address, false),
          ];
          if (!expected) expect(decide(input(tier, padded)).verified).toBe(false);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
