import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { frame, unframe } from "./framing.ts";

const payloads = fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 8 });

describe("log records", () => {
  it("reads back every whole record before a tear, wherever the write was cut", () => {
    fc.assert(
      fc.property(payloads, fc.nat(), (records, cutSeed) => {
        const log = Buffer.concat(records.map(frame));
        const cut = log.length === 0 ? 0 : cutSeed % (log.length + 1);
        const read = unframe(log.subarray(0, cut));
        let whole = 0;
        let end = 0;
        for (const r of records) {
          if (end + 8 + r.length > cut) break;
          end += 8 + r.length;
          whole++;
        }
        expect(read.records.map((r) => [...r])).toEqual(records.slice(0, whole).map((r) => [...r]));
        expect(read.validBytes).toBe(end);
      }),
    );
  });

  it("stops at a record whose bytes changed", () => {
    fc.assert(
      fc.property(
        payloads.filter((r) => r.length > 0),
        fc.nat(),
        fc.nat(7),
        (records, at, bit) => {
          const log = Buffer.concat(records.map(frame));
          const last = records[records.length - 1] ?? new Uint8Array();
          const start = log.length - last.length - 8;
          const i = start + (at % (last.length + 8));
          log[i] = (log[i] ?? 0) ^ (1 << bit);
          const read = unframe(log);
          expect(read.records).toHaveLength(records.length - 1);
          expect(read.validBytes).toBe(start);
        },
      ),
    );
  });

  it("does not read a zero-filled tail as records", () => {
    const log = Buffer.concat([frame(Uint8Array.of(1, 2, 3)), Buffer.alloc(64)]);
    expect(unframe(log)).toMatchObject({ validBytes: 11 });
    expect(unframe(log).records).toHaveLength(1);
  });
});
