// Peer sync: Automerge's sync protocol between this region's replica and each
// connected peer, over a PeerChannel (the mTLS transport in peers/). The
// SPECS channel carries the spec exchange (spec-exchange.ts). Sync state per
// peer is saved at most once a second, off the path of changes: it only
// spares a restart from resending what a peer already has.
import * as A from "@automerge/automerge";
import type { Logger } from "pino";
import type { StateDoc } from "../state/document.ts";
import { SyncMessageError, SyncSessions } from "../state/sync.ts";
import { boundsViolation, layoutViolation } from "../state/validate.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { Replica } from "./replica.ts";
import type { SpecExchange } from "./spec-exchange.ts";

const SYNC_STATE_SAVE_MS = 1000;
/** After a refused change, a peer's sync messages are dropped this long (a bad change costs a rollback). */
export const QUARANTINE_MS = 30_000;
/** Sync messages sent to a peer in one go before waiting for its answer. */
const MESSAGES_PER_TURN = 8;
/** Changes a peer may have held back here for missing dependencies; past it, its message is dropped. */
export const MAX_QUEUED_PER_PEER = 1024;

export type PeerChannelName = "sync" | "specs";

/** What peer sync needs of a transport: peers.PeerTransport is one. */
interface PeerChannel {
  /** False if the peer is not connected. */
  send(peer: string, bytes: Uint8Array, channel?: PeerChannelName): boolean;
  status(): readonly { readonly region: string; readonly connected: boolean }[];
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
  /** A message that could not be applied, or that broke the document's layout: dropped and counted. */
  readonly refused: (peer: string, reason: string) => void;
  readonly now: () => number;
  readonly logger: Logger;
}

export class PeerSync {
  readonly #o: PeerSyncOptions;
  readonly #sessions: SyncSessions;
  readonly #syncDirty = new Set<string>();
  #syncTimer: NodeJS.Timeout | undefined;
  /** Peer -> until when its sync messages are dropped. */
  readonly #quarantine = new Map<string, number>();
  /**
   * Changes Automerge holds back until their dependencies arrive, by hash ->
   * the peer that sent them. When another peer's message supplies the
   * dependencies, they apply with it: a violation among them is the sender's,
   * not the one that completed them (who would otherwise be quarantined for a
   * change it never sent).
   */
  readonly #queued = new Map<string, string>();

  constructor(options: PeerSyncOptions) {
    this.#o = options;
    this.#sessions = new SyncSessions(options.syncStates);
    const { channel, exchange, replica } = options;
    channel.onConnect((peer) => {
      this.#send(peer);
      exchange.connected(peer);
    });
    channel.onDisconnect((peer) => {
      this.#sessions.disconnected(peer);
    });
    channel.onMessage((peer, bytes, name) => {
      if (name === "sync") this.#receive(peer, bytes);
      else
        exchange.receive(peer, bytes).catch((error: unknown) => {
          options.logger.warn({ peer, err: errorMessage(error) }, "spec exchange failed");
        });
    });
    replica.onDurable(() => {
      for (const peer of this.peers()) this.#send(peer);
    });
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
  }

  #send(peer: string): void {
    for (let i = 0; i < MESSAGES_PER_TURN; i++) {
      const message = this.#sessions.generate(this.#o.replica.doc, peer);
      if (!message) return;
      if (!this.#o.channel.send(peer, message)) return;
    }
  }

  #receive(peer: string, bytes: Uint8Array): void {
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
    // Checked before anyone acts on it, persists it or passes it on. Automerge applies a
    // message whole, so a change that breaks the layout is rolled back to the heads before it.
    const patches = result.changed ? A.diff(result.doc, before, A.getHeads(result.doc)) : undefined;
    const violation = patches && (layoutViolation(patches) ?? boundsViolation(result.doc, patches));
    if (violation !== undefined) {
      const culprit = this.#senderOfQueued(result.doc, before) ?? peer;
      this.#rollback(result.doc, before, peer, culprit);
      this.#quarantine.set(culprit, this.#o.now() + QUARANTINE_MS);
      this.#o.refused(
        culprit,
        `a change that breaks the federation state: ${violation}` +
          (culprit === peer ? "" : ` (sent ahead of its dependencies, which ${peer} supplied)`),
      );
      return;
    }
    const queued = this.#trackQueued(result.doc, peer, bytes);
    if (queued > MAX_QUEUED_PER_PEER) {
      this.#rollback(result.doc, before, peer, peer);
      this.#o.refused(
        peer,
        `${String(queued)} changes ahead of their dependencies: at most ${String(MAX_QUEUED_PER_PEER)}`,
      );
      return;
    }
    this.#syncStateChanged(peer);
    // A change goes to every peer once durable (onDurable); otherwise answer this one.
    this.#o.replica.adopt(result.doc, patches);
    if (!result.changed) this.#send(peer);
  }

  /** Back to `before`: changes held back for dependencies go too, and both sessions start over. */
  #rollback(doc: StateDoc, before: A.Heads, peer: string, culprit: string): void {
    this.#o.replica.adopt(A.clone(A.view(doc, before)), undefined);
    this.#queued.clear();
    this.#sessions.forget(peer);
    if (culprit !== peer) this.#sessions.forget(culprit);
  }

  /** The peer that sent a held-back change that this message released, if any. */
  #senderOfQueued(doc: StateDoc, before: A.Heads): string | undefined {
    if (this.#queued.size === 0) return undefined;
    for (const change of A.getChanges(A.view(doc, before), doc)) {
      const sender = this.#queued.get(A.decodeChange(change).hash);
      if (sender !== undefined) return sender;
    }
    return undefined;
  }

  /**
   * Notes which of `peer`'s changes are held back for missing dependencies and
   * forgets those that applied; returns how many `peer` has held back. Costs
   * nothing on the usual path, where no change waits.
   */
  #trackQueued(doc: StateDoc, peer: string, bytes: Uint8Array): number {
    const heads = A.getHeads(doc);
    for (const hash of this.#queued.keys()) if (A.hasHeads(doc, [hash])) this.#queued.delete(hash);
    if (A.getMissingDeps(doc, heads).length > 0) {
      // A held-back change is not yet in the document's history.
      for (const change of A.decodeSyncMessage(bytes).changes) {
        const hash = A.decodeChange(change).hash;
        if (!A.hasHeads(doc, [hash])) this.#queued.set(hash, peer);
      }
    }
    let count = 0;
    for (const sender of this.#queued.values()) if (sender === peer) count++;
    return count;
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
