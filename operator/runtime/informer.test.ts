import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../kube/client.ts";
import type { KubeList, KubeObject } from "../kube/object.ts";
import { Informer, type EventHandler } from "./informer.ts";
import { objectKey, ownerKeys, parseKey } from "./keys.ts";
import { captureLogger, configMap, FakeWatch, settle } from "../../e2e/support/runtime.ts";

type Obj = KubeObject;

// Records handler calls as "add ns/a@1", "update ns/a@1->2", "delete ns/a".
function recorder(): { handler: EventHandler<Obj>; events: string[] } {
  const events: string[] = [];
  const at = (o: Obj): string => `${objectKey(o)}@${o.metadata?.resourceVersion ?? ""}`;
  return {
    events,
    handler: {
      add: (o) => events.push(`add ${at(o)}`),
      update: (a, b) => events.push(`update ${at(a)}->${b.metadata?.resourceVersion ?? ""}`),
      delete: (o) => events.push(`delete ${objectKey(o)}`),
    },
  };
}

function setup(options: { relistIntervalMs?: number } = {}) {
  const watch = new FakeWatch();
  const { logger, lines } = captureLogger();
  let items: Obj[] = [];
  let listError: Error | undefined;
  let lists = 0;
  const informer = new Informer<Obj>({
    path: "/api/v1/namespaces/ns/configmaps",
    labelSelector: "app=x",
    logger,
    watch,
    relistIntervalMs: options.relistIntervalMs ?? 0,
    list: (): Promise<KubeList<Obj>> => {
      lists++;
      if (listError) return Promise.reject(listError);
      return Promise.resolve({ metadata: { resourceVersion: String(lists * 100) }, items: [...items] });
    },
  });
  return {
    watch,
    informer,
    lines,
    lists: () => lists,
    setItems: (next: Obj[]) => (items = next),
    failLists: (err: Error | undefined) => (listError = err),
  };
}

describe("Informer", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("lists, then follows the watch: cache and handlers see adds, updates and deletes", async () => {
    const t = setup();
    const r = recorder();
    t.informer.addHandler(r.handler);
    t.setItems([configMap("a", "1"), configMap("b", "2")]);
    expect(t.informer.hasSynced()).toBe(false);
    t.informer.start();
    await t.informer.waitForSync();
    await settle(); // the watch starts right after the list
    expect(t.informer.hasSynced()).toBe(true);
    expect(t.watch.last().params).toMatchObject({ resourceVersion: "100", labelSelector: "app=x" });

    t.watch.last().send("ADDED", configMap("c", "3"));
    t.watch.last().send("MODIFIED", configMap("a", "4", { data: { k: "v" } }));
    t.watch.last().send("DELETED", configMap("b", "5"));
    expect(r.events).toEqual(["add ns/a@1", "add ns/b@2", "add ns/c@3", "update ns/a@1->4", "delete ns/b"]);
    expect(t.informer.get("ns", "a")).toMatchObject({ data: { k: "v" } });
    expect(t.informer.get("ns", "b")).toBeUndefined();
    expect(t.informer.list().map(objectKey).sort()).toEqual(["ns/a", "ns/c"]);
    expect(t.informer.list("other")).toEqual([]);
    await t.informer.stop();
  });

  it("metadata only, with the watch whole: hands each change whole, caches its metadata, and still lists metadata only", async () => {
    const watch = new FakeWatch();
    const { logger } = captureLogger();
    const whole: Obj[] = [];
    const informer = new Informer<Obj>({
      path: "/api/v1/namespaces/ns/configmaps",
      logger,
      watch,
      relistIntervalMs: 0,
      metadataOnly: true,
      whole: (o) => whole.push(o),
      list: () => Promise.resolve({ metadata: { resourceVersion: "100" }, items: [] }),
    });
    informer.start();
    await informer.waitForSync();
    await settle();
    // The watch asks for whole objects (no PartialObjectMetadata Accept header).
    expect(watch.last().accept).toBeUndefined();
    watch.last().send("ADDED", configMap("a", "1", { data: { k: "v" } }));
    watch.last().send("MODIFIED", configMap("a", "2", { data: { k: "w" } }));
    watch
      .last()
      .send("BOOKMARK", { kind: "ConfigMap", apiVersion: "v1", metadata: { resourceVersion: "3" } });
    watch.last().send("DELETED", configMap("a", "4"));
    expect(whole.map((o) => (o as { data?: unknown }).data)).toEqual([{ k: "v" }, { k: "w" }]);
    watch.last().send("ADDED", configMap("b", "5", { data: { k: "x" } }));
    // The cache holds what a metadata-only list holds: no data.
    expect(informer.get("ns", "b")).toEqual({
      apiVersion: "meta.k8s.io/v1",
      kind: "PartialObjectMetadata",
      metadata: expect.objectContaining({ name: "b", resourceVersion: "5" }) as unknown,
    });
    await informer.stop();
    // Without `whole`, a metadata-only informer watches metadata only.
    const plain = new Informer<Obj>({
      path: "/api/v1/namespaces/ns/configmaps",
      logger,
      watch,
      relistIntervalMs: 0,
      metadataOnly: true,
      list: () => Promise.resolve({ metadata: { resourceVersion: "100" }, items: [] }),
    });
    plain.start();
    await plain.waitForSync();
    await settle();
    expect(watch.last().accept).toContain("PartialObjectMetadata");
    await plain.stop();
  });

  it("restarts after the watch breaks, and reports exactly what changed while it was down", async () => {
    vi.useFakeTimers();
    const t = setup();
    const r = recorder();
    t.setItems([configMap("keep", "1"), configMap("change", "2"), configMap("gone", "3")]);
    t.informer.addHandler(r.handler);
    t.informer.start();
    await t.informer.waitForSync();
    await settle(); // the watch starts right after the list
    r.events.length = 0;
    const broken = t.watch.last();

    // While the connection is down: one object changes, one is deleted, one is created.
    t.setItems([configMap("keep", "1"), configMap("change", "7"), configMap("new", "8")]);
    broken.end(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    await settle();
    expect(t.lists()).toBe(1); // no restart before the backoff
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.lists()).toBe(2);
    expect(r.events.sort()).toEqual(["add ns/new@8", "delete ns/gone", "update ns/change@2->7"]);
    expect(t.lines.some((l) => l.msg === "list or watch failed; restarting" && l.retryInMs === 1000)).toBe(
      true,
    );

    // Events the dead watch still delivers are ignored.
    broken.send("DELETED", configMap("keep", "9"));
    expect(t.informer.get("ns", "keep")).toBeDefined();
    t.watch.last().send("DELETED", configMap("keep", "9"));
    expect(t.informer.get("ns", "keep")).toBeUndefined();
    await t.informer.stop();
  });

  it("resumes a watch the server ended from the last version seen (bookmarks too), without a list", async () => {
    vi.useFakeTimers();
    const t = setup();
    t.setItems([configMap("a", "1")]);
    t.informer.start();
    await t.informer.waitForSync();
    await settle();
    expect(t.watch.last().params).toMatchObject({ resourceVersion: "100", allowWatchBookmarks: "true" });
    t.watch.last().send("MODIFIED", configMap("a", "120"));
    t.watch.last().send("BOOKMARK", { metadata: { resourceVersion: "150" } });
    await vi.advanceTimersByTimeAsync(5000);
    t.watch.last().end(); // the server's timeoutSeconds
    expect(t.watch.calls).toHaveLength(2);
    expect(t.watch.last().params).toMatchObject({ resourceVersion: "150", labelSelector: "app=x" });
    expect(t.lists()).toBe(1);
    expect(t.informer.get("ns", "a")?.metadata?.resourceVersion).toBe("120");
    await t.informer.stop();
  });

  it("re-lists at once when the watch's version expired (410 Gone), as an ERROR event or a status", async () => {
    vi.useFakeTimers();
    const t = setup();
    const r = recorder();
    t.informer.addHandler(r.handler);
    t.setItems([configMap("a", "1")]);
    t.informer.start();
    await t.informer.waitForSync();
    await settle();
    t.setItems([configMap("a", "1"), configMap("b", "2")]);
    t.watch.last().send("ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old" });
    await settle();
    expect(t.lists()).toBe(2); // no backoff
    expect(t.watch.calls[0]?.aborted()).toBe(true);
    await settle();
    t.watch.last().end(new ApiError(410, { reason: "Gone" }));
    await settle();
    expect(t.lists()).toBe(3);
    expect(r.events).toEqual(["add ns/a@1", "add ns/b@2"]);
    // Any other ERROR event is a failure: backoff, then a list.
    await settle();
    t.watch.last().send("ERROR", { kind: "Status", code: 500, message: "internal error" });
    await settle();
    expect(t.lists()).toBe(3);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.lists()).toBe(4);
    await t.informer.stop();
  });

  it("backs off between failed restarts and syncs once the API answers again", async () => {
    vi.useFakeTimers();
    const t = setup();
    t.failLists(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    t.setItems([configMap("a", "1")]);
    t.informer.start();
    let synced = false;
    void t.informer.waitForSync().then(() => (synced = true));
    await settle();
    expect(t.lists()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(t.lists()).toBe(1);
    await vi.advanceTimersByTimeAsync(1); // 1 s after the first failure
    expect(t.lists()).toBe(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(t.lists()).toBe(2);
    await vi.advanceTimersByTimeAsync(1); // then 2 s
    expect(t.lists()).toBe(3);
    t.failLists(undefined);
    await vi.advanceTimersByTimeAsync(4000); // then 4 s
    expect(t.lists()).toBe(4);
    expect(synced).toBe(true);
    expect(t.informer.get("ns", "a")).toBeDefined();
    await t.informer.stop();
  });

  it("re-lists on its watchdog timer and catches a delete that a stalled watch never delivered", async () => {
    vi.useFakeTimers();
    const t = setup({ relistIntervalMs: 60_000 });
    const r = recorder();
    t.setItems([configMap("a", "1"), configMap("b", "2")]);
    t.informer.addHandler(r.handler);
    t.informer.start();
    await t.informer.waitForSync();
    await settle(); // the watch starts right after the list
    r.events.length = 0;
    const stalled = t.watch.last();
    t.setItems([configMap("a", "1")]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.lists()).toBe(2);
    expect(stalled.aborted()).toBe(true); // the stalled watch was dropped
    expect(t.watch.calls).toHaveLength(2);
    expect(r.events).toEqual(["delete ns/b"]); // and "a", unchanged, caused no event
    await t.informer.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.lists()).toBe(2); // stopped means stopped
  });

  it("replays the cache to a late handler and isolates a handler that throws", async () => {
    const t = setup();
    t.setItems([configMap("a", "1")]);
    t.informer.start();
    await t.informer.waitForSync();
    await settle(); // the watch starts right after the list
    t.informer.addHandler({
      add: () => {
        throw new Error("handler bug");
      },
    });
    const r = recorder();
    const remove = t.informer.addHandler(r.handler);
    expect(r.events).toEqual(["add ns/a@1"]);
    t.watch.last().send("ADDED", configMap("b", "2"));
    expect(r.events).toEqual(["add ns/a@1", "add ns/b@2"]);
    expect(t.lines.filter((l) => l.msg === "informer event handler threw")).toHaveLength(2);
    remove();
    t.watch.last().send("ADDED", configMap("c", "3"));
    expect(r.events).toHaveLength(2);
    await t.informer.stop();
  });

  it("rejects waitForSync when stopped before the first list", async () => {
    const t = setup();
    t.failLists(new Error("forbidden"));
    t.informer.start();
    const sync = t.informer.waitForSync();
    await t.informer.stop();
    await expect(sync).rejects.toThrow(/stopped/);
  });
});

describe("keys", () => {
  it("names namespaced and cluster-scoped objects as client-go does, and parses them back", () => {
    expect(objectKey(configMap("a", "1"))).toBe("ns/a");
    expect(objectKey({ metadata: { name: "node-1" } })).toBe("node-1");
    expect(parseKey("ns/a")).toEqual({ namespace: "ns", name: "a" });
    expect(parseKey("node-1")).toEqual({ namespace: undefined, name: "node-1" });
    expect(() => objectKey({ kind: "ConfigMap", metadata: {} })).toThrow(/metadata.name/);
  });

  it("maps an owned object to its controlling owner of the given group and kind only", () => {
    const owned = configMap("child", "1", {
      ownerReferences: [
        {
          apiVersion: "dsc.federation.dev/v1alpha1",
          kind: "Service",
          name: "mine",
          uid: "1",
          controller: true,
        },
        { apiVersion: "v1", kind: "Service", name: "core-service", uid: "2", controller: true },
        { apiVersion: "dsc.federation.dev/v1", kind: "Service", name: "not-controller", uid: "3" },
      ],
    });
    expect(ownerKeys({ group: "dsc.federation.dev", kind: "Service" })(owned)).toEqual(["ns/mine"]);
    expect(ownerKeys({ group: "dsc.federation.dev", kind: "Service", onlyController: false })(owned)).toEqual(
      ["ns/mine", "ns/not-controller"],
    );
    expect(ownerKeys({ group: "", kind: "Service", clusterScoped: true })(owned)).toEqual(["core-service"]);
    expect(ownerKeys({ group: "dsc.federation.dev", kind: "Other" })(owned)).toEqual([]);
  });
});
