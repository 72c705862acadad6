// status.guardian and the Paused condition, written apart from the rest of the
// Federation's status: what shows a pause as soon as it is in force, in one
// write, and nothing more.
import { describe, expect, it } from "vitest";
import type { FederationSpec, FederationStatus } from "../api/v1alpha1/federation.ts";
import type { FederationObject } from "../api/v1alpha1/objects.ts";
import type { Applier } from "../runtime/apply.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import type { ActivePause } from "../state/readers.ts";
import { CurrentFederation, type FederationContext } from "./context.ts";
import { pauseStatusReconciler } from "./pause-status.ts";

const pause: ActivePause = {
  token: `0x${"ab".repeat(32)}`,
  region: "gamma",
  source: "agent",
  by: "0x00000000000000000000000000000000000000a1",
  dsp: "0x00000000000000000000000000000000000000d1",
  severity: "critical",
  evidence: `0x${"cd".repeat(32)}`,
  reason: "settlement invariant broken",
  at: Date.UTC(2026, 11, 6, 10, 0, 0),
  regions: ["gamma", "alpha"],
};

function setup(
  options: {
    guardian?: boolean;
    status?: FederationStatus;
    name?: string;
    /** status.conditions as a CRD of the release before has it: one list, owned whole. */
    atomicConditions?: boolean;
  } = {},
) {
  const federation: FederationObject = {
    apiVersion: "dsc.federation.dev/v1alpha1",
    kind: "Federation",
    metadata: { name: "dsc", generation: 1 },
    ...(options.status && { status: options.status }),
  };
  const current = new CurrentFederation();
  current.set({
    name: options.name ?? "dsc",
    spec: (options.guardian === false ? {} : { guardian: { action: "ScaleToZero" } }) as FederationSpec,
  } as FederationContext);
  const pauses: ActivePause[] = [];
  const writes: unknown[] = [];
  const events: { reason: string; note: string }[] = [];
  const clock = { now: new Date(Date.UTC(2026, 11, 7, 9, 0, 0)) };
  const reconcile = pauseStatusReconciler({
    federations: { list: () => [federation] } as unknown as Informer<FederationObject>,
    current,
    pauses: () => pauses,
    chainPause: () => undefined,
    applier: {
      applyStatus: (object: { status: FederationStatus }) => {
        writes.push(object.status);
        // What the API server keeps: the applied fields, and of a map-typed list, the other entries.
        const kept = (federation.status?.conditions ?? []).filter(
          (c) => !object.status.conditions?.some((n) => n.type === c.type),
        );
        const conditions = options.atomicConditions
          ? object.status.conditions
          : [...kept, ...(object.status.conditions ?? [])];
        federation.status = { ...object.status, ...(conditions?.length ? { conditions } : {}) };
        return Promise.resolve({ ...object, status: federation.status });
      },
    } as unknown as Applier,
    events: {
      event: (_: unknown, e: { reason: string; note: string }) => events.push(e),
    } as unknown as EventRecorder,
    now: () => clock.now,
  });
  return { reconcile: () => reconcile("dsc", {} as never), pauses, writes, events, federation, clock };
}

/** The Federation controller's condition: the other writer's. */
const ready = {
  type: "Ready",
  status: "True" as const,
  reason: "Ready",
  message: "",
  lastTransitionTime: "2026-12-07T08:00:00Z",
};

const notPaused = (at = "2026-12-07T09:00:00Z") => ({
  type: "Paused",
  status: "False" as const,
  reason: "NotPaused",
  message: "no guardian pause in force",
  observedGeneration: 1,
  lastTransitionTime: at,
});

describe("the Federation's status.guardian and Paused condition", () => {
  it("shows a pause once, with an Event, and is not written again while nothing changes", async () => {
    const s = setup();
    await s.reconcile();
    expect(s.writes).toEqual([
      { guardian: { paused: false, action: "ScaleToZero", pauses: [] }, conditions: [notPaused()] },
    ]);
    expect(s.events).toEqual([]);

    s.clock.now = new Date(Date.UTC(2026, 11, 7, 9, 5, 0));
    s.pauses.push(pause);
    await s.reconcile();
    expect(s.writes).toHaveLength(2);
    expect(s.writes[1]).toEqual({
      guardian: {
        paused: true,
        action: "ScaleToZero",
        pauses: [
          {
            token: pause.token,
            source: "agent",
            by: pause.by,
            dsp: pause.dsp,
            severity: "critical",
            evidence: pause.evidence,
            reason: pause.reason,
            since: "2026-12-06T10:00:00Z",
            acceptedIn: ["gamma", "alpha"],
          },
        ],
      },
      // The condition rides in the same write, so `kubectl wait --for=condition=Paused` and
      // status.guardian never disagree.
      conditions: [
        {
          type: "Paused",
          status: "True",
          reason: "BreachReported",
          message: `1 pause(s) in force; first by ${pause.by} (DSP ${pause.dsp}) in gamma: settlement invariant broken (evidence ${pause.evidence}, token ${pause.token}). Only a critical-tier resume manifest lifts it.`,
          observedGeneration: 1,
          lastTransitionTime: "2026-12-07T09:05:00Z",
        },
      ],
    });
    expect(s.events.map((e) => e.reason)).toEqual(["GuardianPaused"]);
    expect(s.events[0]?.note).toContain("in gamma: settlement invariant broken");

    // Later, nothing new: no write, and the transition time stays when it happened.
    s.clock.now = new Date(Date.UTC(2026, 11, 7, 9, 9, 0));
    await s.reconcile();
    expect(s.writes).toHaveLength(2);

    s.pauses.length = 0;
    await s.reconcile();
    expect(s.writes).toHaveLength(3);
    expect((s.writes[2] as FederationStatus).conditions).toEqual([notPaused("2026-12-07T09:09:00Z")]);
    expect(s.events.map((e) => e.reason)).toEqual(["GuardianPaused", "GuardianResumed"]);
  });

  it("writes a second pause, and a stale cache, without a second Event", async () => {
    const s = setup();
    s.pauses.push(pause);
    await s.reconcile();
    const shownFirst = s.federation.status as FederationStatus;
    s.pauses.push({ ...pause, token: `0x${"ef".repeat(32)}`, regions: ["beta"] });
    await s.reconcile();
    expect(s.writes).toHaveLength(2);
    expect((s.writes[1] as FederationStatus).guardian?.pauses).toHaveLength(2);
    // The cache still shows the first write (its watch event is late): written again, no Event.
    s.federation.status = shownFirst;
    await s.reconcile();
    expect(s.writes).toHaveLength(3);
    expect(s.events.map((e) => e.reason)).toEqual(["GuardianPaused"]);
  });

  it("takes the API server's key order for no change", async () => {
    const s = setup({
      status: {
        conditions: [
          notPaused("2026-12-07T08:00:00Z"),
          // The Federation controller's: neither compared nor written here.
          {
            type: "Ready",
            status: "True",
            reason: "Ready",
            message: "",
            lastTransitionTime: "2026-12-07T08:00:00Z",
          },
        ],
        guardian: { pauses: [], action: "ScaleToZero", paused: false },
      },
    });
    await s.reconcile();
    expect(s.writes).toEqual([]);
  });

  it("puts back a status.guardian someone else changed", async () => {
    const s = setup({ status: { guardian: { paused: true, pauses: [] } } });
    await s.reconcile();
    expect(s.writes).toEqual([
      { guardian: { paused: false, action: "ScaleToZero", pauses: [] }, conditions: [notPaused()] },
    ]);
    expect(s.events.map((e) => e.reason)).toEqual(["GuardianResumed"]);
  });

  it("puts back a Paused condition someone else changed, keeping when it last moved", async () => {
    const s = setup({
      status: {
        guardian: { paused: false, action: "ScaleToZero", pauses: [] },
        conditions: [{ ...notPaused("2026-12-07T08:00:00Z"), message: "edited by hand" }],
      },
    });
    await s.reconcile();
    expect(s.writes).toEqual([
      {
        guardian: { paused: false, action: "ScaleToZero", pauses: [] },
        conditions: [notPaused("2026-12-07T08:00:00Z")],
      },
    ]);
  });

  it("releases the field when the Federation no longer has spec.guardian, and then writes nothing", async () => {
    const s = setup({ guardian: false, status: { guardian: { paused: true, pauses: [] } } });
    s.pauses.push(pause);
    await s.reconcile();
    expect(s.writes).toEqual([{}]);
    await s.reconcile();
    expect(s.writes).toEqual([{}]);
    expect(s.events).toEqual([]);
  });

  it("writes nothing for a Federation this operator does not serve", async () => {
    const s = setup({ name: "another" });
    s.pauses.push(pause);
    await s.reconcile();
    expect(s.writes).toEqual([]);
  });

  it("leaves the other writer's conditions where they are", async () => {
    const s = setup({ status: { conditions: [ready] } });
    await s.reconcile();
    expect(s.federation.status?.conditions?.map((c) => c.type)).toEqual(["Ready", "Paused"]);
    expect(s.events).toEqual([]);
  });

  it("stops writing the condition, says so, and still shows the pause, on a CRD that owns the list whole", async () => {
    const s = setup({ status: { conditions: [ready] }, atomicConditions: true });
    await s.reconcile();
    expect(s.events.map((e) => e.reason)).toEqual(["CRDOutOfDate"]);
    expect(s.events[0]?.note).toContain("kubectl apply --server-side -f charts/dsc-operator/crds/");
    // The Federation controller puts its conditions back; from then on this writer leaves the list alone.
    s.federation.status = { ...s.federation.status, conditions: [ready] };
    s.pauses.push(pause);
    await s.reconcile();
    expect(s.writes).toHaveLength(2);
    expect(s.writes[1]).not.toHaveProperty("conditions");
    expect((s.writes[1] as FederationStatus).guardian?.paused).toBe(true);
    await s.reconcile();
    expect(s.writes).toHaveLength(2);
    expect(s.events.map((e) => e.reason)).toEqual(["CRDOutOfDate", "GuardianPaused"]);
  });

  it("without spec.guardian, releases once what it wrote and then leaves what others wrote", async () => {
    const s = setup({
      guardian: false,
      status: { conditions: [{ ...notPaused(), message: "written by someone else" }] },
    });
    await s.reconcile();
    expect(s.writes).toEqual([{}]);
    // Another manager's condition stays; it is not this controller's to write away again.
    s.federation.status = { conditions: [{ ...notPaused(), message: "written by someone else" }] };
    await s.reconcile();
    expect(s.writes).toEqual([{}]);
  });
});
