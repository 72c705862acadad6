// A body is cut off at its bound whether it declares its length or streams
// without end: the server that never stops is stopped after about the bound.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEndlessServer, type EndlessServer } from "../../e2e/support/endless-server.ts";
import { BodyTooLarge, readBounded } from "./bounded-body.ts";

let server: EndlessServer;
beforeAll(async () => {
  server = await startEndlessServer();
});
afterAll(() => server.close());

describe("readBounded", () => {
  it("reads a body within the bound", async () => {
    const bytes = await readBounded(await fetch(`${server.base}/small`), 16);
    expect(new TextDecoder().decode(bytes)).toBe("hello");
  });

  it("refuses a declared length over the bound without reading it", async () => {
    await expect(readBounded(await fetch(`${server.base}/declared`), 1024 * 1024)).rejects.toThrow(
      BodyTooLarge,
    );
  });

  it("cuts off a body that streams without end soon after the bound", async () => {
    const limit = 1024 * 1024;
    await expect(readBounded(await fetch(`${server.base}/endless`), limit)).rejects.toThrow(
      "the response body is over 1048576 bytes",
    );
    // What the server got out before the cancel reached it: the bound plus what the sockets buffer.
    expect(server.sent()).toBeLessThan(64 * limit);
  });
});
