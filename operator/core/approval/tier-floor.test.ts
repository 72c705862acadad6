import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TIERS } from "../../api/v1alpha1/fields.ts";
import { manifestFloor, objectFloor, tierRank } from "./tier-floor.ts";

const ctx = { operatorNamespace: "dsc-system", manifestNamespace: "apps" };
const obj = (apiVersion: string, kind: string, name: string, namespace?: string) => ({
  apiVersion,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
});

describe("the tier an object needs", () => {
  it("is critical for RBAC, admission, CRDs, the federation's own objects, and the operator's and Kubernetes' namespaces", () => {
    const critical = [
      obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "pwn"),
      obj("rbac.authorization.k8s.io/v1", "RoleBinding", "r", "apps"),
      obj("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "dsc"),
      obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "x.example.com"),
      obj("dsc.federation.dev/v1alpha1", "Federation", "dsc"),
      obj("v1", "Secret", "chain-rpc", "dsc-system"),
      obj("apps/v1", "StatefulSet", "dsc-operator", "dsc-system"),
      obj("v1", "Namespace", "dsc-system"),
      obj("v1", "ConfigMap", "coredns", "kube-system"),
    ];
    for (const o of critical)
      expect(objectFloor(o, ctx).tier, `${o.kind} ${o.metadata.name}`).toBe("critical");
    expect(objectFloor(critical[0] ?? {}, ctx)).toEqual({
      tier: "critical",
      object: "ClusterRoleBinding pwn",
      why: "RBAC decides who may do what",
    });
  });

  it("is at least upgrade for workloads, Namespaces, anything cluster-scoped and kinds it does not know", () => {
    const upgrade = [
      obj("apps/v1", "Deployment", "web", "apps"),
      obj("batch/v1", "CronJob", "c", "apps"),
      obj("v1", "Pod", "p", "apps"),
      obj("v1", "ServiceAccount", "sa", "apps"),
      obj("networking.k8s.io/v1", "NetworkPolicy", "np", "apps"),
      obj("v1", "Namespace", "apps"),
      obj("storage.k8s.io/v1", "StorageClass", "fast", "apps"),
      obj("example.com/v1", "Widget", "w", "apps"),
    ];
    for (const o of upgrade) expect(objectFloor(o, ctx).tier, o.kind).toBe("upgrade");
  });

  it("is operational for plain configuration, and judges an object without a namespace where it lands", () => {
    expect(objectFloor(obj("v1", "ConfigMap", "c", "apps"), ctx).tier).toBe("operational");
    expect(objectFloor(obj("v1", "ConfigMap", "c"), ctx)).toMatchObject({
      tier: "operational",
      object: "ConfigMap apps/c",
    });
    // A ConfigMap with no namespace in a manifest that lives in the operator's namespace lands there.
    expect(objectFloor(obj("v1", "ConfigMap", "c"), { ...ctx, manifestNamespace: "dsc-system" }).tier).toBe(
      "critical",
    );
    // A cluster-scoped kind has no namespace, whatever it says.
    expect(objectFloor(obj("v1", "Namespace", "apps", "dsc-system"), ctx).tier).toBe("upgrade");
  });

  it("of a manifest is the highest of its objects, naming the first that reaches it", () => {
    expect(manifestFloor([], ctx)).toBeUndefined();
    const floor = manifestFloor(
      [
        obj("v1", "ConfigMap", "c", "apps"),
        obj("apps/v1", "Deployment", "web", "apps"),
        obj("rbac.authorization.k8s.io/v1", "Role", "r", "apps"),
        obj("rbac.authorization.k8s.io/v1", "Role", "r2", "apps"),
      ],
      ctx,
    );
    expect(floor).toMatchObject({ tier: "critical", object: "Role apps/r" });
  });

  it("never falls below upgrade for hostile input, and never throws", () => {
    fc.assert(
      fc.property(
        fc.record({
          apiVersion: fc.oneof(fc.string(), fc.constant(42), fc.constant(undefined)),
          kind: fc.oneof(
            fc.string(),
            fc.constantFrom("ConfigMap", "Secret", "Deployment"),
            fc.constant(null),
          ),
          metadata: fc.option(fc.record({ name: fc.anything(), namespace: fc.anything() }), {
            nil: undefined,
          }),
        }),
        (o) => {
          const floor = objectFloor(o, ctx);
          expect(TIERS).toContain(floor.tier);
          if (floor.tier === "operational") expect(["ConfigMap", "Secret"]).toContain(o.kind);
        },
      ),
    );
    expect(tierRank("critical")).toBeGreaterThan(tierRank("upgrade"));
  });
});
