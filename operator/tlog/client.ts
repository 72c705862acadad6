// A tlog-tiles client: reads a log over HTTP as any C2SP client would (the
// checkpoint, verified against the log's key; tiles and entry bundles), and
// computes proofs from the tiles itself. It trusts nothing it fetched until it
// hashes to a checkpoint it verified: a tile that does not is refused.
import { parseCheckpoint, type Checkpoint } from "../core/tlog/checkpoint.ts";
import { BodyTooLarge, readBounded } from "../runtime/bounded-body.ts";
import {
  consistencyProof,
  HASH_SIZE,
  inclusionProof,
  leafHash,
  treeHash,
  verifyInclusion,
  type Hash,
  type NodeReader,
} from "../core/tlog/merkle.ts";
import { parseNote, verifyNote, type Note, type Verifier } from "../core/tlog/note.ts";
import { decodeBundle, TILE_WIDTH, tilePath, tilesAt, withTiles } from "../core/tlog/tiles.ts";

export class LogClientError extends Error {
  override name = "LogClientError";
}

/** The most bytes a tile or bundle response may have (a full bundle of 64 KiB entries is 16 MiB). */
const MAX_RESPONSE = 17 * 1024 * 1024;
/** A checkpoint note: an origin, a size, a root and a few signatures. */
const MAX_CHECKPOINT = 64 * 1024;

export interface VerifiedCheckpoint extends Checkpoint {
  readonly note: Note;
}

export class TileClient {
  readonly #base: string;
  readonly #verifier: Verifier;
  readonly #fetch: typeof fetch;

  /** `base` is the log's prefix URL (ending in /). */
  constructor(base: string, verifier: Verifier, fetcher: typeof fetch = fetch) {
    this.#base = base.endsWith("/") ? base : `${base}/`;
    this.#verifier = verifier;
    this.#fetch = fetcher;
  }

  async #get(path: string, limit = MAX_RESPONSE): Promise<Uint8Array> {
    const res = await this.#fetch(this.#base + path, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) {
      await res.body?.cancel();
      throw new LogClientError(`GET ${path}: HTTP ${String(res.status)}`);
    }
    try {
      return await readBounded(res, limit);
    } catch (error) {
      if (error instanceof BodyTooLarge) throw new LogClientError(`GET ${path}: over ${String(limit)} bytes`);
      throw error;
    }
  }

  /** The log's latest checkpoint, signed by its key (or an error saying why not). */
  async checkpoint(): Promise<VerifiedCheckpoint> {
    const note = parseNote(new TextDecoder().decode(await this.#get("checkpoint", MAX_CHECKPOINT)));
    verifyNote(note, [this.#verifier]);
    const checkpoint = parseCheckpoint(note.text);
    if (checkpoint.origin !== this.#verifier.name)
      throw new LogClientError(`the checkpoint is of "${checkpoint.origin}", not "${this.#verifier.name}"`);
    return { ...checkpoint, note };
  }

  /** Runs a computation over the tree of `size` on the tiles it needs, each checked for its width. */
  #compute<T>(size: number, compute: (read: NodeReader) => T): Promise<T> {
    return withTiles(compute, async (level, index) => {
      const { full, partial } = tilesAt(level, size);
      const width = index < full ? TILE_WIDTH : partial;
      const bytes = await this.#get(tilePath({ level, index, width }));
      if (bytes.length !== width * HASH_SIZE)
        throw new LogClientError(
          `tile ${String(level)}/${String(index)} holds ${String(bytes.length)} bytes, not ${String(width * HASH_SIZE)}`,
        );
      return bytes;
    });
  }

  /**
   * The entries `[from, to)` of the tree of `checkpoint`, each proven against
   * its root: the level-0 tiles they hash to lead to the checkpoint's root.
   */
  async entries(checkpoint: Checkpoint, from: number, to: number): Promise<Uint8Array[]> {
    if (
      !Number.isSafeInteger(from) ||
      !Number.isSafeInteger(to) ||
      from < 0 ||
      to > checkpoint.size ||
      from > to
    )
      throw new RangeError(
        `entries ${String(from)} to ${String(to)} are not in a log of ${String(checkpoint.size)}`,
      );
    const proofs = (r: NodeReader): Hash[][] => {
      const out: Hash[][] = [];
      for (let index = from; index < to; index++) out.push(inclusionProof(index, checkpoint.size, r));
      return out;
    };
    const all = await this.#compute(checkpoint.size, proofs);
    const out: Uint8Array[] = [];
    const { full, partial } = tilesAt(0, checkpoint.size);
    for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < to; n++) {
      const width = n < full ? TILE_WIDTH : partial;
      const bundle = decodeBundle(await this.#get(tilePath({ level: 0, index: n, width }, true)));
      if (bundle.length !== width)
        throw new LogClientError(
          `entry bundle ${String(n)} holds ${String(bundle.length)} entries, not ${String(width)}`,
        );
      for (const [i, entry] of bundle.entries()) {
        const index = n * TILE_WIDTH + i;
        if (index < from || index >= to) continue;
        try {
          verifyInclusion(index, checkpoint.size, leafHash(entry), all[index - from] ?? [], checkpoint.root);
        } catch {
          throw new LogClientError(`entry ${String(index)} does not hash to the checkpoint's root`);
        }
        out.push(entry);
      }
    }
    return out;
  }

  async inclusionProof(checkpoint: Checkpoint, index: number): Promise<Hash[]> {
    return this.#compute(checkpoint.size, (r) => inclusionProof(index, checkpoint.size, r));
  }

  /** The tree's roots at `sizes` (each at most the checkpoint's), from the checkpoint's tiles. */
  async roots(sizes: readonly number[], checkpoint: Checkpoint): Promise<Hash[]> {
    return this.#compute(checkpoint.size, (r) => sizes.map((size) => treeHash(size, r)));
  }

  async consistencyProof(older: number, checkpoint: Checkpoint): Promise<Hash[]> {
    return this.#compute(checkpoint.size, (r) => consistencyProof(older, checkpoint.size, r));
  }
}
