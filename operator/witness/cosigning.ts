// This region's log, witnessed by its peers: after each checkpoint, every
// peer pinned with a log key is asked to cosign it (C2SP add-checkpoint, with
// a consistency proof from the size it cosigned last). Cosignatures are
// checked against the peer's key before they are kept, and the checkpoint is
// served with them. One round at a time; a checkpoint made during a round is
// witnessed by the next, so a busy log asks once per round trip, not per batch.
import type { Logger } from "pino";
import { Gauge, Histogram, type Registry } from "prom-client";
import { cosignatureTime } from "../core/tlog/checkpoint.ts";
import { MAX_DRIFT_MS, type Notice } from "./warnings.ts";
import {
  formatNote,
  parseNote,
  parseSignatureLine,
  type Note,
  type Signature,
  type Verifier,
} from "../core/tlog/note.ts";
import type { Hash } from "../core/tlog/merkle.ts";
import { formatAddCheckpoint } from "../core/tlog/witness.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { SignedCheckpoint, TileLog } from "../tlog/tile-log.ts";
import type { WitnessAnswerText } from "./witness.ts";

export interface WitnessPeer {
  readonly region: string;
  /** The peer's cosignature key (its pinned log key, as a cosigner). */
  readonly witness: Verifier;
}

/**
 * The least time between two witnessing rounds of this log. A round costs each
 * peer a signature check, a consistency proof, an fsync, a cosignature and
 * its gossip: a log deciding several times a second is witnessed about twice
 * a second, each round covering every checkpoint before it, and a checkpoint
 * waits at most this long plus a round trip (the goal: under 1 s).
 */
const ROUND_GAP_MS = 500;

interface CosigningOptions {
  readonly log: TileLog;
  readonly peers: () => readonly WitnessPeer[];
  readonly request: (peer: string, body: string) => Promise<WitnessAnswerText>;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
  /** A witness's clock over MAX_DRIFT_MS from this region's. */
  readonly notice?: Notice;
}

/** What one witnessing round sends every peer. */
interface Round {
  readonly checkpoint: SignedCheckpoint;
  readonly note: Note;
  /** Consistency proofs by the size a peer holds, computed once per round. */
  readonly proofs: Map<number, Promise<Hash[]>>;
}

interface Cosignature {
  readonly size: number;
  readonly signature: Signature;
  /** The witness's own timestamp, ms. */
  readonly at: number;
}

export class Cosigning {
  readonly #o: CosigningOptions;
  /** The size each peer cosigned last (as its 409 or 200 said). */
  readonly #known = new Map<string, number>();
  readonly #cosigned = new Map<string, Cosignature>();
  #round: Promise<void> | undefined;
  #again = false;
  #lastRound = 0;
  /** Checkpoints made and not yet covered by every peer's cosignature: size and when, oldest first. */
  readonly #waiting: { readonly size: number; readonly at: number }[] = [];
  readonly #cosignedBoth: Histogram;

  constructor(o: CosigningOptions) {
    this.#o = o;
    const cosigned = this.#cosigned;
    this.#cosignedBoth = new Histogram({
      name: "dsc_log_cosigned_seconds",
      help: "From a checkpoint of this region's log being durable to every pinned peer having cosigned it (or a later one)",
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.75, 1, 2, 5, 10, 30],
      registers: [o.registry],
    });
    new Gauge({
      name: "dsc_log_cosigned_size",
      help: "The size of this region's log each peer cosigned last",
      labelNames: ["peer"],
      registers: [o.registry],
      collect() {
        for (const [peer, c] of cosigned) this.set({ peer }, c.size);
      },
    });
    new Gauge({
      name: "dsc_log_witness_lag",
      help: "Entries of this region's log that each peer has not cosigned yet",
      labelNames: ["peer"],
      registers: [o.registry],
      collect() {
        for (const p of o.peers())
          this.set({ peer: p.region }, o.log.size - (cosigned.get(p.region)?.size ?? 0));
      },
    });
  }

  /** A new checkpoint: witness it now, or after the round in flight. */
  published(): void {
    // Waiting for cosignatures only when there is a peer to give them.
    if (this.#waiting.length < 10_000 && this.#o.peers().length > 0)
      this.#waiting.push({ size: this.#o.log.size, at: this.#o.now() });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#round) {
      this.#again = true;
      return;
    }
    // Rounds start at most every ROUND_GAP_MS: a busy log makes a checkpoint per batch, and its
    // peers need not fsync a cosignature for each (each round covers every checkpoint before it).
    const wait = Math.max(0, this.#lastRound + ROUND_GAP_MS - this.#o.now());
    this.#round = new Promise((r) => setTimeout(r, wait)).then(() => {
      this.#lastRound = this.#o.now();
      return this.#run();
    });
    this.#round = this.#round.finally(() => {
      this.#round = undefined;
      if (this.#again) {
        this.#again = false;
        this.#schedule();
      }
    });
  }

  /**
   * Witnessing again when a peer is behind: one that was down, or not yet
   * connected when the last checkpoint was made, catches up without waiting
   * for the log's next decision. Called on a timer.
   */
  tick(): void {
    const size = this.#o.log.size;
    if (size > 0 && this.#o.peers().some((p) => (this.#cosigned.get(p.region)?.size ?? 0) < size))
      this.#schedule();
  }

  /** Resolves when no round is in flight. */
  async settled(): Promise<void> {
    while (this.#round) await this.#round;
  }

  async #run(): Promise<void> {
    const checkpoint = this.#o.log.checkpoint;
    const peers = this.#o.peers();
    // One parse and one proof per round serve every peer that cosigned the same size last.
    let note: Note;
    try {
      note = parseNote(checkpoint.note);
    } catch (error) {
      this.#o.logger.error({ err: errorMessage(error) }, "this log's own checkpoint does not parse");
      return;
    }
    const round: Round = { checkpoint, note, proofs: new Map() };
    await Promise.all(peers.map((peer) => this.#witness(peer, round)));
    // Each checkpoint is covered once every peer cosigned it or a later one.
    const covered = Math.min(...peers.map((p) => this.#cosigned.get(p.region)?.size ?? 0));
    const now = this.#o.now();
    while (peers.length > 0 && (this.#waiting[0]?.size ?? Infinity) <= covered)
      this.#cosignedBoth.observe((now - (this.#waiting.shift()?.at ?? now)) / 1000);
  }

  async #witness(peer: WitnessPeer, round: Round): Promise<void> {
    const { checkpoint, note } = round;
    for (let attempt = 0; attempt < 2; attempt++) {
      let old = this.#known.get(peer.region) ?? 0;
      if (old > checkpoint.size) old = 0; // the peer holds more than this log: a 409 tells which
      try {
        let proof = round.proofs.get(old);
        if (!proof) {
          proof = old === 0 ? Promise.resolve([]) : this.#o.log.consistencyProof(old, checkpoint.size);
          round.proofs.set(old, proof);
        }
        const body = formatAddCheckpoint({ old, proof: await proof, checkpoint: note });
        const answer = await this.#o.request(peer.region, body);
        if (answer.status === 409) {
          const size = Number(answer.body.trim());
          if (!Number.isSafeInteger(size) || size < 0 || size > this.#o.log.size) {
            this.#o.logger.warn(
              { peer: peer.region, size: answer.body.trim() },
              "a witness holds a size this log never had",
            );
            return;
          }
          this.#known.set(peer.region, size);
          continue;
        }
        if (answer.status !== 200) {
          this.#o.logger.warn(
            { peer: peer.region, status: answer.status, message: answer.body.trim() },
            "a witness refused this log's checkpoint",
          );
          return;
        }
        const text = note.text;
        const line = answer.body
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => parseSignatureLine(l))
          .find(
            (s) =>
              s.name === peer.witness.name && s.id === peer.witness.id && peer.witness.verify(text, s.bytes),
          );
        if (!line) {
          this.#o.logger.warn(
            { peer: peer.region },
            "a witness answered with no valid cosignature of its pinned key",
          );
          return;
        }
        const at = cosignatureTime(line.bytes) * 1000;
        const drift = at - this.#o.now();
        if (Math.abs(drift) > MAX_DRIFT_MS)
          this.#o.notice?.(
            "timestamp_drift",
            peer.region,
            `${peer.region}'s witness dated its cosignature ${String(Math.round(drift / 1000))} s from this region's clock (tolerance ${String(MAX_DRIFT_MS / 1000)} s)`,
          );
        this.#known.set(peer.region, checkpoint.size);
        this.#cosigned.set(peer.region, { size: checkpoint.size, signature: line, at });
        return;
      } catch (error) {
        this.#o.logger.debug(
          { peer: peer.region, err: errorMessage(error) },
          "witnessing failed; the next checkpoint tries again",
        );
        return;
      }
    }
  }

  /** The latest checkpoint with the cosignatures made of its size. */
  checkpoint(): string {
    const checkpoint = this.#o.log.checkpoint;
    const note = parseNote(checkpoint.note);
    const cosignatures = [...this.#cosigned.values()]
      .filter((c) => c.size === checkpoint.size)
      .map((c) => c.signature);
    return formatNote({ text: note.text, signatures: [...note.signatures, ...cosignatures] });
  }

  /** Per peer, what it cosigned of this log last. */
  status(): { readonly region: string; readonly size: number; readonly at: number }[] {
    return [...this.#cosigned].map(([region, c]) => ({ region, size: c.size, at: c.at }));
  }
}
