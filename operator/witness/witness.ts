// This region as a witness of the other regions' logs (C2SP tlog-witness):
// add-checkpoint judged by core/tlog/witness.ts, one request at a time, the
// latest cosigned checkpoint per log written durably before the answer. A
// log's key is the one this region's Federation pins for that peer, never
// one a peer sends. Checkpoints other witnesses gossip are compared with the
// ones held here: two of one size with different roots are a split view.
import { join } from "node:path";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { cosigner, parseCheckpoint } from "../core/tlog/checkpoint.ts";
import { formatSignatureLine, parseNote, verifyNote, type Signer, type Verifier } from "../core/tlog/note.ts";
import {
  compareCheckpoints,
  judgeAddCheckpoint,
  parseAddCheckpoint,
  WitnessRequestError,
  type SplitView,
  type Witnessed,
} from "../core/tlog/witness.ts";
import { errorMessage } from "../runtime/errors.ts";
import { readLedgerFile } from "../state/ledger-file.ts";
import { readIfExists, writeAtomic } from "../state/files.ts";

const FILE = "witness.json";

export interface WitnessAnswerText {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

interface WitnessOptions {
  readonly stateDir: string;
  /** This witness's name: its cosignatures' key name. */
  readonly name: string;
  readonly seed: Uint8Array;
  /** The logs this region witnesses: each peer's pinned log key, by origin. */
  readonly logs: () => ReadonlyMap<string, Verifier>;
  readonly splitView: (evidence: SplitView) => void;
  /** A checkpoint this witness just cosigned, with its cosignature: gossiped to the other peers. */
  readonly cosigned?: (note: string) => void;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
}

interface Held extends Witnessed {
  /** When it was cosigned, ms since the epoch. */
  readonly at: number;
}

export class Witness {
  readonly #o: WitnessOptions;
  readonly #held: Map<string, Held>;
  readonly #requests: Counter<"status">;
  #queue: Promise<unknown> = Promise.resolve();
  /** The key is derived once; each cosignature is dated with the time its checkpoint was held. */
  readonly #signer: Signer;
  #signedAt = 0;

  private constructor(o: WitnessOptions, held: Map<string, Held>) {
    this.#o = o;
    this.#held = held;
    this.#signer = cosigner(o.name, o.seed, () => this.#signedAt);
    this.#requests = new Counter({
      name: "dsc_witness_requests_total",
      help: "add-checkpoint requests this region answered as a witness, by HTTP status",
      labelNames: ["status"],
      registers: [o.registry],
    });
  }

  static async open(o: WitnessOptions): Promise<Witness> {
    const held = new Map<string, Held>();
    const bytes = await readIfExists(join(o.stateDir, FILE));
    if (bytes) {
      const { fields, fail } = readLedgerFile(
        bytes.toString("utf8"),
        join(o.stateDir, FILE),
        1,
        "a witness that forgot what it cosigned could cosign a fork: restore the file, or remove it only if the peers' logs are known good",
      );
      const logs = fields.logs;
      if (typeof logs !== "object" || logs === null) return fail("no logs map");
      for (const [origin, h] of Object.entries(logs as Record<string, Record<string, unknown>>)) {
        const root = Buffer.from(String(h.root), "base64");
        if (
          !Number.isSafeInteger(h.size) ||
          root.length !== 32 ||
          typeof h.note !== "string" ||
          typeof h.at !== "number"
        )
          return fail(`the entry for ${origin} is damaged`);
        held.set(origin, { size: Number(h.size), root: new Uint8Array(root), note: h.note, at: h.at });
      }
    }
    return new Witness(o, held);
  }

  /** What this region cosigned last, per log. */
  held(): ReadonlyMap<string, Held> {
    return this.#held;
  }

  /** An add-checkpoint request body in, the HTTP answer out. Never throws. */
  addCheckpoint(body: string): Promise<WitnessAnswerText> {
    const run = this.#queue.then(() => this.#add(body));
    this.#queue = run.catch(() => undefined);
    return run.catch((error: unknown) => {
      this.#o.logger.error({ err: errorMessage(error) }, "witness failed to answer");
      return text(500, `the witness could not answer: ${errorMessage(error)}`);
    });
  }

  async #add(body: string): Promise<WitnessAnswerText> {
    let request;
    try {
      request = parseAddCheckpoint(body);
    } catch (error) {
      if (!(error instanceof WitnessRequestError)) throw error;
      this.#requests.inc({ status: "400" });
      return text(400, error.message);
    }
    const answer = judgeAddCheckpoint(request, this.#o.logs(), (origin) => this.#held.get(origin));
    this.#requests.inc({ status: String(answer.status) });
    if (answer.status !== 200) {
      if (answer.splitView) this.#o.splitView(answer.splitView);
      if (answer.status === 409)
        return { status: 409, contentType: "text/x.tlog.size", body: `${String(answer.size ?? 0)}\n` };
      return text(answer.status, answer.message);
    }
    const at = this.#o.now();
    this.#held.set(answer.checkpoint.origin, { ...answer.next, at });
    await this.#save();
    this.#signedAt = at; // requests run one at a time: no other cosignature is made in between
    const line = formatSignatureLine({
      name: this.#signer.name,
      id: this.#signer.id,
      bytes: this.#signer.sign(request.checkpoint.text),
    });
    this.#o.cosigned?.(`${answer.next.note}${line}`);
    return { status: 200, contentType: "text/plain; charset=utf-8", body: line };
  }

  /**
   * A checkpoint another witness cosigned (gossip): compared with what is
   * held here for the same size, and, when it differs, checked against the
   * log's pinned key before it counts. Gossip that agrees (nearly all of
   * it) costs no signature check: it could prove nothing either way.
   */
  seen(note: string): void {
    try {
      const parsed = parseNote(note);
      const checkpoint = parseCheckpoint(parsed.text);
      const verifier = this.#o.logs().get(checkpoint.origin);
      if (!verifier) return;
      const held = this.#held.get(checkpoint.origin);
      const split = held && compareCheckpoints(held, checkpoint, note);
      if (!split) return;
      verifyNote(parsed, [verifier]);
      this.#o.splitView(split);
    } catch (error) {
      this.#o.logger.debug({ err: errorMessage(error) }, "gossiped checkpoint refused");
    }
  }

  async #save(): Promise<void> {
    const logs = Object.fromEntries(
      [...this.#held].map(([origin, h]) => [
        origin,
        { size: h.size, root: Buffer.from(h.root).toString("base64"), note: h.note, at: h.at },
      ]),
    );
    await writeAtomic(this.#o.stateDir, FILE, new TextEncoder().encode(JSON.stringify({ schema: 1, logs })));
  }
}

const text = (status: number, message: string): WitnessAnswerText => ({
  status,
  contentType: "text/plain; charset=utf-8",
  body: `${message}\n`,
});
