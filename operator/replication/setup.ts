// Replication, assembled: this region's replica of the federation state, peer
// sync over the mTLS transport, the spec exchange, the manifest records the
// manifest controller writes through, and the mirror controller. Only a region
// with a peer identity replicates.
import type { Receipts } from "../receipts/receipt-log.ts";
import { RECEIPT_WINDOW_MS, throttled } from "../receipts/throttled.ts";
import type { Logger } from "pino";
import type { Hex } from "viem";
import type { Registry } from "prom-client";
import type { ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import type { FederationStatus } from "../api/v1alpha1/federation.ts";
import type { ReadManifest } from "../api/v1alpha1/objects.ts";
import { appliedInStatus } from "../core/approval/policy.ts";
import { bindManifest, federationBinding } from "../core/manifest/digest.ts";
import type { FederationContext } from "../federation/context.ts";
import type { PeerTransport } from "../peers/transport.ts";
import type { Applier } from "../runtime/apply.ts";
import { Controller } from "../runtime/controller.ts";
import { errorMessage } from "../runtime/errors.ts";
import { metaTime } from "../runtime/time.ts";
import { Topic } from "../runtime/topic.ts";
import type { Member } from "../state/model.ts";
import { allVersions, manifestIds } from "../state/readers.ts";
import type { OpenedState } from "../state/store.ts";
import type { Verifier } from "../verification/verifier.ts";
import { ManifestRecords, specJson } from "./manifest-records.ts";
import { replicationMetrics } from "./metrics.ts";
import { mirrorReconciler, type MirrorOptions } from "./mirror.ts";
import { PeerSync } from "./peer-sync.ts";
import { DEFAULT_REBASE_POLICY, Rebaser, type RebasePolicy } from "./rebaser.ts";
import { epochOf } from "../state/document.ts";
import { referencedDigests } from "../state/rebase.ts";
import { Replica } from "./replica.ts";
import { SpecExchange } from "./spec-exchange.ts";
import type { SpecHint } from "./spec-messages.ts";

/** Versions verified early at once, at once per peer, and a second per peer, at most (one per manifest approved, in practice). */
const MAX_EARLY_VERIFICATIONS = 6;
const MAX_EARLY_PER_PEER = 2;
const MAX_EARLY_PER_SECOND = 8;

interface ReplicationOptions {
  readonly region: string;
  /** The state as StateStore.open found it on disk. */
  readonly opened: OpenedState;
  readonly transport: PeerTransport;
  /** This region as a member: its DSP, endpoint and certificate fingerprint. */
  readonly self: (context: FederationContext) => Member;
  readonly federation: () => FederationContext | undefined;
  readonly verifier: Verifier;
  readonly read: ReadManifest;
  /** Field manager "dsc-replication" (see mirror.ts). */
  readonly applier: Applier;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
  /** This region's log: a refused peer message is recorded in it (throttled). */
  readonly receipts?: Receipts | undefined;
  /** When the state is rebased; DEFAULT_REBASE_POLICY if not said. */
  readonly rebase?: RebasePolicy;
  /** A version the mirror verified, as it writes its manifest (mirror.ts). */
  readonly verifiedVersion?: MirrorOptions["verifiedVersion"];
}

export interface Replication {
  readonly replica: Replica;
  readonly records: ManifestRecords;
  readonly mirror: Controller;
  /**
   * Manifest ids (namespace/name) the state changed under: a peer's change
   * as soon as it is taken, or a spec that arrived. The manifest controller watches it.
   */
  readonly manifestsChanged: Topic<string>;
  /** Manifest ids whose only change is another region's outcome: what their status shows. */
  readonly progressChanged: Topic<string>;
  /** The Federation changed: new peers and members, and every manifest mirrored anew. */
  federationChanged(context: FederationContext | undefined): void;
  /** Peers and the document, for the Federation's status. */
  status(): Pick<FederationStatus, "peers" | "peerSummary" | "document">;
  readonly rebaser: Rebaser;
  close(): Promise<void>;
}

export function setupReplication(o: ReplicationOptions): Replication {
  const { opened, transport, logger } = o;
  const replica = new Replica({ store: opened.store, doc: opened.doc, now: o.now, logger });

  const digestOf = (namespace: string, name: string, spec: ConsortiumManifestSpec): string | undefined => {
    const context = o.federation();
    if (!context) return undefined;
    try {
      return bindManifest(federationBinding(context.name, context.spec), { namespace, name }, spec).hashes
        .digest;
    } catch {
      return undefined; // a spec that cannot be hashed has no digest to match
    }
  };
  // Whether `json` is the spec whose digest is `digest`; undefined while this region cannot tell.
  const matches = (id: string, digest: string, json: string): boolean | undefined => {
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
    if (!o.federation()) return undefined;
    return digestOf(namespace, name, spec) === digest;
  };

  const manifestsChanged = new Topic<string>();
  const progressChanged = new Topic<string>();
  const { refused, rebased, early } = replicationMetrics(o.registry, {
    epoch: () => epochOf(replica.doc),
    documentBytes: () => replica.documentBytes(),
    manifests: () => manifestIds(replica.doc).length,
    specsMissing: () => exchange.missing,
    pending: () => transport.status().map((p) => [p.region, sync.pending(p.region)] as const),
  });
  // A refused message is a decision too: recorded, once per peer and kind of message in 10 minutes.
  const record = o.receipts && throttled(o.receipts, RECEIPT_WINDOW_MS, o.now);
  const refuse =
    (what: string) =>
    (peer: string, reason: string): void => {
      refused.inc();
      logger.warn({ peer, reason }, `dropped a ${what}`);
      record?.(`${peer}\n${what}`, "peer.refused", peer, { message: what, reason: reason.slice(0, 1024) });
    };
  const exchange: SpecExchange = new SpecExchange({
    specs: opened.specs,
    send: (peer, bytes) => transport.send(peer, bytes, "specs"),
    peers: () => sync.peers(),
    matches,
    arrived: (id) => {
      manifestsChanged.publish(id);
    },
    early: (peer, digest, json, hint) => {
      verifyEarly(peer, digest, json, hint);
    },
    refused: refuse("spec message"),
    logger,
  });
  const sync: PeerSync = new PeerSync({
    replica,
    channel: transport,
    exchange,
    syncStates: opened.syncStates,
    peerEpochs: opened.peerEpochs,
    refused: refuse("sync message that could not be applied"),
    now: o.now,
    logger,
    onPeerEpoch: () => {
      rebaser.follow();
    },
  });
  const rebaser: Rebaser = new Rebaser({
    self: o.region,
    replica,
    specs: opened.specs,
    // A manifest that cannot be read fails the rebase, to be tried again: never collect blind.
    running: async (id) => {
      const [namespace = "", name = ""] = id.split("/");
      return (await o.read(namespace, name))?.status?.appliedDigest;
    },
    peers: () => transport.status().map((p) => p.region),
    peerEpochs: () => sync.peerEpochs(),
    policy: o.rebase ?? DEFAULT_REBASE_POLICY,
    now: o.now,
    logger,
    rebased,
  });
  replica.onDurable(() => {
    rebaser.check();
  });
  replica.onRebased(() => {
    exchange.forgetUnless(referencedDigests(replica.doc));
  });
  replica.onAdopted(({ ids, progress }) => {
    for (const id of ids) manifestsChanged.publish(id);
    for (const id of progress) progressChanged.publish(id);
  });
  const records = new ManifestRecords({
    region: o.region,
    state: replica,
    specs: opened.specs,
    exchange,
    now: o.now,
    digestOf: (id, spec) => {
      const [namespace = "", name = ""] = id.split("/");
      return digestOf(namespace, name, spec);
    },
  });

  const verified = async (
    namespace: string,
    name: string,
    spec: ConsortiumManifestSpec,
  ): Promise<boolean> => {
    const context = o.federation();
    if (!context) return false;
    try {
      // Judged against what this region applied, as the manifest controller judges it (the
      // manifest's status first; the federation state's record only when there is no status): a
      // version of a lower tier than the applied one, or a reused applied nonce, is not mirrored
      // over it (one DSP's lower-tier version would otherwise replace the manifest, unapplied).
      const local = await o.read(namespace, name);
      const applied = appliedInStatus(local?.status) ?? (await records.applied(`${namespace}/${name}`));
      const report = await o.verifier.verify(context, { namespace, name, spec, applied });
      return report.decision.verified;
    } catch {
      return false; // the chain cannot be read: nothing is mirrored on trust
    }
  };
  // A version a peer is verifying, verified here beside it (the offer's hint, spec-messages.ts):
  // what verifies is kept for the block it was read at (VerifiedAtBlock), so the mirror's check,
  // once the state names the version, finds it done. A hint decides nothing. A peer cannot make
  // this region read the chain at its pace: a few checks at once (and fewer per peer, so that
  // one peer's cannot crowd out another's) and a few a second per peer.
  let verifyingEarly = 0;
  const earlyByPeer = new Map<string, { start: number; count: number; running: number }>();
  const verifyEarly = (peer: string, digest: string, json: string, hint: SpecHint): void => {
    const now = o.now();
    const seen = earlyByPeer.get(peer) ?? { start: now, count: 0, running: 0 };
    if (now - seen.start >= 1000) Object.assign(seen, { start: now, count: 0 });
    earlyByPeer.set(peer, seen);
    if (
      verifyingEarly >= MAX_EARLY_VERIFICATIONS ||
      seen.running >= MAX_EARLY_PER_PEER ||
      seen.count >= MAX_EARLY_PER_SECOND
    ) {
      early("busy");
      return;
    }
    seen.count++;
    // Not its digest's spec, or no Federation yet to tell: left held, for the version to name.
    if (matches(hint.id, digest, json) !== true) {
      early("mismatched");
      return;
    }
    const [namespace = "", name = ""] = hint.id.split("/");
    const spec: ConsortiumManifestSpec = {
      ...(JSON.parse(json) as ConsortiumManifestSpec),
      signatures: hint.signatures.map((s) => ({ safe: s.safe, data: s.data as Hex })),
    };
    verifyingEarly++;
    seen.running++;
    void verified(namespace, name, spec)
      .then((ok) => {
        early(ok ? "verified" : "refused");
      })
      .finally(() => {
        verifyingEarly--;
        seen.running--;
      });
  };
  const mirror = new Controller({
    name: "mirror",
    reconcile: mirrorReconciler({
      state: replica,
      specs: opened.specs,
      exchange,
      read: o.read,
      applier: o.applier,
      verified,
      digestOf,
      ready: () => o.federation() !== undefined,
      ...(o.verifiedVersion && { verifiedVersion: o.verifiedVersion }),
    }),
    logger,
    registry: o.registry,
  }).watchChannel((enqueue) => {
    // Every manifest the state holds at start; then what changes and what arrives.
    for (const id of manifestIds(replica.doc)) enqueue(id);
    return manifestsChanged.subscribe(enqueue);
  });

  // Specs an older state held, checked once the federation tells their digests (then never again).
  let migratedChecked = opened.specs.uncheckedDigests().length === 0;
  let checking = false;
  const checkMigrated = (): void => {
    if (migratedChecked || checking) return;
    checking = true;
    const named = new Map(allVersions(replica.doc).map((v) => [v.digest, v.id]));
    exchange
      .checkMigrated((digest) => named.get(digest))
      .then(
        (done) => {
          migratedChecked = done;
          if (done) logger.info("checked the specs the state held before the upgrade");
        },
        (error: unknown) => {
          logger.warn(
            { err: errorMessage(error) },
            "could not check the specs the state held before the upgrade",
          );
        },
      )
      .finally(() => {
        checking = false;
      });
  };

  return {
    replica,
    records,
    mirror,
    manifestsChanged,
    progressChanged,
    federationChanged(context) {
      if (!context) return;
      checkMigrated();
      transport.setPeers(
        (context.spec.peers ?? []).map((p) => ({
          region: p.region,
          endpoint: p.endpoint,
          fingerprint: p.certificateSha256,
        })),
      );
      records.setMembers([o.self(context)]).then(
        () => {
          for (const id of manifestIds(replica.doc)) mirror.enqueue(id);
        },
        (error: unknown) => {
          logger.warn({ err: errorMessage(error) }, "could not update the federation state");
        },
      );
    },
    status() {
      const peers = transport.status().map((p) => ({
        region: p.region,
        connected: p.connected,
        ...(p.lastHeardMs === null ? {} : { lastHeard: metaTime(new Date(p.lastHeardMs)) }),
        ...(p.rttMs === null ? {} : { rttMilliseconds: Math.round(p.rttMs) }),
        changesPending: sync.pending(p.region),
        ...(p.protocol === null ? {} : { protocol: p.protocol }),
        ...(p.incompatible === null ? {} : { incompatible: p.incompatible.slice(0, 512) }),
      }));
      return {
        peers,
        peerSummary: peers.map((p) => `${p.region} ${p.connected ? "✓" : "✗"}`).join(" "),
        document: {
          bytes: replica.documentBytes(),
          manifests: manifestIds(replica.doc).length,
          epoch: epochOf(replica.doc),
        },
      };
    },
    rebaser,
    async close() {
      rebaser.close();
      await rebaser.settled();
      exchange.close();
      await sync.close();
      await replica.close();
      await opened.specs.settled();
    },
  };
}
