// Pause-wins: a pause is a unique token; a resume lifts only the tokens it
// names, and only in a region that verified it itself. The document's resume
// records are hints: whatever the order in which replicas exchange changes,
// and whatever a hostile replica writes, a pause stays in force in every
// region that has not lifted it itself.
import * as A from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createState, freshActor, type StateDoc } from "./document.ts";
import { pauseRecord } from "../../e2e/support/state-fixtures.ts";
import { pause, resume } from "../../e2e/support/transitions.ts";
import { StateInputError, type PauseRecord } from "./model.ts";
import { pauseRecords, pausesInForce, recordedPauseToken, resumeHints } from "./readers.ts";
import { batch } from "./transitions.ts";

const REGIONS = ["alpha", "beta", "gamma"] as const;

const record = (token: string, region: string, at = 1000): PauseRecord => pauseRecord(token, region, at);

/** Pauses in force in `doc` for a region that lifted `lifted` itself (by default none). */
const activePauses = (doc: StateDoc, lifted: Iterable<string> = []) => {
  const here = new Set(lifted);
  return pausesInForce(pauseRecords(doc), (t) => here.has(t));
};

const replicas = (): StateDoc[] => {
  const base = createState(freshActor());
  return REGIONS.map(() => A.clone(base, { actor: freshActor() }));
};

describe("guardian pause in the federation state", () => {
  it("reads back who, why and evidence, with every region that recorded the token", () => {
    let [a, b] = replicas() as [StateDoc, StateDoc];
    a = pause(a, record("t1", "alpha", 2000));
    b = pause(b, record("t1", "beta", 1000));
    const merged = A.merge(a, b);
    const [p, ...rest] = activePauses(merged);
    expect(rest).toEqual([]);
    expect(p).toMatchObject({
      token: "t1",
      region: "beta",
      regions: ["alpha", "beta"],
      reason: "settlement: invariant broken (total supply)",
      severity: "critical",
      at: 1000,
    });
  });

  it("keeps a pause made concurrently with a resume that did not name it", () => {
    let [a, b] = replicas() as [StateDoc, StateDoc];
    a = pause(a, record("t1", "alpha"));
    b = A.merge(b, a);
    // b resumes t1 while a, not yet told, pauses again with a new report.
    b = resume(b, { tokens: ["t1"], manifest: "dsc-system/resume-1", region: "beta", at: 3000 });
    a = pause(a, record("t2", "alpha", 2000));
    const [x, y] = [A.merge(a, b), A.merge(b, a)];
    // Every region that verified the resume of t1 lifts t1, and only t1.
    expect(activePauses(x, ["t1"]).map((p) => p.token)).toEqual(["t2"]);
    expect(activePauses(y, ["t1"]).map((p) => p.token)).toEqual(["t2"]);
  });

  it("lifts nothing on a resume record alone: a region that has not verified the resume stays paused", () => {
    let [a, b] = replicas() as [StateDoc, StateDoc];
    a = pause(a, record("t1", "alpha"));
    b = A.merge(b, a);
    // A hostile beta writes a resume record for t1 that nobody else verified.
    b = resume(b, { tokens: ["t1"], manifest: "dsc-system/rogue", region: "beta", at: 3000 });
    const merged = A.merge(a, b);
    expect(activePauses(merged).map((p) => p.token)).toEqual(["t1"]);
    // The record stays a hint that names the manifest to verify; the pause record stays too.
    expect(resumeHints(merged)).toEqual([{ token: "t1", manifest: "dsc-system/rogue", region: "beta" }]);
    expect(recordedPauseToken(merged, "t1")).toBe(true);
    // A resume record written before the pause does not stop the pause from being recorded.
    let c = replicas()[0] as StateDoc;
    c = resume(c, { tokens: ["t9"], manifest: "dsc-system/early", region: "beta", at: 1 });
    c = pause(c, record("t9", "gamma", 5000));
    expect(activePauses(c).map((p) => p.token)).toEqual(["t9"]);
    expect(recordedPauseToken(c, "t8")).toBe(false);
  });

  it("records a resent pause once per region", () => {
    const [a] = replicas() as [StateDoc];
    const once = pause(a, record("t1", "alpha", 1000));
    expect(pause(once, record("t1", "alpha", 2000))).toBe(once);
  });

  it("refuses hostile input before it touches the document", () => {
    const [a] = replicas() as [StateDoc];
    const bad: Partial<PauseRecord>[] = [
      { token: "has space" },
      { token: "" },
      { region: "Alpha" },
      { source: "rumour" as PauseRecord["source"] },
      { evidence: "0x1234" },
      { reason: "line\nbreak" },
      { reason: "x".repeat(257) },
      { by: "two words" },
      { at: -1 },
    ];
    for (const patch of bad) {
      expect(() => pause(a, { ...record("t1", "alpha"), ...patch }), JSON.stringify(patch)).toThrow(
        StateInputError,
      );
    }
    expect(() =>
      resume(a, { tokens: ["ok", "not ok"], manifest: "dsc-system/r", region: "alpha", at: 1 }),
    ).toThrow(StateInputError);
    expect(activePauses(a)).toEqual([]);
  });

  it("never lifts, in an honest region, a pause it did not verify a resume of, whatever a hostile region writes or the order of exchange", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("pause" as const),
        replica: fc.nat(2),
        token: fc.integer({ min: 1, max: 6 }),
      }),
      fc.record({
        kind: fc.constant("resume" as const),
        replica: fc.nat(2),
        tokens: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
      }),
      fc.record({ kind: fc.constant("sync" as const), from: fc.nat(2), to: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        // Replicas 0 and 1 are honest: each lifts what its own resumes name. Replica 2 is
        // hostile: its resume records are never verified by anyone.
        const docs = replicas();
        const liftedBy = [new Set<string>(), new Set<string>(), new Set<string>()];
        const paused = new Set<number>();
        for (const o of ops) {
          if (o.kind === "sync") {
            if (o.from === o.to) continue; // merging a document into itself is not an exchange
            docs[o.to] = A.merge(docs[o.to] as StateDoc, docs[o.from] as StateDoc);
          } else if (o.kind === "pause") {
            const doc = docs[o.replica] as StateDoc;
            docs[o.replica] = batch(doc, (d) =>
              d.pause(record(`t${String(o.token)}`, REGIONS[o.replica] ?? "")),
            );
            paused.add(o.token);
          } else {
            docs[o.replica] = batch(docs[o.replica] as StateDoc, (d) =>
              d.resume({
                tokens: o.tokens.map((t) => `t${String(t)}`),
                manifest: "dsc-system/resume",
                region: REGIONS[o.replica] ?? "",
                at: 1,
              }),
            );
            for (const t of o.tokens) liftedBy[o.replica]?.add(`t${String(t)}`);
          }
        }
        // Everyone hears from everyone.
        const all = docs.reduce((x, y) => A.merge(x, y));
        const final = docs.map((d) => A.merge(A.clone(d), all));
        for (const honest of [0, 1]) {
          const lifted = liftedBy[honest] ?? new Set<string>();
          const expected = [...paused].map((t) => `t${String(t)}`).filter((t) => !lifted.has(t));
          expect(
            activePauses(final[honest] as StateDoc, lifted)
              .map((p) => p.token)
              .sort(),
          ).toEqual(expected.sort());
        }
      }),
      { numRuns: 150 },
    );
  });
});
