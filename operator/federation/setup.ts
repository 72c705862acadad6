// The Federation controller, assembled with what it shows in status: the
// chain's guardian pause and, when this region replicates, its peers and
// document. The pauses in force are shown by their own controller
// (pause-status.ts), at once.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { Controller, generationChanged } from "../runtime/controller.ts";
import { objectKey, ownKey } from "../runtime/keys.ts";
import type { Topic } from "../runtime/topic.ts";
import type { AdoptedPolicy } from "../core/approval/federation-policy.ts";
import { federationReconciler, type FederationControllerOptions } from "./reconciler.ts";

export interface FederationControllerSetup extends Omit<FederationControllerOptions, "now"> {
  readonly logger: Logger;
  readonly registry: Registry;
  /** Published when a new federation policy is in force: status shows it at once. */
  readonly policyChanged: Topic<AdoptedPolicy>;
}

export function federationController(o: FederationControllerSetup): Controller {
  return new Controller({
    name: "federation",
    reconcile: federationReconciler({ ...o, now: () => new Date() }),
    logger: o.logger,
    registry: o.registry,
  })
    .watch(o.federations, ownKey, { update: generationChanged })
    .watchChannel((enqueue) =>
      o.policyChanged.subscribe(() => {
        for (const f of o.federations.list()) enqueue(objectKey(f));
      }),
    );
}
