// Copies of the peers' logs, kept by this region: after its witness cosigned
// a peer's checkpoint, the entries up to it are fetched from the peer, the
// tree is rebuilt here from them, and the checkpoint is adopted only if its
// root is what they hash to. The copy is a tile log like the peer's own, on
// disk beside the federation state and served under /mirror/<region>/, so
// a lost region's receipts can still be read and proven, and its log restored.
// What a peer can make this region keep is bounded: a copy stops at its disk
// budget (a mirror_full warning), and a sync that failed waits, longer after
// each failure, before it is tried again.
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import { decodeBundle, TILE_WIDTH, tilePath } from "../core/tlog/tiles.ts";
import type { Verifier } from "../core/tlog/note.ts";
import type { Witnessed } from "../core/tlog/witness.ts";
import { errorMessage } from "../runtime/errors.ts";
import { diskFiles } from "../tlog/durable.ts";
import { TileLog } from "../tlog/tile-log.ts";
import { RECEIPT_VERSION, receiptHeader } from "../core/receipt/receipt.ts";
import { MAX_DRIFT_MS, type Notice } from "./warnings.ts";

interface MirrorsOptions {
  readonly dir: string;
  /**
   * One of the peer's log resources. `skip`: the count of an entry bundle's first entries
   * this copy holds already, which the peer may leave out (a peer that answers the whole
   * bundle, or nothing, is asked again without: an older release does not know `skip`).
   */
  readonly fetch: (peer: string, path: string, skip: number) => Promise<Uint8Array | undefined>;
  readonly registry: Registry;
  readonly logger: Logger;
  /** A peer that cannot serve what its checkpoint covers, or whose receipts this region cannot read. */
  readonly notice?: Notice;
  readonly now?: () => number;
  /** The disk a copy may take (its bundles, tiles and checkpoint); 256 MiB unless set. */
  readonly maxBytes?: number;
}

/** Entries a mirror holds in memory at most while it catches up (16 full bundles). */
const STAGE_ENTRIES = 16 * TILE_WIDTH;
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/** After a failed sync: 2 s, doubled per failure, at most 5 minutes. */
const RETRY_MS = 2_000;
const MAX_RETRY_MS = 5 * 60_000;
/** The hashes a tile log writes per entry beside it, at most (a level-0 hash plus the levels above). */
const TILE_BYTES_PER_ENTRY = 2 * 32;
/** An entry's length prefix in its bundle. */
const ENTRY_PREFIX_BYTES = 2;

async function diskBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    total += entry.isDirectory()
      ? await diskBytes(path)
      : ((await stat(path).catch(() => undefined))?.size ?? 0);
  }
  return total;
}

export class Mirrors {
  readonly #o: MirrorsOptions;
  readonly #logs = new Map<string, TileLog>();
  readonly #busy = new Set<string>();
  /** Bytes each copy takes on disk, measured when it is opened and counted as it grows. */
  readonly #bytes = new Map<string, number>();
  /** When a copy whose last sync failed may be tried again, and how many failed in a row. */
  readonly #retry = new Map<string, { readonly at: number; readonly failures: number }>();
  /** Why a copy stopped at its budget: it is not fetched again until this process restarts. */
  readonly #full = new Map<string, string>();

  constructor(o: MirrorsOptions) {
    this.#o = o;
    const logs = this.#logs;
    new Gauge({
      name: "dsc_log_mirror_size",
      help: "Entries of each peer's log this region holds a proven copy of",
      labelNames: ["peer"],
      registers: [o.registry],
      collect() {
        for (const [peer, log] of logs) this.set({ peer }, log.size);
      },
    });
  }

  /** The copy of `region`'s log, if this region keeps one. */
  get(region: string): TileLog | undefined {
    return this.#logs.get(region);
  }

  /** Brings the copy of `region`'s log up to what this region's witness cosigned of it. */
  sync(region: string, log: Verifier, held: Witnessed | undefined): void {
    if (!held || this.#busy.has(region)) return;
    const full = this.#full.get(region);
    if (full !== undefined) {
      // Said again at every sync (counted; recorded at most once in 10 minutes), so the
      // warning and its alert last as long as the copy stays stopped.
      this.#o.notice?.("mirror_full", region, full);
      return;
    }
    const now = this.#now();
    const retry = this.#retry.get(region);
    if (retry && now < retry.at) return;
    this.#busy.add(region);
    this.#sync(region, log, held)
      .then(
        () => this.#retry.delete(region),
        (error: unknown) => {
          const failures = (retry?.failures ?? 0) + 1;
          const wait = Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** Math.min(failures - 1, 20));
          this.#retry.set(region, { at: this.#now() + wait, failures });
          this.#o.logger.warn(
            { peer: region, err: errorMessage(error), retryInMs: wait },
            "could not bring the mirror of a peer's log up to date",
          );
        },
      )
      .finally(() => this.#busy.delete(region));
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  /** The copy as it is on disk, at its last durable checkpoint, and the bytes it takes there. */
  async #open(region: string, verifier: Verifier): Promise<TileLog> {
    const mirror = await TileLog.open({
      files: diskFiles(join(this.#o.dir, region)),
      origin: verifier.name,
      verifier,
    });
    this.#logs.set(region, mirror);
    this.#bytes.set(region, await diskBytes(join(this.#o.dir, region)));
    return mirror;
  }

  async #sync(region: string, verifier: Verifier, held: Witnessed): Promise<void> {
    const mirror = this.#logs.get(region) ?? (await this.#open(region, verifier));
    const from = mirror.size;
    const to = held.size;
    if (to <= from) return;
    const budget = this.#o.maxBytes ?? DEFAULT_MAX_BYTES;
    let bytes = this.#bytes.get(region) ?? 0;
    let entries: Uint8Array[] = [];
    let inspected = from;
    // A copy whose memory ran ahead of its checkpoint (entries staged, or an adopt that failed
    // half-way) reopens from disk, at its last durable checkpoint, at the next sync. A peer that
    // is down only fails a fetch, and a copy with nothing staged stays served.
    let ahead = false;
    try {
      for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < to; n++) {
        const width = Math.min(TILE_WIDTH, to - n * TILE_WIDTH);
        const path = tilePath({ level: 0, index: n, width }, true);
        // Only the entries new to the copy are asked for (a partial bundle is fetched again at
        // every sync, and would otherwise cost the whole bundle each time).
        const have = Math.max(0, from - n * TILE_WIDTH);
        let skipped = have;
        let bundleBytes = await this.#o.fetch(region, path, have);
        if (!bundleBytes && have > 0) {
          skipped = 0;
          bundleBytes = await this.#o.fetch(region, path, 0);
        }
        if (!bundleBytes) {
          const message = `${region} cannot serve entry bundle ${String(n)} (width ${String(width)}) that its checkpoint of size ${String(to)} covers`;
          this.#o.notice?.("sample_missing", region, message);
          throw new Error(message);
        }
        // The entries asked for, or the whole bundle (a peer that ignores the skip); either way
        // the root rebuilt from them is what decides whether the checkpoint is adopted.
        const bundle = decodeBundle(bundleBytes);
        if (bundle.length !== width && bundle.length !== width - skipped)
          throw new Error(
            `${region}'s entry bundle ${String(n)} holds ${String(bundle.length)} entries, not ${String(width - skipped)}${skipped > 0 ? ` (or ${String(width)} whole)` : ""}`,
          );
        const fresh = bundle.length === width ? bundle.slice(have) : bundle;
        for (const entry of fresh) bytes += ENTRY_PREFIX_BYTES + entry.length + TILE_BYTES_PER_ENTRY;
        if (bytes > budget) {
          const message = `${region}'s log of ${String(to)} entries does not fit the ${String(budget)} bytes this region keeps for its copy (DSC_LOG_MIRROR_MAX_MB): the copy stays at ${String(from)} entries`;
          this.#full.set(region, message);
          this.#o.notice?.("mirror_full", region, message);
          throw new Error(message);
        }
        entries.push(...fresh.map((e) => e.slice()));
        // A peer far ahead is copied a few tiles at a time, so memory holds those, not the gap.
        if (entries.length >= STAGE_ENTRIES && (n + 1) * TILE_WIDTH < to) {
          ahead = true;
          await mirror.stage(entries);
          this.#inspect(region, inspected, entries);
          inspected += entries.length;
          entries = [];
        }
      }
      // The tree is rebuilt from the entries; the checkpoint is adopted only if it is theirs.
      ahead = true;
      await mirror.adopt(entries, held.note);
      this.#bytes.set(region, bytes);
    } catch (error) {
      if (ahead) {
        this.#logs.delete(region);
        // A copy stopped at its budget is not synced again: it is reopened now, so it stays served.
        if (this.#full.has(region)) await this.#open(region, verifier).catch(() => undefined);
      }
      throw error;
    }
    this.#inspect(region, inspected, entries);
  }

  /** Notices, once per batch each, a receipt of a version this region cannot read, or dated ahead of its clock. */
  #inspect(region: string, from: number, entries: readonly Uint8Array[]): void {
    const now = (this.#o.now ?? Date.now)();
    let schema = false;
    let drift = false;
    for (const [i, entry] of entries.entries()) {
      const header = receiptHeader(entry);
      if (!schema && header?.v !== RECEIPT_VERSION) {
        schema = true;
        this.#o.notice?.(
          "schema_incompatible",
          region,
          `entry ${String(from + i)} of ${region}'s log is ${header ? `receipt version ${JSON.stringify(header.v)}` : "not a receipt"}; this operator reads version ${String(RECEIPT_VERSION)}`,
        );
      }
      const at = typeof header?.at === "string" ? Date.parse(header.at) : Number.NaN;
      if (!drift && at - now > MAX_DRIFT_MS) {
        drift = true;
        this.#o.notice?.(
          "timestamp_drift",
          region,
          `entry ${String(from + i)} of ${region}'s log is dated ${String(Math.round((at - now) / 1000))} s ahead of this region's clock`,
        );
      }
    }
  }

  status(): { readonly region: string; readonly size: number }[] {
    return [...this.#logs].map(([region, log]) => ({ region, size: log.size }));
  }
}
