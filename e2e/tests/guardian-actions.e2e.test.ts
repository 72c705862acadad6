// The guardian's pause actions against a real API server (the test bed's gamma
// region), as the operator runs them: under its own identity, with the
// admission policy that keeps everyone else off managed objects in place.
// Managed objects are made the way the manifest controller makes them
// (decorated, server-side applied by "dsc-operator" with force); the
// guardian scales them to zero and back, quarantines their namespaces with
// deny-all policies and lifts them, idempotently and from half-done states.
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  admissionPolicy,
  OWNERSHIP_POLICY_NAME,
  POLICY_NAME,
  SCALE_POLICY_NAME,
} from "../../operator/admission/policy.ts";
import { ScaleGuard } from "../../operator/admission/scale-guard.ts";
import {
  DENY_ALL_POLICY,
  enforcePause,
  GUARDIAN_FIELD_MANAGER,
  GUARDIAN_LABEL,
  liftPause,
  PAUSED_REPLICAS_ANNOTATION,
} from "../../operator/guardian/actions.ts";
import { httpStatus } from "../../operator/kube/errors.ts";
import { ObjectApi } from "../../operator/kube/objects-api.ts";
import { decorate, MANAGED_LABEL } from "../../operator/manifests/labels.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { eventually } from "../testbed/eventually.ts";
import { adminConfig, installCrds } from "../testbed/operator.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

const REGION = "gamma";
const log = pino({ level: process.env.DSC_TEST_LOG ?? "silent" });
const run = Date.now().toString(36);
const DIGEST = `0x${"ab".repeat(32)}` as const;

let testbed: Testbed;
/** The operator's identity, the one the admission policy lets write managed objects. */
let api: ObjectApi;
let guardian: Applier;
let operator: Applier;
/** An admin: creates namespaces and unmanaged objects, and is refused on managed ones. */
let admin: ObjectApi;
let adminApplier: Applier;
let installedPolicy = false;
const namespaces: string[] = [];

interface Workload {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    annotations?: Record<string, string>;
    managedFields?: {
      manager?: string;
      operation?: string;
      fieldsV1?: { "f:spec"?: Record<string, unknown> };
    }[];
  };
  spec: { replicas?: number };
  status?: { availableReplicas?: number };
}

async function namespace(label: string): Promise<string> {
  const name = `guardian-${label}-${run}`;
  namespaces.push(name);
  await adminApplier.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  return name;
}

function deployment(ns: string, name: string, replicas: number): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }] },
      },
    },
  };
}

function statefulSet(ns: string, name: string, replicas: number): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }] },
      },
    },
  };
}

/** As the manifest controller applies an object: decorated, SSA by "dsc-operator" with force. */
function managed(object: Record<string, unknown>, ns: string, namespaced = true): Record<string, unknown> {
  return decorate(object, { namespace: ns, name: "guardian-test" }, DIGEST, 1, namespaced);
}
const applyManaged = (object: Record<string, unknown>, ns: string, namespaced = true): Promise<unknown> =>
  operator.apply(managed(object, ns, namespaced));

const read = (kind: string, ns: string, name: string): Promise<Workload> =>
  api.readRaw<Workload>({ apiVersion: "apps/v1", kind, metadata: { name, namespace: ns } });

async function replicasOf(
  kind: string,
  ns: string,
  name: string,
): Promise<[number | undefined, string | undefined]> {
  const w = await read(kind, ns, name);
  return [w.spec.replicas, w.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION]];
}

const refOf = (kind: string, ns: string, name: string) => ({
  apiVersion: "apps/v1",
  kind,
  namespace: ns,
  name,
});

async function policyIn(ns: string): Promise<Record<string, unknown> | undefined> {
  try {
    return await api.readRaw({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: DENY_ALL_POLICY, namespace: ns },
    });
  } catch (error) {
    if (httpStatus(error) === 404) return undefined;
    throw error;
  }
}

/** A crash between the record and the scale-down, or a lift killed before it removed the record. */
const recordOnly = (kind: string, ns: string, name: string, count: string): Promise<unknown> =>
  api.patchRaw(
    { apiVersion: "apps/v1", kind, metadata: { name, namespace: ns } },
    "application/merge-patch+json",
    { metadata: { annotations: { [PAUSED_REPLICAS_ANNOTATION]: count } } },
    { fieldManager: GUARDIAN_FIELD_MANAGER },
  );

beforeAll(async () => {
  testbed = await current();
  // Before any client reads the API's discovery: the ownership test writes a ConsortiumManifest.
  await installCrds(testbed, REGION);
  const kc = new KubeConfig();
  kc.loadFromFile(join(testbed.layout.regionDir(REGION), "dsc-operator.kubeconfig"));
  api = ObjectApi.forConfig(kc);
  guardian = new Applier(kc, { fieldManager: GUARDIAN_FIELD_MANAGER });
  operator = new Applier(kc);
  const adminKc = adminConfig(testbed, REGION);
  admin = ObjectApi.forConfig(adminKc);
  adminApplier = new Applier(adminKc, { fieldManager: "dsp-admin" });
  // The policies the operator installs at start, naming its own identity.
  for (const name of [POLICY_NAME, OWNERSHIP_POLICY_NAME, SCALE_POLICY_NAME]) {
    try {
      await api.readRaw({
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicy",
        metadata: { name },
      });
    } catch (error) {
      if (httpStatus(error) !== 404) throw error;
      installedPolicy = true;
    }
  }
  if (installedPolicy)
    for (const object of admissionPolicy("dsc-operator")) await operator.apply(object as never);
});

afterAll(async () => {
  // Leave no pause behind in a shared test bed, whatever failed.
  await liftPause(api, guardian, log).catch(() => undefined);
  await Promise.all(
    namespaces.map((name) =>
      admin.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name } }).catch(() => undefined),
    ),
  );
  if (installedPolicy) {
    for (const name of [POLICY_NAME, OWNERSHIP_POLICY_NAME, SCALE_POLICY_NAME])
      for (const kind of ["ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"]) {
        await api
          .delete({ apiVersion: "admissionregistration.k8s.io/v1", kind, metadata: { name } })
          .catch(() => undefined);
      }
  }
});

describe("ScaleToZero", () => {
  it("records and zeroes managed workloads only, twice without losing the record, and lift restores exactly", async () => {
    const ns = await namespace("scale");
    await applyManaged(deployment(ns, "web", 3), ns);
    await applyManaged(statefulSet(ns, "db", 2), ns);
    await adminApplier.apply(deployment(ns, "other", 2));

    // The admission policy is in force: an admin may not touch a managed workload (dry run, so nothing changes).
    await eventually("the admission policy to refuse an admin's write to a managed Deployment", async () => {
      try {
        await admin.patchRaw(
          { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: ns } },
          "application/merge-patch+json",
          { spec: { replicas: 1 } },
          { dryRun: "All" },
        );
        return false;
      } catch (error) {
        return httpStatus(error) === 403;
      }
    });
    await eventually(
      "the Deployment's pods to run",
      async () => (await read("Deployment", ns, "web")).status?.availableReplicas === 3,
    );

    const first = await enforcePause(api, guardian, "ScaleToZero", log);
    expect(first.changed).toBe(true);
    expect(first.scaled).toEqual(
      expect.arrayContaining([refOf("Deployment", ns, "web"), refOf("StatefulSet", ns, "db")]),
    );
    expect(first.scaled).not.toContainEqual(refOf("Deployment", ns, "other"));
    expect(await replicasOf("Deployment", ns, "web")).toEqual([0, "3"]);
    expect(await replicasOf("StatefulSet", ns, "db")).toEqual([0, "2"]);
    expect(await replicasOf("Deployment", ns, "other")).toEqual([2, undefined]);
    // The scale-down is real: the Deployment's pods go.
    await eventually("the paused Deployment's pods to go", async () => {
      const w = await read("Deployment", ns, "web");
      return (w.status?.availableReplicas ?? 0) === 0;
    });

    // Again: nothing to write, and the record still holds the original count, not 0.
    const second = await enforcePause(api, guardian, "ScaleToZero", log);
    expect(second.scaled).toEqual(
      expect.arrayContaining([refOf("Deployment", ns, "web"), refOf("StatefulSet", ns, "db")]),
    );
    expect(await replicasOf("Deployment", ns, "web")).toEqual([0, "3"]);
    expect(await replicasOf("StatefulSet", ns, "db")).toEqual([0, "2"]);

    const lifted = await liftPause(api, guardian, log);
    expect(lifted.changed).toBe(true);
    expect(lifted.restored).toEqual(
      expect.arrayContaining([refOf("Deployment", ns, "web"), refOf("StatefulSet", ns, "db")]),
    );
    expect(await replicasOf("Deployment", ns, "web")).toEqual([3, undefined]);
    expect(await replicasOf("StatefulSet", ns, "db")).toEqual([2, undefined]);
    expect(await replicasOf("Deployment", ns, "other")).toEqual([2, undefined]);
    await eventually(
      "the restored Deployment's pods to run",
      async () => (await read("Deployment", ns, "web")).status?.availableReplicas === 3,
    );

    // Lifting again finds nothing to restore and changes nothing.
    const again = await liftPause(api, guardian, log);
    expect(again.restored).not.toContainEqual(refOf("Deployment", ns, "web"));
    expect(await replicasOf("Deployment", ns, "web")).toEqual([3, undefined]);
    expect(await replicasOf("StatefulSet", ns, "db")).toEqual([2, undefined]);
  });

  it("lift after a crash between the record and the scale-down restores the recorded count", async () => {
    const ns = await namespace("crash");
    await applyManaged(deployment(ns, "web", 3), ns);
    await recordOnly("Deployment", ns, "web", "3");

    const lifted = await liftPause(api, guardian, log);
    expect(lifted.restored).toContainEqual(refOf("Deployment", ns, "web"));
    expect(await replicasOf("Deployment", ns, "web")).toEqual([3, undefined]);
  });

  it("enforce over a record left behind keeps the record, and lift restores it", async () => {
    const ns = await namespace("stale");
    await applyManaged(deployment(ns, "web", 4), ns);
    // A record whose workload was not scaled down (yet): the record is the truth until a lift removes it.
    await recordOnly("Deployment", ns, "web", "4");
    await enforcePause(api, guardian, "ScaleToZero", log);
    expect(await replicasOf("Deployment", ns, "web")).toEqual([0, "4"]);
    await liftPause(api, guardian, log);
    expect(await replicasOf("Deployment", ns, "web")).toEqual([4, undefined]);
  });

  it("after lift, the manifest controller's server-side apply succeeds and owns replicas again", async () => {
    const ns = await namespace("ssa");
    const original = deployment(ns, "web", 3);
    await applyManaged(original, ns);
    await enforcePause(api, guardian, "ScaleToZero", log);
    expect(await replicasOf("Deployment", ns, "web")).toEqual([0, "3"]);
    await liftPause(api, guardian, log);

    // Even without force: the restored value equals the applied one, so there is no conflict.
    await operator.apply(managed(original, ns), { force: false });
    // And as the manifest controller does it, with force.
    await applyManaged(original, ns);
    const live = await read("Deployment", ns, "web");
    expect(live.spec.replicas).toBe(3);
    const applied = live.metadata.managedFields?.find(
      (f) => f.manager === "dsc-operator" && f.operation === "Apply",
    );
    expect(applied?.fieldsV1?.["f:spec"]).toHaveProperty("f:replicas");
    expect(live.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION]).toBeUndefined();

    // A later approved change of replicas goes through as before the pause.
    await applyManaged(deployment(ns, "web", 5), ns);
    expect(await replicasOf("Deployment", ns, "web")).toEqual([5, undefined]);
  });

  it("concurrent enforces record each count once, with or without annotations to guard on", async () => {
    const ns = await namespace("race");
    await applyManaged(deployment(ns, "web", 3), ns);
    // Labelled but not annotated (no controller annotates a StatefulSet): the record is guarded by the
    // resourceVersion instead.
    const bare = statefulSet(ns, "bare", 2);
    await operator.apply({
      ...bare,
      metadata: { name: "bare", namespace: ns, labels: { [MANAGED_LABEL]: "true" } },
    });
    expect((await read("StatefulSet", ns, "bare")).metadata.annotations).toBeUndefined();

    // The losers of each race find the record written and the count at zero, and keep both.
    const summaries = await Promise.all([1, 2, 3].map(() => enforcePause(api, guardian, "ScaleToZero", log)));
    for (const summary of summaries) {
      expect(summary.scaled).toEqual(
        expect.arrayContaining([refOf("Deployment", ns, "web"), refOf("StatefulSet", ns, "bare")]),
      );
    }
    expect(await replicasOf("Deployment", ns, "web")).toEqual([0, "3"]);
    expect(await replicasOf("StatefulSet", ns, "bare")).toEqual([0, "2"]);

    await Promise.all([1, 2].map(() => liftPause(api, guardian, log)));
    expect(await replicasOf("Deployment", ns, "web")).toEqual([3, undefined]);
    expect(await replicasOf("StatefulSet", ns, "bare")).toEqual([2, undefined]);
  });

  it("Freeze touches no workload", async () => {
    const ns = await namespace("freeze");
    await applyManaged(deployment(ns, "web", 2), ns);
    const summary = await enforcePause(api, guardian, "Freeze", log);
    expect(summary).toEqual({ scaled: [], restored: [], policies: [], changed: false });
    expect(await replicasOf("Deployment", ns, "web")).toEqual([2, undefined]);
    expect(await policyIn(ns)).toBeUndefined();
  });
});

describe("DenyAll", () => {
  it("puts a deny-all policy in each namespace holding managed objects of any kind, and lift removes them", async () => {
    const withWorkload = await namespace("deny-wl");
    const withConfigMap = await namespace("deny-cm");
    const unmanaged = await namespace("deny-un");
    const managedNs = `guardian-deny-ns-${run}`;
    namespaces.push(managedNs);
    // A Namespace the operator applied, empty: it is a managed namespace all the same.
    await applyManaged(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: managedNs } },
      managedNs,
      false,
    );
    await applyManaged(deployment(withWorkload, "web", 1), withWorkload);
    await applyManaged(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "settings", namespace: withConfigMap },
        data: { a: "1" },
      },
      withConfigMap,
    );
    await adminApplier.apply(deployment(unmanaged, "other", 1));
    const inScope = [withWorkload, withConfigMap, managedNs];

    const summary = await enforcePause(api, guardian, "DenyAll", log);
    expect(summary.changed).toBe(true);
    expect(summary.policies).toEqual(expect.arrayContaining(inScope.map((ns) => `${ns}/${DENY_ALL_POLICY}`)));
    expect(summary.policies).not.toContain(`${unmanaged}/${DENY_ALL_POLICY}`);
    expect(summary.scaled).toEqual([]);
    for (const ns of inScope) {
      const policy = (await policyIn(ns)) as {
        metadata: { labels?: Record<string, string>; managedFields?: { manager?: string }[] };
        spec: Record<string, unknown>;
      };
      expect(policy.metadata.labels?.[GUARDIAN_LABEL]).toBe("true");
      expect(policy.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
      expect(policy.metadata.managedFields?.map((f) => f.manager)).toEqual([GUARDIAN_FIELD_MANAGER]);
    }
    expect(await policyIn(unmanaged)).toBeUndefined();
    // The workloads themselves are left running.
    expect(await replicasOf("Deployment", withWorkload, "web")).toEqual([1, undefined]);

    // Idempotent: nothing to write the second time.
    const again = await enforcePause(api, guardian, "DenyAll", log);
    expect(again.changed).toBe(false);
    expect(again.policies).toEqual(expect.arrayContaining(inScope.map((ns) => `${ns}/${DENY_ALL_POLICY}`)));

    // Someone opens a hole in a policy (it is not a managed object): the next enforce closes it.
    await adminApplier.apply({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: DENY_ALL_POLICY, namespace: withWorkload },
      spec: { ingress: [{}] },
    });
    expect(((await policyIn(withWorkload)) as { spec: { ingress?: unknown[] } }).spec.ingress).toHaveLength(
      1,
    );
    const closed = await enforcePause(api, guardian, "DenyAll", log);
    expect(closed.changed).toBe(true);
    expect(((await policyIn(withWorkload)) as { spec: Record<string, unknown> }).spec).toEqual({
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
    });

    const lifted = await liftPause(api, guardian, log);
    expect(lifted.policies).toEqual(expect.arrayContaining(inScope.map((ns) => `${ns}/${DENY_ALL_POLICY}`)));
    for (const ns of inScope) expect(await policyIn(ns)).toBeUndefined();
    const liftedAgain = await liftPause(api, guardian, log);
    expect(liftedAgain.policies).toEqual([]);
  });

  it("finds the same namespaced kinds with aggregated and with per-group discovery", async () => {
    const key = (r: { path: string; kind: string }): string => `${r.path} ${r.kind}`;
    const aggregated = (await api.namespacedResources()).map(key).sort();
    const legacy = (await api.namespacedResources({ aggregated: false })).map(key).sort();
    expect(aggregated).toEqual(legacy);
    expect(aggregated).toEqual(
      expect.arrayContaining([
        "/api/v1/configmaps ConfigMap",
        "/apis/apps/v1/deployments Deployment",
        "/apis/networking.k8s.io/v1/networkpolicies NetworkPolicy",
      ]),
    );
    expect(aggregated.some((r) => r.includes("/namespaces ") || r.includes("/scale"))).toBe(false);
  });

  it("leaves excluded namespaces alone", async () => {
    const ns = await namespace("deny-ex");
    await applyManaged(
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: ns }, data: {} },
      ns,
    );
    const summary = await enforcePause(api, guardian, "DenyAll", log, { excludeNamespaces: [ns] });
    expect(summary.policies).not.toContain(`${ns}/${DENY_ALL_POLICY}`);
    expect(await policyIn(ns)).toBeUndefined();
    await liftPause(api, guardian, log);
  });
});

it("lift undoes every action the guardian took, whatever the action is now", async () => {
  const ns = await namespace("switch");
  await applyManaged(deployment(ns, "web", 3), ns);
  await applyManaged(statefulSet(ns, "db", 2), ns);
  // The pause began with ScaleToZero; the configuration then changed to DenyAll, then to Freeze.
  await enforcePause(api, guardian, "ScaleToZero", log);
  await enforcePause(api, guardian, "DenyAll", log);
  await enforcePause(api, guardian, "Freeze", log);
  // Enforcing never loosens a pause: both actions still hold.
  expect(await replicasOf("Deployment", ns, "web")).toEqual([0, "3"]);
  expect(await policyIn(ns)).toBeDefined();

  const lifted = await liftPause(api, guardian, log);
  expect(lifted.restored).toEqual(
    expect.arrayContaining([refOf("Deployment", ns, "web"), refOf("StatefulSet", ns, "db")]),
  );
  expect(lifted.policies).toContain(`${ns}/${DENY_ALL_POLICY}`);
  expect(await replicasOf("Deployment", ns, "web")).toEqual([3, undefined]);
  expect(await replicasOf("StatefulSet", ns, "db")).toEqual([2, undefined]);
  expect(await policyIn(ns)).toBeUndefined();
});

describe("admission", () => {
  /** The status of an admin's dry-run write: 403 when a policy refuses it. */
  const dryRunStatus = async (write: () => Promise<unknown>): Promise<number> => {
    try {
      await write();
      return 200;
    } catch (error) {
      return httpStatus(error) ?? 0;
    }
  };

  it("keeps an admin off a managed object's status subresource", async () => {
    const ns = await namespace("status");
    await applyManaged(deployment(ns, "web", 1), ns);
    const ref = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: ns } };
    await eventually(
      "the admission policy to refuse an admin's write to a managed Deployment's status",
      async () =>
        (await dryRunStatus(() =>
          admin.patchRaw(
            ref,
            "application/merge-patch+json",
            { status: { observedGeneration: 99 } },
            { dryRun: "All" },
            "/status",
          ),
        )) === 403,
    );
  });

  it("keeps an admin from scaling a managed workload, and lets them scale one the operator does not manage", async () => {
    const ns = await namespace("scaling");
    await applyManaged(deployment(ns, "web", 1), ns);
    await adminApplier.apply(deployment(ns, "theirs", 1) as never);
    const guard = new ScaleGuard(operator, api);
    await guard.start("dsc-operator");
    const manifest = `${ns}/web`;
    await guard.record(manifest, [{ apiVersion: "apps/v1", kind: "Deployment", namespace: ns, name: "web" }]);
    const scale = (name: string) => () =>
      admin.patchRaw(
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name, namespace: ns } },
        "application/merge-patch+json",
        { spec: { replicas: 5 } },
        { dryRun: "All" },
        "/scale",
      );
    await eventually(
      "the scale policy to refuse an admin's scale of a managed Deployment",
      async () => (await dryRunStatus(scale("web"))) === 403,
    );
    expect(await dryRunStatus(scale("theirs"))).toBe(200);
    // The operator's own scale (the guardian's ScaleToZero) passes.
    expect(
      await dryRunStatus(() =>
        api.patchRaw(
          { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: ns } },
          "application/merge-patch+json",
          { spec: { replicas: 0 } },
          { dryRun: "All" },
          "/scale",
        ),
      ),
    ).toBe(200);
    // Released when the manifest lets the workload go: a scale by hand passes again.
    await guard.record(manifest, []);
    await eventually(
      "the released Deployment to scale",
      async () => (await dryRunStatus(scale("web"))) === 200,
    );
  });

  it("lets only the operator add an ownerReference or a finalizer to a ConsortiumManifest; an admin may remove one", async () => {
    const ns = await namespace("owners");
    const manifest = {
      apiVersion: "dsc.federation.dev/v1alpha1",
      kind: "ConsortiumManifest",
      metadata: { name: "m", namespace: ns, finalizers: ["dsc.federation.dev/prune"] },
      spec: {
        tier: "operational",
        targets: [REGION],
        nonce: 1,
        expiresAt: "2030-01-01T00:00:00Z",
        objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: ns } }],
        proposal: { agent: "0x0000000000000000000000000000000000000001", signature: "0x00" },
      },
    };
    await operator.apply(manifest as never);
    const ref = {
      apiVersion: manifest.apiVersion,
      kind: manifest.kind,
      metadata: { name: "m", namespace: ns },
    };
    const patch = (body: unknown) => () =>
      admin.patchRaw(ref, "application/merge-patch+json", body, { dryRun: "All" });
    const dangling = {
      metadata: {
        ownerReferences: [
          { apiVersion: "v1", kind: "ConfigMap", name: "gone", uid: "00000000-0000-0000-0000-000000000000" },
        ],
      },
    };
    await eventually(
      "the ownership policy to refuse an admin's ownerReference",
      async () => (await dryRunStatus(patch(dangling))) === 403,
    );
    expect(
      await dryRunStatus(
        patch({ metadata: { finalizers: ["dsc.federation.dev/prune", "example.com/hold"] } }),
      ),
    ).toBe(403);
    // Removing is the safe direction: allowed.
    expect(await dryRunStatus(patch({ metadata: { finalizers: null } }))).toBe(200);
    // Other edits pass.
    expect(await dryRunStatus(patch({ metadata: { labels: { team: "payments" } } }))).toBe(200);
    await api.patchRaw(ref, "application/merge-patch+json", { metadata: { finalizers: null } });
  });
});
