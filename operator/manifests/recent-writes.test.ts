import { describe, expect, it } from "vitest";
import type { ConsortiumManifestObject } from "../api/v1alpha1/objects.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import type { Informer } from "../runtime/informer.ts";
import { RecentWrites } from "./recent-writes.ts";
import { manifestReader } from "./setup.ts";

const manifest = (name: string, resourceVersion: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "dsc.federation.dev/v1alpha1",
  kind: "ConsortiumManifest",
  metadata: { name, namespace: "apps", resourceVersion },
  spec: { nonce: 1 },
  ...extra,
});

describe("the manifests this process wrote last", () => {
  it("answers only for the exact version written, and with a copy", () => {
    const recent = new RecentWrites();
    recent.remember(manifest("web", "41"));
    expect(recent.get("apps", "web", "41")?.metadata?.resourceVersion).toBe("41");
    // Another version (a newer write by anyone, or an older one the informer still shows) is read from the server.
    expect(recent.get("apps", "web", "42")).toBeUndefined();
    expect(recent.get("apps", "web", "40")).toBeUndefined();
    expect(recent.get("apps", "web", undefined)).toBeUndefined();
    expect(recent.get("other", "web", "41")).toBeUndefined();
    // A reader that changes what it got changes nothing kept.
    const first = recent.get("apps", "web", "41") as { spec: { nonce: number } };
    first.spec.nonce = 99;
    expect((recent.get("apps", "web", "41") as { spec: { nonce: number } }).spec.nonce).toBe(1);
    // The last write wins.
    recent.remember(manifest("web", "45"));
    expect(recent.get("apps", "web", "41")).toBeUndefined();
    expect(recent.get("apps", "web", "45")).toBeDefined();
  });

  it("keeps manifests only: the appliers also write the objects manifests hold", () => {
    const recent = new RecentWrites();
    recent.remember({ ...manifest("web", "7"), kind: "ConfigMap" });
    // An approved manifest's object of the same kind in another group is not ours.
    recent.remember({ ...manifest("web", "7"), apiVersion: "example.com/v1" });
    recent.remember({ kind: "ConsortiumManifest", metadata: { name: "web", namespace: "apps" } });
    recent.remember(undefined);
    recent.remember("not an object");
    expect(recent.get("apps", "web", "7")).toBeUndefined();
  });

  it("stays bounded: the oldest writes go first, and a large manifest is not kept", () => {
    const recent = new RecentWrites(3);
    for (let i = 0; i < 5; i++) recent.remember(manifest(`m-${String(i)}`, String(i)));
    expect([0, 1, 2, 3, 4].map((i) => recent.get("apps", `m-${String(i)}`, String(i)) !== undefined)).toEqual(
      [false, false, true, true, true],
    );
    // Written again, an entry is the newest.
    recent.remember(manifest("m-2", "20"));
    recent.remember(manifest("m-5", "5"));
    expect(recent.get("apps", "m-2", "20")).toBeDefined();
    expect(recent.get("apps", "m-3", "3")).toBeUndefined();
    // Over 256 KiB: read from the server; an older version kept of it is dropped too.
    recent.remember(manifest("m-5", "6", { spec: { blob: "x".repeat(300 * 1024) } }));
    expect(recent.get("apps", "m-5", "6")).toBeUndefined();
    expect(recent.get("apps", "m-5", "5")).toBeUndefined();
  });

  it("forgets a deleted manifest", () => {
    const recent = new RecentWrites();
    recent.remember(manifest("web", "9"));
    recent.forget("apps", "web");
    expect(recent.get("apps", "web", "9")).toBeUndefined();
  });
});

/** A reader over an informer showing `shown` (name -> resourceVersion) and a server counting its GETs. */
function reader(shown: ReadonlyMap<string, string>) {
  const cache = {
    get: (_namespace: string, name: string) => {
      const resourceVersion = shown.get(name);
      return resourceVersion ? { metadata: { name, resourceVersion } } : undefined;
    },
  } as unknown as Informer<ConsortiumManifestObject>;
  const gets: string[] = [];
  const api = {
    readRaw: (header: { metadata: { name: string } }) => {
      gets.push(header.metadata.name);
      return Promise.resolve(manifest(header.metadata.name, shown.get(header.metadata.name) ?? ""));
    },
  } as unknown as ObjectApi;
  const recent = new RecentWrites();
  return { gets, recent, read: manifestReader(cache, api, recent) };
}

describe("reading a manifest whole", () => {
  it("takes the version the informer shows from this process's last write, and GETs any other", async () => {
    const shown = new Map<string, string>([["web", "41"]]);
    const { gets, recent, read } = reader(shown);
    recent.remember(manifest("web", "41"));
    expect((await read("apps", "web"))?.metadata?.resourceVersion).toBe("41");
    expect(gets).toEqual([]);
    // Someone else wrote since: the informer shows another version, read from the server.
    shown.set("web", "42");
    expect((await read("apps", "web"))?.metadata?.resourceVersion).toBe("42");
    expect(gets).toEqual(["web"]);
    // Gone from the cache: nothing, and nothing kept for the name.
    recent.remember(manifest("web", "43"));
    shown.delete("web");
    expect(await read("apps", "web")).toBeUndefined();
    shown.set("web", "43");
    await read("apps", "web");
    expect(gets).toEqual(["web", "web"]);
  });

  it("waits for a write of its own in flight instead of reading the server, and reads it when the write fails", async () => {
    const shown = new Map<string, string>();
    const { gets, recent, read } = reader(shown);
    const answer = (): {
      promise: Promise<unknown>;
      resolve: (o: unknown) => void;
      reject: (e: Error) => void;
    } => {
      let resolve!: (o: unknown) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej)));
      return { promise, resolve, reject };
    };
    // The watch shows the write (version 7) before its answer is back.
    const first = answer();
    recent.track(manifest("web", ""), first.promise);
    shown.set("web", "7");
    const reading = read("apps", "web");
    first.resolve(manifest("web", "7"));
    expect((await reading)?.metadata?.resourceVersion).toBe("7");
    expect(gets).toEqual([]);
    // A write that fails leaves the reader to the server.
    const second = answer();
    recent.track(manifest("web", ""), second.promise);
    shown.set("web", "8");
    const again = read("apps", "web");
    second.reject(new Error("409 conflict"));
    expect((await again)?.metadata?.resourceVersion).toBe("8");
    expect(gets).toEqual(["web"]);
    // Only manifests are tracked; and a write that never answers is waited for a bounded time.
    recent.track({ ...manifest("web", ""), kind: "ConfigMap" }, new Promise(() => undefined));
    const quick = performance.now();
    await recent.settled("apps", "web", 10_000); // nothing of this manifest in flight: at once
    expect(performance.now() - quick).toBeLessThan(1_000);
    recent.track(manifest("hung", ""), new Promise(() => undefined));
    const started = performance.now();
    await recent.settled("apps", "hung", 20);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
