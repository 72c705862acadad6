// The controller runtime against a real API server (the test bed's alpha
// region): informers that survive a broken connection, server-side apply of
// built-in kinds and of a custom resource's /status, aggregated Events,
// leader election on a real Lease, and a controller wired through all of it.
import { createServer, connect, type Server, type Socket } from "node:net";
import { ApiextensionsV1Api, CoreV1Api, KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Applier, FIELD_MANAGER } from "../../operator/runtime/apply.ts";
import { setCondition, type Condition } from "../../operator/runtime/conditions.ts";
import { Controller } from "../../operator/runtime/controller.ts";
import { EventRecorder } from "../../operator/runtime/events.ts";
import { Informer, type EventHandler } from "../../operator/runtime/informer.ts";
import { objectKey, ownerKeys, parseKey } from "../../operator/runtime/keys.ts";
import { apiLeaseClient, LeaderElector, type LeaseClient } from "../../operator/runtime/leader.ts";
import { httpStatus } from "../../operator/kube/errors.ts";
import type { KubeObject } from "../../operator/kube/object.ts";
import { ObjectApi } from "../../operator/kube/objects-api.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

/** A ConfigMap as the API server sends it (what informers hold: plain JSON, not client-node's model). */
interface ConfigMapJson extends KubeObject {
  data?: Record<string, string>;
}

const log = pino({ level: process.env.DSC_TEST_LOG ?? "silent" });
const suffix = Date.now().toString(36);
const ns = `rt-${suffix}`;
let testbed: Testbed;
let kc: KubeConfig;
let core: CoreV1Api;
let raw: ObjectApi;

const poll = { timeout: 30_000, interval: 100 };

beforeAll(async () => {
  testbed = await current();
  kc = new KubeConfig();
  kc.loadFromFile(testbed.kubeconfig.alpha);
  core = kc.makeApiClient(CoreV1Api);
  raw = ObjectApi.forConfig(kc);
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

const cm = (name: string, data: Record<string, string>, extra: Partial<V1ConfigMap["metadata"]> = {}) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns, ...extra },
  data,
});

/** A TCP relay to the API server that the test can cut and restore, as a network outage would. */
async function relay(
  target: URL,
): Promise<{ url: string; cut: () => Promise<void>; restore: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server?.listen(port, "127.0.0.1", resolve));
    const address = server.address();
    if (address && typeof address === "object") port = address.port;
  };
  await listen();
  return {
    url: `https://127.0.0.1:${String(port)}`,
    cut: async () => {
      const closed = new Promise<void>((resolve) => {
        server?.close(() => {
          resolve();
        });
      });
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: listen,
  };
}

function throughRelay(url: string): KubeConfig {
  const routed = new KubeConfig();
  routed.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server: url })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return routed;
}

function recorder(): { handler: EventHandler<ConfigMapJson>; events: string[] } {
  const events: string[] = [];
  return {
    events,
    handler: {
      add: (o) => events.push(`add ${o.metadata?.name ?? ""}`),
      update: (_, o) => events.push(`update ${o.metadata?.name ?? ""} ${o.data?.v ?? ""}`),
      delete: (o) => events.push(`delete ${o.metadata?.name ?? ""}`),
    },
  };
}

describe("Informer", () => {
  it("follows creates, updates and deletes, and catches up after the connection breaks", async () => {
    const server = new URL(kc.getCurrentCluster()?.server ?? "");
    const net = await relay(server);
    const informer = new Informer<ConfigMapJson>({
      kubeConfig: throughRelay(net.url),
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: "test=informer",
      logger: log,
      restartBaseDelayMs: 200,
      restartMaxDelayMs: 1000,
    });
    const r = recorder();
    informer.addHandler(r.handler);
    const labels = { test: "informer" };
    await core.createNamespacedConfigMap({ namespace: ns, body: cm("before", { v: "0" }, { labels }) });
    informer.start();
    await informer.waitForSync();
    expect(informer.get(ns, "before")?.data).toEqual({ v: "0" });
    // Plain JSON, as the watch delivers it: one shape for every object in the cache.
    expect(typeof informer.get(ns, "before")?.metadata?.creationTimestamp).toBe("string");

    await core.createNamespacedConfigMap({ namespace: ns, body: cm("a", { v: "1" }, { labels }) });
    await core.replaceNamespacedConfigMap({
      name: "a",
      namespace: ns,
      body: cm("a", { v: "2" }, { labels }),
    });
    await core.createNamespacedConfigMap({ namespace: ns, body: cm("unlabelled", { v: "x" }) });
    await core.deleteNamespacedConfigMap({ name: "before", namespace: ns });
    await vi.waitFor(() => {
      expect(r.events).toEqual(["add before", "add a", "update a 2", "delete before"]);
    }, poll);
    expect(informer.get(ns, "a")?.data).toEqual({ v: "2" });

    // The network goes away; meanwhile the world changes.
    await net.cut();
    r.events.length = 0;
    await core.createNamespacedConfigMap({ namespace: ns, body: cm("during", { v: "3" }, { labels }) });
    await core.replaceNamespacedConfigMap({
      name: "a",
      namespace: ns,
      body: cm("a", { v: "4" }, { labels }),
    });
    await new Promise((resolve) => setTimeout(resolve, 1500)); // several failed restarts
    expect(r.events).toEqual([]);
    await core.deleteNamespacedConfigMap({ name: "during", namespace: ns }).catch(() => undefined);
    await core.createNamespacedConfigMap({ namespace: ns, body: cm("after", { v: "5" }, { labels }) });
    await net.restore();
    await vi.waitFor(() => {
      expect(informer.get(ns, "after")).toBeDefined();
      expect(informer.get(ns, "a")?.data).toEqual({ v: "4" });
    }, poll);
    expect(informer.get(ns, "during")).toBeUndefined(); // created and deleted while away: never seen
    expect(r.events.sort()).toEqual(["add after", "update a 4"]);
    expect(informer.list().map(objectKey).sort()).toEqual([`${ns}/a`, `${ns}/after`]);

    // And the restarted watch is live.
    await core.deleteNamespacedConfigMap({ name: "a", namespace: ns });
    await vi.waitFor(() => {
      expect(informer.get(ns, "a")).toBeUndefined();
    }, poll);
    await informer.stop();
  });

  it("re-lists on demand (the watchdog's path) without repeating events for unchanged objects", async () => {
    const informer = new Informer<ConfigMapJson>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: "test=relist",
      logger: log,
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: cm("r1", { v: "1" }, { labels: { test: "relist" } }),
    });
    const r = recorder();
    informer.addHandler(r.handler);
    informer.start();
    await informer.waitForSync();
    informer.relist();
    informer.relist();
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: cm("r2", { v: "2" }, { labels: { test: "relist" } }),
    });
    await vi.waitFor(() => {
      expect(r.events).toEqual(["add r1", "add r2"]);
    }, poll);
    await informer.stop();
  });

  it("caches metadata only when asked, through list and watch alike, and still sees every change", async () => {
    const informer = new Informer<ConfigMapJson>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: "test=metadata",
      logger: log,
      metadataOnly: true,
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: cm("m1", { v: "1" }, { labels: { test: "metadata" } }),
    });
    const r = recorder();
    informer.addHandler(r.handler);
    informer.start();
    await informer.waitForSync();
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: cm("m2", { v: "2" }, { labels: { test: "metadata" } }),
    });
    await core.patchNamespacedConfigMap({
      name: "m1",
      namespace: ns,
      body: [{ op: "replace", path: "/data/v", value: "3" }],
    });
    await core.deleteNamespacedConfigMap({ name: "m2", namespace: ns });
    // No data (metadata only), so updates show no value.
    await vi.waitFor(() => {
      expect(r.events).toEqual(["add m1", "add m2", "update m1 ", "delete m2"]);
    }, poll);
    const cached = informer.get(ns, "m1");
    expect(cached?.kind).toBe("PartialObjectMetadata");
    expect(cached?.data).toBeUndefined();
    expect(cached?.metadata?.labels).toEqual({ test: "metadata" });
    expect(cached?.metadata?.managedFields).toBeUndefined();
    await informer.stop();
    // An empty metadata list says `items: null`; the informer still syncs.
    const empty = new Informer<ConfigMapJson>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: "test=nothing-has-this",
      logger: log,
      metadataOnly: true,
    });
    empty.start();
    await empty.waitForSync();
    expect(empty.list()).toEqual([]);
    await empty.stop();
  });
});

describe("server-side apply", () => {
  const applier = (): Applier => new Applier(kc);

  it("creates, then updates a ConfigMap as field manager dsc-operator, dropping fields it no longer applies", async () => {
    const created = await applier().apply(cm("applied", { a: "1", b: "2" }));
    expect(created.data).toEqual({ a: "1", b: "2" });
    const updated = await applier().apply(cm("applied", { a: "10" }));
    expect(updated.data).toEqual({ a: "10" });
    const stored = await core.readNamespacedConfigMap({ name: "applied", namespace: ns });
    expect(stored.data).toEqual({ a: "10" });
    const managers = stored.metadata?.managedFields?.map((m) => [m.manager, m.operation]);
    expect(managers).toEqual([[FIELD_MANAGER, "Apply"]]);
  });

  it("refuses to take a field another manager owns unless forced", async () => {
    await new Applier(kc, { fieldManager: "someone-else" }).apply(cm("contested", { owner: "them" }));
    const refused = applier().apply(cm("contested", { owner: "us" }), { force: false });
    await expect(refused).rejects.toSatisfy((err) => httpStatus(err) === 409);
    const forced = await applier().apply(cm("contested", { owner: "us" }));
    expect(forced.data).toEqual({ owner: "us" });
  });

  it("sends fields exactly as written: a NetworkPolicy's `from` survives (client-node's patch drops it)", async () => {
    const policy = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "only-labelled", namespace: ns },
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: { role: "client" } } }] }],
      },
    };
    const stored = await applier().apply(policy);
    expect(stored.spec.ingress).toEqual(policy.spec.ingress);
  });

  it("applies a custom resource and its /status subresource", async () => {
    const group = `rt${suffix}.e2e.dsc.federation.dev`;
    const crdName = `widgets.${group}`;
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: crdName },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    spec: { type: "object", properties: { size: { type: "integer" } } },
                    status: {
                      type: "object",
                      properties: {
                        observedGeneration: { type: "integer" },
                        conditions: {
                          type: "array",
                          items: {
                            type: "object",
                            required: ["type", "status", "reason", "message", "lastTransitionTime"],
                            properties: {
                              type: { type: "string" },
                              status: { type: "string", enum: ["True", "False", "Unknown"] },
                              reason: { type: "string" },
                              message: { type: "string" },
                              observedGeneration: { type: "integer" },
                              lastTransitionTime: { type: "string", format: "date-time" },
                            },
                          },
                        },
                      },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    try {
      await vi.waitFor(async () => {
        const crd = await ext.readCustomResourceDefinition({ name: crdName });
        expect(crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")).toBe(
          true,
        );
      }, poll);
      interface Widget {
        apiVersion: string;
        kind: string;
        metadata: {
          name: string;
          namespace: string;
          generation?: number;
          managedFields?: { manager: string; subresource?: string }[];
        };
        spec?: { size: number };
        status?: { observedGeneration?: number; conditions?: readonly Condition[] };
      }
      const apiVersion = `${group}/v1`;
      const header = { apiVersion, kind: "Widget", metadata: { name: "w", namespace: ns } };
      // Discovery of a brand-new group can trail the Established condition by a moment.
      const widget = await vi.waitFor(() => applier().apply<Widget>({ ...header, spec: { size: 3 } }), poll);
      expect(widget.spec).toEqual({ size: 3 });
      expect(widget.status).toBeUndefined();

      const conditions = setCondition(
        undefined,
        {
          type: "Ready",
          status: "True",
          reason: "Reconciled",
          message: "ok",
          observedGeneration: widget.metadata.generation ?? 0,
        },
        new Date(),
      );
      const withStatus = await applier().applyStatus<Widget>({
        ...header,
        status: { observedGeneration: widget.metadata.generation ?? 0, conditions },
      });
      expect(withStatus.status?.conditions).toEqual(conditions);
      expect(withStatus.spec).toEqual({ size: 3 }); // untouched by the status apply

      const stored = await raw.readRaw<Widget>(header);
      expect(stored.status?.conditions?.[0]?.type).toBe("Ready");
      expect(
        (stored.metadata.managedFields ?? []).map((m) => [m.manager, m.subresource ?? ""]).sort(),
      ).toEqual([
        [FIELD_MANAGER, ""],
        [FIELD_MANAGER, "status"],
      ]);
      // Status is not writable through the main resource: an apply there changes nothing in it.
      await applier().apply<Widget>({ ...header, spec: { size: 4 }, status: { observedGeneration: 99 } });
      const after = await raw.readRaw<Widget>(header);
      expect(after.spec).toEqual({ size: 4 });
      expect(after.status?.observedGeneration).toBe(widget.metadata.generation);
    } finally {
      await ext.deleteCustomResourceDefinition({ name: crdName });
    }
  });
});

describe("EventRecorder", () => {
  it("folds repeats into one events.k8s.io/v1 Event with a series count", async () => {
    const subject = await core.createNamespacedConfigMap({ namespace: ns, body: cm("noisy", {}) });
    const events = new EventRecorder({
      kubeConfig: kc,
      logger: log,
      reportingInstance: "e2e-0",
      seriesFlushMs: 200,
    });
    for (let i = 0; i < 4; i++) {
      events.event(subject, { type: "Warning", reason: "ReconcileFailed", note: "Safe API unreachable" });
    }
    events.event(subject, { type: "Normal", reason: "Reconciled", note: "all good" });
    await events.flush();
    interface EventJson extends KubeObject {
      reason: string;
      note: string;
      type: string;
      reportingController: string;
      reportingInstance: string;
      regarding: { kind: string; name: string; uid: string };
      series?: { count: number; lastObservedTime: string };
    }
    const all = await raw.list<EventJson>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
    const about = all.items.filter((e) => e.regarding.name === "noisy");
    expect(about.map((e) => [e.reason, e.series?.count]).sort()).toEqual([
      ["ReconcileFailed", 4],
      ["Reconciled", undefined],
    ]);
    expect(about[0]).toMatchObject({
      reportingController: "dsc.federation.dev/operator",
      reportingInstance: "e2e-0",
      regarding: { kind: "ConfigMap", uid: subject.metadata?.uid },
    });
    expect(about.find((e) => e.series)?.series?.lastObservedTime).toMatch(/\.\d{6}Z$/);
  });
});

describe("LeaderElector", () => {
  const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

  // A Lease client that can be cut off, as a partitioned replica would be.
  function cuttable(): { client: LeaseClient; cut: () => void } {
    const real = apiLeaseClient(kc);
    let cut = false;
    const guard = <T>(f: () => Promise<T>): Promise<T> =>
      cut ? Promise.reject(new Error("partitioned")) : f();
    return {
      client: {
        get: (n, name) => guard(() => real.get(n, name)),
        create: (l) => guard(() => real.create(l)),
        replace: (l) => guard(() => real.replace(l)),
      },
      cut: () => (cut = true),
    };
  }

  function candidate(identity: string, lease: string, client?: LeaseClient) {
    const log: string[] = [];
    const elector = new LeaderElector({
      namespace: ns,
      name: lease,
      identity,
      logger: pino({ level: "silent" }),
      ...(client ? { client } : { kubeConfig: kc }),
      ...timings,
      onStartedLeading: () => log.push("started"),
      onStoppedLeading: () => log.push("stopped"),
    });
    return { elector, log };
  }

  const holder = async (name: string): Promise<string | undefined> =>
    (await apiLeaseClient(kc).get(ns, name))?.spec?.holderIdentity;

  it("lets exactly one of two candidates lead, and the other take over when it stops", async () => {
    const a = candidate("a", "handover");
    const b = candidate("b", "handover");
    a.elector.start();
    await vi.waitFor(() => {
      expect(a.elector.isLeader()).toBe(true);
    }, poll);
    b.elector.start();
    await new Promise((resolve) => setTimeout(resolve, 2000)); // several of b's retries
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    expect(await holder("handover")).toBe("a");

    await a.elector.stop();
    expect(a.log).toEqual(["started", "stopped"]);
    await vi.waitFor(() => {
      expect(b.elector.isLeader()).toBe(true);
    }, poll);
    expect(await holder("handover")).toBe("b");
    const stored = await apiLeaseClient(kc).get(ns, "handover");
    expect(stored?.spec?.leaseTransitions).toBe(1);
    await b.elector.stop();
    expect(await holder("handover")).toBeUndefined(); // released
  });

  it("moves leadership away from a leader cut off from the API server", async () => {
    const partition = cuttable();
    const a = candidate("a", "partition", partition.client);
    const b = candidate("b", "partition");
    a.elector.start();
    await vi.waitFor(() => {
      expect(a.elector.isLeader()).toBe(true);
    }, poll);
    b.elector.start();
    partition.cut();
    await vi.waitFor(() => {
      expect(b.elector.isLeader()).toBe(true);
    }, poll);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toEqual(["started", "stopped"]);
    expect(await holder("partition")).toBe("b");
    await Promise.all([a.elector.stop(), b.elector.stop()]);
  });
});

describe("Controller", () => {
  it("keeps a derived ConfigMap in line with its source, through informers, owner mapping and apply", async () => {
    const registry = new Registry();
    const applier = new Applier(kc);
    const informer = new Informer<ConfigMapJson>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: "test=controller",
      logger: log,
    });
    const controller = new Controller({
      name: "mirror",
      logger: log,
      registry,
      workers: 2,
      reconcile: async (key) => {
        const { namespace, name } = parseKey(key);
        const source = informer.get(namespace, name);
        if (!source || name.endsWith("-copy")) return {};
        await applier.apply(
          cm(`${name}-copy`, source.data ?? {}, {
            labels: { test: "controller" },
            ownerReferences: [
              {
                apiVersion: "v1",
                kind: "ConfigMap",
                name,
                uid: source.metadata?.uid ?? "",
                controller: true,
              },
            ],
          }),
        );
        return {};
      },
    });
    controller.watch(informer).watch(informer, ownerKeys({ group: "", kind: "ConfigMap" }));
    informer.start();
    await controller.start();
    const labels = { test: "controller" };
    await core.createNamespacedConfigMap({ namespace: ns, body: cm("src", { v: "1" }, { labels }) });
    const copy = async (): Promise<V1ConfigMap | undefined> =>
      core.readNamespacedConfigMap({ name: "src-copy", namespace: ns }).catch((err: unknown) => {
        if (httpStatus(err) === 404) return undefined;
        throw err;
      });
    await vi.waitFor(async () => {
      expect((await copy())?.data).toEqual({ v: "1" });
    }, poll);
    await core.replaceNamespacedConfigMap({
      name: "src",
      namespace: ns,
      body: cm("src", { v: "2" }, { labels }),
    });
    await vi.waitFor(async () => {
      expect((await copy())?.data).toEqual({ v: "2" });
    }, poll);
    // Someone deletes the copy: its owner is reconciled and it comes back.
    await core.deleteNamespacedConfigMap({ name: "src-copy", namespace: ns });
    await vi.waitFor(async () => {
      expect((await copy())?.data).toEqual({ v: "2" });
    }, poll);
    const text = await registry.metrics();
    expect(text).toMatch(/controller_runtime_reconcile_total\{controller="mirror",result="success"\} [1-9]/);
    expect(text).toMatch(/workqueue_adds_total\{name="mirror"\} [1-9]/);
    await controller.stop();
    await informer.stop();
  });
});
