import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../core/tlog/checkpoint.ts";
import {
  leafHash,
  memoryReader,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from "../core/tlog/merkle.ts";
import { noteSigner, noteVerifier, ed25519Key, parseNote } from "../core/tlog/note.ts";
import { encodeBundle } from "../core/tlog/tiles.ts";
import { diskFiles, type LogFiles } from "./durable.ts";
import { LogCorruptedError, TileLog, type SignedCheckpoint } from "./tile-log.ts";

const ORIGIN = "alpha.dsc.example/log";
const key = ed25519Key(new Uint8Array(32).fill(1));
const keys = { signer: noteSigner(ORIGIN, key.seed), verifier: noteVerifier(ORIGIN, key.publicKey) };
const entry = (i: number): Uint8Array =>
  new TextEncoder().encode(`receipt ${String(i)} ${"x".repeat(i % 50)}`);

/** Files in memory; `crashAt` makes the n-th write (and everything after it) fail, as kill -9 would. */
function memoryFiles(store = new Map<string, Uint8Array>(), crashAt = Number.POSITIVE_INFINITY) {
  let writes = 0;
  const files: LogFiles = {
    write: async (path, bytes) => {
      await Promise.resolve();
      if (++writes >= crashAt) throw new Error("crashed");
      store.set(path, new Uint8Array(bytes));
    },
    // A crash mid-append leaves part of the bytes: a torn tail.
    append: async (path, bytes) => {
      await Promise.resolve();
      const before = store.get(path) ?? new Uint8Array();
      const crashed = ++writes >= crashAt;
      const kept = crashed ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes;
      const joined = new Uint8Array(before.length + kept.length);
      joined.set(before);
      joined.set(kept, before.length);
      store.set(path, joined);
      if (crashed) throw new Error("crashed");
    },
    read: (path) => Promise.resolve(store.get(path)),
    list: (dir) =>
      Promise.resolve(
        [...store.keys()]
          .filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes("/"))
          .map((p) => p.slice(dir.length + 1)),
      ),
    remove: (path) => {
      if (writes >= crashAt) return Promise.reject(new Error("crashed"));
      store.delete(path);
      return Promise.resolve();
    },
  };
  return { files, store };
}

const open = (files: LogFiles, published?: (c: SignedCheckpoint) => void) =>
  TileLog.open({ files, origin: ORIGIN, ...keys, ...(published ? { published } : {}) });

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("the tile log", () => {
  it("appends in batches across tile boundaries; its roots, proofs, entries and tiles are the RFC tree's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tlog-"));
    dirs.push(dir);
    const log = await open(diskFiles(dir));
    const hashes: Hash[] = [];
    const checkpoints: SignedCheckpoint[] = [];
    for (const batch of [1, 2, 253, 1, 300, 1024, 200, 66_000 - 1781]) {
      const start = hashes.length;
      const indexes = await Promise.all(
        Array.from({ length: batch }, (_, i) => {
          hashes.push(leafHash(entry(start + i)));
          return log.append(entry(start + i));
        }),
      );
      expect(indexes).toEqual(Array.from({ length: batch }, (_, i) => start + i));
      checkpoints.push(log.checkpoint);
    }
    const read = memoryReader(hashes);
    expect(log.size).toBe(66_000);
    for (const c of checkpoints) {
      expect(Buffer.from(c.root)).toEqual(Buffer.from(treeHash(c.size, read)));
      verifyConsistency(c.size, log.size, c.root, log.checkpoint.root, await log.consistencyProof(c.size));
    }
    for (const i of [0, 1, 255, 256, 257, 65_535, 65_536, 65_999]) {
      verifyInclusion(i, log.size, hashes[i] as Hash, await log.inclusionProof(i), log.checkpoint.root);
      expect(await log.entry(i)).toEqual(entry(i));
    }
    expect(await log.entry(66_000)).toBeUndefined();
    // Tiles as served: full ones, the partials of the checkpoint, nothing past it.
    expect((await log.readTile("tile/0/000"))?.length).toBe(8192);
    expect((await log.readTile("tile/1/000"))?.length).toBe(8192);
    expect((await log.readTile("tile/0/257.p/208"))?.length).toBe(208 * 32);
    expect(await log.readTile("tile/0/257.p/209")).toBeUndefined();
    expect(await log.readTile("tile/0/258")).toBeUndefined();
    expect(await log.readTile("tile/2/000.p/1")).toBeDefined();
    expect(await log.readTile("../checkpoint")).toBeUndefined();

    // Reopened, it is at the same checkpoint and goes on from there.
    const again = await open(diskFiles(dir));
    expect(again.checkpoint.note).toBe(log.checkpoint.note);
    await again.append(entry(66_000));
    hashes.push(leafHash(entry(66_000)));
    expect(Buffer.from(again.checkpoint.root)).toEqual(Buffer.from(treeHash(66_001, memoryReader(hashes))));
  }, 30_000);

  it("makes a batch within a tile durable with one append to its journal, and reopens from it", async () => {
    const { files, store } = memoryFiles();
    const ops = { write: 0, append: 0 };
    const counted: LogFiles = {
      ...files,
      write: (path, bytes) => {
        ops.write++;
        return files.write(path, bytes);
      },
      append: (path, bytes) => {
        ops.append++;
        return files.append(path, bytes);
      },
    };
    const log = await open(counted);
    await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i)))); // fills tile 0
    const filled = { ...ops };
    for (let i = 300; i < 310; i++) await log.append(entry(i));
    expect({ write: ops.write - filled.write, append: ops.append - filled.append }).toEqual({
      write: 0,
      append: 10,
    });
    // Partial tiles are served from memory, as the tree has them; nothing partial was written since.
    const hashes = Array.from({ length: 310 }, (_, i) => leafHash(entry(i)));
    expect(await log.readTile("tile/0/001.p/54")).toEqual(
      new Uint8Array(Buffer.concat(hashes.slice(256, 310).map((h) => Buffer.from(h)))),
    );
    expect(await log.readTile("tile/0/001.p/44")).toEqual(
      (await log.readTile("tile/0/001.p/54"))?.slice(0, 44 * 32),
    );
    expect([...store.keys()].filter((k) => k.includes(".p/54"))).toEqual([]);
    expect(await log.entry(305)).toEqual(entry(305));
    // A bundle without its first entries (a mirror holding them asks for the rest): of the edge,
    // or of a full tile; never of a hash tile, and never all of it or more.
    const entries = (from: number, to: number) =>
      encodeBundle(Array.from({ length: to - from }, (_, i) => entry(from + i)));
    expect(await log.readTile("tile/entries/001.p/54", 50)).toEqual(entries(306, 310));
    expect(await log.readTile("tile/entries/000", 250)).toEqual(entries(250, 256));
    for (const skip of [54, 55, -1, 1.5])
      expect(await log.readTile("tile/entries/001.p/54", skip)).toBeUndefined();
    expect(await log.readTile("tile/0/001.p/54", 1)).toBeUndefined();
    // A partial tile of a tile since filled is the full one's prefix (a peer's mirror syncing to
    // the size its witness cosigned, behind this checkpoint, asks for it).
    expect(await log.readTile("tile/entries/000.p/200", 190)).toEqual(entries(190, 200));
    expect(await log.readTile("tile/entries/000.p/200")).toEqual(entries(0, 200));
    expect(await log.readTile("tile/0/000.p/200")).toEqual(
      (await log.readTile("tile/0/000"))?.slice(0, 200 * 32),
    );

    // Reopened: the checkpoint file is the one of size 300, the journal carries it to 310.
    // A journal from beyond the checkpoint file (files lost or rolled back) is refused, not trusted.
    const checkpointFile = store.get("checkpoint") as Uint8Array;
    const older = await open(memoryFiles().files);
    await older.append(entry(0));
    store.set("checkpoint", new TextEncoder().encode(older.checkpoint.note));
    await expect(open(files)).rejects.toThrow(/starts at size 300, beyond its checkpoint \(1\)/u);
    store.set("checkpoint", checkpointFile);
    const again = await open(files);
    expect(again.checkpoint.note).toBe(log.checkpoint.note);
    expect(await again.entry(309)).toEqual(entry(309));
    await again.append(entry(310));
    hashes.push(leafHash(entry(310)));
    expect(Buffer.from(again.checkpoint.root)).toEqual(Buffer.from(treeHash(311, memoryReader(hashes))));
  });

  it("signs checkpoints with its key, in the C2SP format", async () => {
    const log = await open(memoryFiles().files);
    await log.append(entry(0));
    const note = parseNote(log.checkpoint.note);
    expect(parseCheckpoint(note.text)).toMatchObject({ origin: ORIGIN, size: 1 });
    expect(note.signatures[0]?.name).toBe(ORIGIN);
  });

  it("never signs two inconsistent checkpoints, whatever write a crash interrupts", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 6 }),
        fc.nat({ max: 40 }),
        async (batches, crashAt) => {
          const store = new Map<string, Uint8Array>();
          const published: SignedCheckpoint[] = [];
          // A crash may come as early as the format marker a new log writes at open.
          const log = await open(memoryFiles(store, crashAt).files, (c) => published.push(c)).catch(
            () => undefined,
          );
          let n = 0;
          for (const b of log ? batches : []) {
            const start = n;
            n += b;
            const appends = Array.from(
              { length: b },
              (_, i) => log?.append(entry(start + i)) ?? Promise.resolve(0),
            );
            await Promise.allSettled(appends);
          }
          // After the crash: reopen on what reached the "disk", append more, compare every checkpoint.
          const reopened = await open(memoryFiles(store).files, (c) => published.push(c));
          const last = published.at(-1);
          if (last) expect(reopened.size).toBeGreaterThanOrEqual(last.size);
          const resumed = reopened.size;
          await Promise.all(
            Array.from({ length: 300 }, (_, i) =>
              reopened.append(new TextEncoder().encode(`after ${String(i)}`)),
            ),
          );
          for (const c of [...published, reopened.checkpoint])
            verifyConsistency(
              c.size,
              reopened.size,
              c.root,
              reopened.checkpoint.root,
              await reopened.consistencyProof(c.size),
            );
          expect(reopened.size).toBe(resumed + 300);
        },
      ),
      { numRuns: 120 },
    );
  }, 30_000); // 120 logs of up to 3,900 entries: about 3 s alone, more beside other work

  it("refuses to open on tiles that do not hash to its checkpoint, or a checkpoint of another key", async () => {
    const { files, store } = memoryFiles();
    const log = await open(files);
    await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
    const tile = store.get("tile/0/001.p/44") as Uint8Array;
    store.set(
      "tile/0/001.p/44",
      tile.map((b, i) => (i === 0 ? b ^ 1 : b)),
    );
    await expect(open(files)).rejects.toThrow(LogCorruptedError);
    store.set("tile/0/001.p/44", tile);
    await expect(open(files)).resolves.toBeDefined();
    const other = ed25519Key(new Uint8Array(32).fill(2));
    await expect(
      TileLog.open({
        files,
        origin: ORIGIN,
        signer: noteSigner(ORIGIN, other.seed),
        verifier: noteVerifier(ORIGIN, other.publicKey),
      }),
    ).rejects.toThrow(/not a checkpoint signed by this log's key/);
    store.delete("tile/0/001.p/44");
    await expect(open(files)).rejects.toThrow(/missing/);
  });

  it("refuses an entry too large for a bundle, and logs nothing of it", async () => {
    const log = await open(memoryFiles().files);
    await expect(log.append(new Uint8Array(70_000))).rejects.toThrow(/at most 65535 bytes/);
    expect(log.size).toBe(0);
  });
});
