import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { Counter, Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { ed25519Key, noteSigner, noteVerifier } from "../core/tlog/note.ts";
import type { Receipts } from "../receipts/receipt-log.ts";
import { encodeBundle } from "../core/tlog/tiles.ts";
import { diskFiles } from "../tlog/durable.ts";
import { TileLog } from "../tlog/tile-log.ts";
import { Mirrors } from "./mirrors.ts";
import { Warnings, type WarningKind } from "./warnings.ts";

const ORIGIN = "dsc.federation.dev/dsc/beta";
const key = ed25519Key(new Uint8Array(32).fill(5));
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "warnings-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const silent = pino({ level: "silent" });

function warnings(now: { t: number }) {
  const registry = new Registry();
  const counter = new Counter({
    name: "d",
    help: "d",
    labelNames: ["kind", "log"],
    registers: [registry],
  });
  const recorded: { subject: string; details: unknown }[] = [];
  const receipts: Receipts = {
    record: (_kind, subject, details) => {
      recorded.push({ subject, details });
      return Promise.resolve();
    },
  };
  const w = new Warnings({ counter, receipts, logger: silent, now: () => now.t });
  const count = async (kind: WarningKind, log: string) =>
    (await counter.get()).values.find((v) => v.labels.kind === kind && v.labels.log === log)?.value ?? 0;
  return { w, recorded, count };
}

/** A peer's log holding `entries`, and what this region's witness holds of it. */
async function peerLog(entries: readonly string[]) {
  const log = await TileLog.open({
    files: diskFiles(tmp()),
    origin: ORIGIN,
    signer: noteSigner(ORIGIN, key.seed),
    verifier: noteVerifier(ORIGIN, key.publicKey),
  });
  for (const e of entries) void log.append(new TextEncoder().encode(e));
  await log.flushed();
  const c = log.checkpoint;
  return { log, held: { size: c.size, root: c.root, note: c.note } };
}

const receipt = (v: unknown, at: string) => JSON.stringify({ cid: "x", receipt: { v, at }, signature: "s" });

describe("log warnings (timestamp_drift, schema_incompatible, sample_missing)", () => {
  it("counts each, and records a receipt per kind and log at most once in 10 minutes", async () => {
    const now = { t: 1_000_000 };
    const { w, recorded, count } = warnings(now);
    for (let i = 0; i < 50; i++) w.notice("timestamp_drift", "beta", `drift ${String(i)}`);
    w.notice("schema_incompatible", "beta", "v2");
    expect(await count("timestamp_drift", "beta")).toBe(50);
    expect(recorded.map((r) => r.details)).toEqual([
      { kind: "timestamp_drift", severity: "warning", message: "drift 0" },
      { kind: "schema_incompatible", severity: "warning", message: "v2" },
    ]);
    // The status shows the latest of each.
    expect(w.recent().map((r) => r.message)).toEqual(["drift 49", "v2"]);
    now.t += 11 * 60_000;
    expect(w.recent()).toEqual([]);
    w.notice("timestamp_drift", "beta", "again");
    expect(recorded).toHaveLength(3);
    w.notice("sample_missing", "gamma", "gone");
    expect(recorded[3]?.details).toMatchObject({ severity: "info" });
  });

  it("are noticed by the mirror: receipts it cannot read or dated ahead, once per batch, and bundles a peer cannot serve", async () => {
    const now = Date.parse("2026-12-06T12:00:00Z");
    const { log, held } = await peerLog([
      receipt(1, "2026-12-06T11:59:00Z"),
      receipt(2, "2026-12-06T11:59:00Z"),
      "not json",
      receipt(1, "2026-12-06T12:30:00Z"),
      receipt(1, "2026-12-06T12:40:00Z"),
    ]);
    const noticed: string[] = [];
    const mirrors = new Mirrors({
      dir: tmp(),
      fetch: (_peer, path) => log.readTile(path),
      registry: new Registry(),
      logger: silent,
      notice: (kind, region, message) => noticed.push(`${kind} ${region}: ${message}`),
      now: () => now,
    });
    mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), held);
    await expect.poll(() => mirrors.get("beta")?.size).toBe(5);
    expect(noticed).toEqual([
      "schema_incompatible beta: entry 1 of beta's log is receipt version 2; this operator reads version 1",
      "timestamp_drift beta: entry 3 of beta's log is dated 1800 s ahead of this region's clock",
    ]);

    // A peer whose checkpoint covers entries it cannot serve.
    noticed.length = 0;
    const empty = new Mirrors({
      dir: tmp(),
      fetch: () => Promise.resolve(undefined),
      registry: new Registry(),
      logger: silent,
      notice: (kind, region, message) => noticed.push(`${kind} ${region}: ${message}`),
    });
    empty.sync("beta", noteVerifier(ORIGIN, key.publicKey), held);
    await expect
      .poll(() => noticed)
      .toEqual([
        "sample_missing beta: beta cannot serve entry bundle 0 (width 5) that its checkpoint of size 5 covers",
      ]);
    expect(empty.get("beta")?.size).toBe(0);
  });
});

describe("a mirror catching up with a peer far ahead", () => {
  it("copies a peer far ahead a few tiles at a time, and a copy that ends in a forged root reopens unharmed", async () => {
    const honest = await peerLog(
      Array.from({ length: 5000 }, (_, i) =>
        receipt(1, `2026-12-06T11:00:${String(i % 60).padStart(2, "0")}Z`),
      ),
    );
    // The same key, another history from entry 10 on, served against the honest checkpoint.
    const forged = await peerLog(
      Array.from({ length: 5000 }, (_, i) =>
        receipt(1, i < 10 ? `2026-12-06T11:00:${String(i % 60).padStart(2, "0")}Z` : "2026-12-06T11:30:00Z"),
      ),
    );
    const dir = tmp();
    let serving = forged.log;
    const fetched: string[] = [];
    let clock = Date.parse("2026-12-06T12:00:00Z");
    const mirrors = () =>
      new Mirrors({
        dir,
        fetch: (_peer, path) => {
          fetched.push(path);
          return serving.readTile(path);
        },
        registry: new Registry(),
        logger: silent,
        now: () => clock,
      });
    const first = mirrors();
    first.sync("beta", noteVerifier(ORIGIN, key.publicKey), honest.held);
    await expect.poll(() => fetched.length).toBe(20);
    await new Promise((r) => setTimeout(r, 50));
    expect(first.get("beta")).toBeUndefined(); // dropped: it reopens from disk at the next sync

    serving = honest.log;
    clock += 2_000; // the wait after a failed sync
    first.sync("beta", noteVerifier(ORIGIN, key.publicKey), honest.held);
    await expect.poll(() => first.get("beta")?.size).toBe(5000);
    expect(Buffer.from(first.get("beta")?.checkpoint.root ?? [])).toEqual(Buffer.from(honest.held.root));
    // Reopened from disk by another process: the same log, entry for entry.
    const again = mirrors();
    again.sync("beta", noteVerifier(ORIGIN, key.publicKey), honest.held);
    await expect.poll(() => again.get("beta")?.size).toBe(5000);
    expect(await again.get("beta")?.entry(4321)).toEqual(await honest.log.entry(4321));
    expect(await again.get("beta")?.entry(5)).toEqual(await honest.log.entry(5));
  });
});

describe("what a peer can make a mirror do", () => {
  it("keeps a copy within its disk budget: a log over it stays at what was copied, with a mirror_full warning, and is not fetched again", async () => {
    const first = await peerLog(
      Array.from({ length: 10 }, (_, i) => receipt(1, `2026-12-06T11:00:0${String(i)}Z`)),
    );
    const noticed: string[] = [];
    let fetches = 0;
    let serving = first.log;
    const mirrors = new Mirrors({
      dir: tmp(),
      maxBytes: 64 * 1024,
      fetch: (_peer, path) => {
        fetches++;
        return serving.readTile(path);
      },
      registry: new Registry(),
      logger: silent,
      now: () => Date.parse("2026-12-06T12:00:00Z"),
      notice: (kind, region, message) => noticed.push(`${kind} ${region}: ${message}`),
    });
    mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), first.held);
    await expect.poll(() => mirrors.get("beta")?.size).toBe(10);

    // The peer's log grows by 400 KiB, far over the 64 KiB budget.
    const big = "x".repeat(4096);
    const grown = await peerLog([
      ...Array.from({ length: 10 }, (_, i) => receipt(1, `2026-12-06T11:00:0${String(i)}Z`)),
      ...Array.from({ length: 100 }, () => big),
    ]);
    serving = grown.log;
    mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), grown.held);
    await expect.poll(() => noticed.length).toBe(1);
    expect(noticed[0]).toMatch(
      /^mirror_full beta: beta's log of 110 entries does not fit the 65536 bytes this region keeps for its copy \(DSC_LOG_MIRROR_MAX_MB\): the copy stays at 10 entries$/,
    );
    await new Promise((r) => setTimeout(r, 20));
    const after = fetches;
    mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), grown.held);
    await new Promise((r) => setTimeout(r, 20));
    expect(fetches).toBe(after);
    // What was copied stays served.
    expect(await mirrors.get("beta")?.entry(9)).toEqual(await first.log.entry(9));
  });

  it("counts only what an honest log adds: one receipt per sync, 150 times, stays well within a budget it fits", async () => {
    const peer = await TileLog.open({
      files: diskFiles(tmp()),
      origin: ORIGIN,
      signer: noteSigner(ORIGIN, key.seed),
      verifier: noteVerifier(ORIGIN, key.publicKey),
    });
    const noticed: string[] = [];
    const mirrors = new Mirrors({
      dir: tmp(),
      // 150 receipts of about 110 bytes take about 26 KB with their hashes (counting each
      // partial bundle whole at every sync would come to about 1.9 MB).
      maxBytes: 64 * 1024,
      fetch: (_peer, path) => peer.readTile(path),
      registry: new Registry(),
      logger: silent,
      notice: (kind, region, message) => noticed.push(`${kind} ${region}: ${message}`),
      now: () => Date.parse("2026-12-06T12:00:00Z"),
    });
    for (let i = 1; i <= 150; i++) {
      void peer.append(new TextEncoder().encode(receipt(1, "2026-12-06T11:00:00Z")));
      await peer.flushed();
      const c = peer.checkpoint;
      mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), { size: c.size, root: c.root, note: c.note });
      await expect.poll(() => mirrors.get("beta")?.size, { interval: 2 }).toBe(i);
    }
    expect(noticed).toEqual([]);
  }, 30_000);

  it("keeps serving a copy that reached its budget while catching up from far behind", async () => {
    const far = await peerLog(
      Array.from({ length: 5000 }, (_, i) =>
        receipt(1, `2026-12-06T11:00:${String(i % 60).padStart(2, "0")}Z`),
      ),
    );
    const noticed: string[] = [];
    const mirrors = new Mirrors({
      dir: tmp(),
      // Over 4,096 staged entries (about 560 KB with their hashes), under 5,000.
      maxBytes: 640 * 1024,
      fetch: (_peer, path) => far.log.readTile(path),
      registry: new Registry(),
      logger: silent,
      notice: (kind, region, message) => noticed.push(`${kind} ${region}: ${message}`),
      now: () => Date.parse("2026-12-06T12:00:00Z"),
    });
    mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), far.held);
    await expect.poll(() => noticed.some((n) => n.startsWith("mirror_full beta"))).toBe(true);
    await expect.poll(() => mirrors.get("beta")?.size).toBe(0);
    expect(mirrors.status()).toEqual([{ region: "beta", size: 0 }]);
    // Said again while it stays stopped, so the alert lasts (once the failed sync has ended: a
    // sync still in flight is not started twice).
    await expect
      .poll(() => {
        const before = noticed.length;
        mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), far.held);
        return noticed.slice(before);
      })
      .toEqual([expect.stringMatching(/^mirror_full beta: /)]);
  });

  it("waits after a failed sync, longer after each failure in a row, and not after a success", async () => {
    const { log, held } = await peerLog([receipt(1, "2026-12-06T11:00:00Z")]);
    let clock = Date.parse("2026-12-06T12:00:00Z");
    const start = clock;
    let fetches = 0;
    let failures = 0;
    let up = false;
    const mirrors = new Mirrors({
      dir: tmp(),
      fetch: (_peer, path) => {
        fetches++;
        return up ? log.readTile(path) : Promise.resolve(undefined);
      },
      registry: new Registry(),
      // Each failed sync logs one warning, after its wait is set.
      logger: pino(
        { level: "warn" },
        {
          write: () => {
            failures++;
          },
        },
      ),
      now: () => clock,
    });
    // The warning is logged before the sync lets go of the region: a turn of the event loop after.
    const ended = () => new Promise((resolve) => setImmediate(resolve));
    const sync = (at: number): void => {
      clock = start + at;
      mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), held);
    };
    sync(0);
    await expect.poll(() => failures).toBe(1);
    await ended();
    sync(1_999); // within the wait: nothing is asked
    expect(fetches).toBe(1);
    sync(2_000);
    await expect.poll(() => failures).toBe(2); // failed again: now 4 s
    await ended();
    sync(5_999);
    expect(fetches).toBe(2);
    up = true;
    sync(6_000);
    await expect.poll(() => mirrors.get("beta")?.size).toBe(1);
    expect(fetches).toBe(3);
  });
});

describe("what a mirror asks of its peer", () => {
  const peerOf = () =>
    TileLog.open({
      files: diskFiles(tmp()),
      origin: ORIGIN,
      signer: noteSigner(ORIGIN, key.seed),
      verifier: noteVerifier(ORIGIN, key.publicKey),
    });
  const entry = (i: number) =>
    new TextEncoder().encode(receipt(1, `2026-12-06T11:00:${String(i % 60).padStart(2, "0")}Z`));
  /** Appends to `peer` in steps of `step` and syncs `mirrors` after each, up to `total` entries. */
  const grow = async (peer: TileLog, mirrors: Mirrors, total: number, step: number) => {
    for (let size = step; size <= total; size += step) {
      for (let i = size - step; i < size; i++) void peer.append(entry(i));
      await peer.flushed();
      const c = peer.checkpoint;
      mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), { size: c.size, root: c.root, note: c.note });
      await expect.poll(() => mirrors.get("beta")?.size, { interval: 2 }).toBe(size);
    }
  };

  it("asks only for the entries it does not hold: synced 43 times over a tile's edge, it fetches each entry once, not each partial bundle whole again", async () => {
    const peer = await peerOf();
    let fetched = 0;
    const mirrors = new Mirrors({
      dir: tmp(),
      fetch: async (_peer, path, skip) => {
        const bytes = await peer.readTile(path, skip);
        fetched += bytes?.length ?? 0;
        return bytes;
      },
      registry: new Registry(),
      logger: silent,
      now: () => Date.parse("2026-12-06T12:00:00Z"),
    });
    await grow(peer, mirrors, 301, 7);
    // Each entry once, with its two-byte length (the whole partial bundle at every sync: about 20 times that).
    let once = 0;
    for (let i = 0; i < 301; i++) once += 2 + entry(i).length;
    expect(fetched).toBe(once);
    for (const i of [0, 255, 256, 300])
      expect(await mirrors.get("beta")?.entry(i)).toEqual(await peer.entry(i));
  }, 30_000);

  it("copies up to a checkpoint its witness cosigned before the peer filled that tile (the partial bundle is the full one's prefix)", async () => {
    const peer = await peerOf();
    for (let i = 0; i < 200; i++) void peer.append(entry(i));
    await peer.flushed();
    const c = peer.checkpoint;
    const cosigned = { size: c.size, root: c.root, note: c.note };
    for (let i = 200; i < 300; i++) void peer.append(entry(i));
    await peer.flushed();
    const noticed: string[] = [];
    const mirrors = new Mirrors({
      dir: tmp(),
      fetch: (_peer, path, skip) => peer.readTile(path, skip),
      registry: new Registry(),
      logger: silent,
      notice: (kind, region, message) => noticed.push(`${kind} ${region}: ${message}`),
      now: () => Date.parse("2026-12-06T12:00:00Z"),
    });
    mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), cosigned);
    await expect.poll(() => mirrors.get("beta")?.size).toBe(200);
    expect(noticed).toEqual([]);
  });

  it("refuses a peer's answer of other entries than asked (one too many or too few, none, or forged ones), and copies on from what it had", async () => {
    const bundle = (from: number, to: number, forge = false) =>
      encodeBundle(
        Array.from({ length: to - from }, (_, i) =>
          forge ? new TextEncoder().encode(`forged ${String(i)}`) : entry(from + i),
        ),
      );
    for (const wrong of [bundle(9, 20), bundle(11, 20), new Uint8Array(), bundle(10, 20, true)]) {
      const peer = await peerOf();
      let honest = true;
      let clock = Date.parse("2026-12-06T12:00:00Z");
      const mirrors = new Mirrors({
        dir: tmp(),
        fetch: (_peer, path, skip) => (honest ? peer.readTile(path, skip) : Promise.resolve(wrong)),
        registry: new Registry(),
        logger: silent,
        now: () => clock,
      });
      await grow(peer, mirrors, 10, 10);
      honest = false;
      for (let i = 10; i < 20; i++) void peer.append(entry(i));
      await peer.flushed();
      const c = peer.checkpoint;
      const sync = () => {
        mirrors.sync("beta", noteVerifier(ORIGIN, key.publicKey), {
          size: c.size,
          root: c.root,
          note: c.note,
        });
      };
      sync();
      await new Promise((r) => setTimeout(r, 50));
      expect(mirrors.get("beta")?.size ?? 10).toBe(10); // refused (a copy dropped reopens at 10)
      honest = true;
      clock += 2_000; // the wait after a failed sync
      sync();
      await expect.poll(() => mirrors.get("beta")?.size).toBe(20);
      for (const i of [9, 10, 19]) expect(await mirrors.get("beta")?.entry(i)).toEqual(entry(i));
    }
  });

  it("copies a peer of an older release, which answers a bundle asked without its first entries with nothing, or whole", async () => {
    for (const old of [
      () => Promise.resolve(undefined),
      (peer: TileLog, path: string) => peer.readTile(path),
    ]) {
      const peer = await peerOf();
      const asked: number[] = [];
      const mirrors = new Mirrors({
        dir: tmp(),
        fetch: (_peer, path, skip) => {
          asked.push(skip);
          return skip > 0 ? old(peer, path) : peer.readTile(path);
        },
        registry: new Registry(),
        logger: silent,
        now: () => Date.parse("2026-12-06T12:00:00Z"),
      });
      await grow(peer, mirrors, 40, 10);
      expect(asked.some((s) => s > 0)).toBe(true);
      expect(await mirrors.get("beta")?.entry(39)).toEqual(await peer.entry(39));
    }
  }, 30_000);
});
