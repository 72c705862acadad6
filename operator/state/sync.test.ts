import * as A from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createState, freshActor, type StateDoc } from "./document.ts";
import { applied, approvalsFor, digestOf, signature, submission } from "../../e2e/support/state-fixtures.ts";
import { submit } from "../../e2e/support/transitions.ts";
import type { Draft } from "./transitions.ts";
import { appliedByRegion, approvals, manifestIds, versions, winner } from "./readers.ts";
import { SyncMessageError, SyncSessions } from "./sync.ts";
import { batch } from "./transitions.ts";

interface Replica {
  readonly region: string;
  doc: StateDoc;
  readonly sessions: SyncSessions;
}

const replica = (region: string): Replica => ({
  region,
  doc: createState(freshActor()),
  sessions: new SyncSessions(),
});

/** One message from `from` to `to`, applied at once; returns its size (0 when there was nothing to say). */
function deliver(from: Replica, to: Replica): number {
  const message = from.sessions.generate(from.doc, to.region);
  if (message === null) return 0;
  to.doc = to.sessions.receive(to.doc, from.region, message).doc;
  return message.length;
}

/** Exchanges messages between every pair until nobody has anything to say. */
function syncAll(replicas: readonly Replica[]): { bytes: number; messages: number } {
  let bytes = 0;
  let messages = 0;
  for (let round = 0; round < 50; round++) {
    let quiet = true;
    for (const from of replicas) {
      for (const to of replicas) {
        if (from === to) continue;
        const size = deliver(from, to);
        if (size > 0) {
          quiet = false;
          bytes += size;
          messages++;
        }
      }
    }
    if (quiet) return { bytes, messages };
  }
  throw new Error("sync did not settle in 50 rounds");
}

/** Everything a user could read, in a comparable form. */
const snapshot = (doc: StateDoc) => JSON.stringify(A.toJS(doc));
const verified = (digest: string): boolean => parseInt(digest.slice(-1), 16) % 4 !== 0;
const winners = (doc: StateDoc) => manifestIds(doc).map((id) => [id, winner(doc, id, verified)?.digest]);

describe("sync sessions", () => {
  it("brings two regions to the same state and then falls quiet", () => {
    const [alpha, beta] = [replica("alpha"), replica("beta")];
    alpha.doc = submit(alpha.doc, submission("ns/a", 1));
    beta.doc = submit(beta.doc, submission("ns/b", 1, "beta"));
    syncAll([alpha, beta]);
    expect(manifestIds(alpha.doc)).toEqual(["ns/a", "ns/b"]);
    expect(snapshot(beta.doc)).toBe(snapshot(alpha.doc));
    expect(alpha.sessions.generate(alpha.doc, "beta")).toBeNull();
    expect(alpha.sessions.pending(alpha.doc, "beta")).toBe(0);
    alpha.doc = submit(alpha.doc, submission("ns/c", 1));
    expect(alpha.sessions.pending(alpha.doc, "beta")).toBe(1);
    alpha.doc = submit(alpha.doc, submission("ns/d", 1));
    alpha.doc = submit(alpha.doc, submission("ns/e", 1));
    expect(alpha.sessions.pending(alpha.doc, "beta")).toBe(3);
    expect(alpha.sessions.pending(alpha.doc, "gamma")).toBeGreaterThanOrEqual(5); // never met: all of ours
    syncAll([alpha, beta]);
    expect(alpha.sessions.pending(alpha.doc, "beta")).toBe(0);
  });

  it("reports whether a message changed the document", () => {
    const [alpha, beta] = [replica("alpha"), replica("beta")];
    alpha.doc = submit(alpha.doc, submission("ns/a", 1));
    const first = alpha.sessions.generate(alpha.doc, "beta");
    expect(first).not.toBeNull();
    const r1 = beta.sessions.receive(beta.doc, "alpha", first ?? new Uint8Array());
    expect(r1.changed).toBe(false); // the opening message carries heads, not changes
    beta.doc = r1.doc;
    alpha.doc = alpha.sessions.receive(
      alpha.doc,
      "beta",
      beta.sessions.generate(beta.doc, "alpha") ?? new Uint8Array(),
    ).doc;
    const r2 = beta.sessions.receive(
      beta.doc,
      "alpha",
      alpha.sessions.generate(alpha.doc, "beta") ?? new Uint8Array(),
    );
    expect(r2.changed).toBe(true);
  });

  it("drops malformed messages with a typed error and keeps working", () => {
    const [alpha, beta] = [replica("alpha"), replica("beta")];
    alpha.doc = submit(alpha.doc, submission("ns/a", 1));
    beta.doc = submit(beta.doc, submission("ns/b", 1, "beta"));
    const before = snapshot(beta.doc);
    const valid = alpha.sessions.generate(alpha.doc, "beta") ?? new Uint8Array();
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      // Real message prefixes and bit flips reach the decoder's deeper paths.
      fc.nat(valid.length - 1).map((n) => valid.slice(0, n)),
      fc.tuple(fc.nat(valid.length - 1), fc.nat(7)).map(([i, bit]) => {
        const m = valid.slice();
        m[i] = (m[i] ?? 0) ^ (1 << bit);
        return m;
      }),
    );
    let refused = 0;
    fc.assert(
      fc.property(garbage, (bytes) => {
        try {
          beta.doc = beta.sessions.receive(beta.doc, "alpha", bytes).doc;
        } catch (error) {
          expect(error).toBeInstanceOf(SyncMessageError);
          expect((error as SyncMessageError).peer).toBe("alpha");
          refused++;
        }
      }),
      { numRuns: 300 },
    );
    expect(refused).toBeGreaterThan(100);
    expect(manifestIds(beta.doc)).toContain("ns/b");
    expect(snapshot(beta.doc) === before || manifestIds(beta.doc).includes("ns/a")).toBe(true);
    alpha.sessions.disconnected("beta");
    beta.sessions.disconnected("alpha");
    syncAll([alpha, beta]);
    expect(snapshot(beta.doc)).toBe(snapshot(alpha.doc));
    expect(manifestIds(beta.doc)).toEqual(["ns/a", "ns/b"]);
  });

  it("resumes from a persisted session without resending what the peer has", () => {
    const [alpha, beta] = [replica("alpha"), replica("beta")];
    for (let i = 0; i < 300; i++) alpha.doc = submit(alpha.doc, submission(`ns/m-${i}`, 1));
    const full = syncAll([alpha, beta]).bytes;

    // Both processes restart, with or without their sessions restored from disk.
    const restart = (r: Replica, peer: string, persisted: boolean): Replica => ({
      region: r.region,
      doc: r.doc,
      sessions: new SyncSessions(persisted ? new Map([[peer, r.sessions.encode(peer)]]) : new Map()),
    });
    const resume = (persisted: boolean, id: string): number => {
      const [a, b] = [restart(alpha, "beta", persisted), restart(beta, "alpha", persisted)];
      a.doc = submit(a.doc, submission(id, 1));
      const { bytes } = syncAll([a, b]);
      expect(manifestIds(b.doc)).toContain(id);
      [alpha.doc, beta.doc] = [a.doc, b.doc];
      return bytes;
    };
    const resumed = resume(true, "ns/late");
    // Without its session a peer must describe its whole history (a bloom filter) to find the gap.
    const forgotten = resume(false, "ns/later");
    expect(resumed * 10).toBeLessThan(full);
    expect(resumed).toBeLessThan(forgotten);
  });

  it("starts afresh from an unreadable persisted session", () => {
    const [alpha, beta] = [replica("alpha"), replica("beta")];
    alpha.doc = submit(alpha.doc, submission("ns/a", 1));
    const restored: Replica = {
      ...alpha,
      sessions: new SyncSessions(new Map([["beta", Uint8Array.of(1, 2, 3)]])),
    };
    syncAll([restored, beta]);
    expect(manifestIds(beta.doc)).toEqual(["ns/a"]);
  });
});

describe("convergence", () => {
  const REGIONS = ["alpha", "beta", "gamma"] as const;
  const ids = ["ns/a", "ns/b", "ns/c"];

  const transition = fc.oneof(
    fc.record({
      kind: fc.constant("submit" as const),
      id: fc.constantFrom(...ids),
      nonce: fc.nat(3),
      label: fc.nat(3),
    }),
    fc.record({ kind: fc.constant("approve" as const), label: fc.nat(3), sig: fc.nat(5) }),
    fc.record({
      kind: fc.constant("applied" as const),
      id: fc.constantFrom(...ids),
      nonce: fc.nat(3),
      label: fc.nat(3),
      state: fc.constantFrom("Applied" as const, "Pending" as const, "Refused" as const),
      at: fc.nat(1_000_000),
    }),
  );
  type Transition = typeof transition extends fc.Arbitrary<infer T> ? T : never;

  function write(d: Draft, region: string, t: Transition): void {
    const digest = digestOf(`d${t.label}`);
    switch (t.kind) {
      case "submit":
        d.submit({ ...submission(t.id, t.nonce, region), digest });
        break;
      case "approve":
        d.approve(digest, [{ safe: "consortium", data: signature(t.sig) }]);
        break;
      case "applied":
        // A region writes only its own state.
        d.recordApplied({ id: t.id, region, nonce: t.nonce, digest, state: t.state, at: t.at });
        break;
    }
  }

  const step = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("write" as const),
        at: fc.nat(2),
        batch: fc.array(transition, { minLength: 1, maxLength: 3 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant("deliver" as const), from: fc.nat(2), to: fc.nat(2) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("drop" as const), from: fc.nat(2), to: fc.nat(2) }) },
  );

  it("three regions reach identical state and winners after random exchanges with drops", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const replicas = REGIONS.map(replica);
        // Per-connection queues: TLS keeps order within a link, links interleave freely.
        const links = new Map<string, Uint8Array[]>();
        const link = (from: number, to: number) => {
          const key = `${from}>${to}`;
          let queue = links.get(key);
          if (queue === undefined) links.set(key, (queue = []));
          return queue;
        };
        const at = (i: number): Replica => replicas[i] as Replica;
        for (const s of steps) {
          if (s.op === "write") {
            const r = at(s.at);
            r.doc = batch(r.doc, (d) => {
              for (const t of s.batch) write(d, r.region, t);
            });
            continue;
          }
          if (s.from === s.to) continue;
          const [from, to] = [at(s.from), at(s.to)];
          if (s.op === "drop") {
            // A lost message is a lost connection: both ends forget what was in flight.
            link(s.from, s.to).length = 0;
            link(s.to, s.from).length = 0;
            from.sessions.disconnected(to.region);
            to.sessions.disconnected(from.region);
            continue;
          }
          const out = from.sessions.generate(from.doc, to.region);
          if (out !== null) link(s.from, s.to).push(out);
          const next = link(s.from, s.to).shift();
          if (next !== undefined) to.doc = to.sessions.receive(to.doc, from.region, next).doc;
        }
        // Heal: every link reconnects, dropping whatever was still queued.
        for (const r of replicas) for (const p of REGIONS) if (p !== r.region) r.sessions.disconnected(p);
        syncAll(replicas);
        const [first, ...rest] = replicas.map((r) => r.doc);
        for (const doc of rest) {
          expect(snapshot(doc)).toBe(snapshot(first as StateDoc));
          expect(winners(doc)).toEqual(winners(first as StateDoc));
        }
      }),
      { numRuns: 40 },
    );
  });

  it("keeps both sides' changes when a partitioned region rejoins", () => {
    const [alpha, beta, gamma] = REGIONS.map(replica) as [Replica, Replica, Replica];
    const shared = submission("ns/shared", 1);
    alpha.doc = submit(alpha.doc, shared);
    syncAll([alpha, beta, gamma]);

    // Partition: gamma alone; alpha and beta go on together.
    const onlyGamma = { ...submission("ns/gamma-only", 1, "gamma") };
    gamma.doc = batch(gamma.doc, (d) =>
      d.submit(onlyGamma).recordApplied(applied(shared, "gamma", "Applied")),
    );
    const next = submission("ns/shared", 2, "beta");
    beta.doc = batch(beta.doc, (d) => d.submit(next).approve(next.digest, approvalsFor(1)));
    syncAll([alpha, beta]);
    alpha.doc = batch(alpha.doc, (d) => d.recordApplied(applied(next, "alpha", "Applied")));
    syncAll([alpha, beta]);
    expect(manifestIds(alpha.doc)).not.toContain("ns/gamma-only");

    syncAll([alpha, beta, gamma]);
    for (const r of [alpha, beta, gamma]) {
      expect(manifestIds(r.doc)).toEqual(["ns/gamma-only", "ns/shared"]);
      expect(versions(r.doc, "ns/shared").map((v) => v.nonce)).toEqual([2, 1]);
      expect(approvals(r.doc, next.digest)).toHaveLength(2);
      expect(appliedByRegion(r.doc, "ns/shared").map((a) => `${a.region}:${a.nonce}`)).toEqual([
        "alpha:2",
        "gamma:1",
      ]);
      expect(winner(r.doc, "ns/shared", () => true)?.digest).toBe(next.digest);
    }
  });
});
