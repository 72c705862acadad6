// One sync session per peer over Automerge's sync protocol. The session keeps
// what the peer is known to have (SyncState); its encoded form holds only the
// shared heads, so persisting it per peer lets a restarted process resume
// from there instead of resending the whole document.
import * as A from "@automerge/automerge";
import { errorMessage } from "../runtime/errors.ts";
import type { StateDoc } from "./document.ts";

/** A message this replica could not decode or apply; drop it and count it. */
export class SyncMessageError extends Error {
  override name = "SyncMessageError";
  readonly peer: string;
  constructor(peer: string, cause: unknown) {
    super(`malformed sync message from ${peer}: ${errorMessage(cause)}`, { cause });
    this.peer = peer;
  }
}

const sameHeads = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((h, i) => h === b[i]);

export class SyncSessions {
  readonly #states = new Map<string, A.SyncState>();

  /** `restored`: encoded states by peer, as `encode` returned them before a restart. */
  constructor(restored: ReadonlyMap<string, Uint8Array> = new Map()) {
    for (const [peer, bytes] of restored) this.restore(peer, bytes);
  }

  #state(peer: string): A.SyncState {
    let state = this.#states.get(peer);
    if (state === undefined) {
      state = A.initSyncState();
      this.#states.set(peer, state);
    }
    return state;
  }

  /** The next message for `peer`, or null when it already has everything we know of. */
  generate(doc: StateDoc, peer: string): Uint8Array | null {
    const [state, message] = A.generateSyncMessage(doc, this.#state(peer));
    this.#states.set(peer, state);
    return message;
  }

  /** Applies a message from `peer`. On SyncMessageError the document and session are as before. */
  receive(doc: StateDoc, peer: string, bytes: Uint8Array): { doc: StateDoc; changed: boolean } {
    const before = A.getHeads(doc);
    let next: StateDoc;
    let state: A.SyncState;
    try {
      [next, state] = A.receiveSyncMessage(doc, this.#state(peer), bytes);
    } catch (error) {
      throw new SyncMessageError(peer, error);
    }
    this.#states.set(peer, state);
    return { doc: next, changed: !sameHeads(before, A.getHeads(next)) };
  }

  /** What to persist for `peer`: its shared heads (tens of bytes). */
  encode(peer: string): Uint8Array {
    return A.encodeSyncState(this.#state(peer));
  }

  /** Restores a persisted session; an unreadable one starts afresh (a full resync, not an error). */
  restore(peer: string, bytes: Uint8Array): void {
    try {
      this.#states.set(peer, A.decodeSyncState(bytes));
    } catch {
      this.#states.set(peer, A.initSyncState());
    }
  }

  /** After a refused message: start over with this peer, claiming nothing of what it sent. */
  forget(peer: string): void {
    this.#states.set(peer, A.initSyncState());
  }

  /**
   * After a connection drops: forget what was in flight (the peer may not
   * have received it) but keep the shared heads, as the protocol requires.
   */
  disconnected(peer: string): void {
    const state = this.#states.get(peer);
    if (state !== undefined) this.restore(peer, A.encodeSyncState(state));
  }

  /**
   * How many of our changes `peer` is not known to have: those since the
   * heads we share. Counted only when the cheap check says some are missing;
   * at least 1 then, even before the heads are known.
   */
  pending(doc: StateDoc, peer: string): number {
    const state = this.#state(peer);
    if (A.hasOurChanges(doc, state)) return 0;
    return Math.max(1, A.getChangesMetaSince(doc, state.sharedHeads).length);
  }

  peers(): string[] {
    return [...this.#states.keys()].sort();
  }
}
