// Pause-wins: a pause is a unique token; a resume lifts only the tokens it
// names. Whatever the order in which replicas exchange changes, a pause that
// no resume named stays in force everywhere, and a lifted token never comes
// back (a replayed report cannot re-pause).
import * as A from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createState, freshActor, type StateDoc } from "./document.ts";
import { digestOf } from "../../e2e/support/state-fixtures.ts";
import { pause, resume } from "../../e2e/support/transitions.ts";
import { StateInputError, type PauseRecord } from "./model.ts";
import { activePauses, knownPauseToken } from "./readers.ts";
import { batch } from "./transitions.ts";

const REGIONS = ["alpha", "beta", "gamma"] as const;

const record = (token: string, region: string, at = 1000): PauseRecord => ({
  token,
  region,
  source: "agent",
  by: "0x00000000000000000000000000000000000000a9",
  dsp: "0x00000000000000000000000000000000000000d1",
  severity: "critical",
  evidence: digestOf(`evidence ${token}`),
  reason: "settlement: invariant broken (total supply)",
  at,
});

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
    expect(activePauses(x).map((p) => p.token)).toEqual(["t2"]);
    expect(activePauses(y).map((p) => p.token)).toEqual(["t2"]);
  });

  it("ignores a lifted token recorded later (a replay), and still knows it was seen", () => {
    let [a, b] = replicas() as [StateDoc, StateDoc];
    a = pause(a, record("t1", "alpha"));
    a = resume(a, { tokens: ["t1"], manifest: "dsc-system/resume-1", region: "alpha", at: 3000 });
    expect(pause(a, record("t1", "alpha", 4000))).toBe(a); // records nothing
    // gamma never saw the resume and records the same report; once merged it is inert.
    b = pause(b, record("t1", "gamma", 5000));
    const merged = A.merge(a, b);
    expect(activePauses(merged)).toEqual([]);
    expect(knownPauseToken(merged, "t1")).toBe(true);
    expect(knownPauseToken(merged, "t9")).toBe(false);
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

  it("converges to the same pauses everywhere, and pause wins, whatever the order of exchange", () => {
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
        const docs = replicas();
        const named = new Set<number>();
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
            for (const t of o.tokens) named.add(t);
          }
        }
        // Everyone hears from everyone.
        const all = docs.reduce((x, y) => A.merge(x, y));
        const final = docs.map((d) => A.merge(A.clone(d), all));
        const expected = [...paused].filter((t) => !named.has(t)).map((t) => `t${String(t)}`);
        for (const d of final) {
          expect(
            activePauses(d)
              .map((p) => p.token)
              .sort(),
          ).toEqual(expected.sort());
        }
      }),
      { numRuns: 150 },
    );
  });
});
