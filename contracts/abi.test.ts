// The operator trusts the committed ABI modules; these tests fail the moment a
// contract changes without `node contracts/generate-abi.ts` being rerun.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { renderAbiFiles } from "./abi-files.ts";
import { compileContracts, type CompiledContracts } from "./compile.ts";

let fresh: CompiledContracts;

beforeAll(async () => {
  fresh = await compileContracts({ cache: false });
}, 120_000);

describe("generated ABI modules", () => {
  it("match a fresh compile of the contracts exactly", async () => {
    for (const { path, text } of await renderAbiFiles(fresh)) {
      expect(readFileSync(path, "utf8"), `${relative(process.cwd(), path)} is stale`).toBe(text);
    }
  });

  it("come from the same build the cache serves to the test bed", async () => {
    expect(await compileContracts()).toEqual(fresh);
  });
});
