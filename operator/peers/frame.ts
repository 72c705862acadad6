// The wire format between operators: a 4-byte big-endian length, then that
// many bytes: a type byte and its payload. The length is checked against the
// limit as soon as its 4 bytes arrive, so a peer cannot make us buffer more
// than one frame's worth; a length over the limit means the stream can no
// longer be split into frames, and the connection has to go.
import { REGION_NAME } from "../api/v1alpha1/fields.ts";

// The protocol versions this release speaks, and what each added:
// 2: SPECS frames (manifest specs travel beside the document, not in it).
// 3: VERSIONS after HELLO (the range a side speaks), and EPOCH frames (the
//    document's epoch, state/rebase.ts).
// HELLO carries the lowest version the sender speaks; the release before 3
// sent exactly 2 and nothing more, so that is what a peer without VERSIONS
// speaks. Both sides then speak the highest version both understand.
export const PROTOCOL = { min: 2, max: 3 } as const;
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** The length prefix: 4 bytes, so a frame (type byte and payload) is at most 2^32 - 1 bytes. */
export const LENGTH_BYTES = 4;

const TYPE = { hello: 1, sync: 2, ping: 3, pong: 4, specs: 5, witness: 6, epoch: 7, versions: 8 } as const;
const TIMESTAMP_BYTES = 8;
const MAX_REGION_BYTES = 32;

/**
 * The streams a connection carries for the layer above: the document's sync,
 * specs, and the logs' witnessing (C2SP tlog-witness requests and answers,
 * witness/rpc.ts), and the epoch of the document each side syncs (a
 * rebase starts a new one: state/rebase.ts). A peer of an older release drops
 * a type it does not know.
 */
export type Channel = "sync" | "specs" | "witness" | "epoch";

export type Frame =
  | { readonly type: "hello"; readonly version: number; readonly region: string }
  /** The range of protocol versions the sender speaks (from 3, right after HELLO). */
  | { readonly type: "versions"; readonly min: number; readonly max: number }
  | { readonly type: "sync"; readonly payload: Uint8Array }
  /** The spec exchange (replication/spec-messages.ts); as opaque here as a sync message. */
  | { readonly type: "specs"; readonly payload: Uint8Array }
  | { readonly type: "witness"; readonly payload: Uint8Array }
  | { readonly type: "epoch"; readonly payload: Uint8Array }
  /** The sender's own clock reading; only the sender interprets it, when the PONG comes back. */
  | { readonly type: "ping"; readonly timestamp: number }
  | { readonly type: "pong"; readonly timestamp: number };

/**
 * One decoded unit: a frame, or a frame that was dropped (`fatal: false`, the
 * next frame starts where the length said), or the end of trust in the stream.
 */
export type Decoded =
  | { readonly ok: true; readonly frame: Frame }
  | { readonly ok: false; readonly fatal: boolean; readonly reason: string };

/** The frame's bytes, length prefix included. Throws a RangeError for what no peer would accept. */
export function encodeFrame(frame: Frame, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  const body = encodeBody(frame);
  if (body.length > maxFrameBytes)
    throw new RangeError(
      `a ${frame.type} frame of ${body.length} bytes exceeds the ${maxFrameBytes}-byte limit`,
    );
  const out = new Uint8Array(LENGTH_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, LENGTH_BYTES);
  return out;
}

function encodeBody(frame: Frame): Uint8Array {
  switch (frame.type) {
    case "hello": {
      if (!REGION_NAME.test(frame.region))
        throw new RangeError(`invalid region ${JSON.stringify(frame.region)}`);
      if (!Number.isInteger(frame.version) || frame.version < 0 || frame.version > 255)
        throw new RangeError(`invalid protocol version ${frame.version}`);
      const region = new TextEncoder().encode(frame.region);
      return Uint8Array.of(TYPE.hello, frame.version, ...region);
    }
    case "sync":
    case "specs":
    case "witness":
    case "epoch": {
      const body = new Uint8Array(1 + frame.payload.length);
      body[0] = TYPE[frame.type];
      body.set(frame.payload, 1);
      return body;
    }
    case "versions": {
      for (const v of [frame.min, frame.max])
        if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`invalid protocol version ${v}`);
      return Uint8Array.of(TYPE.versions, frame.min, frame.max);
    }
    case "ping":
    case "pong": {
      const body = new Uint8Array(1 + TIMESTAMP_BYTES);
      body[0] = TYPE[frame.type];
      new DataView(body.buffer).setFloat64(1, frame.timestamp);
      return body;
    }
  }
}

/** Interprets one frame's body (type byte and payload). Never throws. */
function decodeBody(body: Uint8Array): Decoded {
  const type = body[0];
  const payload = body.subarray(1);
  switch (type) {
    case undefined:
      return dropped("empty frame");
    case TYPE.hello: {
      const version = payload[0];
      const nameBytes = payload.subarray(1);
      if (version === undefined || nameBytes.length > MAX_REGION_BYTES) return dropped("bad HELLO");
      // The pattern admits ASCII only, so reading bytes as char codes cannot misread UTF-8.
      const region = String.fromCharCode(...nameBytes);
      if (!REGION_NAME.test(region)) return dropped("bad HELLO region");
      return { ok: true, frame: { type: "hello", version, region } };
    }
    case TYPE.sync:
    case TYPE.specs:
    case TYPE.witness:
    case TYPE.epoch:
      // A copy: the listener may keep it, and a view would pin the whole socket chunk.
      return { ok: true, frame: { type: CHANNELS[type], payload: payload.slice() } };
    case TYPE.versions: {
      // A later release may say more after the range; what this one knows is the first two bytes.
      const [min, max] = payload;
      if (min === undefined || max === undefined || min > max) return dropped("bad VERSIONS");
      return { ok: true, frame: { type: "versions", min, max } };
    }
    case TYPE.ping:
    case TYPE.pong: {
      if (payload.length !== TIMESTAMP_BYTES) return dropped(`bad ${type === TYPE.ping ? "PING" : "PONG"}`);
      const timestamp = new DataView(payload.buffer, payload.byteOffset, TIMESTAMP_BYTES).getFloat64(0);
      if (!Number.isFinite(timestamp)) return dropped("non-finite timestamp");
      return { ok: true, frame: { type: type === TYPE.ping ? "ping" : "pong", timestamp } };
    }
    default:
      return dropped(`unknown frame type ${type}`);
  }
}

const CHANNELS = {
  [TYPE.sync]: "sync",
  [TYPE.specs]: "specs",
  [TYPE.witness]: "witness",
  [TYPE.epoch]: "epoch",
} as const satisfies Record<number, Channel>;

function dropped(reason: string): Decoded {
  return { ok: false, fatal: false, reason };
}

/**
 * Splits a byte stream into frames, however it was chunked. Bytes are kept
 * as the chunks they came in and joined once per frame, so a large frame
 * arriving in many small chunks costs one copy, not one per chunk.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** The body length of the frame whose length prefix has been read. */
  #pending: number | undefined;
  #failed = false;

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** The frames completed by `chunk`, in order; nothing more once a fatal error was returned. */
  push(chunk: Uint8Array): Decoded[] {
    if (this.#failed) return [];
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const out: Decoded[] = [];
    // Each pass consumes a length prefix or a body, so the loop ends with the buffered bytes.
    for (;;) {
      if (this.#pending === undefined) {
        if (this.#buffered < LENGTH_BYTES) return out;
        const prefix = this.#take(LENGTH_BYTES);
        const length = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_BYTES).getUint32(0);
        if (length > this.#maxFrameBytes) {
          this.#failed = true;
          this.#chunks = [];
          this.#buffered = 0;
          out.push({
            ok: false,
            fatal: true,
            reason: `frame of ${length} bytes exceeds the ${this.#maxFrameBytes}-byte limit`,
          });
          return out;
        }
        this.#pending = length;
      }
      if (this.#buffered < this.#pending) return out;
      const body = this.#take(this.#pending);
      this.#pending = undefined;
      out.push(decodeBody(body));
    }
  }

  /** Removes and returns the next `n` buffered bytes (the caller checked they are there). */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first && first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      if (!chunk) throw new Error("frame decoder: fewer bytes buffered than counted");
      const used = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    this.#buffered -= n;
    return out;
  }
}
