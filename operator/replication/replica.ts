// This region's replica of the federation state: the document, its changes
// and its durability. A local change goes to the peers and the local listeners
// as it is written (its callers wait for the disk); a peer's change is acted on
// at once (a pause must not wait for a disk) and passed on once durable.
// Peer sync (peer-sync.ts) hangs off `onMade` and `onDurable`, the mirror and
// the manifest controller off `onAdopted`; they are not known here.
//
// Why a local change need not be durable before the peers hear of it: a
// region that crashes before the write lands comes back with a fresh actor
// (store.ts), so it never writes a change under a sequence number it already
// sent, and what it sent comes back from the peers that took it, as any
// change it lacks does (replica.test.ts).
import * as A from "@automerge/automerge";
import type { Logger } from "pino";
import { epochOf, type StateDoc } from "../state/document.ts";
import { allVersions, resumeHints } from "../state/readers.ts";
import { readVersion } from "../state/document.ts";
import type { FederationState } from "../state/federation-state.ts";
import type { StateStore } from "../state/store.ts";
import { batch, type Draft } from "../state/transitions.ts";
import { errorMessage } from "../runtime/errors.ts";
import { Topic } from "../runtime/topic.ts";
import { trace, tracing } from "../runtime/trace.ts";

/**
 * The manifests a peer's change touched: `ids`, a version, an approval, a
 * resume or a pause (what the mirror and the manifest controller act on);
 * `progress`, only another region's outcome (what a status shows).
 */
export interface Touched {
  readonly ids: readonly string[];
  readonly progress: readonly string[];
}

/** What became durable: a local change, or what peers sent. */
interface DurableChange {
  readonly fromPeer: boolean;
}

/** After a failed write of a peer's change, the write is tried again this soon. */
const RETRY_WRITE_MS = 1000;

export class Replica implements FederationState {
  readonly #store: StateStore;
  readonly #now: () => number;
  readonly #logger: Logger;
  #retry: NodeJS.Timeout | undefined;
  #doc: StateDoc;
  #writing: Promise<void> = Promise.resolve();
  /** A write queued behind the one in flight; later requests join it (group commit). */
  #queuedWrite: Promise<void> | undefined;
  readonly #changed = new Topic();
  readonly #durable = new Topic<DurableChange>();
  readonly #made = new Topic();
  readonly #adopted = new Topic<Touched>();
  readonly #rebased = new Topic<number>();
  /**
   * digest -> manifest ids, for the change that adds approvals to a version
   * sent earlier (approvals are kept by digest). Built from the document the
   * first time it is needed, then kept up to date from each change's own
   * patches: a peer's message costs work in proportion to the message, never
   * a scan of the document (a hostile peer could send one per message).
   */
  #digestIds: Map<string, Set<string>> | undefined;

  constructor(options: {
    readonly store: StateStore;
    readonly doc: StateDoc;
    readonly now: () => number;
    readonly logger: Logger;
  }) {
    this.#store = options.store;
    this.#doc = options.doc;
    this.#now = options.now;
    this.#logger = options.logger;
  }

  get doc(): StateDoc {
    return this.#doc;
  }

  /** Applies `edit` as one change and tells the peers and the listeners while it is persisted; resolves once it is durable. */
  async change(edit: (draft: Draft) => unknown): Promise<void> {
    const before = this.#doc;
    this.#doc = batch(this.#doc, edit, this.#now());
    // Nothing new, but what was asked for may be in a write still in flight (or one that
    // failed): its caller is told it is durable (a breach report's 202) only once it is.
    if (this.#doc === before) return this.#persist();
    if (this.#digestIds) this.#noteVersions(A.diff(this.#doc, A.getHeads(before), A.getHeads(this.#doc)));
    const written = this.#persist();
    // The peers and this region's listeners hear of it beside the write, not after its fsync:
    // that is one disk round trip off every manifest's way to the other regions, and off a
    // pause's way to this region's own status (a peer's pause is acted on before its fsync
    // already). A change lost in a crash comes back from the peers that took it. A listener
    // that throws fails this call once the write has settled, never leaves the write's failure
    // unheard.
    try {
      this.#made.publish();
      this.#changed.publish();
    } catch (error) {
      await written.catch(() => undefined);
      throw error;
    }
    await written;
    this.#durable.publish({ fromPeer: false });
  }

  /** Called as soon as a local change is made, while it is being written: the peers may hear of it. */
  onMade(listener: () => void): () => void {
    return this.#made.subscribe(listener);
  }

  /**
   * Replaces the document with `build`'s rebase of it (state/rebase.ts),
   * at once, so no change is made to the old epoch after its carry was
   * taken; persisted by the next write, which keeps the old epoch in
   * `state.previous`. Peers hear of it once it is durable (onRebased).
   * `build` returning the document unchanged rebases nothing.
   */
  async rebase(build: (doc: StateDoc) => StateDoc): Promise<void> {
    const before = this.#doc;
    const next = build(before);
    if (next === before) return;
    if (!(epochOf(next) > epochOf(before))) throw new Error("a rebase must start a later epoch");
    this.#doc = next;
    this.#digestIds = undefined;
    this.#changed.publish();
    // Until the new epoch is durable the region syncs with no one (peer-sync.ts), so a failed
    // write is tried again until it lands, as a peer's change is.
    for (;;) {
      try {
        await this.#persist();
        break;
      } catch (error) {
        this.#logger.error(
          { err: errorMessage(error), retryMs: RETRY_WRITE_MS },
          "could not persist the rebased federation state; trying again",
        );
        await new Promise((resolve) => setTimeout(resolve, RETRY_WRITE_MS));
      }
    }
    this.#rebased.publish(epochOf(next));
    this.#durable.publish({ fromPeer: false });
  }

  /** Called with the new epoch once a rebase is durable. */
  onRebased(listener: (epoch: number) => void): () => void {
    return this.#rebased.subscribe(listener);
  }

  /**
   * Takes the document a peer's sync message produced. Automerge hands back a
   * new document even when nothing changed (the one given is outdated from
   * then on), so it is always kept. `patches` is what the message changed
   * (none: nothing), as peer sync diffed it to check it: acted on at once,
   * persisted and passed on after.
   */
  adopt(next: StateDoc, patches: readonly A.Patch[] | undefined): void {
    this.#doc = next;
    if (!patches) return;
    this.#changed.publish();
    this.#noteVersions(patches);
    const touched = changedIds(patches, next, (digests) => this.#idsOf(digests));
    for (const id of touched.ids) trace(id, "peer's change adopted");
    if (tracing())
      for (const patch of patches)
        if (patch.path[0] === "pauses" && patch.path.length === 2)
          trace(`pause/${String(patch.path[1]).split(" ", 1)[0] ?? ""}`, "peer's pause adopted");
    if (touched.ids.length > 0 || touched.progress.length > 0) this.#adopted.publish(touched);
    this.#persistPeerChanges();
  }

  /**
   * Persists what peers sent, then passes it on. A failed write is logged and
   * tried again: until it lands, nothing of it reaches the other peers, the
   * mirror or the manifest controller.
   */
  #persistPeerChanges(): void {
    this.#persist().then(
      () => {
        this.#durable.publish({ fromPeer: true });
      },
      (error: unknown) => {
        this.#logger.error(
          { err: errorMessage(error), retryMs: RETRY_WRITE_MS },
          "could not persist a peer's change; it is not passed on until it is",
        );
        this.#retry ??= setTimeout(() => {
          this.#retry = undefined;
          this.#persistPeerChanges();
        }, RETRY_WRITE_MS);
      },
    );
  }

  #idsOf(digests: ReadonlySet<string>): string[] {
    this.#digestIds ??= digestIndex(this.#doc);
    return [...digests].flatMap((digest) => [...(this.#digestIds?.get(digest) ?? [])]);
  }

  #noteVersions(patches: readonly A.Patch[]): void {
    if (!this.#digestIds) return;
    for (const { id, digest } of versionsIn(patches)) addTo(this.#digestIds, digest, id);
  }

  onChange(listener: () => void): () => void {
    return this.#changed.subscribe(listener);
  }

  /**
   * Called with the manifests a peer's change touched as soon as it is taken,
   * before it is durable: acting on it (mirroring a version this region then
   * verifies itself) is safe even if the change is lost in a crash, since it
   * comes again from the peers. Passing it on waits for the disk (onDurable).
   */
  onAdopted(listener: (touched: Touched) => void): () => void {
    return this.#adopted.subscribe(listener);
  }

  /** Called once a change is durable; returns how to stop listening. */
  onDurable(listener: (change: DurableChange) => void): () => void {
    return this.#durable.subscribe(listener);
  }

  /** Runs `task` after the writes queued so far, in the same order as the document's appends. */
  afterWrites(task: (store: StateStore) => Promise<void>): Promise<void> {
    const run = this.#writing.then(() => task(this.#store));
    this.#writing = run.catch(() => undefined);
    return run;
  }

  documentBytes(): number {
    const sizes = this.#store.sizes();
    return sizes.snapshotBytes + sizes.logBytes;
  }

  close(): Promise<void> {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    return this.afterWrites((store) => store.close());
  }

  /**
   * Writes are serialised (appends must land in order) and grouped: requests
   * made while a write is in flight share the next one, which stores the
   * newest document. One fsync then covers a burst of local changes and
   * sync messages instead of queueing one each behind the other.
   */
  #persist(): Promise<void> {
    this.#queuedWrite ??= this.#writing.then(async () => {
      this.#queuedWrite = undefined;
      await this.#store.append(this.#doc);
    });
    // A failed write fails its callers; the chain itself goes on for the next.
    this.#writing = this.#queuedWrite.catch(() => undefined);
    return this.#queuedWrite;
  }
}

/**
 * Ids of manifests a received change concerns, read from the change itself
 * (its patches): work in proportion to the change, not to the document. A
 * version or a region's state names its id; approvals name a digest, whose
 * manifest is the version's in the same change or, else, in the replica's digest index;
 * a resume record names the resume manifest, and a pause record the resume
 * manifests said to lift it: hints that send this region to verify those
 * manifests itself.
 */
function changedIds(
  patches: readonly A.Patch[],
  after: StateDoc,
  idsOf: (digests: ReadonlySet<string>) => readonly string[],
): Touched {
  const ids = new Set<string>();
  const progress = new Set<string>();
  const pausedTokens = new Set<string>();
  /** Digests that gained approvals, less those whose version this change carries itself. */
  const approved = new Set<string>();
  const carried = new Set<string>();
  for (const { id, digest } of versionsIn(patches)) {
    ids.add(id);
    carried.add(digest);
  }
  for (const patch of patches) {
    const [map, second, third] = patch.path;
    if (map === "approvals" && typeof third === "string") {
      const digest = third.split(" ", 1)[0] ?? "";
      if (!carried.has(digest)) approved.add(digest);
    } else if (map === "applied" && typeof third === "string") progress.add(third.split(" ", 1)[0] ?? "");
    else if (map === "resumed" && typeof second === "string") ids.add(second.split(" ")[1] ?? "");
    else if (map === "pauses" && typeof second === "string") pausedTokens.add(second.split(" ", 1)[0] ?? "");
  }
  // An approval for a version sent earlier may be what lets this region verify it now.
  if (approved.size > 0) for (const id of idsOf(approved)) ids.add(id);
  if (pausedTokens.size > 0)
    for (const hint of resumeHints(after)) if (pausedTokens.has(hint.token)) ids.add(hint.manifest);
  ids.delete("");
  for (const id of ids) progress.delete(id);
  progress.delete("");
  return { ids: [...ids], progress: [...progress] };
}

/** The versions a change's patches write: "<id> <nonce> <digest> <region>" keys of the versions map. */
function versionsIn(patches: readonly A.Patch[]): { readonly id: string; readonly digest: string }[] {
  return patches.flatMap((patch) => {
    const [map, , key] = patch.path;
    if (map !== "versions" || typeof key !== "string") return [];
    const { id, digest } = readVersion(key, 0);
    return [{ id, digest }];
  });
}

function digestIndex(doc: StateDoc): Map<string, Set<string>> {
  const index = new Map<string, Set<string>>();
  for (const { id, digest } of allVersions(doc)) addTo(index, digest, id);
  return index;
}

function addTo(index: Map<string, Set<string>>, digest: string, id: string): void {
  const ids = index.get(digest);
  if (ids) ids.add(id);
  else index.set(digest, new Set([id]));
}
