import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ConsortiumManifestStatus } from "../api/v1alpha1/consortium-manifest.ts";
import type { ChainPause } from "../chain/reader.ts";
import type { ActivePause } from "../state/readers.ts";
import { plan, type AppliedMemo, type PlanInput } from "./plan.ts";

const DIGEST = `0x${"ab".repeat(32)}`;
/** The GuardianPause contract the Federation names, and one it named before. */
const C = { chainId: 31337, address: "0x00000000000000000000000000000000000000A1" } as const;
const BEFORE = { chainId: 31337, address: "0x00000000000000000000000000000000000000b2" } as const;
/** A read of the GuardianPause contract named now, at block 10, with no pause on record. */
const chainRead = (over: Partial<ChainPause> = {}): ChainPause => ({
  contract: C,
  block: 10n,
  paused: false,
  id: 0n,
  guardian: "0x0",
  evidence: "0x00",
  at: 0,
  ...over,
});
const tokenOf = (id: number, contract: { address: string } = C): string =>
  `chain-31337-${contract.address.toLowerCase()}-${String(id)}`;
const OTHER = `0x${"cd".repeat(32)}`;
const pauseOf = (token: string, at = 1_000): ActivePause => ({
  token,
  region: "beta",
  source: "agent",
  by: "0xagent",
  dsp: "0xdsp",
  severity: "critical",
  evidence: `0x${"00".repeat(32)}`,
  reason: "breach",
  at,
  regions: ["beta"],
});
const memo = (over: Partial<AppliedMemo> = {}): AppliedMemo => ({
  digest: DIGEST,
  generation: 3,
  at: 10_000,
  objects: [],
  pruned: [],
  ...over,
});
const base = (over: Partial<PlanInput> = {}): PlanInput => ({
  verified: true,
  region: "alpha",
  targets: ["alpha", "beta"],
  resume: undefined,
  block: 10n,
  pause: { pauses: [], chain: undefined, contract: undefined, lifted: () => false },
  digest: DIGEST,
  generation: 3,
  previous: undefined,
  memo: undefined,
  now: 20_000,
  resyncMs: 300_000,
  ...over,
});
const applied: ConsortiumManifestStatus = { state: "Applied", appliedDigest: DIGEST, observedGeneration: 3 };

describe("plan", () => {
  it("refuses what is not verified, before anything else", () => {
    expect(plan(base({ verified: false, targets: [] })).kind).toBe("refuse");
  });

  it("prunes in a region the manifest no longer targets, but not while paused", () => {
    expect(plan(base({ targets: ["beta"] })).kind).toBe("prune-not-targeted");
    const pause = { pauses: [pauseOf("t1")], chain: undefined, contract: undefined, lifted: () => false };
    const held = plan(base({ targets: ["beta"], pause }));
    expect(held).toMatchObject({ kind: "hold", inPlace: false });
    expect(held.kind === "hold" && held.message).toContain("nothing is pruned");
  });

  it("applies a verified version when nothing holds it back", () => {
    expect(plan(base()).kind).toBe("apply");
  });

  it("holds a new version back while paused, and leaves the one in place alone", () => {
    const pause = { pauses: [pauseOf("t1")], chain: undefined, contract: undefined, lifted: () => false };
    const held = plan(base({ pause, previous: { ...applied, appliedDigest: OTHER } }));
    expect(held).toMatchObject({ kind: "hold", inPlace: false });
    expect(held.kind === "hold" && held.message).toContain("token t1");
    expect(plan(base({ pause, previous: applied }))).toMatchObject({ kind: "hold", inPlace: true });
    // A withdrawal in effect is in place too: a pause writes nothing for it.
    expect(plan(base({ pause, previous: { ...applied, state: "Withdrawn" } }))).toMatchObject({
      kind: "hold",
      inPlace: true,
    });
  });

  it("refreshes status only when this process applied the same digest and generation within a resync", () => {
    expect(plan(base({ memo: memo() }))).toEqual({ kind: "refresh", memo: memo(), requeueAfter: 290_000 });
    expect(plan(base({ memo: memo({ digest: OTHER }) })).kind).toBe("apply");
    expect(plan(base({ memo: memo({ generation: 2 }) })).kind).toBe("apply");
    expect(plan(base({ memo: memo({ at: -400_000 }) })).kind).toBe("apply");
  });

  it("hands a verified policy manifest to the policy ledger whatever the targets or the pause (it deletes nothing)", () => {
    const pause = { pauses: [pauseOf("t1")], chain: undefined, contract: undefined, lifted: () => false };
    const step = { kind: "adopt" } as const;
    expect(plan(base({ policy: step, targets: ["beta"], pause }))).toEqual({ kind: "policy", step });
    expect(plan(base({ policy: step, verified: false })).kind).toBe("refuse");
  });

  describe("a resume", () => {
    it("is held where the region keeps no federation state", () => {
      expect(plan(base({ resume: ["t1"], pause: undefined })).kind).toBe("resume-held");
    });

    it("is done once every token it names is lifted, whatever pauses came after", () => {
      const pause = {
        pauses: [pauseOf("later")],
        chain: undefined,
        contract: undefined,
        lifted: (t: string) => t === "t1",
      };
      expect(plan(base({ resume: ["t1"], pause })).kind).toBe("resume-done");
    });

    it("waits for the Board's unpause while the chain is paused", () => {
      const chain = chainRead({ paused: true, id: 7n, block: 10n });
      const held = plan(
        base({
          resume: ["t1"],
          pause: { pauses: [pauseOf("t1")], chain, contract: C, lifted: () => false },
        }),
      );
      expect(held.kind).toBe("resume-held");
      expect(held.kind === "resume-held" && held.message).toContain("unpause(7)");
    });

    it("waits for a chain pause this region took from a peer until its own read of the chain has seen it", () => {
      // The pause came through the federation state; this region's last read predates it.
      const before = chainRead({ paused: false, id: 2n, block: 10n });
      const pause = { pauses: [pauseOf(tokenOf(3))], chain: before, contract: C, lifted: () => false };
      const held = plan(base({ resume: [tokenOf(3)], pause }));
      expect(held.kind).toBe("resume-held");
      expect(held.kind === "resume-held" && held.message).toContain("pause 3");
      // Once it read pause 3 on chain, and its unpause, the resume goes ahead.
      const unpaused = { ...before, id: 3n };
      expect(plan(base({ resume: [tokenOf(3)], pause: { ...pause, chain: unpaused } })).kind).toBe("resume");
    });

    it("does not hold a token of the release before (chain-<id>, no contract) for a pause id the contract has not reached", () => {
      // Its contract may be one the DAO has replaced since (ids start again at 1): held, it could
      // wait for ever. Lifted early, the guardian raises the pause again under the contract's token.
      const read = chainRead({ paused: false, id: 1n, block: 10n });
      const pause = { pauses: [pauseOf("chain-3")], chain: read, contract: C, lifted: () => false };
      expect(plan(base({ resume: ["chain-3"], pause })).kind).toBe("resume");
      // The contract named now must still be read, and unpaused.
      expect(
        plan(base({ resume: ["chain-3"], pause: { ...pause, chain: { ...read, paused: true } } })).kind,
      ).toBe("resume-held");
      expect(plan(base({ resume: ["chain-3"], pause: { ...pause, chain: undefined } })).kind).toBe(
        "resume-held",
      );
    });

    it("waits for a read of the chain at least as new as the block the resume was verified at", () => {
      // This region's last read predates the pause's record on chain: it shows no pause at all.
      const read = chainRead({ block: 8n, paused: false, id: 0n });
      const pause = { pauses: [pauseOf("t1")], chain: read, contract: C, lifted: () => false };
      const held = plan(base({ resume: ["t1"], block: 10n, pause }));
      expect(held.kind === "resume-held" && held.soon).toBe(true);
      expect(held.kind === "resume-held" && held.message).toContain("block 8, before block 10");
      // A read at the verification's block or after it is taken.
      const fresh = { ...read, block: 10n, id: 1n };
      expect(plan(base({ resume: ["t1"], block: 10n, pause: { ...pause, chain: fresh } })).kind).toBe(
        "resume",
      );
    });

    it("does not compare a pause id of the contract before with the ids of the one named now", () => {
      // The DAO replaced the GuardianPause contract: the new one counts from 1 again.
      const read = chainRead({ paused: false, id: 1n, block: 10n });
      const token = tokenOf(5, BEFORE);
      const pause = { pauses: [pauseOf(token)], chain: read, contract: C, lifted: () => false };
      expect(plan(base({ resume: [token], pause })).kind).toBe("resume");
      // A read of the contract before says nothing of the one named now.
      const stale = { ...read, contract: BEFORE, id: 9n };
      const held = plan(base({ resume: [token], pause: { ...pause, chain: stale } }));
      expect(held.kind === "resume-held" && held.message).toContain("has not been read");
    });

    it("waits while the GuardianPause contract has not been read: unknown is still paused", () => {
      const pause = { pauses: [pauseOf("t1")], chain: undefined, contract: C, lifted: () => false };
      const held = plan(base({ resume: ["t1"], pause }));
      expect(held.kind).toBe("resume-held");
      expect(held.kind === "resume-held" && held.message).toContain("has not been read");
      // Without a contract there is nothing to read.
      expect(plan(base({ resume: ["t1"], pause: { ...pause, contract: undefined } })).kind).toBe("resume");
    });

    it("lifts only the tokens it names that are not lifted yet", () => {
      const pause = {
        pauses: [pauseOf("t1"), pauseOf("t2"), pauseOf("t3")],
        chain: undefined,
        contract: undefined,
        lifted: (t: string) => t === "t2",
      };
      const next = plan(base({ resume: ["t1", "t2"], pause }));
      expect(next.kind).toBe("resume");
      if (next.kind !== "resume") return;
      expect(next.tokens).toEqual(["t1"]);
      expect(next.lifting.map((p) => p.token)).toEqual(["t1", "t2"]);
    });
  });

  // Random and hostile input: plan never throws, and the invariants the
  // reconciler relies on hold whatever the combination.
  const tokens = fc.constantFrom(
    "t1",
    "t2",
    "t3",
    "chain-1",
    "chain-2",
    tokenOf(1),
    tokenOf(2),
    tokenOf(2, BEFORE),
    "",
  );
  const input = fc.record({
    verified: fc.boolean(),
    region: fc.constantFrom("alpha", "beta", "gamma", ""),
    targets: fc.array(fc.constantFrom("alpha", "beta", "gamma", "delta"), { maxLength: 4 }),
    resume: fc.option(fc.array(tokens, { maxLength: 4 }), { nil: undefined }),
    paused: fc.option(
      fc.record({
        pauses: fc.array(
          tokens.map((t) => pauseOf(t)),
          { maxLength: 3 },
        ),
        chainPaused: fc.boolean(),
        chainRead: fc.boolean(),
        chainId: fc.constantFrom(0n, 1n, 2n, 3n),
        chainBlock: fc.constantFrom(9n, 10n, 11n),
        chainOf: fc.constantFrom(C, BEFORE),
        contract: fc.option(fc.constantFrom(C, BEFORE), { nil: undefined }),
        lifted: fc.array(tokens, { maxLength: 3 }),
      }),
      { nil: undefined },
    ),
    digest: fc.constantFrom(DIGEST, OTHER),
    generation: fc.integer({ min: 0, max: 5 }),
    previous: fc.option(
      fc.record({
        state: fc.constantFrom("Applied", "Paused", "Refused"),
        appliedDigest: fc.constantFrom(DIGEST, OTHER),
        observedGeneration: fc.integer({ min: 0, max: 5 }),
      }),
      { nil: undefined },
    ),
    memo: fc.option(
      fc.record({
        digest: fc.constantFrom(DIGEST, OTHER),
        generation: fc.integer({ min: 0, max: 5 }),
        at: fc.integer({ min: -1e6, max: 1e6 }),
      }),
      { nil: undefined },
    ),
    now: fc.integer({ min: 0, max: 1e6 }),
    resyncMs: fc.integer({ min: 1, max: 1e6 }),
  });
  function toInput(r: {
    verified: boolean;
    region: string;
    targets: string[];
    resume: string[] | undefined;
    paused:
      | {
          pauses: ActivePause[];
          chainPaused: boolean;
          chainRead: boolean;
          chainId: bigint;
          chainBlock: bigint;
          chainOf: typeof C | typeof BEFORE;
          contract: typeof C | typeof BEFORE | undefined;
          lifted: string[];
        }
      | undefined;
    digest: string;
    generation: number;
    previous: { state: string; appliedDigest: string; observedGeneration: number } | undefined;
    memo: { digest: string; generation: number; at: number } | undefined;
    now: number;
    resyncMs: number;
  }): PlanInput {
    return {
      ...r,
      block: 10n,
      pause: r.paused && {
        pauses: r.paused.pauses,
        chain: r.paused.chainRead
          ? {
              contract: r.paused.chainOf,
              paused: r.paused.chainPaused,
              id: r.paused.chainId,
              block: r.paused.chainBlock,
              guardian: "0x0",
              evidence: "0x00",
              at: 0,
            }
          : undefined,
        contract: r.paused.contract,
        lifted: (t) => r.paused?.lifted.includes(t) ?? false,
      },
      previous: r.previous as ConsortiumManifestStatus | undefined,
      memo: r.memo && { ...r.memo, objects: [], pruned: [] },
    };
  }

  it("never applies, prunes or lifts what is not verified", () => {
    fc.assert(
      fc.property(input, (r) => {
        const next = plan(toInput({ ...r, verified: false }));
        expect(next.kind).toBe("refuse");
      }),
    );
  });

  it("never applies or prunes while a pause is in force, and never applies a resume", () => {
    fc.assert(
      fc.property(input, (r) => {
        const i = toInput(r);
        const next = plan(i);
        if (next.kind === "prune-not-targeted") expect(i.pause?.pauses.length ?? 0).toBe(0);
        if (next.kind === "apply" || next.kind === "refresh") {
          expect(i.pause?.pauses.length ?? 0).toBe(0);
          expect(i.resume).toBeUndefined();
          expect(i.targets).toContain(i.region);
        }
      }),
    );
  });

  it("lifts a token only when a verified resume names it, it is not lifted yet, and the chain is not paused", () => {
    fc.assert(
      fc.property(input, (r) => {
        const i = toInput(r);
        const next = plan(i);
        if (next.kind !== "resume") return;
        expect(i.verified).toBe(true);
        // The chain was read and is unpaused, or the Federation names no contract.
        const contract = i.pause?.contract;
        const chain = i.pause?.chain;
        if (contract) {
          expect(chain?.contract).toEqual(contract);
          expect(chain?.paused).toBe(false);
          expect((chain?.block ?? 0n) >= i.block).toBe(true);
        } else expect(chain?.paused ?? false).toBe(false);
        // The read has seen every pause it lifts of the contract named now.
        for (const t of next.tokens) {
          const ofContract = contract && t.startsWith(`chain-31337-${contract.address.toLowerCase()}-`);
          const id = ofContract ? t.split("-").at(-1) : undefined;
          if (id !== undefined && chain) expect(chain.id >= BigInt(id)).toBe(true);
        }
        for (const t of next.tokens) {
          expect(i.resume).toContain(t);
          expect(i.pause?.lifted(t)).toBe(false);
        }
        expect(next.tokens.length).toBeGreaterThan(0);
      }),
    );
  });
});
