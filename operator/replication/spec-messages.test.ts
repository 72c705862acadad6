import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { digestOf } from "../../e2e/support/state-fixtures.ts";
import { decodeSpecMessage, encodeSpecMessage, MAX_WANT, type SpecMessage } from "./spec-messages.ts";

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const reason = (b: Uint8Array): string => {
  const d = decodeSpecMessage(b);
  return d.ok ? "accepted" : d.reason;
};

describe("spec messages", () => {
  it("round-trip a WANT and a SPEC", () => {
    const messages: SpecMessage[] = [
      { kind: "want", digests: [digestOf("a"), digestOf("b")] },
      { kind: "spec", digest: digestOf("a"), json: '{"nonce":1,"objects":[]}' },
    ];
    for (const m of messages)
      expect(decodeSpecMessage(encodeSpecMessage(m))).toEqual({ ok: true, message: m });
  });

  it("lower-cases digests and drops repeats, so one digest is one request", () => {
    const upper = digestOf("a").replace(/[a-f]/g, (c) => c.toUpperCase());
    const d = decodeSpecMessage(bytes({ kind: "want", digests: [upper, digestOf("a")] }));
    expect(d).toEqual({ ok: true, message: { kind: "want", digests: [digestOf("a")] } });
  });

  it("refuses malformed messages with a reason that names the field", () => {
    expect(reason(Uint8Array.of(0xff, 0xfe))).toBe("not UTF-8 JSON");
    expect(reason(bytes([1, 2]))).toBe("not an object");
    expect(reason(bytes(null))).toBe("not an object");
    expect(reason(bytes({ kind: "want", digests: [] }))).toMatch(/^want\.digests/);
    expect(reason(bytes({ kind: "want", digests: Array(MAX_WANT + 1).fill(digestOf("a")) }))).toMatch(
      /^want\.digests/,
    );
    expect(reason(bytes({ kind: "want", digests: ["../etc/passwd"] }))).toMatch(/^digest/);
    expect(reason(bytes({ kind: "want", digests: [7] }))).toMatch(/^digest/);
    expect(reason(bytes({ kind: "spec", digest: digestOf("a") }))).toBe("spec.json: expected a string");
    expect(reason(bytes({ kind: "spec", digest: 1, json: "{}" }))).toBe("spec.digest: expected a string");
    expect(reason(bytes({ kind: "spec", digest: "0x12", json: "{}" }))).toMatch(/^digest/);
    expect(reason(bytes({ kind: "gimme" }))).toBe('unknown kind "gimme"');
  });

  it("will not encode a WANT no peer would accept", () => {
    expect(() => encodeSpecMessage({ kind: "want", digests: [] })).toThrow(RangeError);
    expect(() =>
      encodeSpecMessage({ kind: "want", digests: Array<string>(MAX_WANT + 1).fill(digestOf("a")) }),
    ).toThrow(RangeError);
  });

  it("never throws, whatever a peer sends", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.jsonValue().map(bytes)), (b) => {
        const d = decodeSpecMessage(b);
        expect(typeof d.ok).toBe("boolean");
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            kind: fc.constantFrom("want", "spec"),
            digests: fc.anything(),
            digest: fc.anything(),
            json: fc.anything(),
          },
          { requiredKeys: ["kind"] },
        ),
        (m) => {
          let b: Uint8Array;
          try {
            b = bytes(m);
          } catch {
            return; // not JSON-serialisable (a BigInt): no peer can send it
          }
          const d = decodeSpecMessage(b);
          if (d.ok && d.message.kind === "spec") expect(d.message.digest).toMatch(/^0x[0-9a-f]{64}$/);
          if (d.ok && d.message.kind === "want")
            for (const digest of d.message.digests) expect(digest).toMatch(/^0x[0-9a-f]{64}$/);
        },
      ),
      { numRuns: 500 },
    );
  });
});
