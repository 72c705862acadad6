// The guardian pause as the Federation's status shows it (status.guardian),
// written by a controller and a field manager of its own. A pause raised or
// lifted then shows at once: not after a poll of the chain that holds the
// Federation controller's one worker, and without the whole status rebuilt and
// written. Server-side apply keeps the two writers' fields apart: the
// Federation controller leaves status.guardian and the Paused condition to
// this one (the conditions are a map keyed by type, each entry owned by its
// writer), so a pause raised or lifted is one write, condition and all.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { FederationStatus, PauseAction } from "../api/v1alpha1/federation.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import type { FederationObject } from "../api/v1alpha1/objects.ts";
import type { ChainPause } from "../chain/reader.ts";
import type { Applier } from "../runtime/apply.ts";
import { Controller } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import { objectKey, ownKey } from "../runtime/keys.ts";
import type { Reconciler } from "../runtime/controller.ts";
import { setCondition, type Condition, type ConditionInput } from "../runtime/conditions.ts";
import { metaTime } from "../runtime/time.ts";
import { trace } from "../runtime/trace.ts";
import type { ActivePause } from "../state/readers.ts";
import type { CurrentFederation } from "./context.ts";
import { PAUSED_CONDITION } from "./status-owners.ts";
import { sortedJson } from "../kube/object.ts";

type GuardianStatus = NonNullable<FederationStatus["guardian"]>;

/** status.guardian for the pauses in force, the chain's GuardianPause as last read, and the action. */
export function guardianStatus(
  pauses: readonly ActivePause[],
  chain: ChainPause | undefined,
  action: PauseAction,
): GuardianStatus {
  return {
    paused: pauses.length > 0,
    action,
    ...(chain ? { chainPaused: chain.paused, chainPauseId: Number(chain.id) } : {}),
    pauses: pauses.slice(0, 64).map((p) => ({
      token: p.token,
      source: p.source,
      by: p.by,
      ...(p.dsp !== "-" ? { dsp: p.dsp } : {}),
      severity: p.severity,
      evidence: p.evidence,
      reason: p.reason,
      since: metaTime(new Date(p.at)),
      acceptedIn: [...p.regions],
    })),
  };
}

/** The Paused condition for the pauses in force. */
export function pausedCondition(pauses: readonly ActivePause[], generation: number): ConditionInput {
  const first = pauses[0];
  if (!first)
    return {
      type: PAUSED_CONDITION,
      status: "False",
      reason: "NotPaused",
      message: "no guardian pause in force",
      observedGeneration: generation,
    };
  const reason =
    first.source === "chain"
      ? "PausedOnChain"
      : first.source === "alertmanager"
        ? "AlertFiring"
        : first.source === "log"
          ? "LogDiscrepancy"
          : "BreachReported";
  return {
    type: PAUSED_CONDITION,
    status: "True",
    reason,
    message: `${String(pauses.length)} pause(s) in force; first by ${first.by}${first.dsp !== "-" ? ` (DSP ${first.dsp})` : ""} in ${first.region}: ${first.reason} (evidence ${first.evidence}, token ${first.token}). Only a critical-tier resume manifest lifts it.`,
    observedGeneration: generation,
  };
}

export interface PauseStatusOptions {
  readonly federations: Informer<FederationObject>;
  readonly current: CurrentFederation;
  readonly pauses: () => ActivePause[];
  readonly chainPause: () => ChainPause | undefined;
  /** Its own field manager (the guardian's): the Federation controller's applies leave these fields alone. */
  readonly applier: Applier;
  readonly events: EventRecorder;
  readonly now?: () => Date;
  readonly logger?: Logger;
}

export function pauseStatusReconciler(o: PauseStatusOptions): Reconciler {
  // Whether the last write of this process showed a pause, by Federation: what an Event is
  // told against (the cache may still show the write before it).
  const wrote = new Map<string, boolean>();
  // Federations released once by this process (no spec.guardian): what is left there is another
  // manager's, and an apply of nothing again would change nothing.
  const released = new Set<string>();
  // Federations whose CRD predates this release: status.conditions is still one list owned whole,
  // and a write of the Paused condition alone would take every other condition with it.
  const wholeList = new Set<string>();
  return async (key) => {
    trace(`federation/${key}`, "pause status");
    const context = o.current.get();
    // Only the Federation this operator serves, once its spec is read and valid.
    if (context?.name !== key) return {};
    const object = o.federations.list().find((f) => f.metadata?.name === key);
    if (!object) return {};
    const action = context.spec.guardian?.action ?? "Freeze";
    const pauses = o.pauses();
    const next = context.spec.guardian ? guardianStatus(pauses, o.chainPause(), action) : undefined;
    const shown = object.status?.guardian;
    const shownCondition = object.status?.conditions?.find((c) => c.type === PAUSED_CONDITION);
    // Kept from the condition shown while its status holds (setCondition), so equal when nothing moved.
    // On a CRD that owns the list whole, the condition is neither written nor compared.
    const ownsCondition = !wholeList.has(key);
    const condition: Condition | undefined =
      next && ownsCondition
        ? setCondition(
            shownCondition ? [shownCondition] : [],
            pausedCondition(pauses, object.metadata?.generation ?? 0),
            (o.now ?? (() => new Date()))(),
          )[0]
        : undefined;
    if (next) {
      released.delete(key);
      const shownHere = ownsCondition ? shownCondition : undefined;
      if (sortedJson([shown, shownHere]) === sortedJson([next, condition])) return {};
    } else if (released.has(key) || (shown === undefined && shownCondition === undefined)) return {};
    trace(`federation/${key}`, "pause status to write");
    const others = (object.status?.conditions ?? []).filter((c) => c.type !== PAUSED_CONDITION);
    // Without spec.guardian, an apply without the fields releases them, and they go.
    const stored = await o.applier.applyStatus({
      apiVersion: API_VERSION,
      kind: "Federation",
      metadata: { name: key },
      status: next ? { guardian: next, ...(condition && { conditions: [condition] }) } : {},
    });
    if (!next) released.add(key);
    trace(`federation/${key}`, "pause shown");
    if (
      condition &&
      others.length > 0 &&
      ((stored as FederationObject).status?.conditions?.length ?? 0) <= 1
    ) {
      // Only a list owned whole loses the other writer's conditions to this apply.
      wholeList.add(key);
      o.logger?.error(
        { federation: key },
        "the Federation CRD predates this release (status.conditions is not a map keyed by type): apply this release's CRDs with kubectl apply --server-side -f charts/dsc-operator/crds/; until then the Paused condition is not written, status.guardian still is",
      );
      o.events.event(object, {
        type: "Warning",
        reason: "CRDOutOfDate",
        note: "status.conditions is not a map keyed by type: apply this release's CRDs (kubectl apply --server-side -f charts/dsc-operator/crds/); the Paused condition waits for them, status.guardian shows the pause",
      });
    }
    const before = wrote.get(key) ?? shown?.paused ?? false;
    wrote.set(key, next?.paused ?? false);
    const first = pauses[0];
    // Without spec.guardian the field goes, and no Event says the pause was raised or lifted.
    if (next && next.paused !== before)
      o.events.event(object, {
        type: first ? "Warning" : "Normal",
        reason: first ? "GuardianPaused" : "GuardianResumed",
        note: first
          ? `paused by ${first.by} (${first.source}) in ${first.region}: ${first.reason}`
          : "every guardian pause is lifted; manifests apply again",
      });
    return {};
  };
}

export function pauseStatusController(
  o: PauseStatusOptions & {
    readonly logger: Logger;
    readonly registry: Registry;
    /** A change of the pauses in force, and the chain's GuardianPause read anew: how to hear of each. */
    readonly changed: readonly ((listener: () => void) => () => void)[];
  },
): Controller {
  const all = (enqueue: (key: string) => void) => () => {
    for (const f of o.federations.list()) enqueue(objectKey(f));
  };
  const controller = new Controller({
    name: "federation-pause",
    reconcile: pauseStatusReconciler(o),
    logger: o.logger,
    registry: o.registry,
  })
    // Every update: a status someone else changed is put back.
    .watch(o.federations, ownKey)
    .watchChannel((enqueue) => o.current.onChange(all(enqueue)));
  for (const subscribe of o.changed) controller.watchChannel((enqueue) => subscribe(all(enqueue)));
  return controller;
}
