// The Federation controller, assembled with what it shows in status: the
// guardian pause and, when this region replicates, its peers and document.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { FederationStatus } from "../api/v1alpha1/federation.ts";
import type { FederationObject } from "../api/v1alpha1/objects.ts";
import type { OperatorMetrics } from "../metrics/metrics.ts";
import type { Applier } from "../runtime/apply.ts";
import { Controller, generationChanged } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import { objectKey, ownKey } from "../runtime/keys.ts";
import type { RawApi } from "../runtime/rawapi.ts";
import type { Topic } from "../runtime/topic.ts";
import type { CurrentFederation } from "./context.ts";
import { federationReconciler, type PauseWatch } from "./reconciler.ts";

export interface FederationControllerSetup {
  readonly federations: Informer<FederationObject>;
  readonly current: CurrentFederation;
  readonly api: Pick<RawApi, "readRaw">;
  readonly namespace: string;
  readonly federationName: string | undefined;
  readonly applier: Applier;
  readonly events: EventRecorder;
  readonly metrics: OperatorMetrics;
  readonly pollMs: number;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly guardian?: { readonly watch: PauseWatch; readonly transitions: Topic<boolean> } | undefined;
  readonly replicationStatus?:
    (() => Pick<FederationStatus, "peers" | "peerSummary" | "document">) | undefined;
}

export function federationController(o: FederationControllerSetup): Controller {
  const controller = new Controller({
    name: "federation",
    reconcile: federationReconciler({
      federations: o.federations,
      api: o.api,
      namespace: o.namespace,
      federationName: o.federationName,
      applier: o.applier,
      events: o.events,
      metrics: o.metrics,
      pollMs: o.pollMs,
      now: () => new Date(),
      current: o.current,
      guardian: o.guardian?.watch,
      replicationStatus: o.replicationStatus,
    }),
    logger: o.logger,
    registry: o.registry,
  }).watch(o.federations, ownKey, { update: generationChanged });
  const guardian = o.guardian;
  if (guardian)
    // A pause raised or lifted shows in the Federation's status at once, not at the next poll.
    controller.watchChannel((enqueue) =>
      guardian.transitions.subscribe(() => {
        for (const f of o.federations.list()) enqueue(objectKey(f));
      }),
    );
  return controller;
}
