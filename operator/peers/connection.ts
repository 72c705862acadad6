// The protocol on one TLS connection whose certificate already names the
// peer: both sides send HELLO (the lowest protocol version each speaks) and
// VERSIONS (the range) at once, and the connection is open when the peer's
// HELLO confirms the region its certificate says and both have a version in
// common: the highest. A peer of the release before VERSIONS sends its first
// PING instead, and speaks the version its HELLO said. Afterwards SYNC, SPECS,
// WITNESS and EPOCH frames are handed up, PINGs answered, PONGs turned into a
// round-trip time.
import { performance } from "node:perf_hooks";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { FrameDecoder, PROTOCOL, encodeFrame, type Channel, type Decoded, type Frame } from "./frame.ts";
import { roundTripMs } from "./health.ts";
import { countRefusal, type PeerMetrics } from "./metrics.ts";

/** What the transport reports per peer; kept across reconnections. */
export interface PeerStats {
  /** Unix time in ms of the last valid frame, or null if never heard. */
  lastHeardMs: number | null;
  rttMs: number | null;
  /** Sync and spec payload bytes, as in dsc_sync_bytes_total. */
  bytesIn: number;
  bytesOut: number;
  /** The protocol version spoken on the open connection, or the last one. */
  protocol: number | null;
  /** Why the peer was last refused for its protocol versions (naming both sides'); null once one opens. */
  incompatible: string | null;
}

interface ConnectionEvents {
  opened(connection: PeerConnection): void;
  message(connection: PeerConnection, bytes: Uint8Array, channel: Channel): void;
  /** Once per connection, whatever closed it; `wasOpen` if HELLO had been exchanged. */
  closed(connection: PeerConnection, wasOpen: boolean): void;
}

interface ConnectionOptions {
  readonly socket: TLSSocket;
  readonly self: string;
  /** The region the peer's certificate authenticates. */
  readonly peer: string;
  readonly maxFrameBytes: number;
  readonly stats: PeerStats;
  readonly metrics: PeerMetrics;
  readonly logger: Logger;
  readonly events: ConnectionEvents;
}

/** Unsent bytes, in frames, past which a peer counts as not reading and is dropped rather than buffered for. */
const MAX_QUEUED_FRAMES = 4;

export class PeerConnection {
  readonly peer: string;
  readonly #socket: TLSSocket;
  readonly #maxFrameBytes: number;
  readonly #stats: PeerStats;
  readonly #metrics: PeerMetrics;
  readonly #logger: Logger;
  readonly #events: ConnectionEvents;
  readonly #decoder: FrameDecoder;
  #state: "hello" | "versions" | "open" | "closed" = "hello";
  /** The lowest version the peer's HELLO said it speaks. */
  #peerMin = 0;
  #protocol = 0;
  /** Monotonic; starts at creation, so a peer that never says HELLO falls silent too. */
  #lastHeardAt = performance.now();

  constructor(options: ConnectionOptions) {
    this.peer = options.peer;
    this.#socket = options.socket;
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#stats = options.stats;
    this.#metrics = options.metrics;
    this.#logger = options.logger.child({ peer: options.peer });
    this.#events = options.events;
    this.#decoder = new FrameDecoder(options.maxFrameBytes);
    // Nagle's algorithm against the peer's delayed ACK holds small frames (PONGs, sync
    // replies) back by up to ~40 ms; sync is a conversation of small messages.
    this.#socket.setNoDelay(true);
    this.#socket.on("data", (chunk: Buffer) => {
      this.#receive(chunk);
    });
    this.#socket.on("error", (err: Error) => {
      this.#logger.debug({ err: err.message }, "peer connection error");
    });
    this.#socket.on("close", () => {
      this.close("connection closed");
    });
    this.#write({ type: "hello", version: PROTOCOL.min, region: options.self });
    this.#write({ type: "versions", min: PROTOCOL.min, max: PROTOCOL.max });
  }

  /** The protocol version both sides speak (set once open). */
  get protocol(): number {
    return this.#protocol;
  }

  get isOpen(): boolean {
    return this.#state === "open";
  }

  get lastHeardAt(): number {
    return this.#lastHeardAt;
  }

  /** Sends one message; false if the connection is not open (or was just dropped as not reading). */
  send(bytes: Uint8Array, channel: Channel = "sync"): boolean {
    if (this.#state !== "open") return false;
    if (this.#socket.writableLength > MAX_QUEUED_FRAMES * this.#maxFrameBytes) {
      this.close("peer is not reading");
      return false;
    }
    this.#write({ type: channel, payload: bytes });
    this.#stats.bytesOut += bytes.length;
    this.#metrics.syncBytes.inc({ peer: this.peer, direction: "out" }, bytes.length);
    return true;
  }

  ping(): void {
    if (this.#state === "open") this.#write({ type: "ping", timestamp: performance.now() });
  }

  close(reason: string): void {
    if (this.#state === "closed") return;
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    this.#socket.destroy();
    this.#logger.debug({ reason }, "peer connection closed");
    this.#events.closed(this, wasOpen);
  }

  #write(frame: Frame): void {
    this.#socket.write(encodeFrame(frame, this.#maxFrameBytes));
  }

  #receive(chunk: Uint8Array): void {
    for (const decoded of this.#decoder.push(chunk)) {
      if (this.#state === "closed") return;
      this.#handle(decoded);
    }
  }

  #handle(decoded: Decoded): void {
    if (!decoded.ok) {
      this.#metrics.malformed.inc({ peer: this.peer });
      this.#logger.warn({ reason: decoded.reason }, "malformed frame from peer dropped");
      // Before HELLO there is no protocol to fall back on.
      if (decoded.fatal || this.#state === "hello") this.close(decoded.reason);
      return;
    }
    const frame = decoded.frame;
    if (this.#state === "hello") {
      this.#hello(frame);
      return;
    }
    if (this.#state === "versions") {
      // The peer's range; or, from a peer that sends none, its first other frame, in its HELLO's version.
      const peerMax = frame.type === "versions" ? frame.max : this.#peerMin;
      if (!this.#agree(frame.type === "versions" ? frame.min : this.#peerMin, peerMax)) return;
      this.#open(Math.min(PROTOCOL.max, peerMax));
      // Opening may have closed it (a peer no longer pinned): nothing more is handed up.
      if (frame.type === "versions" || (this.#state as string) !== "open") return;
    }
    this.#heard();
    switch (frame.type) {
      case "hello":
      case "versions":
        this.#metrics.malformed.inc({ peer: this.peer });
        this.#logger.warn(`second ${frame.type.toUpperCase()} from peer dropped`);
        return;
      case "sync":
      case "specs":
      case "witness":
      case "epoch":
        this.#stats.bytesIn += frame.payload.length;
        this.#metrics.syncBytes.inc({ peer: this.peer, direction: "in" }, frame.payload.length);
        this.#events.message(this, frame.payload, frame.type);
        return;
      case "ping":
        this.#write({ type: "pong", timestamp: frame.timestamp });
        return;
      case "pong": {
        const rtt = roundTripMs(frame.timestamp, performance.now());
        if (rtt === undefined) return;
        this.#stats.rttMs = rtt;
        this.#metrics.rttSeconds.set({ peer: this.peer }, rtt / 1000);
        return;
      }
    }
  }

  #hello(frame: Frame): void {
    if (frame.type !== "hello") {
      this.#metrics.malformed.inc({ peer: this.peer });
      this.close(`${frame.type} before HELLO`);
      return;
    }
    if (frame.region !== this.peer) {
      // The certificate says who the peer is; a HELLO that disagrees is a lie or a misconfiguration.
      this.#metrics.malformed.inc({ peer: this.peer });
      countRefusal(this.#metrics, "wrong_region");
      this.#logger.warn(
        { claimed: frame.region },
        "peer refused: HELLO names another region than its certificate",
      );
      this.close("wrong region in HELLO");
      return;
    }
    if (!this.#agree(frame.version, frame.version)) return;
    this.#peerMin = frame.version;
    this.#state = "versions";
    this.#heard();
  }

  /** Whether the peer's range meets this release's; if not, it is refused, naming both. */
  #agree(min: number, max: number): boolean {
    if (max >= PROTOCOL.min && min <= PROTOCOL.max) return true;
    const side = min > PROTOCOL.max ? "too new" : "too old";
    const reason = `protocol ${side}: ${this.peer} speaks ${range(min, max)}, this region ${range(PROTOCOL.min, PROTOCOL.max)}`;
    countRefusal(this.#metrics, "version_mismatch");
    this.#stats.incompatible = reason;
    this.#logger.warn({ reason }, "peer refused: no protocol version in common");
    this.close(reason);
    return false;
  }

  #open(protocol: number): void {
    this.#protocol = protocol;
    this.#stats.protocol = protocol;
    this.#stats.incompatible = null;
    this.#state = "open";
    this.#heard();
    this.#events.opened(this);
    this.ping();
  }

  #heard(): void {
    this.#lastHeardAt = performance.now();
    const now = Date.now();
    this.#stats.lastHeardMs = now;
    this.#metrics.lastHeardSeconds.set({ peer: this.peer }, now / 1000);
  }
}

const range = (min: number, max: number): string =>
  min === max ? `version ${String(min)}` : `versions ${String(min)} to ${String(max)}`;
