// The ConsortiumManifest controller, assembled: what reads a manifest whole
// (the informer caches metadata only), and every source that queues one.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import type { ConsortiumManifestObject, ReadManifest } from "../api/v1alpha1/objects.ts";
import type { CurrentFederation } from "../federation/context.ts";
import { httpStatus } from "../kube/errors.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import { Controller, generationChanged } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import { objectKey, ownKey } from "../runtime/keys.ts";
import type { Topic } from "../runtime/topic.ts";
import {
  manifestReconciler,
  type FederationRecords,
  type ManifestControllerOptions,
  type PauseView,
  type PolicyView,
} from "./reconciler.ts";
import type { AdoptedPolicy } from "../core/approval/federation-policy.ts";
import type { RecentWrites } from "./recent-writes.ts";

/**
 * Reads a manifest whole when the metadata cache holds it; not in the cache means not created
 * yet, or deleted. The version the cache shows, if this process wrote it last, needs no GET.
 */
export function manifestReader(
  cache: Informer<ConsortiumManifestObject>,
  api: ObjectApi,
  recent?: RecentWrites,
): ReadManifest {
  return async (namespace, name) => {
    const meta = cache.get(namespace, name);
    if (!meta) {
      recent?.forget(namespace, name);
      return undefined;
    }
    const version = meta.metadata?.resourceVersion;
    let written = recent?.get(namespace, name, version);
    if (!written && recent) {
      // The informer may show a write of this process whose answer is on its way.
      await recent.settled(namespace, name);
      written = recent.get(namespace, name, version);
    }
    if (written) return written;
    try {
      return await api.readRaw<ConsortiumManifestObject>({
        apiVersion: API_VERSION,
        kind: "ConsortiumManifest",
        metadata: { namespace, name },
      });
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  };
}

export interface ManifestControllerSetup extends Omit<
  ManifestControllerOptions,
  "paused" | "federation" | "now" | "guardian" | "records" | "policy"
> {
  /** The policy ledger: what the reconciler reads and adopts, and the news that a new policy is in force. */
  readonly policy: PolicyView & { readonly changed: Topic<AdoptedPolicy> };
  readonly manifests: Informer<ConsortiumManifestObject>;
  readonly current: CurrentFederation;
  readonly workers: number;
  readonly logger: Logger;
  readonly registry: Registry;
  /** When this region replicates: the federation state's records, and the ids it changed. */
  readonly replication?:
    | {
        readonly records: FederationRecords;
        readonly changed: Topic<string>;
        readonly progress: Topic<string>;
      }
    | undefined;
  /** When this region replicates: the guardian pause, and its transitions. */
  readonly guardian?:
    | { readonly view: PauseView; readonly transitions: Topic<boolean>; readonly chainChanged: Topic }
    | undefined;
}

/** How long a refresh for other regions' progress waits, gathering those that arrive together. */
const PROGRESS_DELAY_MS = 200;

export function manifestController(o: ManifestControllerSetup): Controller {
  // Keys whose last pass left them Paused (the cache has no status): what a resume re-reconciles.
  const paused = new Set<string>();
  // Keys queued for other regions' progress, keys a new version or approval needs verified
  // anew (a progress mark never overrides one), and a count of the changes that make every
  // manifest verified anew: together they let a progress pass skip the verification.
  const progressOnly = new Set<string>();
  const needsFull = new Set<string>();
  let epoch = 0;
  const controller = new Controller({
    name: "consortiummanifest",
    reconcile: manifestReconciler({
      read: o.read,
      paused,
      federation: () => o.current.get(),
      verifier: o.verifier,
      api: o.api,
      applier: o.applier,
      ...(o.liveReads && { liveReads: o.liveReads }),
      events: o.events,
      metrics: o.metrics,
      resyncMs: o.resyncMs,
      ...(o.settleMs !== undefined && { settleMs: o.settleMs }),
      now: () => new Date(),
      policy: o.policy,
      ...(o.scaleGuard && { scaleGuard: o.scaleGuard }),
      ...(o.receipts && { receipts: o.receipts }),
      ...(o.replication && { records: o.replication.records }),
      ...(o.guardian && { guardian: o.guardian.view }),
      progressOnly: (key) => {
        const progress = progressOnly.delete(key);
        return !needsFull.delete(key) && progress;
      },
      epoch: () => epoch,
    }),
    logger: o.logger,
    registry: o.registry,
    workers: o.workers,
  })
    .watch(o.manifests, ownKey, { update: generationChanged })
    // A new federation, new owners on chain, or a new policy: every manifest is verified anew.
    .watchChannel((enqueue) =>
      o.current.onChange(() => {
        epoch++;
        for (const m of o.manifests.list()) enqueue(objectKey(m));
      }),
    )
    .watchChannel((enqueue) =>
      o.policy.changed.subscribe(() => {
        epoch++;
        for (const m of o.manifests.list()) enqueue(objectKey(m));
      }),
    );
  const replication = o.replication;
  if (replication) {
    controller.watchChannel((enqueue) =>
      replication.changed.subscribe((id) => {
        needsFull.add(id); // a new version or approval: verified anew
        enqueue(id);
      }),
    );
    // Other regions' progress only refreshes the status's per-region summary: it waits a moment,
    // so that the outcomes of several regions arriving together cost one status write, not one each.
    controller.watchChannel(() =>
      replication.progress.subscribe((id) => {
        progressOnly.add(id);
        controller.enqueueAfter(id, PROGRESS_DELAY_MS);
      }),
    );
  }
  const guardian = o.guardian;
  if (guardian)
    // On a resume, what the pause held back applies now; the rest is in place. A pause
    // needs no pass over the manifests (each finds it at its next reconcile).
    controller
      .watchChannel((enqueue) =>
        guardian.transitions.subscribe((isPaused) => {
          epoch++;
          if (!isPaused) for (const key of paused) enqueue(key);
        }),
      )
      // A resume held for the chain (unread, or not yet unpaused by the Board) goes on once it changes.
      .watchChannel((enqueue) =>
        guardian.chainChanged.subscribe(() => {
          epoch++;
          for (const key of paused) enqueue(key);
        }),
      );
  return controller;
}
