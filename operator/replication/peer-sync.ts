// Peer sync: Automerge's sync protocol between this region's replica and each
// connected peer, over a PeerChannel (the mTLS transport in peers/). The
// SPECS channel carries the spec exchange (spec-exchange.ts). Sync state per
// peer is saved at most once a second, off the path of changes: it only
// spares a restart from resending what a peer already has.
//
// Each side says on connect, and after each rebase, which epoch of the
// document it syncs (the EPOCH channel: 4 bytes, big-endian). Sync runs only
// between peers in one epoch: a peer behind is told ours and follows (it
// carries what it holds into our epoch: state/rebase.ts); a peer ahead is
// reported to `onPeerEpoch`, which decides whether this region follows. A
// peer of the release before epochs says nothing and is taken to be at 0.
import * as A from "@automerge/automerge";
import type { Logger } from "pino";
import { epochOf, type StateDoc } from "../state/document.ts";
import { SyncMessageError, SyncSessions } from "../state/sync.ts";
import { boundsViolation, layoutViolation } from "../state/validate.ts";
import { errorMessage } from "../runtime/errors.ts";
import { RateLimiter } from "../runtime/rate-limit.ts";
import type { Replica } from "./replica.ts";
import type { SpecExchange } from "./spec-exchange.ts";

const SYNC_STATE_SAVE_MS = 1000;
/** After a refused change, a peer's sync messages are dropped this long (a bad change costs a rollback). */
export const QUARANTINE_MS = 30_000;
/**
 * Messages a peer may send while changes wait here for missing dependencies;
 * past it, its message is dropped and its session starts over. An honest sync
 * completes what it started within a few round trips.
 */
export const MAX_HOLDING_MESSAGES = 256;

/**
 * What each peer may send, in bytes, over both channels: a burst that holds a
 * whole first sync (10,000 manifests are a 1.5 MB document and 9 MB of
 * specs), then a steady rate far above what a federation writes. Past it, a
 * message is dropped and counted, so no peer can make a region store or
 * decode without end. The peer is disconnected, so that both sides forget
 * what was in flight (Automerge's sender would otherwise never send the
 * dropped changes again), and syncs anew when it reconnects with budget.
 * The burst is above the largest frame (peers/frame.ts), so any one message
 * can pass once the bucket is full.
 */
export const PEER_BYTE_BUDGET = { burstBytes: 64 * 1024 * 1024, bytesPerSecond: 1024 * 1024 } as const;

export type PeerChannelName = "sync" | "specs" | "witness" | "epoch";

/** What peer sync needs of a transport: peers.PeerTransport is one. */
interface PeerChannel {
  /** False if the peer is not connected. */
  send(peer: string, bytes: Uint8Array, channel?: PeerChannelName): boolean;
  /** Closes the connection: both sides forget what was in flight, as Automerge's protocol needs. */
  disconnect(peer: string, reason: string): void;
  status(): readonly { readonly region: string; readonly connected: boolean }[];
  /** The protocol version spoken with a connected peer (peers.PeerTransport); 3 and up carry EPOCH. */
  protocol?(peer: string): number | undefined;
  onConnect(listener: (peer: string) => void): void;
  onDisconnect(listener: (peer: string) => void): void;
  onMessage(listener: (peer: string, bytes: Uint8Array, channel: PeerChannelName) => void): void;
}

interface PeerSyncOptions {
  readonly replica: Replica;
  readonly channel: PeerChannel;
  readonly exchange: SpecExchange;
  /** Sync states saved by an earlier run, by peer. */
  readonly syncStates: ReadonlyMap<string, Uint8Array>;
  /** The epochs peers said they sync, as an earlier run saved them. */
  readonly peerEpochs?: ReadonlyMap<string, number>;
  /** A message that could not be applied, or that broke the document's layout: dropped and counted. */
  readonly refused: (peer: string, reason: string) => void;
  readonly now: () => number;
  readonly logger: Logger;
  /** Defaults to PEER_BYTE_BUDGET. */
  readonly budget?: { readonly burstBytes: number; readonly bytesPerSecond: number };
  /** A peer said it syncs a later epoch than this region's. */
  readonly onPeerEpoch?: (peer: string, epoch: number) => void;
}

/** The first protocol version with EPOCH frames (peers/frame.ts). */
const EPOCH_PROTOCOL = 3;

/** The EPOCH message: the epoch as 4 big-endian bytes. */
export function encodeEpoch(epoch: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, epoch);
  return bytes;
}

function decodeEpoch(bytes: Uint8Array): number | undefined {
  return bytes.length === 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) : undefined;
}

export class PeerSync {
  readonly #o: PeerSyncOptions;
  readonly #sessions: SyncSessions;
  readonly #syncDirty = new Set<string>();
  #syncTimer: NodeJS.Timeout | undefined;
  /** Peer -> until when its sync messages are dropped. */
  readonly #quarantine = new Map<string, number>();
  /**
   * Automerge holds back a change until its dependencies arrive, and applies
   * it with the message that supplies them. Peers whose messages arrived while
   * changes were held back, oldest first, with how many: a violation among
   * released changes is blamed on such a peer, not on the one whose message
   * completed them (who would otherwise be quarantined for a change it never
   * sent). Decoding the messages to tell exactly which change came from whom
   * is not done: Automerge's own message formats vary (a whole document on a
   * first sync), and a decode must never stall a region.
   */
  readonly #holding = new Map<string, number>();
  readonly #budget: RateLimiter;
  /** Peers whose messages are being dropped for their byte budget: counted once per episode. */
  readonly #overBudget = new Set<string>();
  /** The epoch this region syncs: its document's, once durable. */
  #epoch: number;
  /** The epoch each peer last said it syncs, kept across reconnects and (on disk) restarts. */
  readonly #peerEpochs: Map<string, number>;
  #epochsTimer: NodeJS.Timeout | undefined;
  /** The epoch each peer's session belongs to; the sessions restored from disk are of the stored one. */
  readonly #sessionEpochs = new Map<string, number>();

  constructor(options: PeerSyncOptions) {
    this.#o = options;
    const budget = options.budget ?? PEER_BYTE_BUDGET;
    this.#budget = new RateLimiter({
      perSecond: budget.bytesPerSecond,
      burst: budget.burstBytes,
      maxAddresses: 64,
      now: options.now,
    });
    this.#sessions = new SyncSessions(options.syncStates);
    const { channel, exchange, replica } = options;
    this.#epoch = epochOf(replica.doc);
    this.#peerEpochs = new Map(options.peerEpochs);
    for (const peer of options.syncStates.keys()) this.#sessionEpochs.set(peer, this.#epoch);
    channel.onConnect((peer) => {
      this.#announce(peer);
      this.#send(peer);
      exchange.connected(peer);
    });
    channel.onDisconnect((peer) => {
      this.#sessions.disconnected(peer);
      this.#overBudget.delete(peer);
    });
    channel.onMessage((peer, bytes, name) => {
      // Sync and specs are this class's; other channels (the logs' witnessing) have their own
      // listeners and limits.
      if (name !== "sync" && name !== "specs" && name !== "epoch") return;
      if (!this.#withinBudget(peer, bytes.length)) return;
      if (name === "epoch") this.#peerEpoch(peer, bytes);
      else if (name === "sync") this.#receive(peer, bytes);
      else
        exchange.receive(peer, bytes).catch((error: unknown) => {
          options.logger.warn({ peer, err: errorMessage(error) }, "spec exchange failed");
        });
    });
    // A local change at once, a peer's once durable (replica.ts says why each).
    replica.onMade(() => {
      for (const peer of this.peers()) this.#send(peer);
    });
    replica.onDurable(({ fromPeer }) => {
      if (fromPeer) for (const peer of this.peers()) this.#send(peer);
    });
    replica.onRebased((epoch) => {
      this.#rebased(epoch);
    });
  }

  /** The epoch each peer last said it syncs; a peer not listed has never said (it is of the release before epochs). */
  peerEpochs(): ReadonlyMap<string, number> {
    return this.#peerEpochs;
  }

  /** Whether this region and `peer` sync one epoch now. */
  #inStep(peer: string): boolean {
    return (this.#peerEpochs.get(peer) ?? 0) === this.#epoch && epochOf(this.#o.replica.doc) === this.#epoch;
  }

  #peerEpoch(peer: string, bytes: Uint8Array): void {
    const epoch = decodeEpoch(bytes);
    if (epoch === undefined) {
      this.#o.refused(peer, `an epoch message of ${String(bytes.length)} bytes, not 4`);
      return;
    }
    if (this.#peerEpochs.get(peer) !== epoch) {
      this.#peerEpochs.set(peer, epoch);
      this.#epochsChanged();
    }
    if (epoch === this.#epoch) {
      // A session of another epoch starts over: what it knew was of the other document.
      if (this.#sessionEpochs.get(peer) !== epoch) {
        this.#sessions.forget(peer);
        this.#sessionEpochs.set(peer, epoch);
      }
      this.#send(peer);
    } else if (epoch > this.#epoch) this.#o.onPeerEpoch?.(peer, epoch);
  }

  /** After this region's rebase is durable: every session starts over, and every peer hears the epoch. */
  #rebased(epoch: number): void {
    this.#epoch = epoch;
    this.#holding.clear();
    this.#syncDirty.clear();
    for (const peer of this.#sessions.peers()) this.#sessions.forget(peer);
    this.#sessionEpochs.clear();
    for (const peer of this.peers()) {
      this.#announce(peer);
      this.#send(peer);
    }
  }

  /**
   * Tells `peer` this region's epoch, if it speaks epochs. One that connects at an older
   * protocol (rolled back to the release before) no longer counts as speaking them.
   */
  #announce(peer: string): void {
    if ((this.#o.channel.protocol?.(peer) ?? EPOCH_PROTOCOL) >= EPOCH_PROTOCOL) {
      this.#o.channel.send(peer, encodeEpoch(this.#epoch), "epoch");
    } else if (this.#peerEpochs.delete(peer)) this.#epochsChanged();
  }

  #epochsChanged(): void {
    // Saved at most once a second, however often a peer says it.
    this.#epochsTimer ??= setTimeout(() => {
      this.#epochsTimer = undefined;
      void this.#savePeerEpochs();
    }, SYNC_STATE_SAVE_MS);
  }

  /** Connected peers. */
  peers(): string[] {
    return this.#o.channel
      .status()
      .filter((p) => p.connected)
      .map((p) => p.region);
  }

  /** Changes of this region's state the peer is not known to have. */
  pending(peer: string): number {
    return this.#sessions.pending(this.#o.replica.doc, peer);
  }

  async close(): Promise<void> {
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    await this.#saveSyncStates();
    if (this.#epochsTimer) {
      clearTimeout(this.#epochsTimer);
      this.#epochsTimer = undefined;
      await this.#savePeerEpochs();
    }
  }

  #savePeerEpochs(): Promise<void> {
    const epochs = new Map(this.#peerEpochs);
    return this.#o.replica
      .afterWrites((store) => store.savePeerEpochs(epochs))
      .catch((error: unknown) => {
        this.#o.logger.warn({ err: errorMessage(error) }, "could not save the epochs the peers sync");
      });
  }

  // One message a turn: Automerge's protocol has at most one in flight per peer, so a second
  // call before the peer answers (or the document changes) returns nothing (or, when the peer
  // named a change this replica lacks, the same reset again), and costs as much as the first
  // (the sync state's round trip into WebAssembly and back).
  #send(peer: string): void {
    if (!this.#inStep(peer)) return;
    const message = this.#sessions.generate(this.#o.replica.doc, peer);
    if (message) this.#o.channel.send(peer, message);
  }

  #withinBudget(peer: string, bytes: number): boolean {
    const budget = this.#o.budget ?? PEER_BYTE_BUDGET;
    if (this.#budget.take(peer, bytes)) {
      this.#overBudget.delete(peer);
      return true;
    }
    if (!this.#overBudget.has(peer)) {
      this.#overBudget.add(peer);
      this.#o.channel.disconnect(peer, "over its byte budget");
      this.#o.refused(
        peer,
        `over its byte budget (${String(budget.burstBytes)} bytes at once, ${String(budget.bytesPerSecond)} a second): its messages are dropped until it has budget again`,
      );
    }
    return false;
  }

  #receive(peer: string, bytes: Uint8Array): void {
    // Another epoch's message: the two sides meet again once the one behind follows.
    if (!this.#inStep(peer)) return;
    const until = this.#quarantine.get(peer);
    if (until !== undefined) {
      if (this.#o.now() < until) return;
      this.#quarantine.delete(peer);
    }
    const before = A.getHeads(this.#o.replica.doc);
    let result: ReturnType<SyncSessions["receive"]>;
    try {
      result = this.#sessions.receive(this.#o.replica.doc, peer, bytes);
    } catch (error) {
      if (!(error instanceof SyncMessageError)) throw error;
      this.#o.refused(peer, error.message);
      return;
    }
    // Automerge has made the replica's document outdated: from here the result is adopted or
    // rolled back, whatever is thrown, or the region could write nothing more.
    try {
      this.#check(peer, before, result);
    } catch (error) {
      this.#rollback(result.doc, before, peer, peer);
      this.#o.refused(peer, `a message that could not be checked: ${errorMessage(error)}`);
    }
  }

  #check(peer: string, before: A.Heads, result: ReturnType<SyncSessions["receive"]>): void {
    // Checked before anyone acts on it, persists it or passes it on. Automerge applies a
    // message whole, so a change that breaks the layout is rolled back to the heads before it.
    const patches = result.changed ? A.diff(result.doc, before, A.getHeads(result.doc)) : undefined;
    const violation = patches && (layoutViolation(patches) ?? boundsViolation(result.doc, patches));
    if (violation !== undefined) {
      const culprit = [...this.#holding.keys()].find((p) => p !== peer) ?? peer;
      this.#rollback(result.doc, before, peer, culprit);
      this.#quarantine.set(culprit, this.#o.now() + QUARANTINE_MS);
      this.#o.refused(
        culprit,
        `a change that breaks the federation state: ${violation}` +
          (culprit === peer ? "" : ` (sent ahead of its dependencies, which ${peer} supplied)`),
      );
      return;
    }
    if (A.getMissingDeps(result.doc, A.getHeads(result.doc)).length === 0) this.#holding.clear();
    else {
      const messages = (this.#holding.get(peer) ?? 0) + 1;
      this.#holding.set(peer, messages);
      if (messages > MAX_HOLDING_MESSAGES) {
        this.#rollback(result.doc, before, peer, peer);
        this.#o.refused(
          peer,
          `${String(messages)} messages while changes wait for missing dependencies: at most ${String(MAX_HOLDING_MESSAGES)}`,
        );
        return;
      }
    }
    this.#syncStateChanged(peer);
    // A change goes to every peer once durable (onDurable); otherwise answer this one.
    this.#o.replica.adopt(result.doc, patches);
    if (!result.changed) this.#send(peer);
  }

  /** Back to `before`: changes held back for dependencies go too, and both sessions start over. */
  #rollback(doc: StateDoc, before: A.Heads, peer: string, culprit: string): void {
    this.#o.replica.adopt(A.clone(A.view(doc, before)), undefined);
    this.#holding.clear();
    this.#sessions.forget(peer);
    if (culprit !== peer) this.#sessions.forget(culprit);
  }

  #syncStateChanged(peer: string): void {
    this.#syncDirty.add(peer);
    this.#syncTimer ??= setTimeout(() => {
      this.#syncTimer = undefined;
      void this.#saveSyncStates();
    }, SYNC_STATE_SAVE_MS);
  }

  #saveSyncStates(): Promise<void> {
    const peers = [...this.#syncDirty];
    this.#syncDirty.clear();
    return this.#o.replica
      .afterWrites(async (store) => {
        for (const peer of peers) await store.saveSyncState(peer, this.#sessions.encode(peer));
      })
      .catch((error: unknown) => {
        this.#o.logger.warn({ err: errorMessage(error) }, "could not save sync state");
      });
  }
}
