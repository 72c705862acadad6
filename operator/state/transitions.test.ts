import * as A from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createState, freshActor, loadState, type StateDoc } from "./document.ts";
import { applied, approvalsFor, digestOf, submission } from "../../e2e/support/state-fixtures.ts";
import { approve, recordApplied, removeMember, setMember, submit } from "../../e2e/support/transitions.ts";
import { StateInputError, type Member } from "./model.ts";
import {
  appliedByRegion,
  appliedIn,
  approvals,
  highestApplied,
  manifestIds,
  members,
  versions,
  winner,
} from "./readers.ts";
import { batch } from "./transitions.ts";

const fresh = (): StateDoc => createState(freshActor());
const changeCount = (doc: StateDoc): number => A.getAllChanges(doc).length;
const all = (): boolean => true;

const member = (region: string, endpoint = `${region}.example:7443`): Member => ({
  region,
  dsp: `DSP ${region}`,
  safe: "0x00000000000000000000000000000000000000a1",
  endpoint,
  fingerprint: "ab".repeat(32),
});

describe("manifest versions", () => {
  it("lists ids and versions after a save and load, and keeps no spec in the document", () => {
    const s1 = submission("payments/api", 1);
    const s2 = submission("payments/api", 2, "beta", 5_000);
    const s3 = submission("ops/cron", 1);
    let doc = fresh();
    for (const s of [s1, s2, s3]) doc = submit(doc, s);
    const loaded = loadState(A.save(doc), freshActor());

    expect(manifestIds(loaded)).toEqual(["ops/cron", "payments/api"]);
    expect(versions(loaded, "payments/api")).toEqual([
      { id: "payments/api", nonce: 2, digest: s2.digest, region: "beta", submittedAt: 5_000 },
      { id: "payments/api", nonce: 1, digest: s1.digest, region: "alpha", submittedAt: 1_000 },
    ]);
    // Specs are stored by digest beside the document (spec-store.ts), never in it.
    expect(JSON.stringify(loaded)).not.toContain(s2.spec);
    expect(versions(loaded, "payments/ap")).toEqual([]);
  });

  it("keeps every string in a key and only numbers and booleans as values", () => {
    // String values make merging remote changes superlinear (see document.ts).
    let doc = submit(fresh(), submission("payments/api", 1));
    doc = approve(doc, digestOf("x"), approvalsFor(1));
    doc = recordApplied(doc, applied(submission("payments/api", 1), "alpha", "Applied"));
    const maps: Record<string, Record<string, unknown>>[] = [doc.versions, doc.approvals, doc.applied];
    const values = maps.flatMap((map) => Object.values(map).flatMap((bucket) => Object.values(bucket)));
    expect(values).toHaveLength(4);
    for (const v of values) expect(["number", "boolean"]).toContain(typeof v);
  });

  it("lists a version submitted in two regions once, as first submitted", () => {
    const s = submission("payments/api", 1, "beta", 5_000);
    const merged = A.merge(
      submit(fresh(), s),
      submit(fresh(), { ...s, region: "alpha", submittedAt: 4_000 }),
    );
    expect(versions(merged, s.id)).toEqual([
      { id: s.id, nonce: 1, digest: s.digest, region: "alpha", submittedAt: 4_000 },
    ]);
  });

  it("keeps concurrent submissions of one nonce with different digests side by side", () => {
    const a = { ...submission("payments/api", 3), digest: digestOf("a") };
    const b = { ...submission("payments/api", 3, "beta"), digest: digestOf("b") };
    const left = submit(fresh(), a);
    const right = submit(fresh(), b);
    const merged = A.merge(A.clone(left), right);
    expect(versions(merged, "payments/api").map((v) => v.digest)).toEqual([a.digest, b.digest].sort());
  });

  it("refuses malformed input and rolls back the whole batch", () => {
    const doc = fresh();
    const good = submission("payments/api", 1);
    const bad = [
      { ...good, id: "no-namespace" },
      { ...good, id: "a b/c" },
      { ...good, digest: "0x1234" },
      { ...good, nonce: 1.5 },
      { ...good, region: "Alpha" },
    ];
    for (const s of bad) {
      expect(() => batch(doc, (d) => d.submit(good).submit(s))).toThrow(StateInputError);
    }
    expect(manifestIds(doc)).toEqual([]);
    expect(changeCount(doc)).toBe(1);
  });
});

describe("winner", () => {
  const id = "payments/api";
  const v = (nonce: number, label: string) => ({ ...submission(id, nonce), digest: digestOf(label) });

  it("is the highest nonce whose digest the caller verified", () => {
    let doc = fresh();
    for (const s of [v(1, "one"), v(2, "two"), v(3, "three")]) doc = submit(doc, s);
    expect(winner(doc, id, all)?.nonce).toBe(3);
    expect(winner(doc, id, (d) => d !== digestOf("three"))?.nonce).toBe(2);
    expect(winner(doc, id, () => false)).toBeUndefined();
    expect(winner(doc, "other/id", all)).toBeUndefined();
  });

  it("breaks a nonce tie the same way whatever the order of arrival", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ nonce: fc.nat(3), label: fc.string({ maxLength: 4 }) }), {
          selector: (x) => x.label,
          minLength: 1,
          maxLength: 8,
        }),
        fc.func(fc.boolean()),
        (entries, verified) => {
          const isVerified = (d: string) => verified(d);
          const build = (order: typeof entries) =>
            order.reduce((doc, e) => submit(doc, v(e.nonce, e.label)), fresh());
          const forward = winner(build(entries), id, isVerified);
          const backward = winner(build([...entries].reverse()), id, isVerified);
          expect(backward).toEqual(forward);
          const candidates = entries.map((e) => v(e.nonce, e.label)).filter((s) => isVerified(s.digest));
          const top = Math.max(...candidates.map((s) => s.nonce));
          const expected = candidates
            .filter((s) => s.nonce === top)
            .map((s) => s.digest)
            .sort()[0];
          expect(forward?.digest).toBe(expected);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("approvals", () => {
  it("deduplicates entries, whatever the hex case, and records nothing on a repeat", () => {
    const s = submission("payments/api", 1);
    let doc = approve(submit(fresh(), s), s.digest, approvalsFor(1));
    const before = changeCount(doc);
    doc = approve(doc, s.digest.toUpperCase().replace("0X", "0x"), [
      ...approvalsFor(1).map((a) => ({ ...a, data: a.data.toUpperCase().replace("0X", "0x") })),
    ]);
    expect(changeCount(doc)).toBe(before);
    doc = approve(doc, s.digest, [{ safe: "board", data: "0xbeef" }]);
    expect(approvals(doc, s.digest)).toEqual([{ safe: "board", data: "0xbeef" }, ...approvalsFor(1)]);
    expect(approvals(doc, digestOf("other"))).toEqual([]);
  });
});

describe("applied state", () => {
  const s = submission("payments/api", 1);

  it("shows each region's own state, for a Regions column", () => {
    let doc = submit(fresh(), s);
    doc = recordApplied(doc, applied(s, "alpha", "Applied"));
    doc = recordApplied(doc, applied(s, "gamma", "Pending"));
    doc = recordApplied(doc, applied(s, "beta", "Applied"));
    expect(appliedByRegion(doc, s.id).map((a) => `${a.region} ${a.state}`)).toEqual([
      "alpha Applied",
      "beta Applied",
      "gamma Pending",
    ]);
    expect(appliedIn(doc, s.id, "beta")).toEqual({
      region: "beta",
      nonce: 1,
      digest: s.digest,
      state: "Applied",
      at: 2_000,
    });
    expect(appliedIn(doc, s.id, "delta")).toBeUndefined();
  });

  it("keeps the time a state was entered and records nothing when it did not change", () => {
    let doc = recordApplied(fresh(), applied(s, "alpha", "Pending", 1_000));
    const before = changeCount(doc);
    doc = recordApplied(doc, applied(s, "alpha", "Pending", 9_000));
    expect(changeCount(doc)).toBe(before);
    doc = recordApplied(doc, applied(s, "alpha", "Applied", 10_000));
    expect(appliedIn(doc, s.id, "alpha")).toMatchObject({ state: "Applied", at: 10_000 });
  });

  it("holds one current entry per region, and beside it the highest version the region applied", () => {
    const doc = batch(fresh(), (d) =>
      d
        .recordApplied(applied(s, "alpha", "Pending", 1_000))
        .recordApplied(applied(s, "alpha", "Applied", 2_000))
        .recordApplied(applied(s, "beta", "Pending", 1_500)),
    );
    const next = recordApplied(doc, applied(s, "alpha", "Refused", 3_000));
    expect(appliedByRegion(next, s.id).map((a) => `${a.region} ${a.state} ${a.at}`)).toEqual([
      "alpha Refused 3000",
      "beta Pending 1500",
    ]);
    const raw = Object.values(next.applied).flatMap((bucket) => Object.keys(bucket));
    expect(raw).toHaveLength(3);
    expect(highestApplied(next, s.id, "alpha")).toMatchObject({
      state: "Applied",
      nonce: s.nonce,
      at: 2_000,
    });
    // A newer version applied replaces it; a lower one applied after it does not.
    const newer = recordApplied(next, { ...applied(s, "alpha", "Applied", 4_000), nonce: s.nonce + 1 });
    expect(highestApplied(newer, s.id, "alpha")?.nonce).toBe(s.nonce + 1);
    expect(Object.values(newer.applied).flatMap((bucket) => Object.keys(bucket))).toHaveLength(2);
    const lower = recordApplied(newer, { ...applied(s, "alpha", "Applied", 5_000), nonce: 0 });
    expect(highestApplied(lower, s.id, "alpha")?.nonce).toBe(s.nonce + 1);
    expect(appliedByRegion(lower, s.id).find((a) => a.region === "alpha")?.nonce).toBe(0);
  });

  it("shows the later of two concurrent entries of one region (a restart that lost a write)", () => {
    const before = recordApplied(fresh(), applied(s, "alpha", "Pending", 1_000));
    const lost = recordApplied(
      A.clone(before, { actor: freshActor() }),
      applied(s, "alpha", "Applied", 5_000),
    );
    const restarted = recordApplied(
      A.clone(before, { actor: freshActor() }),
      applied(s, "alpha", "Refused", 4_000),
    );
    for (const merged of [A.merge(A.clone(lost), restarted), A.merge(A.clone(restarted), lost)]) {
      expect(appliedIn(merged, s.id, "alpha")).toMatchObject({ state: "Applied", at: 5_000 });
    }
  });

  it("keeps every region's state when regions that never met record the same id", () => {
    const regions = ["alpha", "beta", "gamma"];
    const replicas = regions.map((r) => recordApplied(fresh(), applied(s, r, "Applied")));
    const merged = replicas.reduce((a, b) => A.merge(a, b), fresh());
    expect(appliedByRegion(merged, s.id).map((a) => a.region)).toEqual(regions);
  });
});

describe("batch", () => {
  it("records a whole reconcile pass as one change", () => {
    const subs = Array.from({ length: 50 }, (_, i) => submission(`ns/m-${i}`, 1));
    const doc = batch(fresh(), (d) => {
      subs.forEach((s, i) =>
        d
          .submit(s)
          .approve(s.digest, approvalsFor(i))
          .recordApplied(applied(s, "alpha", "Applied")),
      );
    });
    expect(changeCount(doc)).toBe(2);
    expect(manifestIds(doc)).toHaveLength(50);
    expect(approvals(doc, subs[7]?.digest ?? "")).toHaveLength(2);
  });

  it("returns the same document when there is nothing to record", () => {
    const doc = submit(fresh(), submission("ns/a", 1));
    expect(batch(doc, (d) => d.submit(submission("ns/a", 1)))).toBe(doc);
  });
});

describe("members", () => {
  it("sets, replaces and removes members, and records nothing when unchanged", () => {
    let doc = setMember(setMember(fresh(), member("beta")), member("alpha"));
    const before = changeCount(doc);
    doc = setMember(doc, member("alpha"));
    expect(changeCount(doc)).toBe(before);
    doc = setMember(doc, member("alpha", "alpha.example:9443"));
    expect(members(doc)).toEqual([member("alpha", "alpha.example:9443"), member("beta")]);
    doc = removeMember(removeMember(doc, "beta"), "zeta");
    expect(members(doc).map((m) => m.region)).toEqual(["alpha"]);
    expect(() => setMember(doc, { ...member("gamma"), safe: "0x12" })).toThrow(StateInputError);
  });

  it("settles on one whole record when two regions write one member concurrently", () => {
    const left = setMember(fresh(), member("gamma", "g1.example:1"));
    const right = setMember(fresh(), { ...member("gamma", "g2.example:2"), fingerprint: "cd".repeat(32) });
    const [one, other] = [A.merge(A.clone(left), right), A.merge(A.clone(right), left)];
    expect(members(one)).toEqual(members(other));
    const [m] = members(one);
    expect([
      ["g1.example:1", "ab".repeat(32)],
      ["g2.example:2", "cd".repeat(32)],
    ]).toContainEqual([m?.endpoint, m?.fingerprint]);
  });
});
