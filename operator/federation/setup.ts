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
  // Keys queued by a pause raised or lifted, with when that pass is due: only a pass from then
  // on takes the mark (a poll that comes first reads the chain as any poll does).
  const pauseOnly = new Map<string, number>();
  const takeMark = (key: string): boolean => {
    const due = pauseOnly.get(key);
    if (due === undefined || performance.now() < due - MARK_SLACK_MS) return false;
    pauseOnly.delete(key);
    return true;
  };
  const controller = new Controller({
    name: "federation",
    reconcile: federationReconciler({
      ...o,
      now: () => new Date(),
      guardian: o.guardian?.watch,
      pauseOnly: takeMark,
    }),
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
    // A pause raised or lifted shows in status.guardian at once (pause-status.ts); the Paused
    // condition follows a moment later, not at the next poll: two writes of one object at once
    // would only make the API server retry one of them.
    controller.watchChannel(() =>
      guardian.transitions.subscribe(() => {
        for (const f of o.federations.list()) {
          pauseOnly.set(objectKey(f), performance.now() + PAUSED_CONDITION_AFTER_MS);
          controller.enqueueAfter(objectKey(f), PAUSED_CONDITION_AFTER_MS);
        }
      }),
    );
  return controller;
}

/** How long after a pause is raised or lifted the Federation controller shows it in its conditions. */
export const PAUSED_CONDITION_AFTER_MS = 250;
/** A timer may fire a little early. */
const MARK_SLACK_MS = 10;
