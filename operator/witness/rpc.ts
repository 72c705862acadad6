// C2SP tlog-witness over the peers' mutual-TLS connections: the same
// add-checkpoint request and answer bodies as the HTTP API, carried in
// WITNESS frames with a request id, and gossip of cosigned checkpoints. What a
// peer sends here is bounded in size and rate; what it cannot be is trusted:
// the witness checks every checkpoint against the key pinned for its log.
import type { Logger } from "pino";
import { RateLimiter } from "../runtime/rate-limit.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { WitnessAnswerText } from "./witness.ts";

const REQUEST = 1;
const RESPONSE = 2;
const GOSSIP = 3;
/**
 * A mirror asks for one of the log's resources (a tile path, or "checkpoint"); after an entry
 * bundle's path, a newline and the count of its first entries the mirror holds already.
 */
const FETCH = 4;
/** The answer: one byte (1 found, 0 not), then the resource's bytes. */
const FETCHED = 5;
const HEADER = 5;
/** A checkpoint with 16 cosignatures and 63 proof lines is under 8 KiB. */
const MAX_MESSAGE = 64 * 1024;
/** A full entry bundle of receipts (about 700 bytes each) is under 256 KiB; of the largest (MAX_RECEIPT_BYTES), 4 MiB. */
export const MAX_FETCHED = 4 * 1024 * 1024;

export interface WitnessChannel {
  send(peer: string, bytes: Uint8Array, channel: "witness"): boolean;
  onMessage(listener: (peer: string, bytes: Uint8Array, channel: string) => void): unknown;
}

interface RpcOptions {
  readonly channel: WitnessChannel;
  /** Answers a peer's add-checkpoint (this region as a witness). */
  readonly answer: (body: string) => Promise<WitnessAnswerText>;
  /** A cosigned checkpoint a peer gossiped. */
  readonly gossiped: (peer: string, note: string) => void;
  /** One of this region's log resources, for a peer's mirror (undefined: not there); `skip` as in TileLog.readTile. */
  readonly read: (path: string, skip: number) => Promise<Uint8Array | undefined>;
  readonly logger: Logger;
  readonly timeoutMs?: number;
}

export class WitnessRpc {
  readonly #o: RpcOptions;
  readonly #pending = new Map<
    number,
    { peer: string; resolve: (a: WitnessAnswerText) => void; reject: (e: Error) => void }
  >();
  readonly #fetches = new Map<
    number,
    { peer: string; resolve: (b: Uint8Array | undefined) => void; reject: (e: Error) => void }
  >();
  #next = 1;
  /** A log makes a checkpoint per batch; a peer asking more than this is not a log. */
  readonly #limit = new RateLimiter({ perSecond: 50, burst: 200 });

  constructor(o: RpcOptions) {
    this.#o = o;
    o.channel.onMessage((peer, bytes, channel) => {
      if (channel !== "witness") return;
      this.#receive(peer, bytes);
    });
  }

  /** Asks `peer` to cosign; rejects if it is not connected or does not answer in time. */
  request(peer: string, body: string): Promise<WitnessAnswerText> {
    const id = this.#next++ % 2 ** 32;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${peer} did not answer add-checkpoint in time`));
      }, this.#o.timeoutMs ?? 5000);
      this.#pending.set(id, {
        peer,
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!this.#o.channel.send(peer, encode(REQUEST, id, body), "witness")) {
        this.#pending.get(id)?.reject(new Error(`${peer} is not connected`));
        this.#pending.delete(id);
      }
    });
  }

  /**
   * One of `peer`'s log resources; undefined if it has none at that path. With `skip`, an
   * entry bundle without its first `skip` entries (a peer of an older release answers
   * undefined: ask again without).
   */
  fetch(peer: string, path: string, skip = 0): Promise<Uint8Array | undefined> {
    const id = this.#next++ % 2 ** 32;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fetches.delete(id);
        reject(new Error(`${peer} did not answer a fetch of ${path} in time`));
      }, this.#o.timeoutMs ?? 5000);
      const settle =
        <T>(f: (x: T) => void) =>
        (x: T) => {
          clearTimeout(timer);
          this.#fetches.delete(id);
          f(x);
        };
      this.#fetches.set(id, { peer, resolve: settle(resolve), reject: settle(reject) });
      const asked = skip > 0 ? `${path}\n${String(skip)}` : path;
      if (!this.#o.channel.send(peer, encode(FETCH, id, asked), "witness"))
        this.#fetches.get(id)?.reject(new Error(`${peer} is not connected`));
    });
  }

  gossip(peer: string, note: string): void {
    this.#o.channel.send(peer, encode(GOSSIP, 0, note), "witness");
  }

  #receive(peer: string, bytes: Uint8Array): void {
    // Only an answer this region is waiting for may be large.
    const awaited =
      bytes[0] === FETCHED &&
      bytes.length >= HEADER &&
      this.#fetches.get(new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0))?.peer === peer;
    const max = awaited ? MAX_FETCHED : MAX_MESSAGE;
    if (bytes.length < HEADER || bytes.length > max || !this.#limit.take(peer)) {
      this.#o.logger.warn({ peer, bytes: bytes.length }, "witness message refused (size or rate)");
      return;
    }
    const kind = bytes[0];
    const id = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0);
    if (kind === FETCHED) {
      const waiting = this.#fetches.get(id);
      if (waiting?.peer !== peer) return; // answers only what was asked of this peer
      waiting.resolve(bytes[HEADER] === 1 ? bytes.slice(HEADER + 1) : undefined);
      return;
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(HEADER));
    } catch {
      this.#o.logger.warn({ peer }, "witness message refused (not UTF-8)");
      return;
    }
    switch (kind) {
      case REQUEST:
        void this.#o.answer(text).then((a) => {
          this.#o.channel.send(peer, encode(RESPONSE, id, `${String(a.status)}\n${a.body}`), "witness");
        });
        return;
      case RESPONSE: {
        const waiting = this.#pending.get(id);
        if (waiting?.peer !== peer) return; // answers only what was asked of this peer
        this.#pending.delete(id);
        const newline = text.indexOf("\n");
        const status = Number(text.slice(0, newline));
        if (newline < 0 || !Number.isInteger(status)) {
          waiting.reject(new Error(`${peer} answered add-checkpoint with no status`));
          return;
        }
        waiting.resolve({ status, contentType: "", body: text.slice(newline + 1) });
        return;
      }
      case FETCH: {
        const [path = "", skipText = "0", ...rest] = text.split("\n");
        const skip = /^(0|[1-9][0-9]{0,2})$/.test(skipText) && rest.length === 0 ? Number(skipText) : -1;
        // A resource that cannot be read (a damaged file) is answered as absent, not left to time out.
        void (skip < 0 ? Promise.resolve(undefined) : this.#o.read(path, skip))
          .catch(() => undefined)
          .then((found) => {
            const body = new Uint8Array(1 + (found?.length ?? 0));
            body[0] = found ? 1 : 0;
            if (found) body.set(found, 1);
            if (body.length + HEADER <= MAX_FETCHED)
              this.#o.channel.send(peer, encodeBytes(FETCHED, id, body), "witness");
          });
        return;
      }
      case GOSSIP:
        try {
          this.#o.gossiped(peer, text);
        } catch (error) {
          this.#o.logger.warn({ peer, err: errorMessage(error) }, "gossiped checkpoint refused");
        }
        return;
      default:
        this.#o.logger.warn({ peer, kind }, "witness message of an unknown kind dropped");
    }
  }
}

const encode = (kind: number, id: number, text: string): Uint8Array =>
  encodeBytes(kind, id, new TextEncoder().encode(text));

function encodeBytes(kind: number, id: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + body.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, id);
  out.set(body, HEADER);
  return out;
}
