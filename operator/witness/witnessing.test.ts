// Three regions' logs witnessing each other in one process, over an in-memory
// stand-in for the peer connections: cosignatures collected and checked, the
// witnesses' state surviving a restart, a forged checkpoint of a real key
// caught as a split view by the witness it is shown to and, gossiped, by the log.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import type { FederationContext } from "../federation/context.ts";
import { CurrentFederation } from "../federation/context.ts";
import { cosignatureVerifier, formatCheckpoint, witnessName } from "../core/tlog/checkpoint.ts";
import { EMPTY_ROOT } from "../core/tlog/merkle.ts";
import {
  ed25519Key,
  formatNote,
  noteSigner,
  noteVerifier,
  parseNote,
  signNote,
  verifyNote,
} from "../core/tlog/note.ts";
import { formatAddCheckpoint, type SplitView } from "../core/tlog/witness.ts";
import type { LogDiscrepancy } from "../core/tlog/anchor.ts";
import { logOrigin, ReceiptLog } from "../receipts/receipt-log.ts";
import { setupWitnessing } from "./setup.ts";
import { checkOwnCheckpoint } from "./own-log.ts";

const REGIONS = ["alpha", "beta", "gamma"] as const;
type Region = (typeof REGIONS)[number];
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Peer connections in memory: what one region sends, the other's listeners get, after a tick. */
function network() {
  const listeners = new Map<Region, ((peer: string, bytes: Uint8Array, channel: string) => void)[]>();
  const down = new Set<Region>();
  const channel = (self: Region) => ({
    send: (peer: string, bytes: Uint8Array) => {
      if (down.has(self) || down.has(peer as Region)) return false;
      setImmediate(() => {
        for (const l of listeners.get(peer as Region) ?? []) l(self, bytes, "witness");
      });
      return true;
    },
    onMessage: (l: (peer: string, bytes: Uint8Array, channel: string) => void) => {
      listeners.set(self, [...(listeners.get(self) ?? []), l]);
    },
    status: () =>
      REGIONS.filter((r) => r !== self).map((region) => ({
        region,
        connected: !down.has(region) && !down.has(self),
      })),
  });
  return { channel, down };
}

const seeds = Object.fromEntries(REGIONS.map((r, i) => [r, new Uint8Array(32).fill(i + 1)])) as Record<
  Region,
  Uint8Array
>;
const vkeyOf = (r: Region) => {
  const k = ed25519Key(seeds[r]);
  return { origin: logOrigin("dsc", r), publicKey: k.publicKey };
};

async function region(
  self: Region,
  net: ReturnType<typeof network>,
  dir: string,
  splits: LogDiscrepancy[],
  clockAheadMs = 0,
) {
  const now = () => Date.now() + clockAheadMs;
  const current = new CurrentFederation();
  const { formatVkey, ED25519 } = await import("../core/tlog/note.ts");
  current.set({
    spec: {
      peers: REGIONS.filter((r) => r !== self).map((r) => ({
        region: r,
        endpoint: "x:1",
        certificateSha256: "0".repeat(64),
        logKey: formatVkey(vkeyOf(r).origin, ED25519, vkeyOf(r).publicKey),
      })),
    },
  } as unknown as FederationContext);
  const late: { witnessing?: Awaited<ReturnType<typeof setupWitnessing>> } = {};
  const receipts = await ReceiptLog.open({
    dir: join(dir, "log"),
    region: self,
    origin: logOrigin("dsc", self),
    seed: seeds[self],
    logger: pino({ level: "silent" }),
    registry: new Registry(),
    now,
    published: () => late.witnessing?.cosigning.published(),
  });
  const witnessing = await setupWitnessing({
    stateDir: dir,
    receipts,
    seed: seeds[self],
    channel: net.channel(self),
    current,
    discrepancy: (found) => splits.push(found),
    registry: new Registry(),
    logger: pino({ level: "silent" }),
    now,
  });
  late.witnessing = witnessing;
  return { receipts, witnessing };
}

const settle = async (regions: { witnessing: { cosigning: { settled(): Promise<void> } } }[]) => {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    await Promise.all(regions.map((r) => r.witnessing.cosigning.settled()));
  }
};

/** Three regions on one in-memory network, each in a directory of its own; `ahead` sets a region's clock. */
async function threeRegions(ahead: Partial<Record<Region, number>> = {}) {
  const net = network();
  const splits: LogDiscrepancy[] = [];
  const dirOf = Object.fromEntries(REGIONS.map((r) => [r, mkdtempSync(join(tmpdir(), `w-${r}-`))])) as Record<
    Region,
    string
  >;
  dirs.push(...Object.values(dirOf));
  const all = await Promise.all(REGIONS.map((r) => region(r, net, dirOf[r], splits, ahead[r] ?? 0)));
  return { all, splits, dirOf };
}

describe("the regions witnessing each other's logs", () => {
  it("warns of a witness whose clock runs over 5 minutes from this region's (timestamp_drift), and pauses nothing", async () => {
    // Gamma's clock runs 10 minutes ahead: its cosignatures say so.
    const { all, splits } = await threeRegions({ gamma: 600_000 });
    const alpha = all[0] as Awaited<ReturnType<typeof region>>;
    for (let i = 0; i < 5; i++) void alpha.receipts.record("manifest.verified", `ns/m-${String(i)}`, { i });
    await alpha.receipts.flushed();
    await settle(all);
    const warnings = alpha.witnessing.status().warnings ?? [];
    expect(warnings.map((w) => [w.kind, w.region])).toEqual([["timestamp_drift", "gamma"]]);
    expect(warnings[0]?.message).toMatch(
      /gamma.s witness dated its cosignature (599|60\d) s from this region.s clock/u,
    );
    // The warning is itself a receipt in alpha's log; nothing pauses.
    await alpha.receipts.flushed();
    expect(JSON.parse(new TextDecoder().decode(await alpha.receipts.log.entry(5)))).toMatchObject({
      receipt: {
        kind: "discrepancy",
        subject: "gamma",
        details: { kind: "timestamp_drift", severity: "warning" },
      },
    });
    expect(splits).toEqual([]);
    for (const r of all) r.witnessing.close();
  });

  it("has every checkpoint cosigned by both peers, and catches a forged one of a real key", async () => {
    const { all, splits, dirOf } = await threeRegions();
    const [alpha, beta, gamma] = all as [
      Awaited<ReturnType<typeof region>>,
      Awaited<ReturnType<typeof region>>,
      Awaited<ReturnType<typeof region>>,
    ];
    for (let i = 0; i < 40; i++) void alpha.receipts.record("manifest.verified", `ns/m-${String(i)}`, { i });
    await alpha.receipts.flushed();
    await settle(all);

    // Alpha's checkpoint as served carries both peers' cosignatures, each under its pinned key.
    const served = parseNote(alpha.witnessing.cosigning.checkpoint());
    const witnesses = (["beta", "gamma"] as const).map((r) =>
      cosignatureVerifier(witnessName(vkeyOf(r).origin), vkeyOf(r).publicKey),
    );
    expect(
      verifyNote(served, witnesses)
        .verified.map((v) => v.verifier.name)
        .sort(),
    ).toEqual(witnesses.map((w) => w.name).sort());
    expect(
      alpha.witnessing
        .status()
        .cosignedBy.map((c) => [c.region, c.size])
        .sort(),
    ).toEqual([
      ["beta", 40],
      ["gamma", 40],
    ]);
    expect(beta.witnessing.status().witnessed).toEqual(
      expect.arrayContaining([expect.objectContaining({ region: "alpha", size: 40 })]),
    );

    // More receipts: witnessed again from 40 with a consistency proof.
    for (let i = 40; i < 300; i++)
      void alpha.receipts.record("manifest.verified", `ns/m-${String(i)}`, { i });
    await alpha.receipts.flushed();
    await settle(all);
    expect(alpha.witnessing.status().cosignedBy.every((c) => c.size === 300)).toBe(true);
    expect(splits).toEqual([]);

    // Beta and gamma keep proven copies of alpha's log, rebuilt from its entries.
    const alphaLog = noteVerifier(vkeyOf("alpha").origin, vkeyOf("alpha").publicKey);
    for (const r of [beta, gamma])
      r.witnessing.mirrors.sync("alpha", alphaLog, r.witnessing.witness.held().get(alphaLog.name));
    for (let i = 0; i < 50 && beta.witnessing.mirrors.get("alpha")?.size !== 300; i++)
      await new Promise((r) => setTimeout(r, 20));
    const mirror = beta.witnessing.mirrors.get("alpha");
    expect(mirror?.size).toBe(300);
    expect(Buffer.from(mirror?.checkpoint.root ?? [])).toEqual(
      Buffer.from(alpha.receipts.log.checkpoint.root),
    );
    expect(await mirror?.entry(299)).toEqual(await alpha.receipts.log.entry(299));
    // A mirror adopts no checkpoint its entries do not hash to.
    await expect(mirror?.adopt([new Uint8Array([1])], alpha.receipts.log.checkpoint.note)).rejects.toThrow();
    expect(mirror?.size).toBe(300);

    // Someone with alpha's real key forges a checkpoint of size 300 with another root and shows it to gamma.
    const forged = signNote(
      {
        text: formatCheckpoint({ origin: vkeyOf("alpha").origin, size: 300, root: EMPTY_ROOT }),
        signatures: [],
      },
      [noteSigner(vkeyOf("alpha").origin, seeds.alpha)],
    );
    const answer = await gamma.witnessing.witness.addCheckpoint(
      formatAddCheckpoint({ old: 300, proof: [], checkpoint: forged }),
    );
    expect(answer.status).toBe(422);
    expect(splits[0]).toMatchObject({ kind: "root_mismatch", size: 300, origin: vkeyOf("alpha").origin });
    const split = splits[0] as SplitView;
    expect(split.checkpoints[1]).toBe(formatNote(forged));
    // Both checkpoints in the evidence verify under alpha's key: anyone can check the lie.
    for (const c of split.checkpoints)
      verifyNote(parseNote(c), [noteVerifier(vkeyOf("alpha").origin, vkeyOf("alpha").publicKey)]);

    // Gossiped to alpha itself, the forgery is found against alpha's own tree too.
    splits.length = 0;
    beta.witnessing.witness.seen(formatNote(forged)); // beta holds size 300 with the true root
    await new Promise((r) => setTimeout(r, 20));
    expect(splits.map((s) => s.size)).toEqual([300]);

    // Gossip is checked against the pinned key only when it differs from what is held: the same
    // lie signed with any other key proves nothing, and counts for nothing, in a peer or in alpha.
    splits.length = 0;
    const unsigned = signNote(
      {
        text: formatCheckpoint({ origin: vkeyOf("alpha").origin, size: 300, root: EMPTY_ROOT }),
        signatures: [],
      },
      [noteSigner(vkeyOf("alpha").origin, seeds.gamma)],
    );
    beta.witnessing.witness.seen(formatNote(unsigned));
    const ownKeys = {
      signer: noteSigner(vkeyOf("alpha").origin, seeds.alpha),
      verifier: alphaLog,
    };
    await expect(checkOwnCheckpoint(formatNote(unsigned), alpha.receipts.log, ownKeys)).rejects.toThrow();
    const beyond = signNote(
      {
        text: formatCheckpoint({ origin: vkeyOf("alpha").origin, size: 301, root: EMPTY_ROOT }),
        signatures: [],
      },
      [noteSigner(vkeyOf("alpha").origin, seeds.gamma)],
    );
    await expect(checkOwnCheckpoint(formatNote(beyond), alpha.receipts.log, ownKeys)).rejects.toThrow();
    expect(splits).toEqual([]);
    // Alpha's own checkpoints, the latest and an older one, are its tree: nothing to report.
    expect(await checkOwnCheckpoint(alpha.receipts.log.checkpoint.note, alpha.receipts.log, ownKeys)).toBe(
      undefined,
    );
    const older = signNote(
      {
        text: formatCheckpoint({
          origin: vkeyOf("alpha").origin,
          size: 40,
          root: await alpha.receipts.log.rootAt(40),
        }),
        signatures: [],
      },
      [noteSigner(vkeyOf("alpha").origin, seeds.alpha)],
    );
    expect(await checkOwnCheckpoint(formatNote(older), alpha.receipts.log, ownKeys)).toBe(undefined);
    // Only the latest checkpoint's own text skips the signature check; at any other size the
    // note must verify first, before a tree hash is read from tiles.
    const unsignedTrue = (size: number, root: Uint8Array) =>
      formatNote(
        signNote({ text: formatCheckpoint({ origin: vkeyOf("alpha").origin, size, root }), signatures: [] }, [
          noteSigner(vkeyOf("alpha").origin, seeds.gamma),
        ]),
      );
    expect(
      await checkOwnCheckpoint(
        unsignedTrue(300, alpha.receipts.log.checkpoint.root),
        alpha.receipts.log,
        ownKeys,
      ),
    ).toBe(undefined);
    await expect(
      checkOwnCheckpoint(unsignedTrue(40, await alpha.receipts.log.rootAt(40)), alpha.receipts.log, ownKeys),
    ).rejects.toThrow();
    // The real key's lie, directly: evidence with alpha's true checkpoint of that size beside it.
    expect(await checkOwnCheckpoint(formatNote(forged), alpha.receipts.log, ownKeys)).toMatchObject({
      kind: "root_mismatch",
      size: 300,
    });

    // A witness's memory survives a restart: it answers 409 with the size it cosigned.
    const again = await region("beta", network(), dirOf.beta, splits);
    const stale = await again.witnessing.witness.addCheckpoint(
      formatAddCheckpoint({ old: 0, proof: [], checkpoint: parseNote(alpha.receipts.log.checkpoint.note) }),
    );
    expect(stale).toMatchObject({ status: 409, body: "300\n" });
  });
});
