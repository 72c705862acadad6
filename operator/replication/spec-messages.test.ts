import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { digestOf } from "../../e2e/support/state-fixtures.ts";
import { checkId } from "../state/model.ts";
import {
  decodeSpecMessage,
  encodeSpecMessage,
  keptApproval,
  MAX_WANT,
  type SpecMessage,
} from "./spec-messages.ts";

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

  it("carry a hint (the manifest id and its approvals) and refuse a malformed one by its field", () => {
    const sig = { safe: "consortium", data: "0x" + "ab".repeat(65) } as const;
    const spec = { kind: "spec", digest: digestOf("a"), json: "{}" } as const;
    const hinted: SpecMessage = { ...spec, hint: { id: "ns/a", signatures: [sig] } };
    expect(decodeSpecMessage(encodeSpecMessage(hinted))).toEqual({ ok: true, message: hinted });
    // Upper-case hex is one approval, as the state keeps it.
    const upper = decodeSpecMessage(
      bytes({
        ...spec,
        hint: { id: "ns/a", signatures: [{ ...sig, data: sig.data.toUpperCase().replace("0X", "0x") }] },
      }),
    );
    expect(upper).toEqual({ ok: true, message: hinted });
    const hint = (h: unknown) => reason(bytes({ ...spec, hint: h }));
    expect(hint(null)).toBe("spec.hint: expected an object");
    expect(hint([])).toBe("spec.hint: expected an object");
    expect(hint({ signatures: [] })).toBe("spec.hint.id: expected namespace/name");
    expect(hint({ id: "a/" + "b".repeat(600), signatures: [] })).toBe(
      "spec.hint.id: expected namespace/name",
    );
    expect(hint({ id: "../x", signatures: [] })).toMatch(/^manifest id/);
    expect(hint({ id: "ns/a/b", signatures: [] })).toMatch(/^manifest id/);
    expect(hint({ id: "ns/a" })).toBe("spec.hint.signatures: expected an array of at most 64 approvals");
    expect(hint({ id: "ns/a", signatures: Array(65).fill(sig) })).toBe(
      "spec.hint.signatures: expected an array of at most 64 approvals",
    );
    expect(hint({ id: "ns/a", signatures: [{ safe: "mallory", data: "0x" }] })).toMatch(/^safe/);
    expect(hint({ id: "ns/a", signatures: [{ safe: "board" }] })).toBe(
      "spec.hint.signatures[0].data: expected hex bytes",
    );
    // No more than the federation state keeps of an approval (state/validate.ts), however long.
    expect(hint({ id: "ns/a", signatures: [{ safe: "board", data: "0x" + "a".repeat(65_536) }] })).toBe(
      "spec.hint.signatures[0].data: expected hex bytes",
    );
    expect(hint({ id: "ns/a", signatures: [{ safe: "board", data: "0x" + "ab".repeat(480) }] })).toBe(
      "spec.hint.signatures[0].data: longer than an approval the federation state keeps",
    );
    expect(hint({ id: "ns/a", signatures: [{ safe: "board", data: "0x" + "ab".repeat(470) }] })).toBe(
      "accepted",
    );
    expect(hint({ id: "ns/a", signatures: [{ safe: "board", data: "0xabc" }] })).toMatch(/^hex data/);
    expect(hint({ id: "ns/a", signatures: [7] })).toBe("spec.hint.signatures[0].data: expected hex bytes");
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
            // A valid digest and spec half of the time, so that the hint is what decides.
            digest: fc.oneof(fc.anything(), fc.constant(digestOf("a"))),
            json: fc.oneof(fc.anything(), fc.constant("{}")),
            hint: fc.oneof(
              fc.anything(),
              fc.record({ id: fc.oneof(fc.string(), fc.constant("ns/a")), signatures: fc.anything() }),
              fc.record({
                id: fc.constant("ns/a"),
                signatures: fc.array(
                  fc.record({
                    safe: fc.constantFrom("board", "consortium"),
                    data: fc
                      .string({
                        unit: fc.constantFrom(
                          "0",
                          "1",
                          "2",
                          "3",
                          "4",
                          "5",
                          "6",
                          "7",
                          "8",
                          "9",
                          "a",
                          "b",
                          "c",
                          "d",
                          "e",
                          "f",
                        ),
                        maxLength: 1200,
                      })
                      .map((h) => `0x${h.length % 2 ? h.slice(1) : h}`),
                  }),
                  { maxLength: 70 },
                ),
              }),
              fc.record({
                id: fc.constant("ns/a"),
                signatures: fc.array(fc.record({ safe: fc.constantFrom("board", "x"), data: fc.anything() })),
              }),
            ),
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
          if (d.ok && d.message.kind === "spec" && d.message.hint) {
            const { hint, digest } = d.message;
            expect(() => checkId(hint.id)).not.toThrow();
            expect(hint.signatures.length).toBeLessThanOrEqual(64);
            for (const s of hint.signatures) {
              expect(s.data).toMatch(/^0x([0-9a-f]{2})*$/);
              expect(keptApproval(digest, s.safe, s.data)).toBe(true);
            }
          }
          if (d.ok && d.message.kind === "want")
            for (const digest of d.message.digests) expect(digest).toMatch(/^0x[0-9a-f]{64}$/);
        },
      ),
      { numRuns: 500 },
    );
  });
});
