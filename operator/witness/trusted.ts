// Other federations' logs this one watches (the seeds' trust levels, from
// `spec.trust`): `observe` reads a log's checkpoint, verified under its key;
// `verify` also keeps the last checkpoint it saw and proves each new one
// consistent with it, so a log that rewrites its history or shows a fork is
// caught (a discrepancy: counted, recorded, alerted; it does not pause this
// federation, whose own decisions it does not touch); `attest` also cosigns
// each consistent checkpoint with this region's witness, which never cosigns
// two inconsistent ones, and serves it with that cosignature under
// /trust/<name>/checkpoint for the other federation to collect. Level 0
// (isolated) is a log not listed; level 4 (integrate: shared state) is what
// the regions of one federation are to each other.
import { join } from "node:path";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import type { Json } from "../core/receipt/receipt.ts";
import { parseCheckpoint } from "../core/tlog/checkpoint.ts";
import { sameHash, type Hash } from "../core/tlog/merkle.ts";
import { formatNote, noteVerifier, parseNote, parseVkey } from "../core/tlog/note.ts";
import { formatAddCheckpoint } from "../core/tlog/witness.ts";
import type { CurrentFederation } from "../federation/context.ts";
import { errorMessage } from "../runtime/errors.ts";
import { readIfExists, writeAtomic } from "../state/files.ts";
import { readLedgerFile } from "../state/ledger-file.ts";
import { TileClient } from "../tlog/client.ts";
import type { Witness } from "./witness.ts";

export const TRUST_LEVELS = ["observe", "verify", "attest"] as const;
export type TrustLevel = (typeof TRUST_LEVELS)[number];
export type TrustedState = "Pending" | "Consistent" | "Unreachable" | "Inconsistent";

export interface TrustedLog {
  readonly name: string;
  readonly url: string;
  readonly vkey: string;
  readonly level: TrustLevel;
}

export interface TrustedStatus {
  readonly name: string;
  readonly level: TrustLevel;
  /** The vkey this state is of. */
  readonly key: string;
  readonly state: TrustedState;
  readonly size?: number;
  /** When this region last read the log's checkpoint (ms). */
  readonly at?: number;
  /** The size this region's witness cosigned last (attest). */
  readonly cosigned?: number;
  readonly message?: string;
}

/** What a watched log did that it must not: the two signed checkpoints, and why they conflict. */
export interface TrustedDiscrepancy {
  readonly name: string;
  readonly origin: string;
  readonly message: string;
  readonly evidence: { readonly [k: string]: Json };
}

interface TrustedOptions {
  readonly stateDir: string;
  readonly current: CurrentFederation;
  readonly witness: Witness;
  readonly discrepancy: (found: TrustedDiscrepancy) => void;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
  readonly fetch?: typeof fetch;
}

const FILE = "trusted.json";
/** How often the watched logs are read. */
export const TRUSTED_POLL_MS = 10_000;

interface Seen {
  readonly size: number;
  readonly note: string;
}

export class TrustedLogs {
  readonly #o: TrustedOptions;
  readonly #seen: Map<string, Seen>;
  readonly #status = new Map<string, TrustedStatus>();
  /** The latest checkpoint of each attested log, with this region's cosignature. */
  readonly #cosigned = new Map<string, string>();
  #running = false;
  /** Counts what was seen anew: a tick that changed it keeps trusted.json. */
  #changes = 0;

  private constructor(o: TrustedOptions, seen: Map<string, Seen>) {
    this.#o = o;
    this.#seen = seen;
    const status = this.#status;
    new Gauge({
      name: "dsc_trusted_log_size",
      help: "The size of each other federation's log this region watches, at its last checkpoint read",
      labelNames: ["name", "level"],
      registers: [o.registry],
      collect() {
        this.reset();
        for (const s of status.values())
          if (s.size !== undefined) this.set({ name: s.name, level: s.level }, s.size);
      },
    });
  }

  static async open(o: TrustedOptions): Promise<TrustedLogs> {
    const bytes = await readIfExists(join(o.stateDir, FILE));
    const seen = new Map<string, Seen>();
    if (bytes) {
      const { fields } = readLedgerFile(
        bytes.toString("utf8"),
        join(o.stateDir, FILE),
        1,
        "remove it only if the watched logs are known good: what was seen of them is the baseline a fork is judged against",
      );
      for (const [name, s] of Object.entries((fields.logs ?? {}) as Record<string, Seen>)) seen.set(name, s);
    }
    return new TrustedLogs(o, seen);
  }

  /** The logs `spec.trust` lists at `attest`, whose checkpoints this region's witness cosigns. */
  /** The logs listed at `attest`, except those found inconsistent: a forked log is cosigned no more. */
  attested(): TrustedLog[] {
    return this.#listed().filter(
      (l) => l.level === "attest" && this.#status.get(l.name)?.state !== "Inconsistent",
    );
  }

  /** A fork of a watched log found elsewhere (by this region's witness): it stays Inconsistent here. */
  inconsistent(name: string, message: string): void {
    const log = this.#listed().find((l) => l.name === name);
    const previous = this.#status.get(name);
    if (log)
      this.#status.set(name, {
        ...previous,
        name,
        level: log.level,
        key: log.vkey,
        state: "Inconsistent",
        message: message.slice(0, 256),
      });
  }

  #listed(): TrustedLog[] {
    return this.#o.current.get()?.spec.trust ?? [];
  }

  /** What status shows of each listed log (which key it is of stays here). */
  status(): Omit<TrustedStatus, "key">[] {
    const names = new Set(this.#listed().map((l) => l.name));
    return [...this.#status.values()]
      .filter((s) => names.has(s.name))
      .map((s) => ({
        name: s.name,
        level: s.level,
        state: s.state,
        ...(s.size !== undefined && { size: s.size }),
        ...(s.at !== undefined && { at: s.at }),
        ...(s.cosigned !== undefined && { cosigned: s.cosigned }),
        ...(s.message !== undefined && { message: s.message }),
      }));
  }

  /** An attested log's checkpoint with this region's cosignature, as served under /trust/<name>/. */
  cosigned(name: string): string | undefined {
    return this.attested().some((l) => l.name === name) ? this.#cosigned.get(name) : undefined;
  }

  /** Reads every listed log once. Never throws. */
  async tick(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      const before = this.#changes;
      for (const log of this.#listed()) await this.#watch(log);
      if (this.#changes !== before) await this.#persist();
    } catch (error) {
      this.#o.logger.warn({ err: errorMessage(error) }, "could not keep the watched logs' state");
    } finally {
      this.#running = false;
    }
  }

  async #watch(log: TrustedLog): Promise<void> {
    const previous = this.#status.get(log.name);
    const set = (s: Omit<TrustedStatus, "name" | "level" | "key">) => {
      this.#status.set(log.name, { name: log.name, level: log.level, key: log.vkey, ...s });
    };
    // Once inconsistent, it stays so here until the listing changes (a new key or level).
    if (previous?.state === "Inconsistent" && previous.level === log.level && previous.key === log.vkey)
      return;
    let vkey;
    try {
      vkey = parseVkey(log.vkey, `trust[${log.name}].vkey`);
    } catch (error) {
      set({ state: "Unreachable", message: errorMessage(error) });
      return;
    }
    const client = new TileClient(log.url, noteVerifier(vkey.name, vkey.publicKey), this.#o.fetch ?? fetch);
    let checkpoint;
    try {
      checkpoint = await client.checkpoint();
    } catch (error) {
      set({ ...previous, state: "Unreachable", message: errorMessage(error).slice(0, 256) });
      return;
    }
    const now = this.#o.now();
    const note = formatNote(checkpoint.note);
    if (log.level === "observe") {
      set({ state: "Consistent", size: checkpoint.size, at: now });
      return;
    }
    // What was seen is kept per key: a log listed under a new key starts anew, not as a fork.
    const seenKey = `${log.name} ${log.vkey}`;
    const seen = this.#seen.get(seenKey);
    let conflict;
    try {
      conflict = await this.#conflict(client, seen, checkpoint, note);
    } catch (error) {
      // The tiles for the proof could not be read: nothing is concluded, the next tick asks again.
      set({ ...previous, state: "Unreachable", message: errorMessage(error).slice(0, 256) });
      return;
    }
    if (conflict) {
      set({
        state: "Inconsistent",
        size: checkpoint.size,
        at: now,
        message: conflict.message,
        ...(previous?.cosigned !== undefined ? { cosigned: previous.cosigned } : {}),
      });
      this.#o.logger.error(
        { log: log.name, err: conflict.message },
        "a watched federation's log is inconsistent",
      );
      this.#o.discrepancy({ name: log.name, origin: checkpoint.origin, ...conflict });
      return;
    }
    // An older checkpoint served again (a cache) is no fork, and what was seen stays.
    if (!seen || (checkpoint.size >= seen.size && seen.note !== note)) {
      this.#seen.set(seenKey, { size: checkpoint.size, note });
      this.#changes++;
    }
    let cosigned = previous?.cosigned;
    if (log.level === "attest")
      cosigned =
        (await this.#attest(client, log, checkpoint, note).catch((error: unknown) => {
          this.#o.logger.warn({ log: log.name, err: errorMessage(error) }, "could not attest a watched log");
          return undefined;
        })) ?? cosigned;
    set({
      state: "Consistent",
      size: checkpoint.size,
      at: now,
      ...(cosigned !== undefined ? { cosigned } : {}),
    });
  }

  /** Why `checkpoint` cannot extend what was seen before, with the evidence; undefined if it does. */
  async #conflict(
    client: TileClient,
    seen: Seen | undefined,
    checkpoint: Awaited<ReturnType<TileClient["checkpoint"]>>,
    note: string,
  ): Promise<{ message: string; evidence: { [k: string]: Json } } | undefined> {
    if (!seen) return undefined;
    const old = parseCheckpoint(parseNote(seen.note).text);
    const evidence = { checkpoints: [seen.note, note] };
    if (checkpoint.size < old.size) return undefined; // an older checkpoint: stale, not a fork
    if (checkpoint.size === old.size)
      return sameHash(checkpoint.root, old.root)
        ? undefined
        : { message: `two checkpoints of size ${String(old.size)} with different roots`, evidence };
    // The served tiles must first be the new checkpoint's tree (bad tiles prove nothing but a bad
    // server); then that tree's root at the old size either is the old root, or the log forked.
    const [newRoot, oldRoot] = (await client.roots([checkpoint.size, old.size], checkpoint)) as [Hash, Hash];
    if (!sameHash(newRoot, checkpoint.root))
      throw new Error(`the log's tiles do not hash to its checkpoint of size ${String(checkpoint.size)}`);
    if (sameHash(oldRoot, old.root)) return undefined;
    return {
      message: `the checkpoint of size ${String(checkpoint.size)} does not extend the one of size ${String(old.size)} seen before: its tree has another root at that size`,
      evidence: { ...evidence, rootAtOldSize: Buffer.from(oldRoot).toString("base64") },
    };
  }

  /** Has this region's witness cosign the checkpoint; the size cosigned, or undefined. */
  async #attest(
    client: TileClient,
    log: TrustedLog,
    checkpoint: Awaited<ReturnType<TileClient["checkpoint"]>>,
    note: string,
  ): Promise<number | undefined> {
    const held = this.#o.witness.held().get(checkpoint.origin);
    const old = held && held.size <= checkpoint.size ? held.size : 0;
    const proof = old === 0 ? [] : await client.consistencyProof(old, checkpoint);
    const answer = await this.#o.witness.addCheckpoint(
      formatAddCheckpoint({ old, proof, checkpoint: parseNote(note) }),
    );
    if (answer.status !== 200) {
      this.#o.logger.warn(
        { log: log.name, status: answer.status, message: answer.body.trim() },
        "this region's witness did not cosign a watched federation's checkpoint",
      );
      return undefined;
    }
    this.#cosigned.set(log.name, note + answer.body);
    return checkpoint.size;
  }

  async #persist(): Promise<void> {
    await writeAtomic(
      this.#o.stateDir,
      FILE,
      new TextEncoder().encode(JSON.stringify({ schema: 1, logs: Object.fromEntries(this.#seen) })),
    );
  }
}
