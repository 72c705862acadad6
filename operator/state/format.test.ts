import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ed25519Key, noteSigner, noteVerifier } from "../core/tlog/note.ts";
import { diskFiles } from "../tlog/durable.ts";
import { TileLog } from "../tlog/tile-log.ts";
import { checkFormat, directory, FORMAT_FILE, StoreFormatError, type StoreFormat } from "./format.ts";
import { SpecStore } from "./spec-store.ts";
import { StateStore } from "./store.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "dsc-format-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const marker = async (path = dir): Promise<unknown> =>
  JSON.parse(await readFile(join(path, FORMAT_FILE), "utf8")) as unknown;
const format = (version: number, steps?: StoreFormat["steps"]): StoreFormat => ({
  store: "dsc-test",
  version,
  ...(steps && { steps }),
});

describe("a store's format marker", () => {
  it("marks a new store with this release's format (a fresh volume's lost+found is not content)", async () => {
    await mkdir(join(dir, "lost+found"));
    expect(await checkFormat(directory(dir), format(3), dir)).toBe(3);
    expect(await marker()).toEqual({ store: "dsc-test", format: 3 });
  });

  it("takes a store from before the markers as format 1, and marks it", async () => {
    await writeFile(join(dir, "something"), "old");
    expect(await checkFormat(directory(dir), format(1), dir)).toBe(1);
    expect(await marker()).toEqual({ store: "dsc-test", format: 1 });
  });

  it("refuses a newer release's store, naming both formats, and changes nothing", async () => {
    await writeFile(join(dir, FORMAT_FILE), JSON.stringify({ store: "dsc-test", format: 4 }));
    const before = await readdir(dir);
    const error = await checkFormat(directory(dir), format(2), dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreFormatError);
    expect(String(error)).toContain(`${dir} is dsc-test format 4, written by a newer release`);
    expect(String(error)).toContain("reads format 2 at most");
    expect(await readdir(dir)).toEqual(before);
    expect(await marker()).toEqual({ store: "dsc-test", format: 4 });
  });

  it("refuses another store's directory and a damaged marker, naming the file", async () => {
    await writeFile(join(dir, FORMAT_FILE), JSON.stringify({ store: "dsc-log", format: 1 }));
    await expect(checkFormat(directory(dir), format(1), dir)).rejects.toThrow(
      `${dir} holds "dsc-log", not dsc-test: check the directory`,
    );
    for (const [text, why] of [
      ["{", "is not JSON"],
      ["7", "is not an object"],
      ['{"store":"dsc-test","format":1.5}', "names format 1.5"],
      ['{"store":"dsc-test","format":0}', "names format 0"],
      ['{"store":"dsc-test"}', "names format undefined"],
    ] as const) {
      await writeFile(join(dir, FORMAT_FILE), text);
      await expect(checkFormat(directory(dir), format(1), dir)).rejects.toThrow(`${dir}/FORMAT ${why}`);
    }
  });

  it("brings an older store forward one step at a time, and repeats only the step a crash cut short", async () => {
    await writeFile(join(dir, FORMAT_FILE), JSON.stringify({ store: "dsc-test", format: 1 }));
    const ran: number[] = [];
    let crash = true;
    const steps = {
      1: () => {
        ran.push(1);
        return Promise.resolve();
      },
      2: () => {
        ran.push(2);
        return crash ? Promise.reject(new Error("killed")) : Promise.resolve();
      },
    };
    await expect(checkFormat(directory(dir), format(3, steps), dir)).rejects.toThrow("killed");
    expect(await marker()).toEqual({ store: "dsc-test", format: 2 });
    crash = false;
    expect(await checkFormat(directory(dir), format(3, steps), dir)).toBe(2);
    expect(ran).toEqual([1, 2, 2]);
    expect(await marker()).toEqual({ store: "dsc-test", format: 3 });
  });

  it("says so when a store is too old to bring forward", async () => {
    await writeFile(join(dir, FORMAT_FILE), JSON.stringify({ store: "dsc-test", format: 1 }));
    await expect(checkFormat(directory(dir), format(3, { 2: () => Promise.resolve() }), dir)).rejects.toThrow(
      "format 1, and this release cannot bring it to format 3: upgrade through the release before this one first",
    );
  });
});

describe("each store an operator keeps checks its format at open", () => {
  const newer = async (path: string, store: string) => {
    await mkdir(path, { recursive: true });
    await writeFile(join(path, FORMAT_FILE), JSON.stringify({ store, format: 99 }));
  };

  it("the federation state and its specs", async () => {
    const opened = await StateStore.open(dir);
    await opened.store.close();
    expect(await marker()).toEqual({ store: "dsc-state", format: 1 });
    expect(await marker(join(dir, "specs"))).toEqual({ store: "dsc-specs", format: 1 });

    await newer(join(dir, "specs"), "dsc-specs");
    await expect(SpecStore.open(join(dir, "specs"))).rejects.toThrow("dsc-specs format 99");
    await newer(dir, "dsc-state");
    await expect(StateStore.open(dir)).rejects.toThrow("dsc-state format 99");
  });

  it("the decision log and the mirrors of the peers' logs", async () => {
    const origin = "dsc.test/alpha";
    const seed = new Uint8Array(32).fill(7);
    const verifier = noteVerifier(origin, ed25519Key(seed).publicKey);
    const log = await TileLog.open({
      files: diskFiles(dir),
      origin,
      signer: noteSigner(origin, seed),
      verifier,
    });
    await log.append(new TextEncoder().encode("a receipt"));
    expect(await marker()).toEqual({ store: "dsc-log", format: 1 });

    await newer(dir, "dsc-log");
    await expect(TileLog.open({ files: diskFiles(dir), origin, verifier })).rejects.toThrow(
      "the mirror of the log dsc.test/alpha is dsc-log format 99, written by a newer release",
    );
  });
});
