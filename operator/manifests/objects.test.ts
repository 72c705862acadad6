import { describe, expect, it } from "vitest";
import type { ObjectApi } from "../kube/objects-api.ts";
import type { Applier } from "../runtime/apply.ts";
import { applyObjects, LiveReads } from "./objects.ts";
import { MANAGED_LABEL, MANIFEST_ANNOTATION } from "./labels.ts";

const manifest = { namespace: "apps", name: "web" };
const configMap = (name: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name },
  data: { v: "1" },
});

/** An API server holding `live` (name -> metadata), counting reads; a name in `failing` fails once with 500. */
function cluster(live: Record<string, unknown>, failing = new Set<string>()) {
  const reads: string[] = [];
  const written: string[] = [];
  const api = {
    isNamespaced: () => Promise.resolve(true),
    readRaw: (header: { metadata: { name: string; namespace?: string } }) => {
      const { name, namespace } = header.metadata;
      reads.push(`${namespace ?? ""}/${name}`);
      if (failing.delete(name)) return Promise.reject(Object.assign(new Error("boom"), { statusCode: 500 }));
      const found = live[name];
      return found
        ? Promise.resolve({ metadata: found })
        : Promise.reject(Object.assign(new Error("not found"), { statusCode: 404 }));
    },
  } as unknown as ObjectApi;
  const applier = {
    apply: (object: { metadata: { name: string } }, options?: { dryRun?: boolean }) => {
      if (!options?.dryRun) written.push(object.metadata.name);
      return Promise.resolve(object);
    },
  } as unknown as Applier;
  return { api, applier, reads, written };
}

const input = (objects: Record<string, unknown>[]) => ({
  manifest,
  objects,
  digest: "0x01" as const,
  nonce: 1,
  applied: [],
  adopt: false,
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe("the takeover check, with reads started ahead", () => {
  it("uses a read started ahead once, instead of reading again", async () => {
    const { api, applier, reads, written } = cluster({});
    const live = new LiveReads(api);
    live.prefetch(manifest, [configMap("a")]);
    await settle();
    expect(reads).toEqual(["apps/a"]);
    await applyObjects(api, applier, input([configMap("a")]), undefined, live);
    expect(reads).toEqual(["apps/a"]);
    expect(written).toEqual(["a"]);
    // Used once: the next apply reads for itself.
    await applyObjects(api, applier, input([configMap("a")]), undefined, live);
    expect(reads).toEqual(["apps/a", "apps/a"]);
  });

  it("still refuses an object that is not the manifest's, read ahead or not", async () => {
    const { api, applier, written } = cluster({ taken: { labels: {}, annotations: {} } });
    const live = new LiveReads(api);
    live.prefetch(manifest, [configMap("taken")]);
    await settle();
    await expect(applyObjects(api, applier, input([configMap("taken")]), undefined, live)).rejects.toThrow(
      /ConfigMap\/apps\/taken exists and is not this manifest's/,
    );
    const other = cluster({
      mine: { labels: { [MANAGED_LABEL]: "true" }, annotations: { [MANIFEST_ANNOTATION]: "apps/other" } },
    });
    const ahead = new LiveReads(other.api);
    ahead.prefetch(manifest, [configMap("mine")]);
    await settle();
    await expect(
      applyObjects(other.api, other.applier, input([configMap("mine")]), undefined, ahead),
    ).rejects.toThrow(/it belongs to apps\/other/);
    expect([...written, ...other.written]).toEqual([]);
  });

  it("reads again when the read ahead failed or is too old", async () => {
    const { api, applier, reads } = cluster({}, new Set(["a"]));
    let now = 0;
    const live = new LiveReads(api, { now: () => now, maxAgeMs: 1_000 });
    live.prefetch(manifest, [configMap("a"), configMap("b")]);
    await settle();
    now = 500;
    await applyObjects(api, applier, input([configMap("a")]), undefined, live);
    expect(reads.filter((r) => r === "apps/a")).toHaveLength(2);
    now = 1_500;
    await applyObjects(api, applier, input([configMap("b")]), undefined, live);
    expect(reads.filter((r) => r === "apps/b")).toHaveLength(2);
  });

  it("holds a bounded number of reads, and a failed one nobody takes is no unhandled rejection", async () => {
    const { api } = cluster({}, new Set(["x"]));
    const live = new LiveReads(api, { max: 3 });
    live.prefetch(manifest, ["x", "a", "b", "c", "d"].map(configMap));
    await settle();
    expect(live.size).toBe(3);
    expect(live.take({ apiVersion: "v1", kind: "ConfigMap", namespace: "apps", name: "a" })).toBeUndefined();
    expect(live.take({ apiVersion: "v1", kind: "ConfigMap", namespace: "apps", name: "d" })).toBeDefined();
  });

  it("reads nothing ahead for objects the manifest applied before, keeps no data, and drops aged reads", async () => {
    const { api, reads } = cluster({
      secret: { labels: { [MANAGED_LABEL]: "true" }, annotations: { [MANIFEST_ANNOTATION]: "apps/web" } },
    });
    let now = 0;
    const live = new LiveReads(api, { now: () => now, maxAgeMs: 250 });
    live.prefetch(
      manifest,
      [configMap("old"), configMap("secret")],
      [{ apiVersion: "v1", kind: "ConfigMap", namespace: "apps", name: "old" }],
    );
    await settle();
    expect(reads).toEqual(["apps/secret"]);
    const held = await live.take({ apiVersion: "v1", kind: "ConfigMap", namespace: "apps", name: "secret" });
    expect(held).toEqual({
      labels: { [MANAGED_LABEL]: "true" },
      annotations: { [MANIFEST_ANNOTATION]: "apps/web" },
    });
    live.prefetch(manifest, [configMap("a"), configMap("b")]);
    await settle();
    expect(live.size).toBe(2);
    now = 300; // older than 250 ms: dropped at the next call, taken or not
    expect(
      live.take({ apiVersion: "v1", kind: "ConfigMap", namespace: "apps", name: "zzz" }),
    ).toBeUndefined();
    expect(live.size).toBe(0);
  });

  it("refuses to apply when the API server answers a read with no object", async () => {
    const { applier, written } = cluster({});
    const api = {
      isNamespaced: () => Promise.resolve(true),
      readRaw: () => Promise.resolve(undefined),
    } as unknown as ObjectApi;
    await expect(applyObjects(api, applier, input([configMap("a")]))).rejects.toThrow(
      /reading ConfigMap\/apps\/a: the API server answered with no object/,
    );
    expect(written).toEqual([]);
  });
});
