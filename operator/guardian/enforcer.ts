// The pause enforcer: brings this cluster's managed workloads to what the
// federation state says about the guardian pause (the pause action while any
// pause token is in force, lifted otherwise). A single-key controller on the
// runtime's work queue, fed by every change of the pauses in force and of
// the Federation; level-triggered, so a pass killed at any line is simply run again.
import { Gauge, type Registry } from "prom-client";
import type { PauseAction } from "../api/v1alpha1/federation.ts";
import type { FederationContext } from "../federation/context.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import type { Applier } from "../runtime/apply.ts";
import type { Reconciler } from "../runtime/controller.ts";
import type { ActivePause } from "../state/readers.ts";
import { DEFAULT_EXCLUDED_NAMESPACES, enforcePause, liftPause } from "./actions.ts";

/** The enforcer's one key: there is one pause per region. */
export const PAUSE_KEY = "pause";

interface EnforcerOptions {
  /** The pauses in force in this region (guardian/service.ts). */
  readonly pauses: () => ActivePause[];
  readonly federation: () => FederationContext | undefined;
  /** The operator's own namespace: never cut off by a deny-all policy (it must hear the resume). */
  readonly namespace: string;
  readonly api: ObjectApi;
  /** Field manager "dsc-guardian". */
  readonly applier: Applier;
  readonly registry: Registry;
  /** How often the pause action is checked against the workloads when nothing changed (drift). */
  readonly resyncMs: number;
  readonly now: () => number;
}

export function pauseEnforcer(options: EnforcerOptions): Reconciler {
  const gauge = new Gauge({
    name: "dsc_guardian_paused",
    help: "1 while the guardian pause is in force in this region.",
    registers: [options.registry],
  });
  let lastPaused: boolean | undefined;
  // What the last pass that worked enforced, and when: a failed pass leaves it, so the retry acts.
  let enforced: { readonly paused: boolean; readonly action: PauseAction } | undefined;
  let lastPass = Number.NEGATIVE_INFINITY;

  return async (_key, { log }) => {
    const pauses = options.pauses();
    const paused = pauses.length > 0;
    gauge.set(paused ? 1 : 0);
    // How to pause is the Federation's: until it is read, nothing is enforced or lifted
    // (a new Federation queues this key again).
    const federation = options.federation();
    if (!federation) return {};
    const transition = paused !== lastPaused;
    if (transition) {
      const starting = lastPaused === undefined;
      lastPaused = paused;
      const first = pauses[0];
      if (first)
        log.warn(
          { token: first.token, source: first.source, by: first.by, reason: first.reason },
          "guardian pause in force: nothing is applied until a critical-tier resume",
        );
      else if (!starting) log.info("guardian pause lifted");
    }
    // The workloads are listed on a transition, a change of action, and once a resync (drift),
    // not at every pass (another region taking a pause in force is one).
    const action: PauseAction = federation.spec.guardian?.action ?? "Freeze";
    const now = options.now();
    const due = lastPass + options.resyncMs - now;
    if (enforced?.paused === paused && enforced.action === action && due > 0) return { requeueAfter: due };
    if (paused)
      await enforcePause(options.api, options.applier, action, log, {
        excludeNamespaces: [...DEFAULT_EXCLUDED_NAMESPACES, options.namespace],
      });
    else await liftPause(options.api, options.applier, log);
    enforced = { paused, action };
    lastPass = now;
    return { requeueAfter: options.resyncMs };
  };
}
