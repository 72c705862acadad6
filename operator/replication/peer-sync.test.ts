// A hostile peer, in process: it speaks the real sync protocol over a channel
// that stands in for the mTLS transport, with changes that break the
// federation state. The honest region refuses them whole, keeps its document
// as it was, persists and forwards nothing of them, and goes on syncing once
// the peer's quarantine is over.
import * as A from "@automerge/automerge";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { testDir } from "../../e2e/support/temp-dir.ts";
import { digestOf } from "../../e2e/support/state-fixtures.ts";
import { createState, freshActor, type FederationDoc, type StateDoc } from "../state/document.ts";
import { manifestIds } from "../state/readers.ts";
import { StateStore } from "../state/store.ts";
import { batch } from "../state/transitions.ts";
import { MAX_HOLDING_MESSAGES, PeerSync, QUARANTINE_MS, type PeerChannelName } from "./peer-sync.ts";
import { Replica } from "./replica.ts";
import { inertSpecExchange } from "../../e2e/support/memory-federation.ts";

const logger = pino({ level: "silent" });
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function honestRegion(budget?: { burstBytes: number; bytesPerSecond: number }) {
  const opened = await StateStore.open(await testDir("dsc-peer-sync-"));
  let clock = 1_000;
  const replica = new Replica({ store: opened.store, doc: opened.doc, now: () => clock, logger });
  const sent = new Map<string, Uint8Array[]>([
    ["hostile", []],
    ["honest", []],
  ]);
  let deliver: (peer: string, bytes: Uint8Array, channel: PeerChannelName) => void = () => undefined;
  let connected: (peer: string) => void = () => undefined;
  let disconnected: (peer: string) => void = () => undefined;
  const disconnects: string[] = [];
  const refusals: string[] = [];
  const refusedPeers: string[] = [];
  const exchange = inertSpecExchange(opened.specs);
  const sync = new PeerSync({
    replica,
    exchange,
    syncStates: new Map(),
    refused: (peer, reason) => {
      refusedPeers.push(peer);
      refusals.push(reason);
    },
    now: () => clock,
    logger,
    ...(budget && { budget }),
    channel: {
      send: (peer, bytes, channel = "sync") => {
        if (channel === "sync") sent.get(peer)?.push(bytes);
        return true;
      },
      disconnect: (peer) => {
        disconnects.push(peer);
        disconnected(peer);
      },
      status: () => [
        { region: "hostile", connected: true },
        { region: "honest", connected: true },
      ],
      onConnect: (listener) => {
        connected = listener;
      },
      onDisconnect: (listener) => {
        disconnected = listener;
      },
      onMessage: (listener) => {
        deliver = listener;
      },
    },
  });
  const taken: string[][] = [];
  replica.onAdopted(({ ids }) => taken.push([...ids]));
  closers.push(async () => {
    exchange.close();
    await sync.close();
    await replica.close();
  });
  return {
    replica,
    sent,
    refusals,
    refusedPeers,
    taken,
    store: opened.store,
    advance: (ms: number) => (clock += ms),
    disconnects,
    reconnect: (peer: string) => {
      connected(peer);
    },
    deliver: (bytes: Uint8Array, peer = "hostile") => {
      deliver(peer, bytes, "sync");
    },
  };
}

/** Runs the sync protocol between `hostile` (a plain document) and the honest region until quiet. */
function exchange(
  region: Awaited<ReturnType<typeof honestRegion>>,
  peerDoc: StateDoc,
  peer = "hostile",
  session: { state: A.SyncState } = { state: A.initSyncState() },
): StateDoc {
  let state = session.state;
  let doc = peerDoc;
  for (let round = 0; round < 8; round++) {
    for (const bytes of region.sent.get(peer)?.splice(0) ?? [])
      [doc, state] = A.receiveSyncMessage(doc, state, bytes);
    let message: Uint8Array | null;
    [state, message] = A.generateSyncMessage(doc, state);
    if (message) region.deliver(message, peer);
  }
  session.state = state;
  return doc;
}

const good = (doc: StateDoc, name: string): StateDoc =>
  batch(doc, (d) =>
    d.submit({ id: `ns/${name}`, nonce: 1, digest: digestOf(name), region: "beta", submittedAt: 5 }),
  );

describe("peer sync with a hostile peer", () => {
  it("drops what a peer sends past its byte budget, disconnects it once, and syncs it whole after it reconnects with budget", async () => {
    // A budget that holds one first sync of 40 manifests, and the next 40 only once it refills.
    let flood = createState(freshActor());
    for (let i = 0; i < 40; i++) flood = good(flood, `flood-${String(i)}`);
    const burstBytes = A.save(flood).length * 2;
    const region = await honestRegion({ burstBytes, bytesPerSecond: 100 });
    // The peer keeps its session across rounds, as a real one does until its connection drops.
    const session = { state: A.initSyncState() };
    flood = exchange(region, flood, "hostile", session);
    expect(manifestIds(region.replica.doc)).toHaveLength(40);
    expect(region.refusals).toEqual([]);

    for (let i = 40; i < 80; i++) flood = good(flood, `flood-${String(i)}`);
    const before = A.getHeads(region.replica.doc);
    flood = exchange(region, flood, "hostile", session);
    expect(region.refusals).toEqual([
      `over its byte budget (${String(burstBytes)} bytes at once, 100 a second): its messages are dropped until it has budget again`,
    ]);
    expect(region.disconnects).toEqual(["hostile"]);
    expect(A.getHeads(region.replica.doc)).toEqual(before);

    // The connection drops: the peer forgets what was in flight (as Automerge's protocol asks).
    // Once the bucket has refilled it reconnects, and the rest of its state arrives whole.
    session.state = A.decodeSyncState(A.encodeSyncState(session.state));
    region.advance(60_000);
    region.reconnect("hostile");
    exchange(region, flood, "hostile", session);
    expect(manifestIds(region.replica.doc)).toHaveLength(80);
    expect(region.refusals).toHaveLength(1);
  });

  it("refuses a change that breaks the state, keeps, persists and passes on nothing of it, and syncs again after the quarantine", async () => {
    const region = await honestRegion();
    const bytesBefore = region.replica.documentBytes();
    // The hostile peer's history: one good version, then a change that bricks the state.
    let hostile = good(createState(freshActor()), "web");
    hostile = A.change(hostile, (d: FederationDoc) => {
      d.schema = 99;
      delete (d as Partial<FederationDoc>).pauses;
    });
    exchange(region, hostile);

    expect(region.refusals.length).toBeGreaterThan(0);
    expect(region.refusals[0]).toMatch(/breaks the federation state.*root is fixed/);
    expect(region.replica.doc.schema).toBe(3);
    expect(region.replica.doc.pauses).toEqual({});
    expect(manifestIds(region.replica.doc)).toEqual([]); // refused whole, good version and all
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(region.taken).toEqual([]);
    expect(region.replica.documentBytes()).toBe(bytesBefore);

    // While quarantined, even a clean peer document is not taken from it...
    const clean = good(createState(freshActor()), "api");
    exchange(region, clean);
    expect(manifestIds(region.replica.doc)).toEqual([]);
    // ...and after it, it is.
    region.advance(QUARANTINE_MS + 1);
    exchange(region, clean);
    expect(manifestIds(region.replica.doc)).toEqual(["ns/api"]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(region.taken.flat()).toContain("ns/api");
  });

  it("blames a change sent ahead of its dependencies on its sender, not on the honest peer whose change released it", async () => {
    const region = await honestRegion();
    // The honest peer's good version, which the hostile peer also holds, and builds a bad change on.
    const honest = good(createState(freshActor()), "web");
    let hostile = A.clone(honest, { actor: freshActor() });
    hostile = A.change(hostile, (d: FederationDoc) => {
      d.schema = 99;
    });
    const bad = A.getLastLocalChange(hostile);
    if (!bad) throw new Error("no change");
    // The bad change alone, without the good one it depends on: Automerge holds it back.
    region.deliver(A.encodeSyncMessage({ heads: A.getHeads(hostile), need: [], have: [], changes: [bad] }));
    expect(region.refusals).toEqual([]);
    expect(region.replica.doc.schema).toBe(3);

    // The honest peer syncs its good version: the held-back change applies with it and is refused,
    // the hostile peer is quarantined, and the honest peer's version is taken on its next round.
    const after = exchange(region, honest, "honest");
    expect(region.refusedPeers).toEqual(["hostile"]);
    expect(region.refusals[0]).toMatch(/sent ahead of its dependencies, which honest supplied/);
    expect(region.replica.doc.schema).toBe(3);
    exchange(region, after, "honest");
    expect(manifestIds(region.replica.doc)).toEqual(["ns/web"]);
    expect(region.refusedPeers).toEqual(["hostile"]);
  });

  it("drops a peer's message once it has kept changes waiting for too many messages", async () => {
    const region = await honestRegion();
    let source = createState(freshActor());
    const changes: Uint8Array[] = [];
    for (let i = 0; i <= MAX_HOLDING_MESSAGES + 1; i++) {
      source = good(source, `m${String(i)}`);
      const change = A.getLastLocalChange(source);
      if (change) changes.push(change);
    }
    // Everything but the first, one message each: all held back, waiting for it.
    for (const change of changes.slice(1))
      region.deliver(
        A.encodeSyncMessage({ heads: A.getHeads(source), need: [], have: [], changes: [change] }),
      );
    expect(region.refusals).toEqual([
      `${String(MAX_HOLDING_MESSAGES + 1)} messages while changes wait for missing dependencies: at most ${String(MAX_HOLDING_MESSAGES)}`,
    ]);
    // Nothing was kept: the first change now applies alone, and the rest are not waiting behind it.
    region.deliver(
      A.encodeSyncMessage({ heads: A.getHeads(source), need: [], have: [], changes: changes.slice(0, 1) }),
    );
    expect(manifestIds(region.replica.doc)).toEqual(["ns/m0"]);
  });

  it("takes a large first sync from an honest peer whole, refusing nothing", async () => {
    const region = await honestRegion();
    let peer = createState(freshActor());
    for (let i = 0; i < 20; i++)
      peer = batch(peer, (d) => {
        for (let j = 0; j < 50; j++)
          d.submit({
            id: `ns/m${String(i)}-${String(j)}`,
            nonce: 1,
            digest: digestOf(`m${String(i)}-${String(j)}`),
            region: "beta",
            submittedAt: 5,
          });
      });
    exchange(region, peer, "honest");
    expect(region.refusals).toEqual([]);
    expect(manifestIds(region.replica.doc)).toHaveLength(1000);
  });
});
