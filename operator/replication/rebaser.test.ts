// Three regions in one process, each with its real store, replica, peer sync
// and rebaser: a rebase in one is followed by the others, a region that was
// away catches up across it, and one peer cannot push a region around.
import { afterEach, describe, expect, it } from "vitest";
import { MemoryFederation, type MemoryRegion } from "../../e2e/support/memory-federation.ts";
import { approvalsFor, specJson, submission } from "../../e2e/support/state-fixtures.ts";
import { epochOf } from "../state/document.ts";
import { appliedByRegion, manifestIds, versions } from "../state/readers.ts";
import { referencedDigests } from "../state/rebase.ts";
import { encodeEpoch } from "./peer-sync.ts";
import { followTarget, MAX_EPOCH } from "./rebaser.ts";

const REGIONS = ["alpha", "beta", "gamma"];
let federation: MemoryFederation | undefined;
afterEach(async () => {
  await federation?.close();
  federation = undefined;
});

/** `from` submits `id` at `nonce` (its spec goes to every region's store), and the given regions apply it. */
async function update(
  f: MemoryFederation,
  from: string,
  id: string,
  nonce: number,
  appliedIn = REGIONS,
  targets = REGIONS,
) {
  const s = submission(id, nonce, from, nonce);
  const json = JSON.stringify({ ...(JSON.parse(specJson(id, nonce, 300)) as object), targets });
  for (const r of f.regions.values()) await r.specs.put(s.digest, json);
  await f.get(from).replica.change((d) => d.submit(s).approve(s.digest, approvalsFor(nonce)));
  await f.settle();
  for (const region of appliedIn) {
    const r = f.regions.get(region);
    await r?.replica.change((d) =>
      d.recordApplied({ id, region, nonce, digest: s.digest, state: "Applied", at: nonce + 1 }),
    );
  }
  await f.settle();
}

const view = (r: MemoryRegion) => ({
  epoch: epochOf(r.replica.doc),
  ids: manifestIds(r.replica.doc),
  versions: manifestIds(r.replica.doc).map((id) => versions(r.replica.doc, id).map((v) => v.nonce)),
  outcomes: manifestIds(r.replica.doc).map((id) => appliedByRegion(r.replica.doc, id)),
});

describe("rebasing the federation state", () => {
  it("is followed by every region, which then hold one smaller document with only what is in use", async () => {
    const f = (federation = await MemoryFederation.start(REGIONS, { minBytes: 30_000, minIntervalMs: 0 }));
    for (let nonce = 1; nonce <= 40; nonce++)
      await update(f, REGIONS[nonce % 3] ?? "alpha", "ops/api", nonce);
    for (let nonce = 1; nonce <= 3; nonce++) await update(f, "beta", "ops/cron", nonce);
    await f.settle();

    const [alpha, beta, gamma] = REGIONS.map((r) => f.get(r)) as [MemoryRegion, MemoryRegion, MemoryRegion];
    expect(alpha.rebases.length + beta.rebases.length + gamma.rebases.length).toBeGreaterThan(0);
    expect(view(beta)).toEqual(view(alpha));
    expect(view(gamma)).toEqual(view(alpha));
    expect(view(alpha).epoch).toBeGreaterThan(0);
    // What was superseded before the last rebase is gone; what came after waits for the next.
    const kept = versions(alpha.replica.doc, "ops/api").map((v) => v.nonce);
    expect(kept[0]).toBe(40);
    expect(kept.length).toBeLessThan(20);
    // Each region keeps the specs its document names, and no others.
    // Each region holds every spec its document names, and has let go of most others (those the
    // epoch before the last still named are kept one rebase longer).
    for (const r of [alpha, beta, gamma]) {
      for (const digest of referencedDigests(r.replica.doc)) expect(r.specs.has(digest)).toBe(true);
      expect(r.specs.size).toBeLessThan(43 - 10);
    }
    for (const r of [alpha, beta, gamma]) expect(r.replica.documentBytes()).toBeLessThan(60_000 * 4);
    for (const r of [alpha, beta, gamma]) expect(r.refusals).toEqual([]);
  }, 60_000);

  it("lets a region that was away catch up across it, carrying what it wrote alone", async () => {
    const f = (federation = await MemoryFederation.start(REGIONS, { minBytes: 40_000, minIntervalMs: 0 }));
    await update(f, "alpha", "ops/api", 1);
    f.disconnect("gamma", "alpha");
    f.disconnect("gamma", "beta");
    // gamma, alone, takes a version the others never saw; they rebase meanwhile.
    const lone = submission("ops/lone", 1, "gamma", 5);
    await f.get("gamma").replica.change((d) => d.submit(lone));
    for (let nonce = 2; nonce <= 40; nonce++) await update(f, "alpha", "ops/api", nonce, ["alpha", "beta"]);
    expect(epochOf(f.get("alpha").replica.doc)).toBeGreaterThan(0);
    expect(epochOf(f.get("gamma").replica.doc)).toBe(0);

    // gamma restarts from its disk, then reconnects.
    const dir = f.get("gamma").dir;
    await f.stop("gamma");
    await f.open("gamma", dir);
    f.connect("gamma", "alpha");
    f.connect("gamma", "beta");
    await f.settle();

    const gamma = f.get("gamma");
    expect(view(gamma)).toEqual(view(f.get("alpha")));
    expect(manifestIds(gamma.replica.doc)).toContain("ops/lone");
    expect(gamma.rebases.map((o) => o.reason)).toEqual(["peer"]);
  }, 60_000);
});

describe("a region of the release before epochs", () => {
  it("keeps the others from starting one: the state grows, and all three go on syncing", async () => {
    const f = (federation = await MemoryFederation.start(
      REGIONS,
      { minBytes: 20_000, minIntervalMs: 0 },
      Date.now,
      ["gamma"],
    ));
    for (let nonce = 1; nonce <= 20; nonce++) await update(f, "alpha", "ops/api", nonce);
    const [alpha, gamma] = [f.get("alpha"), f.get("gamma")];
    expect(alpha.replica.documentBytes()).toBeGreaterThan(20_000);
    expect([alpha.rebases, f.get("beta").rebases]).toEqual([[], []]);
    expect(view(gamma)).toEqual(view(alpha));
    expect(view(alpha).epoch).toBe(0);
    // It was never sent an EPOCH frame (it speaks protocol 2).
    expect(f.epochFrames.get("gamma")).toBeUndefined();
    expect(f.epochFrames.get("alpha")).toBeGreaterThan(0);
    // Nor does a peer's word move a region away from it.
    f.get("beta").send("alpha", encodeEpoch(1), "epoch");
    await f.settle();
    expect([view(alpha).epoch, alpha.rebases]).toEqual([0, []]);
  }, 60_000);
});

describe("a region several epochs behind", () => {
  it("follows its one reachable peer there, an epoch at a time, and syncs", async () => {
    const f = (federation = await MemoryFederation.start(REGIONS, { minBytes: 20_000, minIntervalMs: 0 }));
    await update(f, "alpha", "ops/api", 1);
    f.disconnect("alpha", "beta");
    f.disconnect("alpha", "gamma");
    // beta and gamma go on with a manifest of their own, and rebase as it grows.
    for (let nonce = 1; epochOf(f.get("beta").replica.doc) < 3; nonce++)
      await update(f, "beta", "ops/pair", nonce, ["beta", "gamma"], ["beta", "gamma"]);
    const epoch = epochOf(f.get("beta").replica.doc);
    f.connect("alpha", "beta");
    const alpha = f.get("alpha");
    // Under load one settle() can return before alpha, at beta's epoch, has synced what beta
    // holds (1 run in 10 with two runs of this file at once); a second one always saw it there.
    await expect
      .poll(
        async () => {
          await f.settle();
          return JSON.stringify(view(alpha)) === JSON.stringify(view(f.get("beta")));
        },
        { timeout: 10_000, interval: 20 },
      )
      .toBe(true);
    expect(view(alpha)).toEqual(view(f.get("beta")));
    expect(epochOf(alpha.replica.doc)).toBe(epoch);
    expect(alpha.rebases.map((o) => o.epoch)).toEqual(Array.from({ length: epoch }, (_, i) => i + 1));
  }, 60_000);
});

describe("a hostile peer's epochs", () => {
  it("move a region on by one epoch at a time, no faster than the interval, and junk is refused", async () => {
    let clock = 1_000_000;
    const f = (federation = await MemoryFederation.start(
      REGIONS,
      { minBytes: 1 << 30, minIntervalMs: 60_000 },
      () => clock,
    ));
    const alpha = f.get("alpha");
    const gamma = f.get("gamma");
    gamma.send("alpha", encodeEpoch(MAX_EPOCH), "epoch");
    await f.settle();
    expect(epochOf(alpha.replica.doc)).toBe(1);
    gamma.send("alpha", encodeEpoch(MAX_EPOCH), "epoch");
    await f.settle();
    expect(epochOf(alpha.replica.doc)).toBe(1); // the interval has not passed
    clock += 60_000;
    gamma.send("alpha", encodeEpoch(MAX_EPOCH), "epoch");
    await f.settle();
    expect(epochOf(alpha.replica.doc)).toBe(2);
    gamma.send("alpha", Uint8Array.of(1, 2), "epoch");
    await f.settle();
    expect(alpha.refusals.some((r) => r.startsWith("gamma: an epoch message of 2 bytes"))).toBe(true);
  }, 60_000);

  it("lets two peers together move a region further than one alone", () => {
    expect(followTarget(3, new Map([["gamma", 90]]))).toBe(4);
    expect(
      followTarget(
        3,
        new Map([
          ["beta", 7],
          ["gamma", 90],
        ]),
      ),
    ).toBe(7);
    expect(followTarget(3, new Map([["gamma", 2]]))).toBe(3);
    expect(followTarget(3, new Map([["gamma", MAX_EPOCH + 1]]))).toBe(3);
  });
});
