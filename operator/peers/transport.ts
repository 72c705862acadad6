// The operators' channel to each other: mutual TLS where each side's
// certificate is pinned by fingerprint, opaque sync messages in size-bounded
// frames, and a heartbeat that decides a peer is gone.
//
// One connection per pair: the region whose name sorts first dials, the other
// only accepts (and refuses the reverse as wrong_direction). A newer
// connection from a peer replaces an older one, which is how a dialler that
// restarted without closing its socket is let back in at once. While a peer
// is down the dialler retries after 100 ms, doubling to 2 s. Both sides PING
// every heartbeat; a connection silent for three heartbeats (in the TLS
// handshake, before HELLO, or after) is closed, and the dialler redials.
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { connect, createServer, type Server, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { REGION_NAME } from "../api/v1alpha1/fields.ts";
import { pinPeers, type PeerConfig, type PinnedPeer } from "./config.ts";
import { PeerConnection, type PeerStats } from "./connection.ts";
import { DEFAULT_MAX_FRAME_BYTES, LENGTH_BYTES, type Channel } from "./frame.ts";
import {
  DEFAULT_RECONNECT,
  SILENT_HEARTBEATS,
  dials,
  isSilent,
  reconnectDelay,
  type ReconnectPolicy,
} from "./health.ts";
import { fingerprintDer, identifyClient, verifyServer, type RefusalReason } from "./identity.ts";
import { countRefusal, forgetPeer, peerMetrics, type PeerMetrics } from "./metrics.ts";

export interface PeerTransportOptions {
  readonly region: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** PEM; the same certificate serves and dials. */
  readonly certificate: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly peers: readonly PeerConfig[];
  readonly heartbeatMs: number;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Largest frame (type byte and payload) sent or accepted; both sides must agree. Default 8 MiB. */
  readonly maxFrameBytes?: number;
  /** Backoff between dial attempts while a peer is down. Default 100 ms doubling to 2 s. */
  readonly reconnect?: ReconnectPolicy;
  /** Told of every connection refused, besides dsc_peer_refused_total. */
  readonly refused?: (reason: RefusalReason) => void;
}

interface PeerStatus {
  readonly region: string;
  readonly connected: boolean;
  /** Unix time in ms of the last valid frame from the peer, or null if never heard. */
  readonly lastHeardMs: number | null;
  /** Last heartbeat round trip, or null before the first. */
  readonly rttMs: number | null;
  /** Sync payload bytes since this transport was created. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The protocol version spoken on the connection, or the last one. */
  readonly protocol: number | null;
  /** Why the peer was last refused for its protocol versions; null once it connected. */
  readonly incompatible: string | null;
}

interface PeerState {
  pinned: PinnedPeer;
  readonly stats: PeerStats;
  /** The connection over which HELLO was exchanged. */
  open: PeerConnection | undefined;
  /** The socket this side dialled, from connect until it closes. */
  dialing: TLSSocket | undefined;
  redial: NodeJS.Timeout | undefined;
  /** Dial attempts since the peer was last connected. */
  failures: number;
}

type Listener<A extends unknown[]> = (...args: A) => void;

export class PeerTransport {
  readonly region: string;
  readonly #listen: { readonly host: string; readonly port: number };
  readonly #certificate: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly #heartbeatMs: number;
  readonly #maxFrameBytes: number;
  readonly #reconnect: ReconnectPolicy;
  readonly #logger: Logger;
  readonly #metrics: PeerMetrics;
  readonly #peers = new Map<string, PeerState>();
  /** Fingerprint to region, for the pinned peers. */
  #pins = new Map<string, string>();
  /** Every authenticated connection, open or still waiting for HELLO. */
  readonly #connections = new Set<PeerConnection>();
  /** Accepted sockets, from TCP accept on, so `stop` need not wait out handshakes in progress. */
  readonly #accepted = new Set<Socket>();
  readonly #messageListeners: Listener<[string, Uint8Array, Channel]>[] = [];
  readonly #connectListeners: Listener<[string]>[] = [];
  readonly #disconnectListeners: Listener<[string]>[] = [];
  #server: Server | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #lastTickAt = 0;
  #running = false;

  constructor(options: PeerTransportOptions) {
    if (!REGION_NAME.test(options.region))
      throw new Error(`invalid region ${JSON.stringify(options.region)}`);
    if (!Number.isInteger(options.heartbeatMs) || options.heartbeatMs < 1)
      throw new Error(`heartbeatMs must be a positive integer, not ${options.heartbeatMs}`);
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    // The smallest frame that must fit is a HELLO with a 32-character region.
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 64 || maxFrameBytes >= 2 ** (8 * LENGTH_BYTES))
      throw new Error(`maxFrameBytes must be an integer from 64 to 2^32-1, not ${maxFrameBytes}`);
    this.region = options.region;
    this.#listen = options.listen;
    this.#certificate = options.certificate;
    this.#heartbeatMs = options.heartbeatMs;
    this.#maxFrameBytes = maxFrameBytes;
    this.#reconnect = options.reconnect ?? DEFAULT_RECONNECT;
    this.#logger = options.logger;
    this.#metrics = { ...peerMetrics(options.registry), onRefused: options.refused };
    this.setPeers(options.peers);
  }

  /** Listens, then dials the peers this region dials. */
  async start(): Promise<void> {
    if (this.#running) throw new Error("peer transport already started");
    const server = createServer(
      {
        ...this.#certificate,
        minVersion: "TLSv1.3",
        requestCert: true,
        // Pinning is the trust, checked once the handshake is done: there is no CA to verify against.
        rejectUnauthorized: false,
        handshakeTimeout: SILENT_HEARTBEATS * this.#heartbeatMs,
      },
      (socket) => {
        this.#accept(socket);
      },
    );
    server.on("connection", (socket: Socket) => {
      this.#accepted.add(socket);
      socket.once("close", () => this.#accepted.delete(socket));
    });
    server.on("tlsClientError", (err, socket) => {
      countRefusal(this.#metrics, "tls_handshake");
      this.#logger.debug({ err: err.message, remote: socket.remoteAddress }, "TLS handshake failed");
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#listen.port, this.#listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err: Error) => {
      this.#logger.error({ err: err.message }, "peer listener error");
    });
    this.#server = server;
    this.#running = true;
    this.#lastTickAt = performance.now();
    this.#heartbeat = setInterval(() => {
      this.#tick();
    }, this.#heartbeatMs);
    this.#logger.info({ port: this.port }, "peer transport listening");
    for (const state of this.#peers.values()) this.#dial(state);
  }

  /** Closes every connection and the listener; `onDisconnect` fires for the peers that were connected. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#heartbeat);
    for (const state of this.#peers.values()) {
      clearTimeout(state.redial);
      state.redial = undefined;
      state.dialing?.destroy();
    }
    for (const connection of [...this.#connections]) connection.close("transport stopped");
    for (const socket of this.#accepted) socket.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server)
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
  }

  /** The port listened on (the kernel's choice when `listen.port` was 0). */
  get port(): number {
    const address = this.#server?.address();
    if (typeof address !== "object" || !address) throw new Error("peer transport is not listening");
    return address.port;
  }

  /**
   * Sends one sync message. False if the peer is not connected: the caller
   * starts over from `onConnect`. Throws a RangeError for a message larger
   * than a frame, which no peer would accept.
   */
  send(region: string, bytes: Uint8Array, channel: Channel = "sync"): boolean {
    if (bytes.length + 1 > this.#maxFrameBytes)
      throw new RangeError(
        `a ${channel} message of ${bytes.length} bytes exceeds the ${this.#maxFrameBytes}-byte frame limit`,
      );
    return this.#peers.get(region)?.open?.send(bytes, channel) ?? false;
  }

  /** Each listener gets every message, with its channel; returns a function that removes the listener. */
  /** The protocol version spoken with `region`, while connected. */
  protocol(region: string): number | undefined {
    return this.#peers.get(region)?.open?.protocol;
  }

  /** Closes the connection to `region`, if open; the dialling side dials again after its backoff. */
  disconnect(region: string, reason: string): void {
    this.#peers.get(region)?.open?.close(reason);
  }

  onMessage(listener: (region: string, bytes: Uint8Array, channel: Channel) => void): () => void {
    return subscribe(this.#messageListeners, listener);
  }

  /** Fires when a peer's connection opens (after HELLO), each time it reconnects. */
  onConnect(listener: (region: string) => void): () => void {
    return subscribe(this.#connectListeners, listener);
  }

  onDisconnect(listener: (region: string) => void): () => void {
    return subscribe(this.#disconnectListeners, listener);
  }

  status(): PeerStatus[] {
    return [...this.#peers.values()]
      .map((state) => ({
        region: state.pinned.region,
        connected: state.open !== undefined,
        ...state.stats,
        // A refused extra connection says nothing while one with a version in common is open.
        incompatible: state.open ? null : state.stats.incompatible,
      }))
      .sort((a, b) => (a.region < b.region ? -1 : a.region > b.region ? 1 : 0));
  }

  /**
   * Replaces the pinned peers. Validates first (throws, changing nothing);
   * then drops the connections of regions that left or whose certificate or
   * endpoint changed, and dials the regions that are new.
   */
  setPeers(peers: readonly PeerConfig[]): void {
    const next = pinPeers(this.region, peers);
    for (const [region, state] of this.#peers) {
      const pinned = next.get(region);
      if (pinned?.fingerprint === state.pinned.fingerprint && sameEndpoint(pinned, state.pinned)) continue;
      const certificateChanged = pinned?.fingerprint !== state.pinned.fingerprint;
      if (pinned) state.pinned = pinned;
      if (certificateChanged || dials(this.region, region)) {
        state.dialing?.destroy();
        for (const connection of [...this.#connections])
          if (connection.peer === region) connection.close("peer configuration changed");
      }
      if (pinned) {
        state.failures = 0;
        if (!state.dialing) {
          // A peer that was down may be up at its new endpoint: no need to sit out the backoff.
          clearTimeout(state.redial);
          state.redial = undefined;
          this.#dial(state);
        }
        continue;
      }
      clearTimeout(state.redial);
      this.#peers.delete(region);
      forgetPeer(this.#metrics, region);
      this.#logger.info({ peer: region }, "peer removed");
    }
    this.#pins = new Map([...next.values()].map((p) => [p.fingerprint, p.region]));
    for (const [region, pinned] of next) {
      if (this.#peers.has(region)) continue;
      const state: PeerState = {
        pinned,
        stats: {
          lastHeardMs: null,
          rttMs: null,
          bytesIn: 0,
          bytesOut: 0,
          protocol: null,
          incompatible: null,
        },
        open: undefined,
        dialing: undefined,
        redial: undefined,
        failures: 0,
      };
      this.#peers.set(region, state);
      this.#metrics.connected.set({ peer: region }, 0);
      this.#dial(state);
    }
  }

  #accept(socket: TLSSocket): void {
    // Until a connection owns the socket, an error (a reset) must not go unhandled.
    socket.on("error", () => undefined);
    const verdict = identifyClient(presented(socket), this.#pins, (peer) => dials(this.region, peer));
    if (verdict.ok) this.#connection(socket, verdict.region);
    else this.#refuse(socket, verdict.reason);
  }

  #dial(state: PeerState): void {
    const region = state.pinned.region;
    if (!this.#running || !dials(this.region, region) || state.open || state.dialing || state.redial) return;
    const { host, port } = state.pinned.endpoint;
    this.#logger.debug({ peer: region, host, port, attempt: state.failures + 1 }, "dialling peer");
    const socket = connect({
      host,
      port,
      ...this.#certificate,
      minVersion: "TLSv1.3",
      // Pinning replaces both chain and hostname verification: checked on secureConnect.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    state.dialing = socket;
    socket.setTimeout(SILENT_HEARTBEATS * this.#heartbeatMs, () => {
      socket.destroy();
    });
    socket.on("error", (err: Error) => {
      this.#logger.debug({ peer: region, err: err.message }, "dial failed");
    });
    socket.once("secureConnect", () => {
      socket.setTimeout(0);
      const verdict = verifyServer(presented(socket), this.#pins, region);
      if (verdict.ok) this.#connection(socket, region);
      else this.#refuse(socket, verdict.reason);
    });
    socket.once("close", () => {
      if (state.dialing !== socket) return;
      state.dialing = undefined;
      if (!this.#running || this.#peers.get(region) !== state) return;
      const delay = reconnectDelay(state.failures, this.#reconnect);
      state.failures += 1;
      state.redial = setTimeout(() => {
        state.redial = undefined;
        this.#dial(state);
      }, delay);
    });
  }

  /** Before any application byte is read: no data listener is attached yet. */
  #refuse(socket: TLSSocket, reason: RefusalReason): void {
    countRefusal(this.#metrics, reason);
    this.#logger.warn({ reason, remote: socket.remoteAddress }, "peer connection refused");
    socket.destroy();
  }

  #connection(socket: TLSSocket, region: string): void {
    const state = this.#peers.get(region);
    if (!state) {
      socket.destroy();
      return;
    }
    const connection = new PeerConnection({
      socket,
      self: this.region,
      peer: region,
      maxFrameBytes: this.#maxFrameBytes,
      stats: state.stats,
      metrics: this.#metrics,
      logger: this.#logger,
      events: {
        opened: (c) => {
          this.#opened(c);
        },
        message: (c, bytes, channel) => {
          emit(this.#messageListeners, this.#logger, c.peer, bytes, channel);
        },
        closed: (c) => {
          this.#closed(c);
        },
      },
    });
    this.#connections.add(connection);
  }

  #opened(connection: PeerConnection): void {
    const state = this.#peers.get(connection.peer);
    if (!state) {
      connection.close("peer no longer pinned");
      return;
    }
    const previous = state.open;
    state.open = connection;
    state.failures = 0;
    // The dialling side dials only when it has no connection, so the newest is the one it uses.
    previous?.close("replaced by a newer connection");
    this.#metrics.connected.set({ peer: connection.peer }, 1);
    this.#metrics.protocol.set({ peer: connection.peer }, connection.protocol);
    this.#logger.info({ peer: connection.peer, protocol: connection.protocol }, "peer connected");
    emit(this.#connectListeners, this.#logger, connection.peer);
  }

  #closed(connection: PeerConnection): void {
    this.#connections.delete(connection);
    const state = this.#peers.get(connection.peer);
    if (state?.open !== connection) return;
    state.open = undefined;
    this.#metrics.connected.set({ peer: connection.peer }, 0);
    this.#logger.info({ peer: connection.peer }, "peer disconnected");
    emit(this.#disconnectListeners, this.#logger, connection.peer);
  }

  #tick(): void {
    const now = performance.now();
    // After our own event loop stalled, peers' frames are still queued unread: silence proves nothing yet.
    const stalled = now - this.#lastTickAt > 2 * this.#heartbeatMs;
    this.#lastTickAt = now;
    for (const connection of [...this.#connections]) {
      if (!stalled && isSilent(connection.lastHeardAt, now, this.#heartbeatMs)) {
        if (connection.isOpen) this.#logger.warn({ peer: connection.peer }, "peer silent: closing");
        connection.close(`silent for ${SILENT_HEARTBEATS} heartbeats`);
      } else {
        connection.ping();
      }
    }
  }
}

function presented(socket: TLSSocket): string | undefined {
  const certificate = socket.getPeerX509Certificate();
  return certificate && fingerprintDer(certificate.raw);
}

function sameEndpoint(a: PinnedPeer, b: PinnedPeer): boolean {
  return a.endpoint.host === b.endpoint.host && a.endpoint.port === b.endpoint.port;
}

function subscribe<A extends unknown[]>(listeners: Listener<A>[], listener: Listener<A>): () => void {
  listeners.push(listener);
  return () => {
    const index = listeners.indexOf(listener);
    if (index >= 0) listeners.splice(index, 1);
  };
}

/** A listener that throws is logged, not allowed to break the connection it was called from. */
function emit<A extends unknown[]>(listeners: readonly Listener<A>[], logger: Logger, ...args: A): void {
  for (const listener of [...listeners]) {
    try {
      listener(...args);
    } catch (err) {
      logger.error({ err }, "peer transport listener threw");
    }
  }
}
