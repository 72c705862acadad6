// Durable storage of the federation document in one directory (a
// PersistentVolume in the pod): a snapshot (`Automerge.save`), an append-only
// log of the changes since (`saveSince`, one fsynced record per append), and
// one file per peer with its encoded sync state; and, in `specs/`, the
// manifest specs by digest (spec-store.ts), which the document only names.
//
// Why files with fsync rather than the cluster's own storage (a ConfigMap or
// a custom resource in etcd): the document outgrows etcd's 1.5 MB object limit
// (10,000 manifests are several MB); every append would be an API round trip
// plus a watch event to every client; and the state must be readable when the
// region's API server is down, which is exactly when a region catches up. A
// lost volume is not lost state: the two other regions hold the whole
// document and sync it back.
//
// Crash safety: an append is acknowledged only after its fsync; a kill -9
// during an append leaves a torn last record, which `open` detects (length +
// crc32) and cuts off. Compaction writes the new snapshot atomically (temp
// file, fsync, rename, fsync of the directory) before emptying the log, so a
// crash between the two only replays changes the snapshot already holds.
//
// A rebase (a document of a later epoch, rebase.ts) is written so that a crash
// at any line leaves one epoch or the other, whole: first the old epoch,
// compacted and copied to `state.previous` (the copy to roll back to), then
// the new snapshot to `state.next` (the commit point), then the log emptied,
// the sync states dropped (they name the old epoch's heads), and `state.next`
// renamed over the snapshot. `open` finishes a rebase it finds half done.
import { readdir, readFile, open, rename, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { checkedState, epochOf, freshActor, genesis, type FederationDoc, type StateDoc } from "./document.ts";
import { legacyGenesis, migrate } from "./migrate.ts";
import { fsyncDir, readIfExists, removeFile, TEMP_SUFFIX, writeAll, writeAtomic } from "./files.ts";
import { checkRegion } from "./model.ts";
import { frame, unframe } from "./framing.ts";
import { SpecStore } from "./spec-store.ts";
import { checkFormat, directory, type StoreFormat } from "./format.ts";

const SNAPSHOT = "state.snapshot";
/** A rebase's new snapshot, from the moment it is decided until it replaces SNAPSHOT. */
const NEXT = "state.next";
/** The epoch before the last rebase, whole: what a rollback restores. */
export const PREVIOUS = "state.previous";
const LOG = "state.log";
/** The epoch each peer last said it syncs (peer-sync.ts): which peers speak epochs outlives a restart. */
const PEER_EPOCHS = "peer-epochs.json";
const SYNC_PREFIX = "sync-";
const SYNC_SUFFIX = ".state";
const SPECS = "specs";
/**
 * The directory's layout (snapshot, log framing, sync states, epochs): format 1. What the document
 * holds has its own version, its schema (document.ts), migrated record by record (migrate.ts).
 */
export const STATE_FORMAT: StoreFormat = { store: "dsc-state", version: 1 };

interface StoreOptions {
  /** Defaults to a fresh one, as every process start should take (see freshActor). */
  readonly actor?: string;
  /** Compact once the log exceeds this and the snapshot's size. Default 4 MiB. */
  readonly compactAfterBytes?: number;
}

export interface OpenedState {
  readonly store: StateStore;
  readonly doc: StateDoc;
  /** Encoded sync state by peer, for `new SyncSessions(syncStates)`. */
  readonly syncStates: Map<string, Uint8Array>;
  /** The specs this region holds, by digest. */
  readonly specs: SpecStore;
  /** Bytes of a torn log tail that were cut off (0 after a clean stop). */
  readonly tornBytes: number;
  /** The epoch each peer last said it syncs, as `savePeerEpochs` left it. */
  readonly peerEpochs: Map<string, number>;
  /** Set when the state on disk was of an older schema, migrated at this open. */
  readonly migrated?: { readonly from: number; readonly dropped: number };
}

export class StateStore {
  readonly #dir: string;
  readonly #log: FileHandle;
  readonly #compactAfter: number;
  #heads: A.Heads;
  #epoch: number;
  #logBytes: number;
  #snapshotBytes: number;
  /** Appends, compactions and closing run one at a time, in call order. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    dir: string,
    log: FileHandle,
    doc: StateDoc,
    sizes: [number, number],
    compactAfter: number,
  ) {
    this.#dir = dir;
    this.#log = log;
    this.#heads = A.getHeads(doc);
    this.#epoch = epochOf(doc);
    [this.#snapshotBytes, this.#logBytes] = sizes;
    this.#compactAfter = compactAfter;
  }

  static async open(dir: string, options: StoreOptions = {}): Promise<OpenedState> {
    const actor = options.actor ?? freshActor();
    // Before anything here is touched: a newer release's directory is refused as it is.
    await checkFormat(directory(dir), STATE_FORMAT, dir);
    let names = await readdir(dir);
    await Promise.all(names.filter((n) => n.endsWith(TEMP_SUFFIX)).map((n) => removeFile(join(dir, n))));
    if (names.includes(NEXT)) {
      await finishRebase(dir, names);
      names = await readdir(dir);
    }

    const snapshot = await readIfExists(join(dir, SNAPSHOT));
    const logExisted = names.includes(LOG);
    const log = await open(join(dir, LOG), "a+");
    const { records, validBytes, size } = await readLog(log);
    // One load of snapshot and log together: applying the log afterwards
    // (loadIncremental) is slower and, for a large log, much hungrier.
    const { bytes, loaded } = loadAny(snapshot, records, actor);
    if (validBytes < size) {
      await log.truncate(validBytes);
      await log.sync();
    }
    if (!logExisted) await fsyncDir(dir);
    const specs = await SpecStore.open(join(dir, SPECS));
    // An older schema is migrated as a rebase is written: the old state whole in state.previous,
    // then the commit point; its specs go to the spec store first (a repeat after a crash is a no-op).
    const migration = migrate(loaded, actor);
    const migratedBytes = migration && A.save(migration.doc);
    if (migration && migratedBytes) {
      // Unchecked: any peer could have written them. The exchange checks each as it checks a peer's.
      for (const [digest, json] of migration.specs) await specs.putUnchecked(digest, json);
      await writeAtomic(dir, PREVIOUS, bytes);
      await writeAtomic(dir, NEXT, migratedBytes);
      await finishRebase(dir, names, log);
    }
    const doc = migration?.doc ?? checkedState(loaded);

    const syncStates = new Map<string, Uint8Array>();
    for (const name of names) {
      if (!name.startsWith(SYNC_PREFIX) || !name.endsWith(SYNC_SUFFIX)) continue;
      const bytes = await readIfExists(join(dir, name));
      if (bytes !== undefined) syncStates.set(name.slice(SYNC_PREFIX.length, -SYNC_SUFFIX.length), bytes);
    }

    const store = new StateStore(
      dir,
      log,
      doc,
      migratedBytes ? [migratedBytes.length, 0] : [snapshot?.length ?? 0, validBytes],
      options.compactAfterBytes ?? 4 * 1024 * 1024,
    );
    const peerEpochs = readPeerEpochs(await readIfExists(join(dir, PEER_EPOCHS)));
    return {
      store,
      doc,
      syncStates,
      specs,
      tornBytes: size - validBytes,
      peerEpochs,
      ...(migration && { migrated: { from: migration.from, dropped: migration.dropped } }),
    };
  }

  /**
   * Makes every change in `doc` that is not yet stored durable (local ones
   * and those received from peers), compacting when the log has grown. Once
   * it resolves, the changes survive kill -9. Returns whether it wrote.
   */
  append(doc: StateDoc): Promise<boolean> {
    return this.#serial(async () => {
      if (epochOf(doc) !== this.#epoch) {
        await this.#rebase(doc);
        return true;
      }
      const changes = A.saveSince(doc, this.#heads);
      if (changes.length === 0) return false;
      const record = frame(changes);
      try {
        await writeAll(this.#log, record);
        await this.#log.sync();
      } catch (error) {
        // A partial record (disk full) would hide every later one from `open`.
        await this.#log.truncate(this.#logBytes).catch(() => undefined);
        throw error;
      }
      this.#logBytes += record.length;
      this.#heads = A.getHeads(doc);
      if (this.#logBytes > Math.max(this.#compactAfter, this.#snapshotBytes)) await this.#compact(doc);
      return true;
    });
  }

  /** Writes `doc` as the new snapshot and empties the log. */
  compact(doc: StateDoc): Promise<void> {
    return this.#serial(() => this.#compact(doc));
  }

  async #compact(doc: StateDoc): Promise<void> {
    const bytes = A.save(doc);
    await writeAtomic(this.#dir, SNAPSHOT, bytes);
    await this.#log.truncate(0);
    await this.#log.sync();
    this.#snapshotBytes = bytes.length;
    this.#logBytes = 0;
    this.#heads = A.getHeads(doc);
  }

  /**
   * Replaces the stored epoch with `doc`'s (append does it when handed a
   * document of another epoch). The old epoch, with everything appended to
   * it, is kept whole in `state.previous`.
   */
  async #rebase(doc: StateDoc): Promise<void> {
    if (epochOf(doc) < this.#epoch) {
      throw new Error(
        `the stored state is at epoch ${String(this.#epoch)}; ${String(epochOf(doc))} is older`,
      );
    }
    // A rebase whose commit point was written but not finished (its write failed) keeps the
    // copy it made of the epoch before; the log it would copy now is already emptied.
    if ((await readIfExists(join(this.#dir, NEXT))) === undefined) {
      const snapshot = await readIfExists(join(this.#dir, SNAPSHOT));
      const { records } = unframe(await readFile(join(this.#dir, LOG)));
      await writeAtomic(this.#dir, PREVIOUS, Buffer.concat([snapshot ?? genesis(this.#epoch), ...records]));
    }
    const bytes = A.save(doc);
    await writeAtomic(this.#dir, NEXT, bytes);
    await finishRebase(this.#dir, await readdir(this.#dir), this.#log);
    this.#snapshotBytes = bytes.length;
    this.#logBytes = 0;
    this.#heads = A.getHeads(doc);
    this.#epoch = epochOf(doc);
  }

  async saveSyncState(peer: string, state: Uint8Array): Promise<void> {
    const name = SYNC_PREFIX + checkRegion(peer) + SYNC_SUFFIX;
    await this.#serial(() => writeAtomic(this.#dir, name, state));
  }

  async savePeerEpochs(epochs: ReadonlyMap<string, number>): Promise<void> {
    const json = JSON.stringify(Object.fromEntries([...epochs].map(([p, e]) => [checkRegion(p), e])));
    await this.#serial(() => writeAtomic(this.#dir, PEER_EPOCHS, Buffer.from(json)));
  }

  /** Sizes on disk, for metrics ("document size"). */
  sizes(): { snapshotBytes: number; logBytes: number } {
    return { snapshotBytes: this.#snapshotBytes, logBytes: this.#logBytes };
  }

  close(): Promise<void> {
    return this.#serial(() => this.#log.close());
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Snapshot and log loaded as one; a log with no snapshot is loaded on the genesis its changes
 * depend on: this schema's, or an older one's (migrate.ts).
 */
function loadAny(
  snapshot: Buffer | undefined,
  records: readonly Uint8Array[],
  actor: string,
): { bytes: Buffer; loaded: A.Doc<FederationDoc> } {
  const bases = snapshot ? [snapshot] : [genesis(), legacyGenesis(2), legacyGenesis(1)];
  let failure: unknown;
  for (const base of bases) {
    const bytes = Buffer.concat([base, ...records]);
    try {
      const loaded = A.load<FederationDoc>(bytes, { actor });
      // Changes whose genesis is another are not applied but held back, missing it.
      if (A.getMissingDeps(loaded, []).length === 0) return { bytes, loaded };
      failure ??= new Error("the state log's changes depend on a document this operator does not know");
    } catch (error) {
      failure ??= error;
    }
  }
  throw failure;
}

/** What `savePeerEpochs` wrote; anything unreadable is as if nothing was (every peer heard anew). */
function readPeerEpochs(bytes: Buffer | undefined): Map<string, number> {
  const epochs = new Map<string, number>();
  try {
    const parsed: unknown = bytes && JSON.parse(bytes.toString("utf8"));
    if (typeof parsed !== "object" || parsed === null) return epochs;
    for (const [peer, epoch] of Object.entries(parsed))
      if (typeof epoch === "number" && Number.isSafeInteger(epoch) && epoch >= 0) epochs.set(peer, epoch);
  } catch {
    // a torn or foreign file: start from nothing
  }
  return epochs;
}

/** After `state.next` was written: the log emptied, the sync states gone, the snapshot replaced. */
async function finishRebase(dir: string, names: readonly string[], log?: FileHandle): Promise<void> {
  if (log) {
    await log.truncate(0);
    await log.sync();
  } else {
    const handle = await open(join(dir, LOG), "a+");
    try {
      await handle.truncate(0);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  await Promise.all(
    names
      .filter((n) => n.startsWith(SYNC_PREFIX) && n.endsWith(SYNC_SUFFIX))
      .map((n) => removeFile(join(dir, n))),
  );
  await rename(join(dir, NEXT), join(dir, SNAPSHOT));
  await fsyncDir(dir);
}

async function readLog(log: FileHandle): Promise<ReturnType<typeof unframe> & { size: number }> {
  const bytes = await log.readFile();
  return { ...unframe(bytes), size: bytes.length };
}
