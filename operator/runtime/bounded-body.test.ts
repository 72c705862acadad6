// A body is cut off at its bound whether it declares its length or streams
// without end: the server that never stops is stopped after about the bound.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BodyTooLarge, readBounded } from "./bounded-body.ts";

let server: Server;
let base = "";
let sentByEndless = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/declared") {
      res.writeHead(200, { "content-length": String(10 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
      return; // never finishes: the client must not wait for it
    }
    if (req.url === "/small") {
      res.end("hello");
      return;
    }
    // Chunked, without end, until the client goes away (bounded: 1 GiB at most).
    const chunk = Buffer.alloc(64 * 1024, 1);
    const pump = (): void => {
      while (sentByEndless < 1024 * 1024 * 1024) {
        sentByEndless += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    res.on("close", () => {
      res.removeAllListeners("drain");
    });
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
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

describe("readBounded", () => {
  it("reads a body within the bound", async () => {
    const bytes = await readBounded(await fetch(`${base}/small`), 16);
    expect(new TextDecoder().decode(bytes)).toBe("hello");
  });

  it("refuses a declared length over the bound without reading it", async () => {
    await expect(readBounded(await fetch(`${base}/declared`), 1024 * 1024)).rejects.toThrow(BodyTooLarge);
  });

  it("cuts off a body that streams without end soon after the bound", async () => {
    const limit = 1024 * 1024;
    await expect(readBounded(await fetch(`${base}/endless`), limit)).rejects.toThrow(
      "the response body is over 1048576 bytes",
    );
    // What the server got out before the cancel reached it: the bound plus what the sockets buffer.
    expect(sentByEndless).toBeLessThan(64 * limit);
  });
});
