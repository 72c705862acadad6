// One region's append-only log, stored as C2SP tlog-tiles: full tiles and
// entry bundles on disk; the level-0 tile and bundle being filled in a
// journal (journal.ts); the partial tiles are served from memory, as prefixes
// of the edge or of the full tile they became. Memory holds the right edge
// only (at most 255 hashes per level and 255 entries), and a few tiles read
// lately.
//
// Appends are batched. A batch within one level-0 tile appends its entries
// and its signed checkpoint to the journal: one fdatasync. A batch that fills
// a tile writes the full tiles, the partial ones and the checkpoint file, each
// fsynced, tiles first, then starts a new journal at that checkpoint. A crash
// at any line leaves the last checkpoint made durable and every entry it
// covers; the log reopens at exactly that checkpoint, so what it signs next
// extends it. What was appended but not yet covered by a checkpoint is lost,
// and its caller was never told it was logged.
import { formatCheckpoint, parseCheckpoint, type Checkpoint } from "../core/tlog/checkpoint.ts";
import {
  consistencyProof,
  EMPTY_ROOT,
  HASH_SIZE,
  inclusionProof,
  leafHash,
  sameHash,
  treeHash,
  type Hash,
  type NodeReader,
} from "../core/tlog/merkle.ts";
import {
  formatNote,
  parseNote,
  signNote,
  verifyNote,
  type Signer,
  type Verifier,
} from "../core/tlog/note.ts";
import {
  decodeBundle,
  encodeBundle,
  parseTilePath,
  TILE_WIDTH,
  tilePath,
  tileRoot,
  tilesAt,
  withTiles,
} from "../core/tlog/tiles.ts";
import { checkFormat, type FormatFiles, type StoreFormat } from "../state/format.ts";
import type { LogFiles } from "./durable.ts";
import { formatJournal, journalBatch, journalStart, readJournal, type Journal } from "./journal.ts";

export const CHECKPOINT_PATH = "checkpoint";
const JOURNAL_PATH = "journal";
/** The files a log keeps beside the tiles (the journal) are this release's: format 1. */
export const LOG_FORMAT: StoreFormat = { store: "dsc-log", version: 1 };
/** The largest entry a bundle can hold (its length is a uint16). */
export const MAX_ENTRY_BYTES = 0xffff;
/** Entries per batch at most: one tile's worth keeps a batch's writes small. */
const MAX_BATCH = 1024;
const RECENT_TILES = 64;
/** How long the first entry of a batch waits for others to join it. */
const GATHER_MS = 3;

export class LogCorruptedError extends Error {
  override name = "LogCorruptedError";
}

interface Pending {
  readonly entry: Uint8Array;
  readonly done: (index: number) => void;
  readonly failed: (error: Error) => void;
}

export interface LogOptions {
  readonly files: LogFiles;
  readonly origin: string;
  /** Signs this log's checkpoints; absent for a mirror of another region's log, which adopts that log's. */
  readonly signer?: Signer;
  /** The log's key: every checkpoint on disk, and every one a mirror adopts, must verify under it. */
  readonly verifier: Verifier;
  /** Called after each checkpoint is durable (to witness or anchor it). */
  readonly published?: (checkpoint: SignedCheckpoint) => void;
}

export interface SignedCheckpoint extends Checkpoint {
  /** The signed note, as served at /checkpoint. */
  readonly note: string;
}

/** A full tile's first `width` hashes, or its bundle's entries `skip` to `width`: a partial tile it once was. */
function prefixOf(whole: Uint8Array, entries: boolean, width: number, skip: number): Uint8Array {
  if (width === TILE_WIDTH && skip === 0) return whole;
  return entries ? encodeBundle(decodeBundle(whole).slice(skip, width)) : whole.slice(0, width * HASH_SIZE);
}

export class TileLog {
  readonly #o: LogOptions;
  #checkpoint: SignedCheckpoint;
  /** Per tile level, the hashes of the partial tile at the checkpoint's size. */
  #edge: Hash[][];
  /** The size the edge is of: the checkpoint's, or ahead of it while a batch is signed. */
  #edgeSize: number;
  /** The entries of the partial bundle at the checkpoint's size. */
  #edgeEntries: Uint8Array[];
  #pending: Pending[] = [];
  #writing: Promise<void> | undefined;
  /** A mirror's adopts, one at a time. */
  #adopting: Promise<unknown> = Promise.resolve();
  #failure: Error | undefined;
  readonly #recent = new Map<string, Uint8Array>();
  /** The size the journal on disk starts at; undefined when there is none to append to. */
  #journal: number | undefined;

  private constructor(
    o: LogOptions,
    checkpoint: SignedCheckpoint,
    edge: Hash[][],
    edgeEntries: Uint8Array[],
    journal: number | undefined,
  ) {
    this.#o = o;
    this.#checkpoint = checkpoint;
    this.#edge = edge;
    this.#edgeSize = checkpoint.size;
    this.#edgeEntries = edgeEntries;
    this.#journal = journal;
  }

  /** Opens the log at its last checkpoint (a new log is empty), checking the tiles against it. */
  static async open(o: LogOptions): Promise<TileLog> {
    await checkFormat(
      formatFiles(o.files),
      LOG_FORMAT,
      `${o.signer ? "the log" : "the mirror of the log"} ${o.origin}`,
    );
    const text = await o.files.read(CHECKPOINT_PATH);
    const empty = (): SignedCheckpoint =>
      o.signer
        ? signed(o.signer, { origin: o.origin, size: 0, root: EMPTY_ROOT })
        : { origin: o.origin, size: 0, root: EMPTY_ROOT, note: "" };
    // The checkpoint file: the one made when the last tile filled (or by an older release, at every batch).
    const base = text === undefined ? empty() : verified(o, new TextDecoder().decode(text), CHECKPOINT_PATH);
    // The journal, if it starts there: the batches since, each with its checkpoint.
    let journal: Journal | undefined;
    const bytes = await o.files.read(JOURNAL_PATH);
    if (bytes) {
      try {
        journal = readJournal(bytes);
      } catch (error) {
        throw new LogCorruptedError(`the log's ${JOURNAL_PATH} is damaged: ${String(error)}`);
      }
      // A journal from before the last tile filled is done with; one from beyond the checkpoint
      // file means files were lost or rolled back, and reopening there could fork the log.
      if (journal.start > base.size)
        throw new LogCorruptedError(
          `the log's ${JOURNAL_PATH} starts at size ${String(journal.start)}, beyond its ${CHECKPOINT_PATH} (${String(base.size)}): files are missing or older than the journal`,
        );
      if (journal.start < base.size) journal = undefined;
    }
    let checkpoint = base;
    const added = journal?.entries ?? [];
    if (journal?.checkpoint) {
      checkpoint = verified(o, journal.checkpoint.note, JOURNAL_PATH);
      if (checkpoint.size !== base.size + journal.checkpoint.entries)
        throw new LogCorruptedError(
          `the checkpoint in the log's ${JOURNAL_PATH} is of size ${String(checkpoint.size)}, not of the ${String(journal.checkpoint.entries)} entries after ${String(base.size)} before it`,
        );
    }
    // The partial tiles on disk are those of the checkpoint file; the journal extends level 0.
    const edge: Hash[][] = [];
    for (let level = 0; tilesAt(level, base.size).full + tilesAt(level, base.size).partial > 0; level++) {
      const { full, partial } = tilesAt(level, base.size);
      edge.push(
        partial === 0 ? [] : split(await mustRead(o.files, tilePath({ level, index: full, width: partial }))),
      );
    }
    const { full, partial } = tilesAt(0, base.size);
    const edgeEntries = [
      ...(partial === 0
        ? []
        : decodeBundle(await mustRead(o.files, tilePath({ level: 0, index: full, width: partial }, true)))),
      ...added,
    ];
    if (added.length > 0) edge.splice(0, 1, [...(edge.at(0) ?? []), ...added.map((e) => leafHash(e))]);
    await removeStrayPartials(o.files, base.size);
    // Entries a crash left uncommitted, or a torn record: cut off, so appends follow the checkpoint.
    if (journal?.tail)
      await o.files.write(JOURNAL_PATH, formatJournal(base.size, added, journal.checkpoint?.note));
    const log = new TileLog(o, checkpoint, edge, edgeEntries, journal ? base.size : undefined);
    const root = await log.#treeHash(checkpoint.size);
    if (!sameHash(root, checkpoint.root))
      throw new LogCorruptedError(
        `the log's tiles do not hash to its checkpoint's root at size ${String(checkpoint.size)}`,
      );
    return log;
  }

  get checkpoint(): SignedCheckpoint {
    return this.#checkpoint;
  }

  get size(): number {
    return this.#checkpoint.size;
  }

  /** Adds an entry; resolves with its index once a durable checkpoint covers it. */
  append(entry: Uint8Array): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (entry.length > MAX_ENTRY_BYTES)
      return Promise.reject(
        new RangeError(
          `a log entry is at most ${String(MAX_ENTRY_BYTES)} bytes; this one is ${String(entry.length)}`,
        ),
      );
    return new Promise((done, failed) => {
      this.#pending.push({ entry, done, failed });
      // Group commit: the receipts of one decision, and of decisions taken together, share a
      // checkpoint and its fsyncs if they arrive within GATHER_MS of the first.
      this.#writing ??= new Promise((r) => setTimeout(r, GATHER_MS)).then(() => this.#drain());
    });
  }

  /** Waits until every entry appended so far is covered by a checkpoint. */
  async flushed(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0 && !this.#failure) {
        const batch = this.#pending.splice(0, MAX_BATCH);
        try {
          const first = this.#checkpoint.size;
          const signer = this.#o.signer;
          if (!signer) throw new Error("a mirror appends only what its log signed (adopt)");
          await this.#integrate(
            batch.map((p) => p.entry),
            (c) => signed(signer, c),
          );
          batch.forEach((p, i) => {
            p.done(first + i);
          });
          this.#o.published?.(this.#checkpoint);
        } catch (error) {
          // The log cannot tell what reached the disk: it stops, and reopening finds the last checkpoint.
          this.#failure = error instanceof Error ? error : new Error(String(error));
          for (const p of [...batch, ...this.#pending.splice(0)]) p.failed(this.#failure);
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  /**
   * A mirror's step: the next entries of another region's log and that log's
   * checkpoint over them. The tree is built here from the entries, so the
   * checkpoint is adopted only if its root is what they hash to; else nothing
   * changes and a LogCorruptedError says so.
   */
  async adopt(entries: readonly Uint8Array[], note: string): Promise<void> {
    const offered = signedCheckpoint(this.#o, note);
    if (offered.origin !== this.#o.origin || offered.size !== this.#edgeSize + entries.length)
      throw new LogCorruptedError(
        `the checkpoint is of ${offered.origin} at ${String(offered.size)}, not the ${String(entries.length)} entries after ${String(this.#edgeSize)}`,
      );
    const run = this.#adopting.then(() =>
      this.#integrate(entries, (c) => {
        if (!sameHash(c.root, offered.root))
          throw new LogCorruptedError(
            `entries ${String(this.#checkpoint.size)} to ${String(c.size)} do not hash to the checkpoint's root`,
          );
        return offered;
      }),
    );
    this.#adopting = run.catch(() => undefined);
    await run;
  }

  /**
   * A mirror's step toward a checkpoint far ahead: entries that end at a level-0 tile
   * boundary, written as full tiles and bundles beyond the checkpoint. Nothing serves or
   * trusts them until `adopt` signs off a checkpoint whose root they hash to; if it never
   * does, the log reopens at its checkpoint and they are written over. Memory holds the
   * right edge, not the gap.
   */
  async stage(entries: readonly Uint8Array[]): Promise<void> {
    if (this.#o.signer) throw new Error("a log that signs its own checkpoints does not stage entries");
    if ((this.#edgeSize + entries.length) % TILE_WIDTH !== 0)
      throw new RangeError(
        `staged entries end at a tile boundary, not at ${String(this.#edgeSize + entries.length)}`,
      );
    const run = this.#adopting.then(async () => {
      const next = this.#grow(entries);
      await Promise.all(next.writes.map(([path, bytes]) => this.#o.files.write(path, bytes)));
      this.#edge = next.edge;
      this.#edgeSize = next.size;
      this.#edgeEntries = next.bundle;
    });
    this.#adopting = run.catch(() => undefined);
    await run;
  }

  /** The edge after `entries`, and the full tiles and bundles they fill. */
  #grow(entries: readonly Uint8Array[]) {
    const edge = this.#edge.map((hashes) => [...hashes]);
    let bundle = [...this.#edgeEntries];
    let size = this.#edgeSize;
    const writes: [string, Uint8Array][] = [];
    for (const entry of entries) {
      bundle.push(entry);
      let carry: Hash | undefined = leafHash(entry);
      size++;
      for (let level = 0; carry; level++) {
        const hashes = (edge[level] ??= []);
        hashes.push(carry);
        carry = undefined;
        if (hashes.length === TILE_WIDTH) {
          const index = tilesAt(level, size).full - 1;
          const tile = join(hashes);
          writes.push([tilePath({ level, index, width: TILE_WIDTH }), tile]);
          if (level === 0) {
            writes.push([tilePath({ level: 0, index, width: TILE_WIDTH }, true), encodeBundle(bundle)]);
            bundle = [];
          }
          carry = tileRoot(tile);
          edge[level] = [];
        }
      }
    }
    return { edge, bundle, size, writes };
  }

  async #integrate(entries: readonly Uint8Array[], seal: (c: Checkpoint) => SignedCheckpoint): Promise<void> {
    const { edge, bundle, size, writes } = this.#grow(entries);
    const before = this.#checkpoint.size;
    const filled = tilesAt(0, size).full > tilesAt(0, before).full;
    if (filled) {
      // A tile filled: every tile on disk, the partial ones too, then the checkpoint file.
      for (const [level, hashes] of edge.entries()) {
        if (hashes.length === 0) continue;
        writes.push([
          tilePath({ level, index: tilesAt(level, size).full, width: hashes.length }),
          join(hashes),
        ]);
      }
      if (bundle.length > 0)
        writes.push([
          tilePath({ level: 0, index: tilesAt(0, size).full, width: bundle.length }, true),
          encodeBundle(bundle),
        ]);
      await Promise.all(writes.map(([path, bytes]) => this.#o.files.write(path, bytes)));
      for (const [path, bytes] of writes) this.#remember(path, bytes);
    }
    const was = { edge: this.#edge, size: this.#edgeSize, entries: this.#edgeEntries };
    this.#edge = edge;
    this.#edgeSize = size;
    this.#edgeEntries = bundle;
    let next: SignedCheckpoint;
    try {
      next = seal({ origin: this.#o.origin, size, root: await this.#treeHash(size) });
    } catch (error) {
      this.#edge = was.edge;
      this.#edgeSize = was.size;
      this.#edgeEntries = was.entries;
      throw error;
    }
    const note = new TextEncoder().encode(next.note);
    if (filled) {
      await this.#o.files.write(CHECKPOINT_PATH, note);
      this.#checkpoint = next;
      // The next batches go to a journal that starts here; until it exists, the file is the checkpoint.
      this.#journal = undefined;
      await this.#o.files.write(JOURNAL_PATH, journalStart(size));
      this.#journal = size;
    } else if (this.#journal === undefined) {
      await this.#o.files.write(JOURNAL_PATH, formatJournal(before, entries, next.note));
      this.#journal = before;
      this.#checkpoint = next;
    } else {
      await this.#o.files.append(JOURNAL_PATH, journalBatch(entries, next.note));
      this.#checkpoint = next;
    }
  }

  /**
   * A tile or bundle as served, if the checkpoint covers it; undefined otherwise.
   * `skip` (entry bundles only) leaves out the bundle's first entries: a peer's
   * mirror that holds them asks for the rest, so a partial bundle fetched again
   * at every sync costs what it gained, not the whole bundle each time.
   */
  async readTile(path: string, skip = 0): Promise<Uint8Array | undefined> {
    const parsed = parseTilePath(path);
    if (!parsed) return undefined;
    const { tile } = parsed;
    if (!Number.isSafeInteger(skip) || skip < 0 || skip >= tile.width || (skip > 0 && !parsed.entries))
      return undefined;
    const { full, partial } = tilesAt(tile.level, this.#checkpoint.size);
    const covered = tile.index < full || (tile.index === full && tile.width <= partial);
    if (!covered) return undefined;
    if (tile.index < full) {
      // A partial tile of a tile since filled (a mirror syncing to the size its witness cosigned,
      // behind this checkpoint) is served as the prefix of the full tile, which is all that is kept.
      const whole = tilePath({ ...tile, width: TILE_WIDTH }, parsed.entries);
      const bytes = this.#recent.get(whole) ?? (await this.#o.files.read(whole));
      return bytes && prefixOf(bytes, parsed.entries, tile.width, skip);
    }
    // A partial tile of the checkpoint: a prefix of the edge, or of the full tile it has become.
    if (tile.index < tilesAt(tile.level, this.#edgeSize).full) {
      const whole = await this.#read(tilePath({ ...tile, width: TILE_WIDTH }, parsed.entries));
      return prefixOf(whole, parsed.entries, tile.width, skip);
    }
    return parsed.entries
      ? encodeBundle(this.#edgeEntries.slice(skip, tile.width))
      : join((this.#edge[tile.level] ?? []).slice(0, tile.width));
  }

  /** The entry at `index`, if the checkpoint covers it. */
  async entry(index: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.#checkpoint.size) return undefined;
    const n = Math.floor(index / TILE_WIDTH);
    if (n >= tilesAt(0, this.#edgeSize).full) return this.#edgeEntries[index % TILE_WIDTH];
    // Bundles are read, not kept: at up to 16 MiB each, the few recent tiles must stay hashes.
    const path = tilePath({ level: 0, index: n, width: TILE_WIDTH }, true);
    const bundle = decodeBundle(this.#recent.get(path) ?? (await mustRead(this.#o.files, path)));
    return bundle[index % TILE_WIDTH];
  }

  async inclusionProof(index: number, size = this.#checkpoint.size): Promise<Hash[]> {
    this.#covered(size);
    return this.#compute((read) => inclusionProof(index, size, read));
  }

  async consistencyProof(older: number, newer = this.#checkpoint.size): Promise<Hash[]> {
    this.#covered(newer);
    return this.#compute((read) => consistencyProof(older, newer, read));
  }

  /** The root of the tree at `size` (at most the checkpoint's). */
  async rootAt(size: number): Promise<Hash> {
    this.#covered(size);
    // The latest size is the one asked for most (gossip of the checkpoint just cosigned).
    if (size === this.#checkpoint.size) return this.#checkpoint.root;
    return this.#treeHash(size);
  }

  async #treeHash(size: number): Promise<Hash> {
    return this.#compute((read) => treeHash(size, read));
  }

  #covered(size: number): void {
    if (size > this.#checkpoint.size)
      throw new RangeError(
        `the log's checkpoint is at size ${String(this.#checkpoint.size)}, not ${String(size)}`,
      );
  }

  /** Runs a pure tree computation with the tiles it needs read first. */
  #compute<T>(run: (read: NodeReader) => T): Promise<T> {
    // A tile is the edge in memory while partial, else the full tile on disk.
    return withTiles(run, async (level, index) =>
      index >= tilesAt(level, this.#edgeSize).full
        ? join(this.#edge[level] ?? [])
        : this.#read(tilePath({ level, index, width: TILE_WIDTH })),
    );
  }

  async #read(path: string): Promise<Uint8Array> {
    const hit = this.#recent.get(path);
    if (hit) return hit;
    const bytes = await mustRead(this.#o.files, path);
    this.#remember(path, bytes);
    return bytes;
  }

  #remember(path: string, bytes: Uint8Array): void {
    this.#recent.delete(path);
    this.#recent.set(path, bytes);
    if (this.#recent.size > RECENT_TILES) this.#recent.delete(this.#recent.keys().next().value ?? "");
  }
}

/**
 * Removes partial tiles a crash left beyond the checkpoint: a later batch may
 * skip their width, and they must never be served with what the log holds
 * now. A batch spans at most five level-0 tiles, so those are all it can leave.
 */
async function removeStrayPartials(files: LogFiles, size: number): Promise<void> {
  for (const entries of [false, true]) {
    // Seven tile levels hold 2^56 entries, past any size a JavaScript number holds exactly.
    for (let level = 0; level < (entries ? 1 : 7); level++) {
      const { full, partial } = tilesAt(level, size);
      for (let index = full; index <= full + Math.ceil(MAX_BATCH / TILE_WIDTH); index++) {
        const dir = tilePath({ level, index, width: 1 }, entries).slice(0, -"/1".length);
        for (const name of await files.list(dir)) {
          const width = Number(name);
          if (index > full || !(width <= partial)) await files.remove(`${dir}/${name}`);
        }
      }
    }
  }
}

/** A checkpoint note signed by this log's key, parsed; throws what the parse or the signature check found. */
function signedCheckpoint(o: LogOptions, text: string): SignedCheckpoint {
  const note = parseNote(text);
  verifyNote(note, [o.verifier]);
  return { ...parseCheckpoint(note.text), note: formatNote(note) };
}

/** A checkpoint note read from the log's files, signed by its key and of its origin. */
function verified(o: LogOptions, text: string, file: string): SignedCheckpoint {
  let checkpoint: SignedCheckpoint;
  try {
    checkpoint = signedCheckpoint(o, text);
  } catch (error) {
    throw new LogCorruptedError(
      `the log's ${file} is not a checkpoint signed by this log's key: ${String(error)}`,
    );
  }
  if (checkpoint.origin !== o.origin)
    throw new LogCorruptedError(
      `the log on disk is "${checkpoint.origin}", not "${o.origin}": is the origin or the directory wrong?`,
    );
  return checkpoint;
}

function signed(signer: Signer, c: Checkpoint): SignedCheckpoint {
  return { ...c, note: formatNote(signNote({ text: formatCheckpoint(c), signatures: [] }, [signer])) };
}

async function mustRead(files: LogFiles, path: string): Promise<Uint8Array> {
  const bytes = await files.read(path);
  if (!bytes) throw new LogCorruptedError(`the log's ${path} is missing`);
  return bytes;
}

function split(tile: Uint8Array): Hash[] {
  if (tile.length % HASH_SIZE !== 0)
    throw new LogCorruptedError("a tile's length is not a whole number of hashes");
  return Array.from({ length: tile.length / HASH_SIZE }, (_, i) =>
    tile.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE),
  );
}

function join(hashes: readonly Hash[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => {
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/** A log holds something once it has a checkpoint or a journal. */
function formatFiles(files: LogFiles): FormatFiles {
  return {
    read: (name) => files.read(name),
    write: (name, bytes) => files.write(name, bytes),
    isEmpty: async () =>
      (await files.read(CHECKPOINT_PATH)) === undefined && (await files.read(JOURNAL_PATH)) === undefined,
  };
}
