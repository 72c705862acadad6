import { describe, expect, it } from "vitest";
import type { FederationStatus } from "../api/v1alpha1/federation.ts";
import { withoutPauseFields } from "./status-owners.ts";
import { settledText } from "./volatile.ts";

const chain = {
  block: 120,
  readAt: "2026-12-06T10:00:00Z",
  consortiumOwners: ["0x00000000000000000000000000000000000000a1"],
  consortiumThreshold: 1,
  boardOwners: [],
  boardThreshold: 1,
};
const peer = {
  region: "beta",
  connected: true,
  lastHeard: "2026-12-06T10:00:00Z",
  rttMilliseconds: 2,
  changesPending: 0,
};
const document = { bytes: 1000, manifests: 4, epoch: 1 };
const anchor = { region: "alpha", size: 8, at: "2026-12-06T09:59:00Z", state: "Anchored" as const };
const log = {
  origin: "dsc.example/alpha",
  vkey: "k",
  size: 10,
  root: "r1",
  cosignedBy: [{ region: "beta", size: 10, at: "2026-12-06T10:00:00Z" }],
  anchored: [anchor],
};
const ready = {
  type: "Ready",
  status: "True" as const,
  reason: "ChainReadable",
  message: "ok",
  lastTransitionTime: "2026-12-06T09:00:00Z",
  observedGeneration: 3,
};
const status: FederationStatus = {
  observedGeneration: 3,
  chain,
  peers: [peer],
  document,
  log,
  conditions: [ready],
};

describe("what of a Federation's status only moves", () => {
  it("sees no change in the order of keys, nor in fields that only move", () => {
    // The API server returns keys sorted; the reconciler builds them in its own order.
    const reordered = JSON.parse(
      JSON.stringify(status, (_k, v: unknown) =>
        v !== null && typeof v === "object" && !Array.isArray(v)
          ? Object.fromEntries(Object.entries(v).reverse())
          : v,
      ),
    ) as FederationStatus;
    expect(settledText(reordered)).toBe(settledText(status));
    const moved: FederationStatus = {
      ...status,
      chain: { ...chain, block: 121, readAt: "2026-12-06T10:00:05Z" },
      peers: [{ ...peer, lastHeard: "2026-12-06T10:00:05Z", rttMilliseconds: 3, changesPending: 2 }],
      document: { ...document, bytes: 1200, manifests: 5 },
      log: {
        ...log,
        size: 12,
        root: "r2",
        cosignedBy: [{ region: "beta", size: 12, at: "2026-12-06T10:00:05Z" }],
        anchored: [{ ...anchor, size: 12, at: "2026-12-06T10:00:05Z" }],
      },
    };
    expect(settledText(moved)).toBe(settledText(status));
  });

  it("sees every change that something happened", () => {
    const changed: FederationStatus[] = [
      { ...status, observedGeneration: 4 },
      { ...status, conditions: [{ ...ready, status: "False", reason: "ChainUnavailable" }] },
      { ...status, peers: [{ ...peer, connected: false }] },
      { ...status, peers: [] },
      { ...status, chain: { ...chain, consortiumThreshold: 2 } },
      { ...status, document: { ...document, epoch: 2 } },
      { ...status, log: { ...log, anchored: [{ ...anchor, state: "Invalid" }] } },
      { ...status, log: { ...log, witnessed: [{ region: "gamma", size: 1, at: "2026-12-06T10:00:00Z" }] } },
    ];
    for (const next of changed) expect(settledText(next)).not.toBe(settledText(status));
    expect(settledText(undefined)).not.toBe(settledText(status));
  });

  it("leaves out status.guardian, which another controller writes under its own field manager", () => {
    expect(settledText({ ...status, guardian: { paused: true, pauses: [] } })).toBe(settledText(status));
  });
});

describe("what of a Federation's status the Federation controller leaves to the pause-status controller", () => {
  it("neither compares nor applies status.guardian and the Paused condition", () => {
    const paused = { ...ready, type: "Paused", status: "True" as const, reason: "BreachReported" };
    const shown: FederationStatus = {
      ...status,
      guardian: { paused: true, pauses: [] },
      conditions: [ready, paused],
    };
    // What the cluster shows, with the other writer's fields, is no change from what this one builds.
    expect(settledText(shown)).toBe(settledText(status));
    const applied = withoutPauseFields(shown);
    expect(applied.conditions).toEqual([ready]);
    expect("guardian" in applied).toBe(false);
    // The object it was taken from is left as it was.
    expect(shown.conditions).toEqual([ready, paused]);
  });
});
