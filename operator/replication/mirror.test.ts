// The mirror against a hostile version record: a peer writes a well-formed
// record that names a digest this region holds under a nonce that is not the
// spec's. It must neither freeze the mirror on the version in place nor roll
// it back to an older one.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { testDir } from "../../e2e/support/temp-dir.ts";
import type { ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import type { ConsortiumManifestObject } from "../api/v1alpha1/objects.ts";
import type { Applier } from "../runtime/apply.ts";
import { createState, freshActor, type StateDoc } from "../state/document.ts";
import { SpecStore } from "../state/spec-store.ts";
import { batch } from "../state/transitions.ts";
import { specJson } from "./manifest-records.ts";
import { mirrorReconciler } from "./mirror.ts";
import type { SpecExchange } from "./spec-exchange.ts";

const digestOfNonce = (nonce: number): string => `0x${nonce.toString(16).padStart(64, "0")}`;
const spec = (nonce: number): ConsortiumManifestSpec => ({
  tier: "operational",
  targets: ["alpha"],
  nonce,
  expiresAt: "2999-01-01T00:00:00Z",
  proposal: { agent: "0x0000000000000000000000000000000000000001", signature: "0x" },
  objects: [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c", namespace: "ns" },
      data: { n: String(nonce) },
    },
  ],
});

async function mirrorOf(doc: StateDoc, local: number, told: string[] = [], verifies = true) {
  const specs = await SpecStore.open(await testDir("dsc-mirror-"));
  for (const n of [1, 2]) await specs.put(digestOfNonce(n), specJson(spec(n)));
  const written: ConsortiumManifestSpec[] = [];
  const reconcile = mirrorReconciler({
    state: { doc, change: () => Promise.resolve(), onChange: () => () => undefined },
    specs,
    exchange: { need: () => undefined } as unknown as SpecExchange,
    read: () =>
      Promise.resolve({
        metadata: { name: "web", namespace: "ns" },
        spec: spec(local),
      } as ConsortiumManifestObject),
    applier: {
      apply: (o: { kind?: string; spec?: ConsortiumManifestSpec }) => {
        if (o.kind === "ConsortiumManifest" && o.spec) written.push(o.spec);
        return Promise.resolve(o);
      },
    } as unknown as Applier,
    verified: () => Promise.resolve(verifies),
    verifiedVersion: (namespace, name, s) => {
      // Told before the write, so the apply's reads start beside it.
      told.push(`${namespace}/${name} ${String(s.nonce)} after ${String(written.length)} writes`);
    },
    digestOf: (_ns, _name, s) => digestOfNonce(s.nonce),
    ready: () => true,
  });
  await reconcile("ns/web", { log: pino({ level: "silent" }), signal: new AbortController().signal });
  return written;
}

const submit = (doc: StateDoc, nonce: number, digest: string, region = "beta") =>
  batch(doc, (d) => d.submit({ id: "ns/web", nonce, digest, region, submittedAt: 1 }));

describe("the mirror, with a version record a peer forged", () => {
  it("is not frozen on the version in place by a record naming its digest under a higher nonce", async () => {
    let doc = submit(createState(freshActor()), 1, digestOfNonce(1));
    doc = submit(doc, 2, digestOfNonce(2));
    doc = submit(doc, 999_999, digestOfNonce(1), "gamma"); // the forgery
    expect((await mirrorOf(doc, 1)).map((s) => s.nonce)).toEqual([2]);
  });

  it("does not roll a region back to an older version a record names under a higher nonce", async () => {
    let doc = submit(createState(freshActor()), 1, digestOfNonce(1));
    doc = submit(doc, 2, digestOfNonce(2));
    doc = submit(doc, 999_999, digestOfNonce(1), "gamma");
    expect(await mirrorOf(doc, 2)).toEqual([]);
  });
});

describe("the mirror, as a version it verified is written", () => {
  it("tells of it before the write, and of nothing it did not verify", async () => {
    let doc = submit(createState(freshActor()), 1, digestOfNonce(1));
    doc = submit(doc, 2, digestOfNonce(2));
    const told: string[] = [];
    expect((await mirrorOf(doc, 1, told)).map((s) => s.nonce)).toEqual([2]);
    expect(told).toEqual(["ns/web 2 after 0 writes"]);
    const none: string[] = [];
    expect(await mirrorOf(doc, 1, none, false)).toEqual([]);
    expect(none).toEqual([]);
  });
});
