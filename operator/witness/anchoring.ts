// Logs anchored on chain (contracts/LogAnchor.sol). At its configured interval
// this region anchors its own latest checkpoint with the key the Consortium
// Safe registered for it; at every tick it reads the anchor of every log it
// knows (its own and each pinned peer's) at the confirmed block and checks it
// against the log: its own, or the proven mirror of a peer's, or the checkpoint
// its witness holds. An anchor the log contradicts is `anchor_invalid`: the
// evidence (a checkpoint the log signed and a consistency proof) goes to the
// guardian, which pauses the federation. An anchor beyond what this region
// holds of a log is checked again once it holds that much.
import { join } from "node:path";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { getAddress, zeroAddress, type Hex } from "viem";
import { DEFAULT_CONFIRMATIONS } from "../api/v1alpha1/federation.ts";
import { anchorLogId, judgeAnchor, type AnchorInvalid } from "../core/tlog/anchor.ts";
import { sameHash } from "../core/tlog/merkle.ts";
import type { Witnessed } from "../core/tlog/witness.ts";
import type { ChainAnchor } from "../chain/reader.ts";
import type { CurrentFederation } from "../federation/context.ts";
import { errorMessage } from "../runtime/errors.ts";
import { readIfExists, writeAtomic } from "../state/files.ts";
import { readLedgerFile } from "../state/ledger-file.ts";
import type { TileLog } from "../tlog/tile-log.ts";

/** Checked at least this often, whatever the anchoring interval. */
const MAX_CHECK_MS = 30_000;
/** How soon to look again while no Federation asks for anchoring. */
const UNCONFIGURED_MS = 2_000;
/** Anchors of one log waiting for this region to hold it that far; its older ones are dropped first. */
const MAX_UNCHECKED = 1024;

interface Unchecked {
  readonly region: string;
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
}

export type AnchorState = "Anchored" | "Unregistered" | "Invalid" | "Pending";

export interface AnchorStatus {
  readonly region: string;
  readonly size: number;
  /** Unix seconds of the block that anchored it (absent before the first anchor). */
  readonly at?: number;
  readonly state: AnchorState;
}

interface AnchoringOptions {
  /** Where the last block read and the anchors still to check are kept across restarts. */
  readonly stateDir: string;
  readonly current: CurrentFederation;
  readonly own: { readonly region: string; readonly log: TileLog };
  /** The peers whose logs this region knows, by the origin of their pinned key. */
  readonly peers: () => readonly { readonly region: string; readonly origin: string }[];
  /** The proven copy of a peer's log, if any. */
  readonly mirror: (region: string) => TileLog | undefined;
  /** The checkpoint of a log this region's witness cosigned last. */
  readonly held: (origin: string) => Witnessed | undefined;
  readonly invalid: (evidence: AnchorInvalid, region: string) => void;
  /** This region's own log is anchored beyond its checkpoint. */
  readonly beyond: (anchored: number, size: number) => void;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
}

const FILE = "anchors.json";
const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString("hex")}`;
const bytes32 = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.slice(2), "hex"));

export class Anchoring {
  readonly #o: AnchoringOptions;
  #status: AnchorStatus[] = [];
  #lastAnchor = 0;
  /** Since when this region's log holds receipts its latest anchor does not cover. */
  #unanchoredSince: number | undefined;
  /** The last block whose anchors were read, and on which contract. */
  #scanned: { readonly contract: Hex; readonly block: bigint } | undefined;
  /** Anchors made and not yet checked: beyond what this region holds of their log. */
  readonly #unchecked = new Map<string, Unchecked>();
  /** Logs with an anchor found invalid. */
  readonly #invalid = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /** The configured contract is not the Consortium Safe's (warned once). */
  #misowned = false;
  /** What anchors.json holds. */
  #saved: string | undefined;
  #running = false;
  readonly #lag: Gauge;
  readonly #interval: Gauge;
  readonly #anchors: Counter;

  constructor(o: AnchoringOptions) {
    this.#o = o;
    const status = () => this.#status;
    new Gauge({
      name: "dsc_log_anchor_size",
      help: "The size of each known log's latest anchor on chain (log: whose log)",
      labelNames: ["log"],
      registers: [o.registry],
      collect() {
        this.reset();
        for (const s of status()) this.set({ log: s.region }, s.size);
      },
    });
    this.#lag = new Gauge({
      name: "dsc_log_anchor_lag_seconds",
      help: "Seconds this region's log has held receipts that no anchor on chain covers (0 when anchored)",
      registers: [o.registry],
    });
    this.#interval = new Gauge({
      name: "dsc_log_anchor_interval_seconds",
      help: "How often this region anchors its log (spec.log.anchor.intervalSeconds); 0 when it does not anchor",
      registers: [o.registry],
    });
    this.#anchors = new Counter({
      name: "dsc_log_anchors_total",
      help: "Anchor transactions this region sent for its log, by outcome",
      labelNames: ["outcome"],
      registers: [o.registry],
    });
    for (const outcome of ["ok", "error"]) this.#anchors.inc({ outcome }, 0);
  }

  /** Reads where the last run stopped: anchors made while the operator was down are checked too. */
  async load(): Promise<void> {
    const bytes = await readIfExists(join(this.#o.stateDir, FILE));
    if (!bytes) return;
    const saved = readLedgerFile(
      bytes.toString("utf8"),
      join(this.#o.stateDir, FILE),
      1,
      "remove it to check anchors from the latest of each log on (anchors made meanwhile go unchecked)",
    ).fields as {
      contract?: Hex;
      block?: string;
      unchecked?: { region: string; origin: string; size: number; root: string }[];
    };
    if (saved.contract && saved.block)
      this.#scanned = { contract: saved.contract, block: BigInt(saved.block) };
    for (const u of saved.unchecked ?? [])
      this.#unchecked.set(`${u.origin}\n${String(u.size)}\n${u.root}`, {
        region: u.region,
        origin: u.origin,
        size: u.size,
        root: bytes32(u.root),
      });
  }

  async #save(): Promise<void> {
    const scanned = this.#scanned;
    const text = JSON.stringify({
      schema: 1,
      ...(scanned && { contract: scanned.contract, block: scanned.block.toString() }),
      unchecked: [...this.#unchecked.values()].map((u) => ({ ...u, root: hex(u.root) })),
    });
    if (text === this.#saved) return;
    await writeAtomic(this.#o.stateDir, FILE, new TextEncoder().encode(text));
    this.#saved = text;
  }

  /** Starts the ticks; the period follows the Federation's interval. */
  start(): void {
    const schedule = (): void => {
      // Until a Federation with spec.log.anchor is read, look again soon: the first anchor of a
      // region that starts should not wait for a whole interval.
      const anchor = this.#o.current.get()?.spec.log?.anchor;
      const ms = anchor ? Math.min((anchor.intervalSeconds ?? 600) * 1000, MAX_CHECK_MS) : UNCONFIGURED_MS;
      this.#timer = setTimeout(() => {
        void this.tick().finally(schedule);
      }, ms);
      this.#timer.unref();
    };
    schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  status(): readonly AnchorStatus[] {
    return this.#status;
  }

  /** One pass: anchor this region's log if due, then check every known log's anchor. Never throws. */
  async tick(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#tick();
    } catch (error) {
      this.#o.logger.warn({ err: errorMessage(error) }, "could not read or check the log anchors");
    } finally {
      this.#running = false;
    }
  }

  async #tick(): Promise<void> {
    const ctx = this.#o.current.get();
    const config = ctx?.spec.log?.anchor;
    if (!ctx || !config) {
      this.#status = [];
      this.#interval.set(0);
      this.#lag.set(0);
      return;
    }
    const contract = getAddress(config.contract);
    const interval = (config.intervalSeconds ?? 600) * 1000;
    this.#interval.set(ctx.anchorLog ? interval / 1000 : 0);
    const block = await ctx.chain.pinBlock(ctx.spec.chain.confirmations ?? DEFAULT_CONFIRMATIONS);
    // A contract the Consortium Safe does not own registers whatever its owner likes: nothing
    // anchored there is a log's anchor, so nothing there is judged, and nothing is anchored.
    const owner = await ctx.chain.logAnchorOwner(contract, block);
    if (owner !== getAddress(ctx.spec.consortiumSafe)) {
      if (this.#status.length > 0 || !this.#misowned)
        this.#o.logger.warn(
          { contract, owner },
          "spec.log.anchor.contract is not owned by the Consortium Safe: its anchors are ignored",
        );
      this.#misowned = true;
      this.#status = [];
      this.#interval.set(0);
      return;
    }
    this.#misowned = false;
    const own = this.#o.own;
    const logs = [{ region: own.region, origin: own.log.checkpoint.origin }, ...this.#o.peers()].map((l) => ({
      ...l,
      id: anchorLogId(l.origin),
    }));
    const latest = await Promise.all(logs.map((l) => ctx.chain.logAnchor(contract, l.id, block)));

    // Every anchor made since the last pass is checked, not only the latest: a later anchor
    // must not hide an invalid one. The first pass starts from the latest of each log.
    const scan = this.#scanned && this.#scanned.contract === contract ? this.#scanned : undefined;
    const made =
      scan === undefined
        ? latest.map((a, i) => ({ log: (logs[i] as (typeof logs)[number]).id, size: a.size, root: a.root }))
        : scan.block < block
          ? await ctx.chain.anchorEvents(
              contract,
              logs.map((l) => l.id),
              scan.block + 1n,
              block,
            )
          : [];
    this.#scanned = { contract, block };
    for (const a of made) {
      const log = logs.find((l) => l.id === a.log);
      if (!log || a.size === 0) continue;
      this.#unchecked.set(`${log.origin}\n${String(a.size)}\n${a.root}`, {
        region: log.region,
        origin: log.origin,
        size: a.size,
        root: bytes32(a.root),
      });
    }
    // Bounded per log: one registered anchorer anchoring far beyond what any region holds must
    // not push another log's pending anchor out.
    for (const { region } of logs) {
      const keys = [...this.#unchecked].filter(([, a]) => a.region === region).map(([key]) => key);
      for (const key of keys.slice(0, Math.max(0, keys.length - MAX_UNCHECKED))) this.#unchecked.delete(key);
    }
    const states = new Map<string, AnchorState>();
    for (const [key, a] of this.#unchecked) {
      const state = await this.#check(a);
      if (state !== "Pending") this.#unchecked.delete(key);
      if (state === "Invalid") this.#invalid.add(a.region);
      if (state === "Pending" || !states.has(a.region)) states.set(a.region, state);
    }

    const status: AnchorStatus[] = [];
    for (const [i, { region, id }] of logs.entries()) {
      let anchor = latest[i] as ChainAnchor;
      if (region === own.region) {
        const checkpoint = own.log.checkpoint;
        if (
          ctx.anchorLog &&
          anchor.anchorer !== zeroAddress &&
          checkpoint.size > anchor.size &&
          this.#o.now() - this.#lastAnchor >= interval
        ) {
          this.#lastAnchor = this.#o.now();
          try {
            await ctx.anchorLog(id, checkpoint.size, hex(checkpoint.root));
            this.#anchors.inc({ outcome: "ok" });
            anchor = {
              ...anchor,
              size: checkpoint.size,
              root: hex(checkpoint.root),
              at: this.#o.now() / 1000,
            };
          } catch (error) {
            this.#anchors.inc({ outcome: "error" });
            this.#o.logger.warn({ err: errorMessage(error) }, "could not anchor this region's log");
          }
        }
        // Behind its anchor is lag too: the region cannot anchor again until its log passes it.
        this.#trackLag(checkpoint.size !== anchor.size);
        // Beyond this log: only its own anchoring key made it, and the log never signed that size
        // (a stolen key, or a log rolled back to an older copy). No evidence others can check, so
        // no pause; counted as anchor_invalid, shown Invalid, and the lag alert fires.
        if (anchor.size > checkpoint.size) {
          if (!this.#invalid.has(region)) {
            this.#invalid.add(region);
            this.#o.beyond(anchor.size, checkpoint.size);
          }
        }
      }
      if (anchor.anchorer === zeroAddress) {
        status.push({ region, size: 0, state: "Unregistered" });
        continue;
      }
      const state = this.#invalid.has(region)
        ? "Invalid"
        : anchor.size === 0
          ? "Pending"
          : (states.get(region) ?? "Anchored");
      status.push({ region, size: anchor.size, ...(anchor.at > 0 ? { at: anchor.at } : {}), state });
    }
    this.#status = status;
    await this.#save();
  }

  #trackLag(behind: boolean): void {
    const now = this.#o.now();
    if (!behind) this.#unanchoredSince = undefined;
    else this.#unanchoredSince ??= now;
    this.#lag.set(this.#unanchoredSince === undefined ? 0 : (now - this.#unanchoredSince) / 1000);
  }

  async #check(a: Unchecked): Promise<AnchorState> {
    let evidence: AnchorInvalid | undefined;
    const log = a.region === this.#o.own.region ? this.#o.own.log : this.#o.mirror(a.region);
    const checkpoint = log?.checkpoint;
    const held = this.#o.held(a.origin);
    if (log && checkpoint && checkpoint.size >= a.size) {
      const [root, proof] = await Promise.all([
        log.rootAt(a.size),
        log.consistencyProof(a.size, checkpoint.size),
      ]);
      evidence = judgeAnchor(a, checkpoint.note, root, proof);
    } else if (held?.size === a.size) {
      if (!sameHash(held.root, a.root)) evidence = judgeAnchor(a, held.note, held.root, []);
    } else return "Pending";
    if (!evidence) return "Anchored";
    this.#o.logger.error(
      { log: a.region, size: a.size },
      "anchor_invalid: the root anchored on chain is not a checkpoint of the log",
    );
    this.#o.invalid(evidence, a.region);
    return "Invalid";
  }
}
