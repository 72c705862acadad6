// A region's receipts: each decision signed, appended to the region's tile
// log, and counted. Recording never blocks or fails a decision: the log is
// the region's memory of what it did, and a full disk must not stop a pause.
// A receipt not yet covered by a checkpoint when the process dies is lost;
// the level-triggered reconcile that made it runs again and records it anew.
import type { KeyObject } from "node:crypto";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import {
  receiptEntry,
  signReceipt,
  type Json,
  type Receipt,
  type ReceiptKind,
} from "../core/receipt/receipt.ts";
import { ED25519, ed25519Key, formatVkey, noteSigner, noteVerifier } from "../core/tlog/note.ts";
import { diskFiles } from "../tlog/durable.ts";
import { TileLog } from "../tlog/tile-log.ts";

/** What a decision records; the rest (region, time, signature) the log adds. */
export interface Receipts {
  /**
   * Appends a receipt. The promise settles once a durable checkpoint covers
   * it, or once it failed (logged and counted): it never rejects, so a
   * caller may wait for it before making the decision visible (a status
   * written before its receipt is durable would, after a crash, never be
   * recorded again), and a broken log still never stops a decision.
   */
  record(kind: ReceiptKind, subject: string, details: Readonly<Record<string, Json>>): Promise<void>;
}

/** A region's log origin (and key name): schema-less, one per federation and region. */
/**
 * A receipt's most bytes as a log entry. The log takes up to 64 KiB an entry, but then a
 * full bundle (256 entries) would be 16 MiB, over what a peer's mirror takes in one answer
 * (witness/rpc.ts, 4 MiB): an honest log could not be mirrored. A receipt over this is
 * logged with its details replaced by their CID and size.
 */
export const MAX_RECEIPT_BYTES = 16_000;

export const logOrigin = (federation: string | undefined, region: string): string =>
  `dsc.federation.dev/${federation ?? "federation"}/${region}`;

interface ReceiptLogOptions {
  readonly dir: string;
  readonly region: string;
  /** The log's origin line and key name. */
  readonly origin: string;
  readonly seed: Uint8Array;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly now: () => number;
  /** Called after each checkpoint is durable (to have it witnessed). */
  readonly published?: () => void;
}

export class ReceiptLog implements Receipts {
  readonly log: TileLog;
  /** The log's verifier key, `<origin>+<id>+<key>`: what a witness or `dsc log verify` trusts. */
  readonly vkey: string;
  readonly publicKey: Uint8Array;
  readonly region: string;
  readonly #o: ReceiptLogOptions;
  readonly #key: KeyObject;
  readonly #appended: Counter<"kind">;
  readonly #failed: Counter;

  private constructor(
    o: ReceiptLogOptions,
    log: TileLog,
    key: KeyObject,
    vkey: string,
    publicKey: Uint8Array,
  ) {
    this.#o = o;
    this.publicKey = publicKey;
    this.region = o.region;
    this.log = log;
    this.#key = key;
    this.vkey = vkey;
    this.#appended = new Counter({
      name: "dsc_log_receipts_total",
      help: "Receipts appended to this region's log, by kind",
      labelNames: ["kind"],
      registers: [o.registry],
    });
    this.#failed = new Counter({
      name: "dsc_log_append_errors_total",
      help: "Receipts this region could not append to its log (the log stops until restarted)",
      registers: [o.registry],
    });
    new Gauge({
      name: "dsc_log_size",
      help: "Entries in this region's log at its latest checkpoint",
      registers: [o.registry],
      collect() {
        this.set(log.size);
      },
    });
  }

  static async open(o: ReceiptLogOptions): Promise<ReceiptLog> {
    const key = ed25519Key(o.seed);
    const log = await TileLog.open({
      files: diskFiles(o.dir),
      origin: o.origin,
      signer: noteSigner(o.origin, o.seed),
      verifier: noteVerifier(o.origin, key.publicKey),
      published: () => o.published?.(),
    });
    return new ReceiptLog(
      o,
      log,
      key.privateKey,
      formatVkey(o.origin, ED25519, key.publicKey),
      key.publicKey,
    );
  }

  record(kind: ReceiptKind, subject: string, details: Readonly<Record<string, Json>>): Promise<void> {
    const receipt: Receipt = {
      v: 1,
      region: this.#o.region,
      kind,
      subject,
      at: new Date(this.#o.now()).toISOString(),
      details,
    };
    let entry: Uint8Array;
    try {
      const signed = signReceipt(receipt, this.#key);
      entry = receiptEntry(signed);
      if (entry.length > MAX_RECEIPT_BYTES) {
        // A receipt's details are bounded by their makers; one that is not still leaves a trace.
        const details = { truncated: true, fullCid: signed.cid, bytes: entry.length };
        entry = receiptEntry(signReceipt({ ...receipt, details }, this.#key));
      }
    } catch (error) {
      this.#failed.inc();
      this.#o.logger.error({ err: String(error), kind, subject }, "could not make a receipt");
      return Promise.resolve();
    }
    return this.log.append(entry).then(
      () => {
        this.#appended.inc({ kind });
      },
      (error: unknown) => {
        this.#failed.inc();
        this.#o.logger.error({ err: String(error), kind, subject }, "could not append a receipt to the log");
      },
    );
  }

  /** Resolves once every receipt recorded so far is covered by a checkpoint. */
  flushed(): Promise<void> {
    return this.log.flushed();
  }
}
