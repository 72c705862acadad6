// Replication: this region's copy of the federation state, kept in step with
// the other regions' over the mTLS peer transport, and the bridge between that
// state and this cluster's ConsortiumManifests:
// - a manifest submitted here (a version the state has not seen) goes into the
//   state, with the approvals it carries, and reaches every region;
// - every manifest in the state exists here as a ConsortiumManifest holding its
//   winning version: the highest nonce whose approvals this region itself
//   verifies on chain (a peer's word is never enough);
// - after each reconcile, this region's outcome goes into the state, so every
//   region shows where a manifest is applied;
// - specs are stored by digest beside the document, and the ones this region
//   lacks are fetched from its peers (specs.ts).
// The document is persisted before it is sent, so a kill -9 never loses what a
// peer may already have acknowledged.
import * as A from "@automerge/automerge";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import { canonicalJson } from "../core/manifest/canonical.ts";
import type { ConsortiumManifestObject, ReadManifest } from "../manifests/reconciler.ts";
import type { PeerTransport } from "../peers/transport.ts";
import { SpecExchange } from "./specs.ts";
import type { SpecStore } from "../state/specs.ts";
import type { Applier } from "../runtime/apply.ts";
import { objectKey } from "../runtime/keys.ts";
import {
  appliedByRegion,
  approvals as approvalsOf,
  manifestIds,
  members,
  versions,
} from "../state/readers.ts";
import type { ManifestVersion, Member, RegionState } from "../state/model.ts";
import type { StateStore } from "../state/store.ts";
import { SyncSessions, SyncMessageError } from "../state/sync.ts";
import { batch, type Draft } from "../state/transitions.ts";
import type { StateDoc } from "../state/document.ts";

const SYNC_STATE_SAVE_MS = 1000;

export const ORIGIN_ANNOTATION = "dsc.federation.dev/origin-region";

export interface ReplicationOptions {
  readonly region: string;
  readonly store: StateStore;
  readonly doc: StateDoc;
  readonly syncStates: ReadonlyMap<string, Uint8Array>;
  /** The specs this region holds, by digest (opened with the store). */
  readonly specs: SpecStore;
  readonly transport: PeerTransport;
  /** This cluster's ConsortiumManifests, read whole. */
  readonly read: ReadManifest;
  /**
   * Writes mirrored manifests. It must use a field manager of its own: with
   * server-side apply, a manager that applies without a field it owned
   * removes it, and the controller's finalizer applies carry no spec.
   */
  readonly applier: Applier;
  /** Whether this region verifies a version of a manifest; used to pick the winner. */
  readonly verified: (namespace: string, name: string, spec: ConsortiumManifestSpec) => Promise<boolean>;
  /** The digest of a spec, as verification computes it. */
  readonly digestOf: (namespace: string, name: string, spec: ConsortiumManifestSpec) => string;
  /** Reconcile these manifest keys (namespace/name): the state changed under them. */
  readonly enqueue: (key: string) => void;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly now: () => number;
}

export interface RegionEntry {
  readonly region: string;
  readonly state: string;
  readonly nonce?: number;
}

export class Replication {
  readonly #o: ReplicationOptions;
  #doc: StateDoc;
  readonly #sessions: SyncSessions;
  #writing: Promise<void> = Promise.resolve();
  /** A write queued behind the one in flight; later requests join it (group commit). */
  #queuedWrite: Promise<void> | undefined;
  /** Peers whose sync state changed since it was last saved. */
  readonly #syncDirty = new Set<string>();
  #syncTimer: NodeJS.Timeout | undefined;
  #mirroring = false;
  readonly #namespaces = new Set<string>();
  #mirrorRequested = 0;
  #mirrorAll = false;
  readonly #pendingIds = new Set<string>();
  #mirrorDone = 0;
  readonly #listeners: (() => void)[] = [];
  readonly #malformed: Counter;
  readonly #exchange: SpecExchange;

  constructor(options: ReplicationOptions) {
    this.#o = options;
    this.#doc = options.doc;
    this.#sessions = new SyncSessions(options.syncStates);
    // Read when scraped, not at every write: counting manifests is a pass over the document.
    const documentBytes = (): number => this.documentBytes();
    const manifestCount = (): number => this.manifestCount();
    new Gauge({
      name: "dsc_document_bytes",
      help: "Size of the federation state document (saved).",
      registers: [options.registry],
      collect() {
        this.set(documentBytes());
      },
    });
    new Gauge({
      name: "dsc_document_manifests",
      help: "Manifests in the federation state.",
      registers: [options.registry],
      collect() {
        this.set(manifestCount());
      },
    });
    this.#malformed = new Counter({
      name: "dsc_sync_rejected_messages_total",
      help: "Sync messages that could not be applied, and spec messages that were malformed or did not match their digest; dropped.",
      registers: [options.registry],
    });
    // Lag per peer: how many changes of this region's state the peer is not known to have.
    const pending = (peer: string): number => this.pending(peer);
    new Gauge({
      name: "dsc_peer_changes_pending",
      help: "Changes of the federation state this region holds that the peer is not known to have.",
      labelNames: ["peer"],
      registers: [options.registry],
      collect() {
        this.reset();
        for (const p of options.transport.status()) this.set({ peer: p.region }, pending(p.region));
      },
    });
    const specsMissing = (): number => this.#exchange.missing;
    new Gauge({
      name: "dsc_specs_missing",
      help: "Specs the federation state names that this region does not hold yet (asked of its peers).",
      registers: [options.registry],
      collect() {
        this.set(specsMissing());
      },
    });
    this.#exchange = new SpecExchange({
      specs: options.specs,
      send: (peer, bytes) => options.transport.send(peer, bytes, "specs"),
      peers: () => this.#peers(),
      matches: (id, digest, json) => this.#matches(id, digest, json),
      arrived: (id) => {
        options.enqueue(id);
        this.#mirrorLogged([id]);
      },
      refused: (peer, reason) => {
        this.#malformed.inc();
        options.logger.warn({ peer, reason }, "dropped a spec message");
      },
      logger: options.logger,
    });
    options.transport.onConnect((peer) => {
      this.#send(peer);
      this.#exchange.connected(peer);
    });
    options.transport.onDisconnect((peer) => {
      this.#sessions.disconnected(peer);
    });
    options.transport.onMessage((peer, bytes, channel) => {
      if (channel === "sync") this.#receive(peer, bytes);
      else
        this.#exchange.receive(peer, bytes).catch((error: unknown) => {
          options.logger.warn(
            { peer, err: error instanceof Error ? error.message : String(error) },
            "spec exchange failed",
          );
        });
    });
  }

  get doc(): StateDoc {
    return this.#doc;
  }

  /** Applies `edit` as one change, persists it, then sends it to every peer. */
  async change(edit: (draft: Draft) => unknown): Promise<void> {
    const before = this.#doc;
    this.#doc = batch(this.#doc, edit, this.#o.now());
    if (this.#doc === before) return;
    await this.#persist();
    for (const peer of this.#peers()) this.#send(peer);
    this.#notify();
  }

  /** Called after every change to the state, local or from a peer, once it is durable. */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  /** The membership the Federation spec declares (this region and its peers). */
  async setMembers(list: readonly Member[]): Promise<void> {
    const current = JSON.stringify(members(this.#doc));
    const wanted = JSON.stringify([...list].sort((a, b) => a.region.localeCompare(b.region)));
    if (current === wanted) return;
    await this.change((d) => {
      for (const m of list) d.setMember(m);
    });
  }

  /** Hands a verified local version to the state (and the other regions) before it is applied here. */
  async submit(
    object: ConsortiumManifestObject,
    spec: ConsortiumManifestSpec,
    digest: string,
  ): Promise<void> {
    const edit = await this.#versionEdit(objectKey(object), spec, digest);
    if (edit) await this.change(edit);
  }

  /**
   * The edit that puts a local version, and the approvals its spec carries,
   * into the state: only what the state lacks, or nothing at all, so that a
   * resync of an unchanged manifest writes no change. The spec is stored
   * first, so no region is ever told of a version whose spec it cannot serve.
   */
  async #versionEdit(
    id: string,
    spec: ConsortiumManifestSpec,
    digest: string,
  ): Promise<((d: Draft) => void) | undefined> {
    const known = versions(this.#doc, id).some((v) => v.digest === digest);
    const seen = new Set(approvalsOf(this.#doc, digest).map((a) => `${a.safe} ${a.data.toLowerCase()}`));
    const fresh = (spec.signatures ?? [])
      .map((s) => ({ safe: s.safe, data: s.data.toLowerCase() }))
      .filter((a) => !seen.has(`${a.safe} ${a.data}`));
    // Held here already (verified by the caller): it may still be missing from the store.
    if (!known || !this.#o.specs.has(digest)) {
      const json = specJson(spec);
      await this.#o.specs.put(digest, json); // a no-op if held
      // Ahead of the sync message that will name it, so peers need not ask.
      if (!known) this.#exchange.offer(digest, json);
    }
    if (known && fresh.length === 0) return undefined;
    return (d) => {
      if (!known)
        d.submit({ id, nonce: spec.nonce, digest, region: this.#o.region, submittedAt: this.#o.now() });
      if (fresh.length > 0) d.approve(digest, fresh);
    };
  }

  /**
   * What a reconcile of a local manifest tells the state: a version it has not
   * seen (a submission here), the approvals the spec carries, and this region's
   * outcome for it.
   */
  async recordReconcile(
    object: ConsortiumManifestObject,
    spec: ConsortiumManifestSpec,
    outcome: { state: RegionState; digest: string; nonce: number },
  ): Promise<void> {
    const id = objectKey(object);
    const version = await this.#versionEdit(id, spec, outcome.digest);
    const mine = appliedByRegion(this.#doc, id).find((a) => a.region === this.#o.region);
    const sameOutcome =
      mine?.digest === outcome.digest && mine.state === outcome.state && mine.nonce === outcome.nonce;
    if (!version && sameOutcome) return;
    await this.change((d) => {
      version?.(d);
      if (!sameOutcome) {
        d.recordApplied({
          id,
          region: this.#o.region,
          nonce: outcome.nonce,
          digest: outcome.digest,
          state: outcome.state,
          at: this.#o.now(),
        });
      }
    });
  }

  /** Where a manifest stands in every region it targets, as the state says. */
  regions(
    id: string,
    targets: readonly string[],
    winnerDigest: string | undefined,
  ): { regions: RegionEntry[]; summary: string } {
    const applied = appliedByRegion(this.#doc, id);
    const regions = [...targets].sort().map((region): RegionEntry => {
      const a = applied.find((x) => x.region === region);
      if (!a) return { region, state: "Pending" };
      const current = winnerDigest === undefined || a.digest === winnerDigest;
      return { region, state: current ? a.state : "Pending", nonce: a.nonce };
    });
    const mark = (state: string): string => (state === "Applied" ? "✓" : state.toLowerCase());
    return { regions, summary: regions.map((r) => `${r.region} ${mark(r.state)}`).join(" ") };
  }

  /**
   * Makes every manifest in the state exist here with its winning version.
   * Runs one pass at a time; a request during a pass runs one more after it.
   */
  async mirror(ids?: readonly string[]): Promise<void> {
    if (ids) for (const id of ids) this.#pendingIds.add(id);
    else this.#mirrorAll = true;
    this.#mirrorRequested++;
    if (this.#mirroring) return;
    this.#mirroring = true;
    try {
      while (this.#mirrorDone < this.#mirrorRequested) {
        this.#mirrorDone = this.#mirrorRequested;
        const ids = this.#mirrorAll ? manifestIds(this.#doc) : [...this.#pendingIds];
        this.#mirrorAll = false;
        this.#pendingIds.clear();
        for (const id of ids) await this.#mirrorOne(id);
      }
    } finally {
      this.#mirroring = false;
    }
  }

  async #mirrorOne(id: string): Promise<void> {
    const [namespace = "", name = ""] = id.split("/");
    const local = await this.#o.read(namespace, name);
    const localDigest = local?.spec ? this.#digestOfObject(namespace, name, local.spec) : undefined;
    const all = versions(this.#doc, id);
    if (all.length === 0) return;
    // Highest nonce first; the first this region verifies wins.
    for (const version of all) {
      const spec = await this.#specOf(version);
      if (!spec) continue;
      if (version.digest === localDigest) return; // already holds the best version it can verify
      if (!(await this.#o.verified(namespace, name, spec))) continue;
      // An approved manifest may live in a namespace this cluster does not have
      // yet; once made (or found) in this process, it need not be asked again.
      if (!this.#namespaces.has(namespace)) {
        await this.#o.applier.apply({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: namespace, labels: { "dsc.federation.dev/mirrored": "true" } },
        });
        this.#namespaces.add(namespace);
      }
      await this.#o.applier.apply({
        apiVersion: API_VERSION,
        kind: "ConsortiumManifest",
        metadata: { name, namespace, annotations: { [ORIGIN_ANNOTATION]: version.region } },
        spec,
      });
      this.#o.logger.info(
        { id, nonce: version.nonce, digest: version.digest, from: version.region },
        "mirrored the winning version",
      );
      return;
    }
  }

  #digestOfObject(namespace: string, name: string, spec: unknown): string | undefined {
    try {
      return this.#o.digestOf(namespace, name, spec as ConsortiumManifestSpec);
    } catch {
      return undefined;
    }
  }

  /** A version's spec, with every approval any region has seen for its digest; asked for if missing. */
  async #specOf(version: ManifestVersion): Promise<ConsortiumManifestSpec | undefined> {
    const text = await this.#o.specs.get(version.digest);
    if (text === undefined) {
      this.#exchange.need(version);
      return undefined;
    }
    const spec = JSON.parse(text) as ConsortiumManifestSpec;
    const seen = approvalsOf(this.#doc, version.digest);
    return seen.length > 0 ? { ...spec, signatures: seen } : spec;
  }

  /**
   * Whether `json` is the spec whose digest is `digest`, as this region
   * computes it; undefined while it cannot compute digests (no Federation yet).
   */
  #matches(id: string, digest: string, json: string): boolean | undefined {
    const [namespace = "", name = ""] = id.split("/");
    let spec: ConsortiumManifestSpec;
    try {
      const parsed: unknown = JSON.parse(json);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return false;
      spec = parsed as ConsortiumManifestSpec;
      if (specJson(spec) !== json) return false;
    } catch {
      return false;
    }
    try {
      return this.#o.digestOf(namespace, name, spec) === digest;
    } catch {
      return undefined;
    }
  }

  #peers(): string[] {
    return this.#o.transport
      .status()
      .filter((p) => p.connected)
      .map((p) => p.region);
  }

  #send(peer: string): void {
    for (let i = 0; i < 8; i++) {
      const message = this.#sessions.generate(this.#doc, peer);
      if (!message) return;
      if (!this.#o.transport.send(peer, message)) return;
    }
  }

  #receive(peer: string, bytes: Uint8Array): void {
    const before = this.#doc;
    let changed: boolean;
    try {
      const result = this.#sessions.receive(this.#doc, peer, bytes);
      this.#doc = result.doc;
      changed = result.changed;
    } catch (error) {
      if (!(error instanceof SyncMessageError)) throw error;
      this.#malformed.inc();
      this.#o.logger.warn({ peer, err: error.message }, "dropped a sync message that could not be applied");
      return;
    }
    this.#syncStateChanged(peer);
    if (!changed) {
      this.#send(peer);
      return;
    }
    // Listeners act at once (a pause must not wait for a disk); what reaches
    // other peers and this cluster's objects waits until it is durable.
    this.#notify();
    const ids = changedIds(before, this.#doc);
    void this.#persist().then(() => {
      for (const p of this.#peers()) this.#send(p);
      for (const id of ids) this.#o.enqueue(id);
      this.#mirrorLogged(ids);
    });
  }

  #mirrorLogged(ids: readonly string[]): void {
    void this.mirror(ids).catch((error: unknown) => {
      this.#o.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "mirroring failed; it is retried at the next change",
      );
    });
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
      await this.#o.store.append(this.#doc);
    });
    // A failed write fails its callers; the chain itself goes on for the next.
    this.#writing = this.#queuedWrite.catch(() => undefined);
    return this.#queuedWrite;
  }

  /**
   * Sync state is saved at most once a second, off the path of changes: it
   * only spares a restart from resending what a peer already has, so an older
   * copy costs bytes, never correctness.
   */
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
    const save = this.#writing.then(async () => {
      for (const peer of peers) await this.#o.store.saveSyncState(peer, this.#sessions.encode(peer));
    });
    this.#writing = save.catch((error: unknown) => {
      this.#o.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "could not save sync state",
      );
    });
    return this.#writing;
  }

  /** Changes not yet acknowledged by each peer, for the Federation's status. */
  pending(peer: string): number {
    return this.#sessions.pending(this.#doc, peer);
  }

  manifestCount(): number {
    return manifestIds(this.#doc).length;
  }

  documentBytes(): number {
    const sizes = this.#o.store.sizes();
    return sizes.snapshotBytes + sizes.logBytes;
  }

  async close(): Promise<void> {
    this.#exchange.close();
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    await this.#saveSyncStates();
    await this.#o.store.close();
  }
}

/** The form a spec is stored and sent in: canonical JSON, without signatures (they are in the state). */
const specJson = (spec: ConsortiumManifestSpec): string => canonicalJson({ ...spec, signatures: undefined });

/**
 * Ids whose versions or region states a received change touched, read from
 * the change itself (its patches): work in proportion to the change, not to
 * the document.
 */
function changedIds(before: StateDoc, after: StateDoc): string[] {
  const ids = new Set<string>();
  for (const patch of A.diff(after, A.getHeads(before), A.getHeads(after))) {
    const [map, , key] = patch.path;
    if ((map === "versions" || map === "applied") && typeof key === "string")
      ids.add(key.split(" ", 1)[0] ?? "");
  }
  return [...ids];
}
