import fc from "fast-check";
import { keccak256, toBytes } from "viem";
import { describe, expect, it } from "vitest";
import { keccak256Bytes, keccak256Hex } from "./keccak.ts";

describe("keccak-256 (hash-wasm)", () => {
  it("gives the published hashes of the empty string and of 'abc'", () => {
    expect(keccak256Hex(new Uint8Array())).toBe(
      "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    );
    expect(keccak256Hex(toBytes("abc"))).toBe(
      "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
    );
  });

  it("agrees with viem's (@noble/hashes) on random inputs, across the 136-byte block boundaries", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1200 }), (data) => {
        expect(keccak256Hex(data)).toBe(keccak256(data));
        expect(keccak256Bytes(data)).toEqual(keccak256(data, "bytes"));
      }),
      { numRuns: 2000 },
    );
    for (const n of [135, 136, 137, 271, 272, 273]) {
      const data = new Uint8Array(n).fill(n);
      expect(keccak256Hex(data)).toBe(keccak256(data));
    }
  });

  it("returns a copy: a later hash does not change an earlier one", () => {
    const first = keccak256Bytes(toBytes("first"));
    const kept = first.slice();
    keccak256Bytes(toBytes("second"));
    expect(first).toEqual(kept);
  });
});
