// The tlog-tiles client against a log server that answers too much: a
// checkpoint or a tile that streams without end is refused at its bound,
// never buffered whole (a hostile peer's log could otherwise take the
// region's memory).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ed25519Key, noteVerifier } from "../core/tlog/note.ts";
import { TileClient } from "./client.ts";

let server: Server;
let base = "";
/** What the server wrote for the last request before the client went away. */
let sent = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    sent = 0;
    const pump = (): void => {
      // Bounded: 256 MiB at most, if the client never went away.
      while (sent < 256 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/log/`;
});
afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        resolve();
      });
    }),
);

describe("TileClient against a server that answers without end", () => {
  const key = ed25519Key(new Uint8Array(32).fill(7));
  const client = (): TileClient => new TileClient(base, noteVerifier("example.com/log", key.publicKey));

  it("refuses a checkpoint over 64 KiB", async () => {
    await expect(client().checkpoint()).rejects.toThrow("GET checkpoint: over 65536 bytes");
  });

  it("refuses a tile or bundle over 17 MiB", async () => {
    await expect(
      client().entries({ origin: "example.com/log", size: 1, root: new Uint8Array(32) }, 0, 1),
    ).rejects.toThrow(/over 17825792 bytes/);
    // Cut off near the bound, not read to the server's end (256 MiB).
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });
});
