// The BreachReport controller: an agent's signed report, applied with kubectl
// in any region, is verified once and either pauses the federation or is
// refused with a reason, an Event and a count. A report already judged at
// its generation is left alone: judging it again would call it a replay.
import type { BreachReportStatus } from "../api/v1alpha1/breach-report.ts";
import type { BreachReportObject } from "../api/v1alpha1/objects.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import type { Applier } from "../runtime/apply.ts";
import { setCondition } from "../runtime/conditions.ts";
import type { Reconciler } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import { parseKey } from "../runtime/keys.ts";
import type { Guardian } from "./service.ts";

interface BreachControllerOptions {
  readonly reports: Informer<BreachReportObject>;
  /** Undefined in a region that keeps no federation state (no peer identity). */
  readonly guardian: Pick<Guardian, "acceptReport"> | undefined;
  readonly applier: Applier;
  readonly events: EventRecorder;
  readonly now: () => Date;
}

export function breachReportReconciler(options: BreachControllerOptions): Reconciler {
  return async (key, { log }) => {
    const { namespace = "", name } = parseKey(key);
    const object = options.reports.get(namespace, name);
    if (!object?.metadata) return {};
    const generation = object.metadata.generation ?? 0;
    if (object.status?.state && object.status.observedGeneration === generation) return {};

    const guardian = options.guardian;
    const { signature, ...report } = object.spec ?? {};
    // ChainUnavailableError propagates: retried with backoff, nothing accepted unverified.
    const verdict = guardian
      ? await guardian.acceptReport(report, signature, "agent")
      : ({
          ok: false,
          reason: "NotFederated",
          message:
            "this operator keeps no federation state (no peer identity): it cannot pause the federation",
        } as const);
    const state = verdict.ok ? "Accepted" : "Refused";
    const dsp = "dsp" in verdict ? verdict.dsp : undefined;
    const token = "hash" in verdict ? verdict.hash : undefined;
    const message = verdict.ok
      ? `accepted: the federation is paused (token ${verdict.hash}); only a critical-tier resume manifest lifts it`
      : verdict.message;
    const status: BreachReportStatus = {
      observedGeneration: generation,
      state,
      reason: verdict.ok ? "Accepted" : verdict.reason,
      message,
      ...(dsp ? { dsp } : {}),
      ...(token ? { token } : {}),
      conditions: [
        ...setCondition(
          object.status?.conditions ?? [],
          {
            type: "Accepted",
            status: verdict.ok ? "True" : "False",
            reason: verdict.ok ? "Accepted" : verdict.reason,
            message,
            observedGeneration: generation,
          },
          options.now(),
        ),
      ],
    };
    await options.applier.applyStatus({
      apiVersion: API_VERSION,
      kind: "BreachReport",
      metadata: { name, namespace },
      status,
    });
    options.events.event(object, {
      type: "Warning",
      reason: verdict.ok ? "BreachAccepted" : `Breach${verdict.reason}`,
      note: message.slice(0, 1024),
    });
    log.info({ state, reason: status.reason }, "breach report judged");
    return {};
  };
}
