// The tlog-tiles client against a log server that answers too much: a
// checkpoint or a tile that streams without end is refused at its bound,
// never buffered whole (a hostile peer's log could otherwise take the
// region's memory).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEndlessServer, type EndlessServer } from "../../e2e/support/endless-server.ts";
import { ed25519Key, noteVerifier } from "../core/tlog/note.ts";
import { TileClient } from "./client.ts";

let server: EndlessServer;
beforeAll(async () => {
  server = await startEndlessServer();
});
afterAll(() => server.close());

describe("TileClient against a server that answers without end", () => {
  const key = ed25519Key(new Uint8Array(32).fill(7));
  const client = (): TileClient =>
    new TileClient(`${server.base}/log/`, noteVerifier("example.com/log", key.publicKey));

  it("refuses a checkpoint over 64 KiB", async () => {
    await expect(client().checkpoint()).rejects.toThrow("GET checkpoint: over 65536 bytes");
  });

  it("refuses a tile or bundle over 17 MiB", async () => {
    await expect(
      client().entries({ origin: "example.com/log", size: 1, root: new Uint8Array(32) }, 0, 1),
    ).rejects.toThrow(/over 17825792 bytes/);
    // Cut off near the bound, not read to the server's end (256 MiB).
    expect(server.sent()).toBeLessThan(64 * 1024 * 1024);
  });
});
