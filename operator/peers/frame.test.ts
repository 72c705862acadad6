import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameDecoder, encodeFrame, type Decoded, type Frame } from "./frame.ts";

const MAX = 4096;

const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constant("hello" as const),
    version: fc.integer({ min: 0, max: 255 }),
    region: fc.stringMatching(/^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$/),
  }),
  fc.record({ type: fc.constant("sync" as const), payload: fc.uint8Array({ maxLength: 600 }) }),
  fc.record({ type: fc.constant("specs" as const), payload: fc.uint8Array({ maxLength: 600 }) }),
  fc.record({
    type: fc.constantFrom("witness" as const, "epoch" as const),
    payload: fc.uint8Array({ maxLength: 600 }),
  }),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .map(([a, b]) => ({ type: "versions" as const, min: Math.min(a, b), max: Math.max(a, b) })),
  fc.record({
    type: fc.constantFrom("ping" as const, "pong" as const),
    timestamp: fc.double({ noNaN: true, noDefaultInfinity: true }),
  }),
);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

/** `bytes` cut at `cuts` (positions, any order, duplicates allowed), fed to one decoder. */
function decodeInChunks(bytes: Uint8Array, cuts: readonly number[], max = MAX): Decoded[] {
  const positions = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const decoder = new FrameDecoder(max);
  const out: Decoded[] = [];
  let from = 0;
  for (const to of [...positions, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(from, to)));
    from = to;
  }
  return out;
}

function frames(decoded: readonly Decoded[]): Frame[] {
  return decoded.map((d) => {
    if (!d.ok) throw new Error(`unexpected ${d.reason}`);
    return d.frame;
  });
}

describe("frame codec", () => {
  it("decodes what it encodes, whatever the frames", () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 8 }), (sent) => {
        expect(frames(decodeInChunks(concat(sent.map((f) => encodeFrame(f, MAX))), []))).toEqual(sent);
      }),
    );
  });

  it("decodes a stream the same however TCP splits it into chunks", () => {
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (sent, cuts) => {
          const bytes = concat(sent.map((f) => encodeFrame(f, MAX)));
          expect(frames(decodeInChunks(bytes, cuts))).toEqual(sent);
        },
      ),
    );
  });

  it("never throws on random bytes, and yields nothing after a fatal error", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 300 }),
        (bytes, cuts, max) => {
          const decoded = decodeInChunks(bytes, cuts, max);
          const fatal = decoded.findIndex((d) => !d.ok && d.fatal);
          if (fatal >= 0) expect(fatal).toBe(decoded.length - 1);
        },
      ),
    );
  });

  it("gives up on a length over the limit as soon as the length arrives, before any body", () => {
    const decoder = new FrameDecoder(1024);
    expect(decoder.push(Uint8Array.of(0, 0, 4, 1))).toEqual([
      { ok: false, fatal: true, reason: "frame of 1025 bytes exceeds the 1024-byte limit" },
    ]);
    // Framing is gone: even a well-formed frame is not read any more.
    expect(decoder.push(encodeFrame({ type: "ping", timestamp: 1 }))).toEqual([]);
  });

  it("accepts a frame of exactly the limit", () => {
    const payload = new Uint8Array(1023).fill(7);
    const decoded = new FrameDecoder(1024).push(encodeFrame({ type: "sync", payload }, 1024));
    expect(frames(decoded)).toEqual([{ type: "sync", payload }]);
  });

  it("drops a malformed frame and decodes the next one: the length still says where it starts", () => {
    const unknownType = Uint8Array.of(0, 0, 0, 3, 99, 1, 2);
    const empty = Uint8Array.of(0, 0, 0, 0);
    const shortPing = Uint8Array.of(0, 0, 0, 2, 3, 0);
    const badRegion = encodeFrame({ type: "hello", version: 1, region: "beta" }).map((b, i) =>
      i === 6 ? 66 : b,
    );
    const tooLongRegion = Uint8Array.of(0, 0, 0, 36, 1, 1, ...new Uint8Array(34).fill(97));
    const next = encodeFrame({ type: "sync", payload: Uint8Array.of(1, 2, 3) });
    const decoded = decodeInChunks(
      concat([unknownType, empty, shortPing, badRegion, tooLongRegion, next]),
      [],
    );
    expect(decoded.map((d) => (d.ok ? d.frame.type : d.fatal ? "fatal" : d.reason))).toEqual([
      "unknown frame type 99",
      "empty frame",
      "bad PING",
      "bad HELLO region",
      "bad HELLO",
      "sync",
    ]);
  });

  it("hands out a sync payload that later bytes on the socket cannot change", () => {
    const chunk = concat([encodeFrame({ type: "sync", payload: Uint8Array.of(1, 2, 3) })]);
    const [decoded] = new FrameDecoder().push(chunk);
    chunk.fill(0);
    expect(decoded).toEqual({ ok: true, frame: { type: "sync", payload: Uint8Array.of(1, 2, 3) } });
  });

  it("reads a VERSIONS range, ignores what a later release adds after it, and drops a range upside down", () => {
    const body = (...bytes: number[]) => {
      const out = new Uint8Array(4 + bytes.length);
      new DataView(out.buffer).setUint32(0, bytes.length);
      out.set(bytes, 4);
      return out;
    };
    const decoder = new FrameDecoder(MAX);
    const [longer, upsideDown, short] = decoder.push(concat([body(8, 2, 5, 9), body(8, 5, 2), body(8, 2)]));
    expect(longer).toEqual({ ok: true, frame: { type: "versions", min: 2, max: 5 } });
    expect(upsideDown).toEqual({ ok: false, fatal: false, reason: "bad VERSIONS" });
    expect(short).toEqual({ ok: false, fatal: false, reason: "bad VERSIONS" });
  });

  it("refuses to encode what no peer would accept", () => {
    expect(() => encodeFrame({ type: "sync", payload: new Uint8Array(1024) }, 1024)).toThrow(RangeError);
    expect(() => encodeFrame({ type: "hello", version: 1, region: "Beta" })).toThrow(RangeError);
    expect(() => encodeFrame({ type: "hello", version: 256, region: "beta" })).toThrow(RangeError);
  });
});
