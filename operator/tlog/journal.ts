// The log's journal: what the latest checkpoints added to the tile being
// filled, appended to one file with one fdatasync per batch, instead of
// rewriting the partial tiles and bundle (each a file, an fsync and a
// directory fsync) every time. It starts at a size whose tiles are on disk
// (its first record), then holds each batch's entries followed by the
// checkpoint that covers them. A crash mid-append leaves a torn tail, which
// reading drops: only what a checkpoint in the journal covers counts.
//
// Records: one type byte, a 4-byte big-endian length, the bytes.

const START = 0x00;
const ENTRY = 0x01;
const CHECKPOINT = 0x02;
const HEADER = 5;

export interface Journal {
  /** The log size the journal starts at. */
  readonly start: number;
  /** Entries after `start`, in order, up to the last checkpoint record (later ones were never committed). */
  readonly entries: Uint8Array[];
  /** The last checkpoint note in the journal, with the number of entries before it. */
  readonly checkpoint?: { readonly note: string; readonly entries: number };
  /** Whether anything follows the last checkpoint record (uncommitted entries or a torn tail). */
  readonly tail: boolean;
}

export class JournalError extends Error {
  override name = "JournalError";
}

function record(type: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + bytes.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, bytes.length);
  out.set(bytes, HEADER);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A new journal starting at `start`. */
export function journalStart(start: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(start));
  return record(START, bytes);
}

/** One batch: its entries, then the checkpoint over them. */
export const journalBatch = (entries: readonly Uint8Array[], note: string): Uint8Array =>
  concat([...entries.map((e) => record(ENTRY, e)), record(CHECKPOINT, new TextEncoder().encode(note))]);

/** A whole journal, as `readJournal` reads it back (for rewriting one without its tail). */
export const formatJournal = (start: number, entries: readonly Uint8Array[], note?: string): Uint8Array =>
  concat([journalStart(start), ...(note === undefined ? [] : [journalBatch(entries, note)])]);

/** Reads a journal; a JournalError if it does not start with its start record. */
export function readJournal(bytes: Uint8Array): Journal {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < HEADER + 8 || bytes[0] !== START || view.getUint32(1) !== 8)
    throw new JournalError("the journal does not begin with its start record");
  const start = Number(view.getBigUint64(HEADER));
  if (!Number.isSafeInteger(start)) throw new JournalError("the journal's start size is out of range");
  const entries: Uint8Array[] = [];
  let checkpoint: Journal["checkpoint"];
  let committed = HEADER + 8;
  let at = committed;
  while (at + HEADER <= bytes.length) {
    const type = bytes[at];
    const length = view.getUint32(at + 1);
    if (at + HEADER + length > bytes.length) break; // torn
    const body = bytes.subarray(at + HEADER, at + HEADER + length);
    at += HEADER + length;
    if (type === ENTRY) entries.push(body.slice());
    else if (type === CHECKPOINT) {
      checkpoint = { note: new TextDecoder().decode(body), entries: entries.length };
      committed = at;
    } else break; // not a record: a torn or damaged tail
  }
  return {
    start,
    entries: entries.slice(0, checkpoint?.entries ?? 0),
    ...(checkpoint ? { checkpoint } : {}),
    tail: committed < bytes.length,
  };
}
