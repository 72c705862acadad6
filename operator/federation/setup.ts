// The Federation controller, assembled with what it shows in status: the
// guardian pause and, when this region replicates, its peers and document.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { Controller, generationChanged } from "../runtime/controller.ts";
import { objectKey, ownKey } from "../runtime/keys.ts";
import type { Topic } from "../runtime/topic.ts";
import type { AdoptedPolicy } from "../core/approval/federation-policy.ts";
import { federationReconciler, type FederationControllerOptions, type PauseWatch } from "./reconciler.ts";

export interface FederationControllerSetup extends Omit<FederationControllerOptions, "now" | "guardian"> {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly guardian?: { readonly watch: PauseWatch; readonly transitions: Topic<boolean> } | undefined;
  /** Published when a new federation policy is in force: status shows it at once. */
  readonly policyChanged: Topic<AdoptedPolicy>;
}

export function federationController(o: FederationControllerSetup): Controller {
  const controller = new Controller({
    name: "federation",
    reconcile: federationReconciler({ ...o, now: () => new Date(), guardian: o.guardian?.watch }),
    logger: o.logger,
    registry: o.registry,
  })
    .watch(o.federations, ownKey, { update: generationChanged })
    .watchChannel((enqueue) =>
      o.policyChanged.subscribe(() => {
        for (const f of o.federations.list()) enqueue(objectKey(f));
      }),
    );
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
