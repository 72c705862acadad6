// Framing of the append-only change log: each record is
// [length u32 LE][crc32 of payload u32 LE][payload]. A process killed in the
// middle of an append leaves a short or mismatching last record; reading stops
// there and reports how many bytes to cut, so the tear is never fatal.
import { crc32 } from "node:zlib";

const HEADER = 8;

export function frame(payload: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(HEADER + payload.length);
  record.writeUInt32LE(payload.length, 0);
  record.writeUInt32LE(crc32(payload), 4);
  record.set(payload, HEADER);
  return record;
}

interface Unframed {
  readonly records: Buffer[];
  /** Bytes up to the end of the last whole record; anything after is torn. */
  readonly validBytes: number;
}

export function unframe(log: Buffer): Unframed {
  const records: Buffer[] = [];
  let offset = 0;
  while (offset + HEADER <= log.length) {
    const length = log.readUInt32LE(offset);
    const end = offset + HEADER + length;
    // Length 0 is never written: a zero-filled tail (left by some file
    // systems after a crash) must not read as valid empty records.
    if (length === 0 || end > log.length) break;
    const payload = log.subarray(offset + HEADER, end);
    if (crc32(payload) !== log.readUInt32LE(offset + 4)) break;
    records.push(payload);
    offset = end;
  }
  return { records, validBytes: offset };
}
