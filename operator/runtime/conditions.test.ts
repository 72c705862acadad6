import { describe, expect, it } from "vitest";
import { applyBody } from "./apply.ts";
import { findCondition, isTrue, setCondition, type Condition } from "./conditions.ts";
import { metaTime, microTime } from "./time.ts";

const t0 = new Date("2026-01-01T10:00:00.123Z");
const t1 = new Date("2026-01-01T11:30:00.456Z");
const ready = {
  type: "Ready",
  status: "True",
  reason: "Synced",
  message: "all good",
  observedGeneration: 3,
} as const;

describe("setCondition", () => {
  it("adds a new condition stamped with the time, in metav1.Time's whole seconds", () => {
    const list = setCondition(undefined, ready, t0);
    expect(list).toEqual([{ ...ready, lastTransitionTime: "2026-01-01T10:00:00Z" }]);
  });

  it("keeps lastTransitionTime while the status stays, and returns the same array when nothing changed", () => {
    const first = setCondition([], ready, t0);
    const again = setCondition(first, ready, t1);
    expect(again).toBe(first);
    const newMessage = setCondition(first, { ...ready, message: "still good", observedGeneration: 4 }, t1);
    expect(newMessage).not.toBe(first);
    expect(findCondition(newMessage, "Ready")).toEqual({
      ...ready,
      message: "still good",
      observedGeneration: 4,
      lastTransitionTime: "2026-01-01T10:00:00Z",
    });
  });

  it("moves lastTransitionTime when the status changes, leaving other conditions and their order alone", () => {
    const other: Condition = {
      type: "Paused",
      status: "False",
      reason: "NotPaused",
      message: "",
      lastTransitionTime: "2025-12-01T00:00:00Z",
    };
    const list = setCondition(
      [setCondition([], ready, t0)[0] as Condition, other],
      { ...ready, status: "False", reason: "Drift" },
      t1,
    );
    expect(list.map((c) => c.type)).toEqual(["Ready", "Paused"]);
    expect(list[0]).toMatchObject({
      status: "False",
      reason: "Drift",
      lastTransitionTime: "2026-01-01T11:30:00Z",
    });
    expect(list[1]).toBe(other);
    expect(isTrue(list, "Ready")).toBe(false);
    expect(isTrue(setCondition(list, ready, t1), "Ready")).toBe(true);
    expect(isTrue(list, "Missing")).toBe(false);
  });

  it("does not mutate its input and keeps only metav1.Condition's fields", () => {
    const input = setCondition([], ready, t0);
    const frozen = JSON.stringify(input);
    const withExtra = { ...ready, status: "Unknown" as const, extra: "x" };
    const next = setCondition(input, withExtra, t1);
    expect(JSON.stringify(input)).toBe(frozen);
    expect(next[0]).not.toHaveProperty("extra");
  });

  it("refuses what the API server would refuse: bad reason, status or type", () => {
    expect(() => setCondition([], { ...ready, reason: "not camel case" }, t0)).toThrow(/reason/);
    expect(() => setCondition([], { ...ready, reason: "" }, t0)).toThrow(/reason/);
    expect(() => setCondition([], { ...ready, status: "Yes" as "True" }, t0)).toThrow(/status/);
    expect(() => setCondition([], { ...ready, type: "has space" }, t0)).toThrow(/type/);
    expect(() => setCondition([], { ...ready, type: "dsc.federation.dev/Approved" }, t0)).not.toThrow();
  });
});

describe("timestamps", () => {
  it("formats metav1.Time with whole seconds and MicroTime with exactly six digits", () => {
    expect(metaTime(t0)).toBe("2026-01-01T10:00:00Z");
    expect(microTime(t0)).toBe("2026-01-01T10:00:00.123000Z");
  });
});

describe("applyBody", () => {
  it("drops managedFields (refused in an apply) and keeps everything else", () => {
    const obj = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "a", labels: { x: "y" }, managedFields: [{ manager: "kubectl" }] },
      data: { k: "v" },
    };
    expect(applyBody(obj)).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "a", labels: { x: "y" } },
      data: { k: "v" },
    });
    expect(obj.metadata.managedFields).toHaveLength(1);
  });
});
