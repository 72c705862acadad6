import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { testDir } from "../../e2e/support/temp-dir.ts";
import { pauseRecord } from "../../e2e/support/state-fixtures.ts";
import type { PauseRecord } from "./model.ts";
import { pause } from "../../e2e/support/transitions.ts";
import { createState, freshActor } from "./document.ts";
import { ledgerSeed, PauseLedger } from "./pause-ledger.ts";
import { batch } from "./transitions.ts";

const record = (token: string, region = "alpha"): PauseRecord => pauseRecord(token, region);
const empty = () => ({ pauses: [], lifted: [] });
const dir = () => testDir("dsc-ledger-");

describe("the pause ledger", () => {
  it("remembers the pauses it saw and the tokens it lifted, across a restart", async () => {
    const d = await dir();
    const ledger = await PauseLedger.open(d, empty);
    await ledger.remember([record("t1"), record("t2"), record("t1", "beta")]);
    await ledger.lift(["t1"], "dsc-system/resume-1", 5000);
    const again = await PauseLedger.open(d, () => {
      throw new Error("an existing ledger is never seeded again");
    });
    expect(
      again
        .records()
        .map((p) => `${p.token} ${p.region}`)
        .sort(),
    ).toEqual(["t1 alpha", "t1 beta", "t2 alpha"]);
    expect(again.isLifted("t1")).toBe(true);
    expect(again.isLifted("t2")).toBe(false);
  });

  it("starts from the seed when the state has no ledger yet (an upgrade), and writes it", async () => {
    const d = await dir();
    const ledger = await PauseLedger.open(d, () => ({
      pauses: [record("t3")],
      lifted: [{ token: "t0", manifest: "dsc-system/old-resume", at: 0 }],
    }));
    expect(ledger.isLifted("t0")).toBe(true);
    const onDisk = JSON.parse(await readFile(join(d, "pauses.json"), "utf8")) as { schema: number };
    expect(onDisk.schema).toBe(1);
  });

  it("refuses a damaged file with a reason that names it and the fix, rather than forget a pause", async () => {
    const d = await dir();
    await writeFile(join(d, "pauses.json"), "{not json");
    await expect(PauseLedger.open(d, empty)).rejects.toThrow(/pauses\.json: not JSON; restore it/);
    await writeFile(
      join(d, "pauses.json"),
      JSON.stringify({ schema: 1, pauses: [{ token: "a b" }], lifted: [] }),
    );
    await expect(PauseLedger.open(d, empty)).rejects.toThrow();
    await writeFile(join(d, "pauses.json"), JSON.stringify({ schema: 9, pauses: [], lifted: [] }));
    await expect(PauseLedger.open(d, empty)).rejects.toThrow(/schema 9 is not 1/);
  });
});

describe("the ledger of a state that has none (an upgrade, or removed by hand)", () => {
  it("remembers every pause in the document and lifts nothing a resume record claims", async () => {
    let doc = createState(freshActor());
    doc = pause(doc, pauseRecord("live", "beta"));
    // A resume record in alpha's name, which any peer could have written.
    doc = batch(doc, (d) =>
      d.resume({ tokens: ["live"], manifest: "dsc-system/rogue", region: "alpha", at: 3 }),
    );
    const ledger = await PauseLedger.open(await dir(), () => ledgerSeed(doc));
    expect(ledger.isLifted("live")).toBe(false);
    expect(ledger.records().map((p) => p.token)).toEqual(["live"]);
  });
});
