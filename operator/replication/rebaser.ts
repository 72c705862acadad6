// When this region rebases its federation state (state/rebase.ts): on its own
// once the document has grown well past what it carried last time, or to
// follow a peer already in a later epoch. Either way it carries what it
// holds, less what no region needs (state/collect.ts), and then drops the
// specs the new document no longer names.
//
// A peer cannot make a region rebase without end: following is rate-limited
// (a hostile peer that announces epoch after epoch costs one rebuild of the
// live records per interval, and nothing of them), one peer alone moves it on
// by one epoch at a time (a jump further takes two peers saying so: a region
// back from a long absence follows its peers at once, but no single member
// can push it to the last epoch there is), and a region never starts
// an epoch of its own until every configured peer has said, since this
// process started, that it speaks epochs: a peer of the release before would
// otherwise be left unable to sync until it is upgraded.
import type { Logger } from "pino";
import { collectable, type VersionFacts } from "../state/collect.ts";
import { epochOf, freshActor } from "../state/document.ts";
import { rebased, referencedDigests } from "../state/rebase.ts";
import type { SpecStore } from "../state/spec-store.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { Replica } from "./replica.ts";

export interface RebasePolicy {
  /** Rebase once the stored document exceeds this and GROWTH_FACTOR x its size just after the last rebase. */
  readonly minBytes: number;
  /** At most one rebase (own or followed) in this long. */
  readonly minIntervalMs: number;
}

/**
 * How far the document may grow past its size just after a rebase, before the next. That size
 * is the largest seen in the interval after the rebase, not this region's own carry: every
 * region that follows carries what it holds, and the carries arrive as changes (larger than
 * the document they make), so a threshold on the own carry alone would start the next epoch
 * as soon as the others' carries arrived, and so on for ever (measured: a rebase a second).
 */
export const GROWTH_FACTOR = 2;

export const DEFAULT_REBASE_POLICY: RebasePolicy = { minBytes: 4 * 1024 * 1024, minIntervalMs: 60_000 };

export interface RebaseOutcome {
  readonly epoch: number;
  readonly reason: "grown" | "peer";
  readonly versionsCollected: number;
  readonly specsCollected: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

interface RebaserOptions {
  /** This region's name. */
  readonly self: string;
  readonly replica: Replica;
  readonly specs: SpecStore;
  /**
   * The digest this region runs for a manifest id, from its own manifest's
   * status (which no peer can write): never collected, whatever the records say.
   */
  readonly running?: (id: string) => Promise<string | undefined>;
  /** Every configured peer, and the epoch each has said it syncs (none: not heard since start). */
  readonly peers: () => readonly string[];
  readonly peerEpochs: () => ReadonlyMap<string, number>;
  readonly policy: RebasePolicy;
  readonly now: () => number;
  readonly logger: Logger;
  readonly rebased?: (outcome: RebaseOutcome) => void;
}

/** The highest epoch an epoch never moves past: its successor still fits the 4 bytes peers send. */
export const MAX_EPOCH = 2 ** 32 - 2;

/**
 * The epoch to follow the peers to: the next one on one peer's word, further
 * only as far as two peers say (any two of three regions are a majority).
 */
export function followTarget(mine: number, peers: ReadonlyMap<string, number>): number {
  const ahead = [...peers.values()].filter((e) => e > mine && e <= MAX_EPOCH).sort((a, b) => b - a);
  const [highest, second] = ahead;
  if (highest === undefined) return mine;
  return Math.max(mine + 1, second ?? 0);
}

export class Rebaser {
  readonly #o: RebaserOptions;
  #running: Promise<void> | undefined;
  #last = Number.NEGATIVE_INFINITY;
  /** The document's size just after the last rebase (see GROWTH_FACTOR); 0 after a start. */
  #baseline = 0;
  /** The highest epoch a peer announced that this region has not followed yet. */
  #wanted = 0;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RebaserOptions) {
    this.#o = options;
  }

  /** Whether every configured peer has said it speaks epochs: a rebase would cut off one that has not. */
  #allSpeakEpochs(): boolean {
    const peerEpochs = this.#o.peerEpochs();
    return this.#o.peers().every((p) => peerEpochs.has(p));
  }

  /** After a write: starts a rebase of this region's own if the document has grown enough. */
  check(): void {
    const bytes = this.#o.replica.documentBytes();
    if (this.#o.now() - this.#last < this.#o.policy.minIntervalMs) {
      this.#baseline = Math.max(this.#baseline, bytes);
      return;
    }
    if (bytes <= Math.max(this.#o.policy.minBytes, GROWTH_FACTOR * this.#baseline)) return;
    if (!this.#allSpeakEpochs()) return;
    const epoch = epochOf(this.#o.replica.doc) + 1;
    if (epoch > MAX_EPOCH) return;
    this.#start(epoch, "grown");
  }

  /** A peer said it syncs a later epoch: follow when the interval allows. */
  follow(): void {
    if (!this.#allSpeakEpochs()) return;
    this.#wanted = Math.max(this.#wanted, followTarget(epochOf(this.#o.replica.doc), this.#o.peerEpochs()));
    this.#start(this.#wanted, "peer");
  }

  /** After a rebase ends, done or failed: the next step, if a peer is still ahead or the state grew. */
  #next(): void {
    if (followTarget(epochOf(this.#o.replica.doc), this.#o.peerEpochs()) > epochOf(this.#o.replica.doc))
      this.follow();
    else this.check();
  }

  /** Waits for a rebase in flight. */
  async settled(): Promise<void> {
    await this.#running;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  #start(epoch: number, reason: RebaseOutcome["reason"]): void {
    if (this.#running || epoch <= epochOf(this.#o.replica.doc)) return;
    const wait = this.#last + this.#o.policy.minIntervalMs - this.#o.now();
    if (wait > 0) {
      this.#retry ??= setTimeout(() => {
        this.#retry = undefined;
        if (!this.#closed) this.#next();
      }, wait);
      return;
    }
    this.#last = this.#o.now();
    this.#running = this.#run(epoch, reason)
      .catch((error: unknown) => {
        this.#o.logger.error({ err: errorMessage(error), epoch }, "could not rebase the federation state");
      })
      .finally(() => {
        this.#running = undefined;
        if (!this.#closed)
          setImmediate(() => {
            this.#next();
          });
      });
  }

  async #run(epoch: number, reason: RebaseOutcome["reason"]): Promise<void> {
    const { replica, specs } = this.#o;
    const bytesBefore = replica.documentBytes();
    // The specs' facts are read first (from disk); the rebase itself takes the document as it is then.
    const facts = new Map<string, VersionFacts>();
    for (const digest of referencedDigests(replica.doc)) {
      const f = await specs.facts(digest);
      if (f) facts.set(digest, f);
    }
    const regions = [this.#o.self, ...this.#o.peers()];
    // What this region runs, for every manifest that has a version to collect.
    const running = new Set<string>();
    if (this.#o.running) {
      const candidates = collectable(
        replica.doc,
        (d) => facts.get(d),
        this.#o.now(),
        new Set(),
        regions,
      ).versions;
      const ids = new Set([...candidates].map((key) => key.slice(0, key.indexOf(" "))));
      for (const id of ids) {
        const digest = await this.#o.running(id);
        if (digest) running.add(digest.toLowerCase());
      }
    }
    let versionsCollected = 0;
    let named = new Set<string>();
    await replica.rebase((doc) => {
      if (epochOf(doc) >= epoch) return doc;
      named = referencedDigests(doc);
      const drop = collectable(doc, (d) => facts.get(d), this.#o.now(), running, regions);
      versionsCollected = drop.versions.size;
      return rebased(doc, epoch, freshActor(), drop, this.#o.now());
    });
    // A spec goes once neither the epoch left nor the one begun names it. The epoch left, whole:
    // what another region carried into it is named there until every region moves on, and a
    // region that needs such a spec meanwhile must find it somewhere.
    for (const digest of referencedDigests(replica.doc)) named.add(digest);
    const specsCollected = await specs.retain(named);
    this.#baseline = replica.documentBytes();
    const outcome = {
      epoch,
      reason,
      versionsCollected,
      specsCollected,
      bytesBefore,
      bytesAfter: this.#baseline,
    };
    this.#o.logger.info(outcome, "federation state rebased to a new epoch");
    this.#o.rebased?.(outcome);
  }
}
