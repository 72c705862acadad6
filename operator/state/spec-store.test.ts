import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestOf, specJson } from "../../e2e/support/state-fixtures.ts";
import { StateInputError } from "./model.ts";
import { SpecStore } from "./spec-store.ts";
import { StateStore } from "./store.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "dsc-specs-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("spec store", () => {
  it("reads a spec's targets and expiry, and keeps only the specs it is told to", async () => {
    const store = await SpecStore.open(dir);
    const [a, b, c] = ["a", "b", "c"].map(digestOf) as [string, string, string];
    await store.put(a, specJson("ns/a", 1));
    await store.put(b, specJson("ns/b", 1));
    await store.put(c, "{}");
    expect(await store.facts(a)).toEqual({
      targets: ["alpha", "beta", "gamma"],
      expiresAt: Date.parse("2099-01-01T00:00:00Z"),
    });
    expect(await store.facts(c)).toBeUndefined();
    expect(await store.facts(digestOf("none"))).toBeUndefined();

    expect(await store.retain(new Set([a]))).toBe(2);
    expect([store.has(a), store.has(b), store.has(c), await store.get(b)]).toEqual([
      true,
      false,
      false,
      undefined,
    ]);
    expect((await SpecStore.open(dir)).size).toBe(1);
  });

  it("keeps an older state's specs unchecked and unread, drops them with the rest, and tidies a crash's leftover", async () => {
    const store = await SpecStore.open(dir);
    const [a, b, c] = ["a", "b", "c"].map(digestOf) as [string, string, string];
    for (const d of [a, b, c]) await store.putUnchecked(d, specJson(`ns/${d}`, 1));
    expect([store.has(a), await store.get(a), store.size]).toEqual([false, undefined, 0]);
    expect(await store.retain(new Set([a, b]))).toBe(1); // c: collected unchecked
    expect(store.uncheckedDigests().sort()).toEqual([a, b].sort());

    await store.put(a, specJson(`ns/${a}`, 1)); // checked: readable, no longer unchecked
    expect([store.has(a), store.holdsUnchecked(a)]).toEqual([true, false]);
    // A crash between storing a checked spec and dropping its unchecked copy leaves both.
    await writeFile(join(dir, "unchecked", `${b}.json`), "{}");
    await writeFile(join(dir, `${b}.json`), "{}");
    const reopened = await SpecStore.open(dir);
    expect(reopened.uncheckedDigests()).toEqual([]);
    expect(await readdir(join(dir, "unchecked"))).toEqual([]);
  });

  it("keeps a spec by digest across a reopen, and has none for an unknown digest", async () => {
    const json = specJson("ns/a", 1);
    const digest = digestOf("a");
    const first = await SpecStore.open(dir);
    expect(first.has(digest)).toBe(false);
    expect(await first.get(digest)).toBeUndefined();
    await first.put(digest.toUpperCase().replace("0X", "0x"), json);
    expect(first.has(digest)).toBe(true);

    const again = await SpecStore.open(dir);
    expect(again.size).toBe(1);
    expect(await again.get(digest)).toBe(json);
    expect(await again.get(digestOf("b"))).toBeUndefined();
  });

  it("does not overwrite a stored spec (a digest names one spec)", async () => {
    const store = await SpecStore.open(dir);
    const digest = digestOf("a");
    await store.put(digest, "{}");
    await store.put(digest, '{"other":true}');
    expect(await store.get(digest)).toBe("{}");
  });

  it("refuses a name that is not a digest, so nothing outside the directory is written", async () => {
    const store = await SpecStore.open(dir);
    await expect(store.put("../../etc/passwd", "{}")).rejects.toBeInstanceOf(StateInputError);
    await expect(store.put(`${digestOf("a")}/x`, "{}")).rejects.toBeInstanceOf(StateInputError);
    expect(await readdir(dir)).toEqual(["FORMAT"]);
  });

  it("drops a temp file a crash left behind, and does not count it", async () => {
    await writeFile(join(dir, `${digestOf("a")}.json.tmp`), "{");
    const store = await SpecStore.open(dir);
    expect(store.size).toBe(0);
    expect(await readdir(dir)).toEqual(["FORMAT"]);
  });

  it("is opened with the state store, in its directory", async () => {
    const { store, specs } = await StateStore.open(dir);
    await specs.put(digestOf("a"), "{}");
    await store.close();
    const again = await StateStore.open(dir);
    expect(again.specs.has(digestOf("a"))).toBe(true);
    await again.store.close();
  });
});
