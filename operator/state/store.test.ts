import { spawn } from "node:child_process";
import { appendFile, copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as A from "@automerge/automerge";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createState, epochOf, freshActor, loadState, type StateDoc } from "./document.ts";
import { rebased } from "./rebase.ts";
import { submission } from "../../e2e/support/state-fixtures.ts";
import { submit } from "../../e2e/support/transitions.ts";
import { manifestIds } from "./readers.ts";
import { PREVIOUS, StateStore } from "./store.ts";
import { SyncSessions } from "./sync.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "dsc-state-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const nothing = { versions: new Set<string>(), approvals: new Set<string>(), applied: new Set<string>() };

const ids = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `ns/m-${String(from + i).padStart(5, "0")}`);

/** Submits and appends each id, one change and one append per id, as a reconcile loop would. */
async function appendEach(store: StateStore, doc: StateDoc, names: readonly string[]): Promise<StateDoc> {
  let d = doc;
  for (const id of names) {
    d = submit(d, submission(id, 1));
    await store.append(d);
  }
  return d;
}

async function reopen(options: { compactAfterBytes?: number } = {}) {
  const opened = await StateStore.open(dir, options);
  await opened.store.close();
  return opened;
}

describe("state store", () => {
  it("brings back every appended change, under a fresh actor", async () => {
    const first = await StateStore.open(dir);
    const doc = await appendEach(first.store, first.doc, ids(5));
    expect(await first.store.append(doc)).toBe(false);
    await first.store.close();

    const again = await reopen();
    expect(manifestIds(again.doc)).toEqual(ids(5));
    expect(A.getActorId(again.doc)).not.toBe(A.getActorId(doc));
    expect(again.tornBytes).toBe(0);
  });

  it("compacts into a snapshot and keeps the log short", async () => {
    const { store, doc } = await StateStore.open(dir, { compactAfterBytes: 4096 });
    await appendEach(store, doc, ids(60));
    const { snapshotBytes, logBytes } = store.sizes();
    await store.close();
    expect(snapshotBytes).toBeGreaterThan(0);
    expect(logBytes).toBeLessThanOrEqual(Math.max(4096, snapshotBytes));
    expect((await stat(join(dir, "state.log"))).size).toBe(logBytes);
    expect(manifestIds((await reopen()).doc)).toEqual(ids(60));
  });

  it("cuts off a torn last record and goes on appending after it", async () => {
    const first = await StateStore.open(dir);
    const doc = await appendEach(first.store, first.doc, ids(3));
    await first.store.close();
    // What kill -9 halfway through writing a record leaves behind.
    await appendFile(join(dir, "state.log"), Buffer.from([200, 1, 0, 0, 9, 9, 9, 9, 1, 2, 3]));

    const second = await StateStore.open(dir);
    expect(second.tornBytes).toBe(11);
    expect(manifestIds(second.doc)).toEqual(ids(3));
    await appendEach(second.store, second.doc, ids(1, 3));
    await second.store.close();

    const third = await reopen();
    expect(third.tornBytes).toBe(0);
    expect(manifestIds(third.doc)).toEqual(ids(4));
    expect(manifestIds(doc)).toEqual(ids(3));
  });

  it("replays a log that a crash left behind after the snapshot was replaced", async () => {
    const { store, doc } = await StateStore.open(dir);
    const d = await appendEach(store, doc, ids(4));
    await copyFile(join(dir, "state.log"), join(dir, "saved.log"));
    await store.compact(d);
    await store.close();
    // The crash came between the snapshot's rename and the log's truncation.
    await copyFile(join(dir, "saved.log"), join(dir, "state.log"));
    await writeFile(join(dir, "state.snapshot.tmp"), "half a snapshot");

    expect(manifestIds((await reopen()).doc)).toEqual(ids(4));
    expect(await readdir(dir)).not.toContain("state.snapshot.tmp");
  });

  it("keeps each peer's sync state across restarts", async () => {
    const { store } = await StateStore.open(dir);
    await store.saveSyncState("beta", Uint8Array.of(1, 2, 3));
    await store.saveSyncState("gamma", Uint8Array.of(4));
    await store.saveSyncState("beta", Uint8Array.of(5, 6));
    await expect(store.saveSyncState("../etc", Uint8Array.of(1))).rejects.toThrow();
    await store.close();
    const { syncStates } = await reopen();
    expect(Object.fromEntries([...syncStates].map(([p, b]) => [p, [...b]]))).toEqual({
      beta: [5, 6],
      gamma: [4],
    });
  });

  it("rebases to a new epoch, keeping the old one whole to roll back to", async () => {
    const { store, doc } = await StateStore.open(dir);
    const d = await appendEach(store, doc, ids(3));
    await store.saveSyncState("beta", Uint8Array.of(1));
    const next = submit(rebased(d, 1, freshActor(), nothing), submission("ns/after", 1));
    expect(await store.append(next)).toBe(true);
    expect(store.sizes().logBytes).toBe(0);
    await expect(store.append(d)).rejects.toThrow(/epoch 1; 0 is older/);
    await store.close();

    const again = await reopen();
    expect(epochOf(again.doc)).toBe(1);
    expect(manifestIds(again.doc)).toEqual([...ids(3), "ns/after"].sort());
    expect(again.syncStates.size).toBe(0);
    const previous = loadState(await readFile(join(dir, PREVIOUS)), freshActor());
    expect([epochOf(previous), manifestIds(previous)]).toEqual([0, ids(3)]);
  });

  it("finishes a rebase that a crash left after its commit point, and ignores one before it", async () => {
    const { store, doc } = await StateStore.open(dir);
    const d = await appendEach(store, doc, ids(2));
    await store.saveSyncState("beta", Uint8Array.of(1));
    await store.close();
    // Before the commit point: a temp file of the next snapshot.
    await writeFile(join(dir, "state.next.tmp"), A.save(rebased(d, 1, freshActor(), nothing)));
    expect(epochOf((await reopen()).doc)).toBe(0);
    // After it: state.next whole, the log and the sync states not yet touched.
    await writeFile(join(dir, "state.next"), A.save(rebased(d, 1, freshActor(), nothing)));
    const again = await reopen();
    expect([epochOf(again.doc), manifestIds(again.doc), again.syncStates.size]).toEqual([1, ids(2), 0]);
    expect(await readdir(dir)).not.toContain("state.next");
  });

  it("lets a restarted region sync with a peer that holds changes it never stored", async () => {
    const actor = freshActor();
    const first = await StateStore.open(dir, { actor });
    let alpha = await appendEach(first.store, first.doc, ["ns/stored"]);
    alpha = submit(alpha, submission("ns/sent-not-stored", 1));
    await first.store.close();
    const beta = exchange(alpha, createState(freshActor())).b;

    // Reusing the old actor would repeat a sequence number beta already holds.
    const reused = await reopen({});
    const withOldActor = await StateStore.open(dir, { actor });
    await withOldActor.store.close();
    expect(() => exchange(submit(withOldActor.doc, submission("ns/x", 1)), A.clone(beta))).toThrow(
      /duplicate seq/,
    );

    const after = exchange(submit(reused.doc, submission("ns/after-restart", 1)), beta);
    expect(manifestIds(after.a)).toEqual(["ns/after-restart", "ns/sent-not-stored", "ns/stored"]);
    expect(manifestIds(after.b)).toEqual(manifestIds(after.a));
  });
});

function exchange(a: StateDoc, b: StateDoc): { a: StateDoc; b: StateDoc } {
  const [sa, sb] = [new SyncSessions(), new SyncSessions()];
  for (let round = 0; round < 10; round++) {
    const toB = sa.generate(a, "beta");
    if (toB !== null) b = sb.receive(b, "alpha", toB).doc;
    const toA = sb.generate(b, "alpha");
    if (toA !== null) a = sa.receive(a, "beta", toA).doc;
    if (toA === null && toB === null) break;
  }
  return { a, b };
}

describe("state store under kill -9", () => {
  const url = (file: string) => pathToFileURL(join(import.meta.dirname, file)).href;
  // The child appends one change at a time and says so only once append returned;
  // it also rewrites a sync state file, which must never be seen half written.
  const child = `
    import { StateStore } from ${JSON.stringify(url("store.ts"))};
    import { submit } from ${JSON.stringify(url("../../e2e/support/transitions.ts"))};
    import { manifestIds } from ${JSON.stringify(url("readers.ts"))};
    import { submission } from ${JSON.stringify(url("../../e2e/support/state-fixtures.ts"))};
    import { rebased } from ${JSON.stringify(url("rebase.ts"))};
    import { epochOf, freshActor } from ${JSON.stringify(url("document.ts"))};
    const { store, doc } = await StateStore.open(process.argv[1], { compactAfterBytes: 16384 });
    const rebaseEvery = Number(process.argv[2]);
    const none = { versions: new Set(), approvals: new Set(), applied: new Set() };
    let d = doc;
    const start = manifestIds(d).length;
    process.stdout.write("ready\\n");
    for (let i = start; i < start + 100000; i++) {
      d = submit(d, submission("kill/m-" + String(i).padStart(6, "0"), 1));
      if (rebaseEvery > 0 && i % rebaseEvery === 0) d = rebased(d, epochOf(d) + 1, freshActor(), none);
      await store.append(d);
      if (i % 7 === 0) await store.saveSyncState("beta", Buffer.alloc(4096, i % 251));
      process.stdout.write(i + "\\n");
    }
  `;

  /** Runs the child until a random moment after it is ready, kills it, returns the last acknowledged index. */
  function runAndKill(delayMs: number, rebaseEvery = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, ["--input-type=module", "-e", child, dir, String(rebaseEvery)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      proc.stdout.setEncoding("utf8");
      proc.stdout.on("data", (chunk: string) => {
        if (!out.includes("ready") && (out + chunk).includes("ready")) {
          setTimeout(() => proc.kill("SIGKILL"), delayMs);
        }
        out += chunk;
      });
      proc.on("error", reject);
      proc.on("exit", (_code, signal) => {
        if (signal !== "SIGKILL") {
          reject(new Error(`child ended on its own (${String(signal)}): ${out.slice(-200)}`));
          return;
        }
        const acked = out
          .split("\n")
          .filter((l) => /^\d+$/.test(l))
          .map(Number);
        resolve(acked.length === 0 ? -1 : Math.max(...acked));
      });
    });
  }

  it.each([
    ["", 20, 0],
    [", rebasing to a new epoch every 10 changes,", 12, 10],
  ])(
    "loses no acknowledged change and never corrupts the store%s over %i kills",
    async (_, kills, rebaseEvery) => {
      let acknowledged = -1;
      let torn = 0;
      let epoch = 0;
      for (let round = 0; round < kills; round++) {
        acknowledged = Math.max(
          acknowledged,
          // A rebase takes ~100-200 ms (a new genesis, two fsynced files), so those runs last longer.
          await runAndKill(
            (rebaseEvery > 0 ? 100 : 20) + Math.floor(Math.random() * (rebaseEvery > 0 ? 1500 : 200)),
            rebaseEvery,
          ),
        );
        const { doc, store, syncStates, tornBytes } = await StateStore.open(dir);
        await store.close();
        expect(epochOf(doc)).toBeGreaterThanOrEqual(epoch);
        epoch = epochOf(doc);
        torn += tornBytes > 0 ? 1 : 0;
        const names = manifestIds(doc);
        // Every acknowledged change is there, and what is there is whole: m-0 .. m-(n-1), no gaps.
        expect(names.length).toBeGreaterThan(acknowledged);
        expect(names).toEqual(names.map((_, i) => `kill/m-${String(i).padStart(6, "0")}`));
        const sync = syncStates.get("beta");
        if (sync !== undefined) {
          expect(sync.length).toBe(4096);
          expect(new Set(sync).size).toBe(1);
        }
      }
      expect(acknowledged).toBeGreaterThan(20);
      if (rebaseEvery > 0) expect(epoch).toBeGreaterThan(1);
      console.log(
        `kill -9: ${acknowledged + 1} changes acknowledged over ${kills} kills, ${torn} torn tails cut, epoch ${epoch}`,
      );
    },
    120_000,
  );
});
