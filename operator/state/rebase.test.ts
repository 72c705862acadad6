import * as A from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applied, approvalsFor, pauseRecord, submission } from "../../e2e/support/state-fixtures.ts";
import { collectable, type VersionFacts } from "./collect.ts";
import { createState, epochOf, freshActor, loadState, type StateDoc } from "./document.ts";
import type { RegionState } from "./model.ts";
import {
  appliedByRegion,
  approvals,
  highestApplied,
  manifestIds,
  pauseRecords,
  versions,
} from "./readers.ts";
import { rebased, referencedDigests } from "./rebase.ts";
import { batch } from "./transitions.ts";

const REGIONS = ["alpha", "beta", "gamma"] as const;
const NOW = 10_000_000;
const everywhere: VersionFacts = { targets: REGIONS, expiresAt: NOW + 1 };
const known = (): VersionFacts => everywhere;

/** `id` at `nonce`, submitted with approvals, and each region's outcome for it. */
function update(
  doc: StateDoc,
  id: string,
  nonce: number,
  outcomes: Partial<Record<(typeof REGIONS)[number], RegionState>>,
  at = nonce * 1000,
): StateDoc {
  const s = submission(id, nonce, "alpha", at);
  return batch(doc, (d) => {
    d.submit(s).approve(s.digest, approvalsFor(nonce));
    for (const [region, state] of Object.entries(outcomes))
      d.recordApplied(applied(s, region, state, at + 1));
  });
}

const allApplied = { alpha: "Applied", beta: "Applied", gamma: "Applied" } as const;
const rebase = (
  doc: StateDoc,
  facts: (digest: string) => VersionFacts | undefined = known,
  now = NOW,
): StateDoc => rebased(doc, epochOf(doc) + 1, freshActor(), collectable(doc, facts, now));

/** What the operator reads of an id: every region's outcome and highest applied version. */
const readsOf = (doc: StateDoc, id: string): unknown => ({
  outcomes: appliedByRegion(doc, id),
  highest: REGIONS.map((r) => highestApplied(doc, id, r)),
});

describe("collecting superseded records", () => {
  it("drops a version once every region it targets has moved on, with its approvals", () => {
    let doc = createState(freshActor());
    for (let nonce = 1; nonce <= 50; nonce++) doc = update(doc, "ops/api", nonce, allApplied);
    const next = rebase(doc);

    expect(versions(next, "ops/api").map((v) => v.nonce)).toEqual([50]);
    expect(approvals(next, submission("ops/api", 4).digest)).toEqual([]);
    const newest = submission("ops/api", 50).digest;
    expect(approvals(next, newest)).toEqual(approvals(doc, newest));
    expect(readsOf(next, "ops/api")).toEqual(readsOf(doc, "ops/api"));
    expect(epochOf(next)).toBe(1);
    expect(A.save(next).length).toBeLessThan(A.save(doc).length / 2);
  });

  it("keeps a version a region still runs, or has not yet moved past, or whose spec it lacks", () => {
    let doc = createState(freshActor());
    doc = update(doc, "ops/api", 1, allApplied);
    // gamma refused 2 and runs 1; beta has not moved past 2.
    doc = update(doc, "ops/api", 2, { alpha: "Applied", beta: "Applied", gamma: "Refused" });
    doc = update(doc, "ops/api", 3, { alpha: "Applied", gamma: "Refused" });
    doc = update(doc, "ops/cron", 1, allApplied);
    doc = update(doc, "ops/cron", 2, allApplied);
    const cronOne = submission("ops/cron", 1).digest;
    const next = rebase(doc, (digest) => (digest === cronOne ? undefined : everywhere));

    expect(versions(next, "ops/api").map((v) => v.nonce)).toEqual([3, 2, 1]);
    expect(versions(next, "ops/cron").map((v) => v.nonce)).toEqual([2, 1]);
    // Without its spec anywhere, a version goes once every region of the federation moved past it.
    const lacking = (digest: string) => (digest === cronOne ? undefined : everywhere);
    const all = rebased(doc, 1, freshActor(), collectable(doc, lacking, NOW, new Set(), REGIONS));
    expect(versions(all, "ops/cron").map((v) => v.nonce)).toEqual([2]);
    const four = rebased(
      doc,
      1,
      freshActor(),
      collectable(doc, lacking, NOW, new Set(), [...REGIONS, "delta"]),
    );
    expect(versions(four, "ops/cron").map((v) => v.nonce)).toEqual([2, 1]);
  });

  it("drops an expired version nobody runs, even the newest", () => {
    let doc = createState(freshActor());
    doc = update(doc, "ops/api", 1, allApplied);
    doc = update(doc, "ops/api", 2, {});
    const expired = (digest: string): VersionFacts =>
      digest === submission("ops/api", 2).digest ? { targets: REGIONS, expiresAt: NOW - 1 } : everywhere;
    expect(versions(rebase(doc, expired), "ops/api").map((v) => v.nonce)).toEqual([1]);
  });

  it("keeps only the outcomes a reader uses, and every pause and member", () => {
    let doc = createState(freshActor());
    doc = update(doc, "ops/api", 1, allApplied);
    doc = batch(doc, (d) => d.pause(pauseRecord("agent:1")));
    doc = batch(doc, (d) =>
      d.setMember({
        region: "alpha",
        dsp: "DSP-alpha",
        safe: "0x00000000000000000000000000000000000000a1",
        endpoint: "alpha:7443",
        fingerprint: "ab".repeat(32),
      }),
    );
    const next = rebase(doc);
    expect(pauseRecords(next)).toEqual(pauseRecords(doc));
    expect(next.members.alpha?.endpoint.val).toBe("alpha:7443");
    expect(referencedDigests(next)).toEqual(new Set([submission("ops/api", 1).digest]));
  });

  it("keeps a version in use whatever outcomes a peer writes in other regions' names", () => {
    let doc = createState(freshActor());
    doc = update(doc, "ops/api", 7, allApplied);
    // A peer claims every region applied a nonce 8 nobody submitted.
    const forged = submission("ops/api", 8);
    doc = batch(doc, (d) => {
      for (const region of REGIONS) d.recordApplied(applied(forged, region, "Applied", 99_000));
    });
    expect(versions(rebase(doc), "ops/api").map((v) => v.nonce)).toEqual([7]);
    // And with version 8 submitted too: what this region runs (its own manifest's status) stays.
    doc = batch(doc, (d) => d.submit(forged));
    const seven = submission("ops/api", 7).digest;
    const next = rebased(doc, 1, freshActor(), collectable(doc, known, NOW, new Set([seven])));
    expect(versions(next, "ops/api").map((v) => v.nonce)).toEqual([8, 7]);
    expect(versions(rebase(doc), "ops/api").map((v) => v.nonce)).toEqual([8]);
  });

  it("carries whole members only: a peer's incomplete member record does not stop a rebase", () => {
    let doc = createState(freshActor());
    doc = A.change(doc, (d) => {
      (d.members as Record<string, unknown>).beta = {};
    });
    const next = rebase(doc);
    expect(Object.keys(next.members)).toEqual([]);
  });

  it("only moves to a later epoch", () => {
    const doc = rebase(createState(freshActor()));
    const none = collectable(doc, known, NOW);
    expect(() => rebased(doc, 1, freshActor(), none)).toThrow(/epochs only grow/);
    expect(epochOf(loadState(A.save(rebased(doc, 7, freshActor(), none)), freshActor()))).toBe(7);
  });
});

describe("regions that rebase apart", () => {
  it("merge into one epoch holding what each carried", () => {
    let base = createState(freshActor());
    for (let nonce = 1; nonce <= 3; nonce++) base = update(base, "ops/api", nonce, allApplied);
    // beta rebases without alpha's last update; alpha rebases with it.
    const alpha = update(A.clone(base, { actor: freshActor() }), "ops/api", 4, { alpha: "Applied" });
    const merged = A.merge(rebase(alpha), rebase(base));

    expect(versions(merged, "ops/api").map((v) => v.nonce)).toEqual([4, 3]);
    expect(appliedByRegion(merged, "ops/api").find((a) => a.region === "alpha")?.nonce).toBe(4);
    expect(readsOf(merged, "ops/api")).toEqual(readsOf(alpha, "ops/api"));
  });
});

describe("a rebase, for any history", () => {
  const step = fc.record({
    id: fc.constantFrom("a/one", "a/two", "b/three"),
    outcomes: fc.record(
      {
        alpha: fc.constantFrom<RegionState>("Applied", "Refused", "Pending", "NotTargeted"),
        beta: fc.constantFrom<RegionState>("Applied", "Refused", "Pending", "NotTargeted"),
        gamma: fc.constantFrom<RegionState>("Applied", "Refused", "Pending", "NotTargeted"),
      },
      { requiredKeys: [] },
    ),
    targets: fc.subarray([...REGIONS], { minLength: 1 }),
    expired: fc.boolean(),
  });

  it("changes nothing a region reads, and keeps every version in use and every newest one", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        let doc = createState(freshActor());
        const facts = new Map<string, VersionFacts>();
        const nonces = new Map<string, number>();
        for (const s of steps) {
          const nonce = (nonces.get(s.id) ?? 0) + 1;
          nonces.set(s.id, nonce);
          facts.set(submission(s.id, nonce).digest, {
            targets: s.targets,
            expiresAt: s.expired ? NOW - 1 : NOW + 1,
          });
          doc = update(doc, s.id, nonce, s.outcomes);
        }
        const next = rebase(doc, (d) => facts.get(d));
        for (const id of manifestIds(doc)) {
          expect(readsOf(next, id)).toEqual(readsOf(doc, id));
          const kept = new Set(versions(next, id).map((v) => v.digest));
          for (const a of [...appliedByRegion(doc, id), ...REGIONS.map((r) => highestApplied(doc, id, r))])
            if (a) expect(kept.has(a.digest)).toBe(true);
          const newest = versions(doc, id)[0];
          if (newest && facts.get(newest.digest)?.expiresAt === NOW + 1)
            expect(kept.has(newest.digest)).toBe(true);
          for (const digest of kept) expect(approvals(next, digest)).toEqual(approvals(doc, digest));
        }
        expect(epochOf(next)).toBe(1);
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
