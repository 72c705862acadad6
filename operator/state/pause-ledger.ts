// This region's own memory of the guardian pause, on its own disk: every pause
// record it has seen, and the tokens it has lifted itself after verifying, at
// a pinned block and under the federation's policy, a critical resume that
// names them. The shared document is not enough for either: any peer can
// write into it (a resume record) or delete from it (a pause record), so what
// it says is a hint. Pausing stays the fast direction: a well-formed pause
// record seen once pauses until this region itself verifies its resume.
import { join } from "node:path";
import {
  checkPauseSource,
  checkPauseToken,
  checkRegion,
  checkTime,
  StateInputError,
  type PauseRecord,
} from "./model.ts";
import type { StateDoc } from "./document.ts";
import { readIfExists, writeAtomic } from "./files.ts";
import { readLedgerFile } from "./ledger-file.ts";
import { pauseRecords } from "./readers.ts";

const FILE = "pauses.json";
const SCHEMA = 1;

export interface Lift {
  readonly token: string;
  /** The resume manifest (namespace/name) this region verified. */
  readonly manifest: string;
  readonly at: number;
}

interface LedgerFile {
  readonly schema: number;
  readonly pauses: readonly PauseRecord[];
  readonly lifted: readonly Lift[];
}

const recordKey = (p: PauseRecord): string => `${p.token} ${p.region}`;

export class PauseLedger {
  readonly #dir: string;
  readonly #pauses = new Map<string, PauseRecord>();
  readonly #lifted = new Map<string, Lift>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * Opens the ledger in `dir`. A state without one (written by an operator
   * before the ledger existed) starts from `seed`: what that operator acted on.
   */
  static async open(
    dir: string,
    seed: () => { readonly pauses: readonly PauseRecord[]; readonly lifted: readonly Lift[] },
  ): Promise<PauseLedger> {
    const ledger = new PauseLedger(dir);
    const bytes = await readIfExists(join(dir, FILE));
    const content: LedgerFile = bytes ? parseLedger(bytes.toString("utf8")) : { schema: SCHEMA, ...seed() };
    for (const p of content.pauses) ledger.#pauses.set(recordKey(p), p);
    for (const l of content.lifted) ledger.#lifted.set(l.token, l);
    if (!bytes) await ledger.#save();
    return ledger;
  }

  isLifted(token: string): boolean {
    return this.#lifted.has(token);
  }

  /** The pause records this region has seen. */
  records(): PauseRecord[] {
    return [...this.#pauses.values()];
  }

  /** Remembers the records it has not seen yet (at once, in memory); resolves once they are on disk. */
  remember(records: readonly PauseRecord[]): Promise<void> {
    let fresh = false;
    for (const p of records) {
      const key = recordKey(p);
      if (this.#pauses.has(key)) continue;
      this.#pauses.set(key, p);
      fresh = true;
    }
    return fresh ? this.#save() : this.#writing;
  }

  /** Lifts the tokens for good in this region; resolves once that is on disk. */
  lift(tokens: readonly string[], manifest: string, at: number): Promise<void> {
    for (const token of tokens)
      if (!this.#lifted.has(token)) this.#lifted.set(token, { token, manifest, at });
    return this.#save();
  }

  /** Writes are serialised; each writes the whole ledger (it holds a handful of records). */
  #save(): Promise<void> {
    const write = this.#writing.then(() => {
      const content: LedgerFile = {
        schema: SCHEMA,
        pauses: this.records(),
        lifted: [...this.#lifted.values()],
      };
      return writeAtomic(this.#dir, FILE, Buffer.from(JSON.stringify(content)));
    });
    this.#writing = write.catch(() => undefined);
    return write;
  }
}

/**
 * Where a region's ledger starts when it has none (an upgrade, or a ledger
 * removed by hand): every pause record in the document, and nothing lifted.
 * A resume record names a region but not who wrote it, so it lifts nothing
 * here either; the resume manifests are reconciled at start and lift again
 * what this region verifies.
 */
export function ledgerSeed(doc: StateDoc): { pauses: PauseRecord[]; lifted: Lift[] } {
  return { pauses: pauseRecords(doc), lifted: [] };
}

/** The ledger file, checked: a damaged file stops the region (fail closed), naming the file. */
function parseLedger(text: string): LedgerFile {
  const { fail, fields: file } = readLedgerFile(
    text,
    FILE,
    SCHEMA,
    "restore it from a backup, or remove it to rebuild it from the federation state",
  );
  const { pauses, lifted } = file;
  if (!Array.isArray(pauses) || !Array.isArray(lifted)) return fail("pauses and lifted must be lists");
  const stringAt = (o: Record<string, unknown>, field: string, i: number, list: string): string => {
    const value = o[field];
    return typeof value === "string" ? value : fail(`${list}[${String(i)}].${field} must be a string`);
  };
  const time = (o: Record<string, unknown>, i: number, list: string): number => {
    const value = o.at;
    return typeof value === "number" ? checkTime(value) : fail(`${list}[${String(i)}].at must be a number`);
  };
  const objects = (list: unknown[], name: string): Record<string, unknown>[] =>
    list.map((o, i) =>
      typeof o === "object" && o !== null
        ? (o as Record<string, unknown>)
        : fail(`${name}[${String(i)}] must be an object`),
    );
  try {
    return {
      schema: SCHEMA,
      pauses: objects(pauses, "pauses").map((o, i) => ({
        token: checkPauseToken(stringAt(o, "token", i, "pauses")),
        region: checkRegion(stringAt(o, "region", i, "pauses")),
        source: checkPauseSource(stringAt(o, "source", i, "pauses")),
        by: stringAt(o, "by", i, "pauses"),
        dsp: stringAt(o, "dsp", i, "pauses"),
        severity: stringAt(o, "severity", i, "pauses"),
        evidence: stringAt(o, "evidence", i, "pauses"),
        reason: stringAt(o, "reason", i, "pauses"),
        at: time(o, i, "pauses"),
      })),
      lifted: objects(lifted, "lifted").map((o, i) => ({
        token: checkPauseToken(stringAt(o, "token", i, "lifted")),
        manifest: stringAt(o, "manifest", i, "lifted"),
        at: time(o, i, "lifted"),
      })),
    };
  } catch (error) {
    if (error instanceof StateInputError) return fail(error.message);
    throw error;
  }
}
