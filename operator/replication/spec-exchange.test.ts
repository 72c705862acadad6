import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { digestOf, specJson } from "../../e2e/support/state-fixtures.ts";
import type { ManifestVersion } from "../state/model.ts";
import { SpecStore } from "../state/spec-store.ts";
import { encodeSpecMessage } from "./spec-messages.ts";
import { ASK_AGAIN_MS, MAX_OFFERS, SpecExchange } from "./spec-exchange.ts";

// Specs here "match" their digest when the digest is digestOf(json), standing
// in for the manifest digest the replication service re-derives.
const version = (json: string, id = "ns/a"): ManifestVersion => ({
  id,
  nonce: 1,
  digest: digestOf(json),
  region: "alpha",
  submittedAt: 1,
});

interface Region {
  readonly name: string;
  readonly specs: SpecStore;
  readonly exchange: SpecExchange;
  readonly arrived: string[];
  readonly refused: string[];
  /** Offers told early (a hint): `peer digest id approvals`. */
  readonly early: string[];
}

let dir: string;
const regions = new Map<string, Region>();
/** Messages in flight, delivered by `settle` (as a connection would, in order). */
let queue: { from: string; to: string; bytes: Uint8Array }[] = [];
let connected = new Set<string>();

async function region(
  name: string,
  matches?: (id: string, digest: string, json: string) => boolean | undefined,
): Promise<Region> {
  const specs = await SpecStore.open(join(dir, name));
  const arrived: string[] = [];
  const refused: string[] = [];
  const early: string[] = [];
  const exchange = new SpecExchange({
    specs,
    send: (peer, bytes) => {
      if (!connected.has(name) || !connected.has(peer)) return false;
      queue.push({ from: name, to: peer, bytes });
      return true;
    },
    peers: () => [...connected].filter((r) => r !== name && connected.has(name)),
    matches: matches ?? ((_id, digest, json) => digest === digestOf(json)),
    arrived: (id) => arrived.push(id),
    early: (peer, digest, _json, hint) =>
      early.push(`${peer} ${digest} ${hint.id} ${String(hint.signatures.length)}`),
    refused: (peer, reason) => refused.push(`${peer}: ${reason}`),
    logger: pino({ level: "silent" }),
  });
  const r = { name, specs, exchange, arrived, refused, early };
  regions.set(name, r);
  connected.add(name);
  return r;
}

async function settle(): Promise<void> {
  for (let round = 0; round < 50; round++) {
    await new Promise((resolve) => setImmediate(resolve));
    const batch = queue;
    queue = [];
    for (const m of batch) await regions.get(m.to)?.exchange.receive(m.from, m.bytes);
    if (queue.length === 0 && batch.length === 0) return;
  }
  throw new Error("the exchange did not settle");
}

/** Stores run off the message queue (a disk write); waits for them. */
async function stored(r: Region, count: number): Promise<void> {
  for (let i = 0; i < 400 && r.arrived.length < count; i++)
    await new Promise((resolve) => setTimeout(resolve, 5));
  await settle();
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "dsc-exchange-"));
});
afterEach(async () => {
  for (const r of regions.values()) r.exchange.close();
  // A spec is used before its write lands: the directory goes only once the writes have.
  await Promise.all([...regions.values()].map((r) => r.specs.settled()));
  regions.clear();
  queue = [];
  connected = new Set();
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

describe("spec exchange", () => {
  it("fetches a missing spec from a peer that holds it, stores it, and says so once", async () => {
    const json = specJson("ns/a", 1);
    const alpha = await region("alpha");
    const beta = await region("beta");
    await alpha.specs.put(digestOf(json), json);

    beta.exchange.need(version(json));
    beta.exchange.need(version(json));
    expect(beta.exchange.missing).toBe(1);
    await settle();

    expect(await beta.specs.get(digestOf(json))).toBe(json);
    expect(beta.arrived).toEqual(["ns/a"]);
    expect(beta.exchange.missing).toBe(0);
    expect(alpha.refused).toEqual([]);
  });

  it("refuses a spec that does not match its digest, and takes the right one from another peer", async () => {
    const json = specJson("ns/a", 1);
    const mallory = await region("mallory");
    const gamma = await region("gamma");
    const beta = await region("beta");
    await gamma.specs.put(digestOf(json), json);
    // Mallory answers first, with a spec of its own under the wanted digest.
    await mallory.specs.put(digestOf(json), '{"objects":"evil"}');

    beta.exchange.need(version(json));
    await settle();

    expect(beta.refused).toEqual([
      `mallory: the spec sent for ${digestOf(json)} (ns/a) does not match that digest`,
    ]);
    expect(await beta.specs.get(digestOf(json))).toBe(json);
    expect(beta.arrived).toEqual(["ns/a"]);
  });

  it("ignores a spec nobody asked for, and counts garbage", async () => {
    const beta = await region("beta");
    const json = "{}";
    await beta.exchange.receive("mallory", encodeSpecMessage({ kind: "spec", digest: digestOf(json), json }));
    await beta.exchange.receive("mallory", Uint8Array.of(1, 2, 3));
    expect(beta.specs.has(digestOf(json))).toBe(false);
    expect(beta.arrived).toEqual([]);
    expect(beta.refused).toEqual(["mallory: not UTF-8 JSON"]);
  });

  it("takes a spec offered ahead of its version without asking, and checks it then", async () => {
    const json = specJson("ns/a", 1);
    const alpha = await region("alpha");
    const beta = await region("beta");
    await alpha.specs.put(digestOf(json), json);
    alpha.exchange.offer(digestOf(json), json);
    await settle();
    expect(beta.specs.has(digestOf(json))).toBe(false); // held: no version names it yet

    beta.exchange.need(version(json));
    expect(queue).toEqual([]); // no WANT
    await stored(beta, 1);
    expect(await beta.specs.get(digestOf(json))).toBe(json);
    expect(beta.arrived).toEqual(["ns/a"]);
  });

  it("tells of an offer with a hint once, while no version names it, and still checks it when one does", async () => {
    const json = specJson("ns/a", 1);
    const digest = digestOf(json);
    const hint = { id: "ns/a", signatures: [{ safe: "consortium" as const, data: "0x01" }] };
    const alpha = await region("alpha");
    const beta = await region("beta");
    alpha.exchange.offer(digest, json, hint);
    alpha.exchange.offer(digest, json, hint); // again: held already, not told again
    await settle();
    expect(beta.early).toEqual([`alpha ${digest} ns/a 1`]);
    expect(beta.specs.has(digest)).toBe(false); // held, as any offer

    beta.exchange.need(version(json));
    await stored(beta, 1);
    expect(await beta.specs.get(digest)).toBe(json);
    // A version named (or a spec stored) already: its check is under way, nothing is told early.
    const other = specJson("ns/b", 1);
    beta.exchange.need(version(other, "ns/b"));
    await beta.exchange.receive("alpha", encodeSpecMessage({ kind: "spec", digest, json, hint }));
    await beta.exchange.receive(
      "alpha",
      encodeSpecMessage({
        kind: "spec",
        digest: digestOf(other),
        json: other,
        hint: { ...hint, id: "ns/b" },
      }),
    );
    // An offer without a hint is only held.
    const third = specJson("ns/c", 1);
    alpha.exchange.offer(digestOf(third), third);
    await settle();
    expect(beta.early).toEqual([`alpha ${digest} ns/a 1`]);
    expect(beta.refused).toEqual([]);
  });

  it("refuses a forged offer when its version arrives, then asks the peers", async () => {
    const json = specJson("ns/a", 1);
    const mallory = await region("mallory");
    const alpha = await region("alpha");
    const beta = await region("beta");
    await alpha.specs.put(digestOf(json), json);
    mallory.exchange.offer(digestOf(json), '{"objects":"evil"}');
    await settle();
    beta.exchange.need(version(json));
    await settle();
    expect(beta.refused).toEqual([
      `mallory: the spec sent for ${digestOf(json)} (ns/a) does not match that digest`,
    ]);
    expect(beta.specs.has(digestOf(json))).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, ASK_AGAIN_MS + 100)); // asked again, not at once
    await stored(beta, 1);
    expect(await beta.specs.get(digestOf(json))).toBe(json);
    expect(beta.refused).toHaveLength(1); // mallory holds no spec for it, so only alpha answered
  });

  it("checks the specs the state held before the upgrade as a peer's: stored if they match, else dropped", async () => {
    const good = specJson("ns/a", 1);
    const json = specJson("ns/b", 1);
    const orphan = specJson("ns/c", 1);
    let known = false; // whether the federation, and so each digest, is known yet
    const beta = await region("beta", (_id, digest, text) => (known ? digest === digestOf(text) : undefined));
    await beta.specs.putUnchecked(digestOf(good), good);
    // An older state held whatever a peer wrote under a digest: here, a spec of its own.
    await beta.specs.putUnchecked(digestOf(json), '{"objects":"evil"}');
    await beta.specs.putUnchecked(digestOf(orphan), orphan); // no version names it any more
    expect(beta.specs.has(digestOf(good))).toBe(false); // unchecked: no reader sees it
    expect(await beta.specs.get(digestOf(good))).toBeUndefined();
    const ids = new Map([
      [digestOf(good), "ns/a"],
      [digestOf(json), "ns/b"],
    ]);

    expect(await beta.exchange.checkMigrated((d) => ids.get(d))).toBe(false); // not decided yet
    expect(beta.specs.uncheckedDigests()).toHaveLength(3);

    known = true;
    expect(await beta.exchange.checkMigrated((d) => ids.get(d))).toBe(true);
    expect(await beta.specs.get(digestOf(good))).toBe(good);
    expect(beta.arrived).toEqual(["ns/a"]);
    expect(beta.specs.has(digestOf(json)) || beta.specs.has(digestOf(orphan))).toBe(false);
    expect(beta.specs.uncheckedDigests()).toEqual([]);
    expect(beta.refused).toEqual([]); // the old state is not a peer to refuse
    expect(queue).toEqual([]); // nobody was asked

    // Both survive a restart as they are now: checked, or gone.
    await beta.specs.settled();
    const reopened = await SpecStore.open(join(dir, "beta"));
    expect(reopened.has(digestOf(good))).toBe(true);
    expect(reopened.uncheckedDigests()).toEqual([]);
  });

  it("holds a bounded number of offers: beyond it the oldest go, and are asked for", async () => {
    const alpha = await region("alpha");
    const beta = await region("beta");
    const specs = Array.from({ length: MAX_OFFERS + 1 }, (_, i) => specJson(`ns/m-${i}`, 1, 64));
    for (const json of specs) {
      await alpha.specs.put(digestOf(json), json);
      alpha.exchange.offer(digestOf(json), json);
    }
    await settle();
    beta.exchange.need(version(specs[1] ?? "", "ns/m-1"));
    expect(queue).toEqual([]); // still held
    beta.exchange.need(version(specs[0] ?? "", "ns/m-0"));
    expect(queue.map((m) => `${m.from}->${m.to}`)).toEqual([]); // the ask waits for the next turn
    await stored(beta, 2);
    expect(beta.arrived.sort()).toEqual(["ns/m-0", "ns/m-1"]);
  });

  it("keeps asking while a spec is missing, and stops once it is stored", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const json = specJson("ns/a", 1);
    const alpha = await region("alpha");
    const beta = await region("beta");
    beta.exchange.need(version(json));
    await settle();
    expect(beta.exchange.missing).toBe(1); // alpha has not got it yet

    await alpha.specs.put(digestOf(json), json);
    vi.advanceTimersByTime(ASK_AGAIN_MS);
    await settle();
    expect(beta.arrived).toEqual(["ns/a"]);

    vi.advanceTimersByTime(10 * ASK_AGAIN_MS);
    await settle();
    expect(queue).toEqual([]);
  });

  it("asks a peer that connects later", async () => {
    const json = specJson("ns/a", 1);
    const beta = await region("beta");
    beta.exchange.need(version(json));
    await settle();
    const gamma = await region("gamma");
    await gamma.specs.put(digestOf(json), json);
    beta.exchange.connected("gamma");
    await settle();
    expect(beta.arrived).toEqual(["ns/a"]);
  });

  it("neither stores nor refuses while it cannot check a spec yet", async () => {
    const json = specJson("ns/a", 1);
    const alpha = await region("alpha");
    const beta = await region("beta", () => undefined);
    await alpha.specs.put(digestOf(json), json);
    beta.exchange.need(version(json));
    await settle();
    expect(beta.specs.has(digestOf(json))).toBe(false);
    expect(beta.refused).toEqual([]);
    expect(beta.exchange.missing).toBe(1);
  });
});
