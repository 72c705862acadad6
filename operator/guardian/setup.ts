// The guardian pause, assembled: the service that judges breach signals and
// writes pause and resume records, the enforcer controller that makes this
// cluster match them, and the BreachReport controller.
import type { Logger } from "pino";
import type { Receipts } from "../receipts/receipt-log.ts";
import type { Registry } from "prom-client";
import type { BreachReportObject } from "../api/v1alpha1/objects.ts";
import type { CurrentFederation } from "../federation/context.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import type { Applier } from "../runtime/apply.ts";
import { DEFAULT_BASE_DELAY_MS, ItemExponentialRateLimiter } from "../runtime/backoff.ts";
import { Controller, generationChanged } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import { ownKey } from "../runtime/keys.ts";
import { Topic } from "../runtime/topic.ts";
import type { FederationState } from "../state/federation-state.ts";
import type { PauseLedger } from "../state/pause-ledger.ts";
import { breachReportReconciler } from "./breach-reconciler.ts";
import { pauseEnforcer, PAUSE_KEY } from "./enforcer.ts";
import { Guardian } from "./service.ts";

export interface GuardianSetup {
  readonly region: string;
  readonly namespace: string;
  readonly state: FederationState;
  readonly ledger: PauseLedger;
  readonly current: CurrentFederation;
  readonly api: ObjectApi;
  /** Field manager "dsc-guardian". */
  readonly applier: Applier;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly resyncMs: number;
  readonly now: () => number;
  readonly receipts?: Receipts | undefined;
}

export function setupGuardian(o: GuardianSetup): {
  guardian: Guardian;
  enforcer: Controller;
  /** Raised (true) or lifted (false): the manifest controller holds or releases what waits. */
  transitions: Topic<boolean>;
  /** Any change of the pauses in force: one more, one fewer, one more region that took one. */
  pausesChanged: Topic;
  /** Stops watching the state for transitions. */
  stop: () => void;
} {
  const guardian = new Guardian({
    region: o.region,
    state: o.state,
    ledger: o.ledger,
    federation: () => o.current.get(),
    registry: o.registry,
    logger: o.logger.child({ component: "guardian" }),
    now: o.now,
    ...(o.receipts && { receipts: o.receipts }),
  });
  const transitions = new Topic<boolean>();
  const pausesChanged = new Topic();
  // A pause raised or lifted shows at once (the Federation's status, the manifests held):
  // not after the enforcer's pass, which may be listing every workload of the cluster for the
  // last transition. Checked once per turn of the event loop however many changes came in it.
  let shown: boolean | undefined;
  let shownPauses: string | undefined;
  let checking = false;
  const check = (): void => {
    if (checking) return;
    checking = true;
    setImmediate(() => {
      checking = false;
      // How to pause is the Federation's: until it is read, nothing is shown either.
      if (!o.current.get()) return;
      const pauses = guardian.pauses();
      const text = JSON.stringify(pauses.map((p) => [p.token, p.regions]));
      if (text !== shownPauses) {
        shownPauses = text;
        pausesChanged.publish();
      }
      const paused = pauses.length > 0;
      if (paused === shown) return;
      shown = paused;
      transitions.publish(paused);
    });
  };
  const stopChecking = [o.state.onChange(check), o.current.onChange(check), guardian.lifts.subscribe(check)];
  const enforcer = new Controller({
    name: "guardian",
    reconcile: pauseEnforcer({
      pauses: () => guardian.pauses(),
      federation: () => o.current.get(),
      namespace: o.namespace,
      api: o.api,
      applier: o.applier,
      registry: o.registry,
      resyncMs: o.resyncMs,
      now: o.now,
    }),
    logger: o.logger,
    registry: o.registry,
    // A failed pass is retried at least once a resync, however long it has been failing.
    rateLimiter: new ItemExponentialRateLimiter(DEFAULT_BASE_DELAY_MS, o.resyncMs),
  }).watchChannel((enqueue) => {
    // The pauses in force decide whether to pause (the check above reads them once per turn of
    // the state's changes, so this pass does not run for every manifest); the Federation, how.
    enqueue(PAUSE_KEY);
    const pass = (): void => {
      enqueue(PAUSE_KEY);
    };
    const stops = [pausesChanged.subscribe(pass), o.current.onChange(pass)];
    return () => {
      for (const stop of stops) stop();
    };
  });
  return {
    guardian,
    enforcer,
    transitions,
    pausesChanged,
    stop: () => {
      for (const stop of stopChecking) stop();
    },
  };
}

/** The BreachReport controller: an agent's report applied with kubectl, judged once. */
export function breachReportController(o: {
  readonly reports: Informer<BreachReportObject>;
  readonly guardian: Guardian | undefined;
  readonly applier: Applier;
  readonly events: EventRecorder;
  readonly logger: Logger;
  readonly registry: Registry;
}): Controller {
  return new Controller({
    name: "breachreport",
    reconcile: breachReportReconciler({
      reports: o.reports,
      guardian: o.guardian,
      applier: o.applier,
      events: o.events,
      now: () => new Date(),
    }),
    logger: o.logger,
    registry: o.registry,
  }).watch(o.reports, ownKey, { update: generationChanged });
}
