import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Applier } from "../runtime/apply.ts";
import { readAnnotation, ScaleGuard, scaleKeys, scalePolicy } from "./scale-guard.ts";

const deployment = (namespace: string, name: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  namespace,
  name,
});

describe("the scale guard's keys", () => {
  it("name the built-in workloads with a scale subresource, once each, and nothing else", () => {
    expect(
      scaleKeys([
        deployment("apps", "web"),
        deployment("apps", "web"),
        { apiVersion: "apps/v1", kind: "StatefulSet", namespace: "db", name: "pg.main" },
        { apiVersion: "v1", kind: "ReplicationController", namespace: "old", name: "rc" },
        { apiVersion: "v1", kind: "ConfigMap", namespace: "apps", name: "web" },
        { apiVersion: "apps/v1", kind: "DaemonSet", namespace: "apps", name: "agent" },
        { apiVersion: "apps/v1", kind: "Deployment", name: "no-namespace" },
      ]),
    ).toEqual(["deployments.apps.web", "replicationcontrollers.old.rc", "statefulsets.db.pg.main"]);
  });
});

describe("the scale policy", () => {
  it("lists every manifest's workloads once, and remembers whose each is", () => {
    const managed = new Map([
      ["apps/b", ["deployments.apps.web"]],
      ["apps/a", ["deployments.apps.web", "statefulsets.apps.db"]],
    ]);
    const policy = scalePolicy("system:serviceaccount:dsc-system:dsc-operator", managed) as {
      metadata: { annotations: Record<string, string> };
      spec: { validations: { expression: string }[] };
    };
    expect(policy.spec.validations[0]?.expression).toMatch(
      /in \['deployments\.apps\.web', 'statefulsets\.apps\.db'\]\)$/,
    );
    expect(policy.spec.validations[0]?.expression).toContain(
      "request.userInfo.username == 'system:serviceaccount:dsc-system:dsc-operator'",
    );
    const back = readAnnotation(policy.metadata.annotations["dsc.federation.dev/scale-guard"]);
    expect(back).toEqual(managed);
  });

  it("starts empty from an annotation it cannot read, and never throws on one", () => {
    expect(readAnnotation("{")).toEqual(new Map());
    expect(readAnnotation('{"a": [1], "b": ["x"]}')).toEqual(new Map([["b", ["x"]]]));
    fc.assert(
      fc.property(fc.string(), (text) => {
        readAnnotation(text);
      }),
    );
  });
});

describe("the scale guard", () => {
  const fakeApplier = (fail: () => boolean) => {
    const written: string[][] = [];
    const applier = {
      apply: (object: { spec: { validations: { expression: string }[] } }) => {
        if (fail()) return Promise.reject(new Error("apiserver down"));
        const list = /\) in \[([^\]]*)\]\)$/.exec(object.spec.validations[0]?.expression ?? "")?.[1] ?? "";
        written.push(list ? list.split(", ").map((k) => k.slice(1, -1)) : []);
        return Promise.resolve(object);
      },
    } as unknown as Applier;
    return { applier, written };
  };
  const notFound = {
    readRaw: () => Promise.reject(Object.assign(new Error("not found"), { statusCode: 404 })),
  };

  it("writes nothing before it starts, then what was recorded; records made together cost one write", async () => {
    const { applier, written } = fakeApplier(() => false);
    const guard = new ScaleGuard(applier, notFound as never);
    await guard.record("apps/a", [deployment("apps", "a")]);
    expect(written).toEqual([]);
    await guard.start("dsc-operator");
    expect(written).toEqual([["deployments.apps.a"]]);
    await Promise.all([
      guard.record("apps/b", [deployment("apps", "b")]),
      guard.record("apps/c", [deployment("apps", "c")]),
      guard.record("apps/a", []),
    ]);
    expect(written.at(-1)).toEqual(["deployments.apps.b", "deployments.apps.c"]);
    expect(written.length).toBeLessThanOrEqual(3);
    // Unchanged: no write.
    const count = written.length;
    await guard.record("apps/b", [deployment("apps", "b")]);
    expect(written.length).toBe(count);
  });

  it("writes again after a failed write, even when nothing changed since", async () => {
    let failing = true;
    const { applier, written } = fakeApplier(() => failing);
    const guard = new ScaleGuard(applier, notFound as never);
    await expect(guard.start("dsc-operator")).rejects.toThrow(/apiserver down/);
    await expect(guard.record("apps/a", [deployment("apps", "a")])).rejects.toThrow(/apiserver down/);
    failing = false;
    await guard.record("apps/a", [deployment("apps", "a")]);
    expect(written).toEqual([["deployments.apps.a"]]);
  });
});
