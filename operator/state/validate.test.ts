import * as A from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { digestOf } from "../../e2e/support/state-fixtures.ts";
import { bucketOf, createState, freshActor, type FederationDoc, type StateDoc } from "./document.ts";
import { batch, type Draft } from "./transitions.ts";
import { BOUNDS, boundsViolation, layoutViolation } from "./validate.ts";

const base = (): StateDoc => createState(freshActor());
const patchesOf = (before: StateDoc, after: StateDoc) => A.diff(after, A.getHeads(before), A.getHeads(after));
/** What a peer's change does, as the receiving region would diff it. */
const violation = (edit: (d: FederationDoc) => void, start: StateDoc = base()): string | undefined => {
  const after = A.change(A.clone(start), edit);
  return layoutViolation(patchesOf(start, after));
};
const legit = (edit: (d: Draft) => unknown, start: StateDoc = base()): string | undefined =>
  layoutViolation(patchesOf(start, batch(A.clone(start), edit, 1000)));

const D1 = digestOf("one");
const pause = {
  token: `0x${"ab".repeat(32)}`,
  region: "gamma",
  source: "agent" as const,
  by: "0x00000000000000000000000000000000000000a9",
  dsp: "0x00000000000000000000000000000000000000d1",
  severity: "critical",
  evidence: digestOf("evidence"),
  reason: "settlement invariant broken",
  at: 5,
};

describe("a peer's change to the federation state", () => {
  it("passes when it is what this operator's own transitions write", () => {
    expect(
      legit((d) => {
        d.submit({ id: "ns/web", nonce: 3, digest: D1, region: "alpha", submittedAt: 10 });
        d.approve(D1, [{ safe: "consortium", data: `0x${"12".repeat(65)}` }]);
        d.recordApplied({ id: "ns/web", region: "beta", nonce: 3, digest: D1, state: "Applied", at: 11 });
        d.setMember({
          region: "alpha",
          dsp: "DSP-1",
          safe: "0x00000000000000000000000000000000000000a1",
          endpoint: "alpha.example:7443",
          fingerprint: "ab".repeat(32),
        });
        d.pause(pause);
        d.resume({ tokens: [pause.token], manifest: "dsc-system/resume-1", region: "alpha", at: 12 });
      }),
    ).toBeUndefined();
    // A region replaces its own applied record: a delete of the older key.
    const once = batch(base(), (d) =>
      d.recordApplied({ id: "ns/web", region: "beta", nonce: 3, digest: D1, state: "Applied", at: 11 }),
    );
    expect(
      legit(
        (d) =>
          d.recordApplied({
            id: "ns/web",
            region: "beta",
            nonce: 4,
            digest: digestOf("two"),
            state: "Applied",
            at: 12,
          }),
        once,
      ),
    ).toBeUndefined();
  });

  it("passes when two regions recorded the same record at once (a conflict of equal values)", () => {
    const start = base();
    const record = (d: Draft) => d.approve(D1, [{ safe: "consortium", data: `0x${"34".repeat(65)}` }]);
    // Fixed actors, so that each side sees the other's write win once: whichever wins, it passes.
    const low = batch(A.clone(start, { actor: "aa".repeat(16) }), record, 1);
    const high = batch(A.clone(start, { actor: "ff".repeat(16) }), record, 2);
    const seen = [patchesOf(low, A.merge(A.clone(low), high)), patchesOf(high, A.merge(A.clone(high), low))];
    expect(seen.flat().some((p) => p.action === "conflict")).toBe(true);
    for (const patches of seen) expect(layoutViolation(patches)).toBeUndefined();
  });

  it("is refused when it changes the root, or removes or retypes a map", () => {
    expect(violation((d) => (d.schema = 99))).toMatch(/root is fixed/);
    expect(
      violation((d) => {
        delete (d as Partial<FederationDoc>).members;
      }),
    ).toMatch(/root is fixed/);
    expect(violation((d) => ((d as unknown as Record<string, unknown>).extra = {}))).toMatch(/root is fixed/);
    expect(
      violation((d) => {
        delete (d.versions as Record<string, unknown>)["00"];
      }),
    ).toMatch(/bucket/);
  });

  it("is refused when a record's key or value is malformed, out of range or not canonical", () => {
    const version = (key: string, value: unknown, bucket = bucketOf("ns/web")) =>
      violation((d) => {
        (d.versions[bucket] as Record<string, unknown>)[key] = value;
      });
    expect(version(`ns/web 1 ${D1} alpha`, 1)).toBeUndefined();
    expect(version(`ns/web NaN ${D1} alpha`, 1)).toMatch(/nonce/);
    expect(version(`ns/web 01 ${D1} alpha`, 1)).toMatch(/nonce/);
    expect(version(`ns/web 1 0x${D1.slice(2).toUpperCase()} alpha`, 1)).toMatch(/canonical/);
    expect(version(`ns/web 1 ${D1} alpha`, -5)).toMatch(/time/);
    expect(version(`ns/web 1 ${D1} alpha`, "soon")).toMatch(/not a time/);
    expect(version(`ns/web 1 ${D1}`, 1)).toMatch(/words/);
    expect(version("x".repeat(2000), 1)).toMatch(/longer than/);
    const other = bucketOf("ns/web") === "00" ? "01" : "00";
    expect(version(`ns/web 1 ${D1} alpha`, 1, other)).toMatch(/wrong bucket/);
    expect(violation((d) => (d.pauses[`t1 gamma rumour x y z ${D1} r`] = 1))).toBeDefined();
    expect(violation((d) => (d.resumed["t1 not-an-id alpha"] = 1))).toBeDefined();
  });

  it("is refused when it deletes what is never deleted (versions, approvals, resume records)", () => {
    const withAll = batch(base(), (d) => {
      d.submit({ id: "ns/web", nonce: 1, digest: D1, region: "alpha", submittedAt: 1 });
      d.resume({ tokens: ["t1"], manifest: "dsc-system/r", region: "alpha", at: 1 });
    });
    expect(
      violation((d) => {
        for (const b of Object.values(d.versions))
          for (const k of Object.keys(b)) Reflect.deleteProperty(b, k);
      }, withAll),
    ).toMatch(/never deleted/);
    expect(
      violation((d) => {
        for (const k of Object.keys(d.resumed)) Reflect.deleteProperty(d.resumed, k);
      }, withAll),
    ).toMatch(/never deleted/);
  });

  it("never throws, whatever the patches", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            action: fc.constantFrom("put", "del", "insert", "splice", "inc"),
            path: fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.integer()), { maxLength: 5 }),
            value: fc.anything(),
          }),
          { maxLength: 10 },
        ),
        (patches) => {
          const result = layoutViolation(patches as unknown as A.Patch[]);
          expect(result === undefined || typeof result === "string").toBe(true);
        },
      ),
    );
  });

  describe("how much a peer's change may make a region hold", () => {
    const over = (start: StateDoc, edit: (d: Draft) => unknown): string | undefined => {
      const after = batch(A.clone(start), edit, 1000);
      return boundsViolation(after, patchesOf(start, after));
    };
    const approval = (i: number) => ({
      safe: "consortium" as const,
      data: `0x${i.toString(16).padStart(130, "0")}`,
    });

    it("refuses approvals past 64 per version, and version records past the bound per manifest", () => {
      const full = batch(
        base(),
        (d) =>
          d.approve(
            D1,
            Array.from({ length: BOUNDS.approvalsPerVersion }, (_, i) => approval(i)),
          ),
        1000,
      );
      expect(over(base(), (d) => d.approve(D1, [approval(1)]))).toBeUndefined();
      expect(over(full, (d) => d.approve(D1, [approval(999)]))).toBe(`65 approvals of ${D1}: at most 64`);
      // Another version's approvals are not counted against this one.
      expect(over(full, (d) => d.approve(digestOf("two"), [approval(999)]))).toBeUndefined();

      let many = base();
      many = batch(
        many,
        (d) => {
          for (let n = 0; n < BOUNDS.versionRecordsPerManifest; n++)
            d.submit({ id: "ns/web", nonce: n, digest: D1, region: "alpha", submittedAt: 1 });
        },
        1000,
      );
      expect(
        over(many, (d) =>
          d.submit({ id: "ns/web", nonce: 1_000_000, digest: D1, region: "beta", submittedAt: 1 }),
        ),
      ).toMatch(/3001 version records of ns\/web: at most 3000/);
      expect(
        over(many, (d) => d.submit({ id: "ns/api", nonce: 1, digest: D1, region: "beta", submittedAt: 1 })),
      ).toBeUndefined();
    });
  });
});
