import fc from "fast-check";
import {
  concatHex,
  keccak256,
  numberToHex,
  padHex,
  parseSignature,
  serializeSignature,
  toHex,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { encodeSingle, parseSignatures, signerOf } from "./signatures.ts";

const owner = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const hash = keccak256(toHex("a manifest"));
const word = (n: number): Hex => padHex(numberToHex(n), { size: 32 });

describe("parsing Safe signatures", () => {
  it("recovers the owner of an ECDSA signature", async () => {
    const signature = await owner.sign({ hash });
    const [sig] = parseSignatures(signature).signatures;
    expect(sig?.kind).toBe("ecdsa");
    expect(sig && (await signerOf(sig, hash))).toBe(owner.address);
    expect(sig?.encoded).toBe(signature);
  });

  it("recovers the owner of an eth_sign signature (v + 4)", async () => {
    const { r, s, yParity } = parseSignature(await owner.signMessage({ message: { raw: hash } }));
    const signature = concatHex([r, s, numberToHex(yParity + 27 + 4, { size: 1 })]);
    const [sig] = parseSignatures(signature).signatures;
    expect(sig?.kind).toBe("eth_sign");
    expect(sig && (await signerOf(sig, hash))).toBe(owner.address);
    // The same bytes read as plain ECDSA name somebody else: the kind matters.
    const plain = parseSignatures(serializeSignature({ r, s, yParity })).signatures[0];
    expect(plain && (await signerOf(plain, hash))).not.toBe(owner.address);
  });

  it("reads the owner of approved-hash and contract signatures from r", () => {
    const approved = concatHex([padHex(owner.address, { size: 32 }), word(0), "0x01"]);
    expect(parseSignatures(approved).signatures[0]).toMatchObject({
      kind: "approved_hash",
      owner: owner.address,
    });
    const inner = "0xdeadbeef";
    const contract = concatHex([padHex(owner.address, { size: 32 }), word(65), "0x00", word(4), inner]);
    const [sig] = parseSignatures(contract).signatures;
    expect(sig).toMatchObject({ kind: "contract", owner: owner.address, data: inner });
    expect(sig?.encoded).toBe(contract);
  });

  it("splits a concatenated blob (as the Safe service prepares it) into signatures that stand alone", () => {
    const a = "0x1111111111111111111111111111111111111111";
    const b = "0x2222222222222222222222222222222222222222";
    const blob = concatHex([
      padHex(a, { size: 32 }),
      word(130),
      "0x00",
      padHex(b, { size: 32 }),
      word(130 + 32 + 2),
      "0x00",
      word(2),
      "0xaaaa",
      word(3),
      "0xbbbbbb",
    ]);
    const { signatures, errors } = parseSignatures(blob);
    expect(errors).toEqual([]);
    expect(signatures.map((s) => [s.owner?.toLowerCase(), s.data])).toEqual([
      [a, "0xaaaa"],
      [b, "0xbbbbbb"],
    ]);
    for (const s of signatures) {
      expect(parseSignatures(s.encoded).signatures[0]).toMatchObject({
        kind: s.kind,
        owner: s.owner,
        data: s.data,
      });
    }
  });

  it("names what is wrong with malformed input", () => {
    expect(parseSignatures("0x1234").errors[0]).toMatch(/too short/);
    expect(parseSignatures("nothex").errors[0]).toMatch(/not hex/);
    const badV = concatHex([word(1), word(2), "0x05"]);
    expect(parseSignatures(badV).errors[0]).toMatch(/v=5/);
    const outside = concatHex([padHex(owner.address, { size: 32 }), word(9999), "0x00"]);
    expect(parseSignatures(outside).errors[0]).toMatch(/outside the signature/);
    const overrun = concatHex([padHex(owner.address, { size: 32 }), word(65), "0x00", word(1_000_000)]);
    expect(parseSignatures(overrun).errors[0]).toMatch(/overruns/);
    const inStatic = concatHex([padHex(owner.address, { size: 32 }), word(0), "0x00", word(0)]);
    expect(parseSignatures(inStatic).errors[0]).toMatch(/outside/);
    const dirtyR = concatHex([word(1).replace("0x00", "0xff") as Hex, word(65), "0x00", word(0)]);
    expect(parseSignatures(dirtyR).errors[0]).toMatch(/r does not hold an address/);
  });

  it("never throws on hostile bytes, and what it returns re-parses to itself", () => {
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map((b) => toHex(b)),
      // Static parts with v = 0 and random offsets/lengths: the dangerous case.
      fc
        .tuple(
          fc.uint8Array({ minLength: 20, maxLength: 20 }),
          fc.nat(600),
          fc.nat(2000),
          fc.uint8Array({ maxLength: 200 }),
        )
        .map(([addr, offset, length, tail]) =>
          concatHex([padHex(toHex(addr), { size: 32 }), word(offset), "0x00", word(length), toHex(tail)]),
        ),
    );
    fc.assert(
      fc.property(hostile, (blob) => {
        const { signatures, errors } = parseSignatures(blob);
        expect(signatures.length + errors.length).toBeGreaterThan(0);
        for (const s of signatures) {
          expect(parseSignatures(s.encoded).signatures[0]).toEqual(s);
          expect(encodeSingle(s)).toBe(s.encoded);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
