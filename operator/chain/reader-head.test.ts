import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ChainReader, ChainUnavailableError } from "./reader.ts";

const CHAIN_ID = 31337;

/** A JSON-RPC node whose head moves one block per request; it can hold its answers, or fail them. */
async function node(): Promise<{
  url: string;
  requests: () => number;
  hold: (on: boolean) => void;
  fail: (on: boolean) => void;
}> {
  let requests = 0;
  let head = 100;
  let holding = false;
  let failing = false;
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      requests++;
      if (holding) return; // never answered
      if (failing) {
        res.writeHead(500).end();
        return;
      }
      head++;
      const one = (call: { id: number; method: string }) => ({
        jsonrpc: "2.0",
        id: call.id,
        result: `0x${(call.method === "eth_chainId" ? CHAIN_ID : head).toString(16)}`,
      });
      const parsed = JSON.parse(body) as { id: number; method: string } | { id: number; method: string }[];
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(Array.isArray(parsed) ? parsed.map(one) : one(parsed)));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    requests: () => requests,
    hold: (on) => (holding = on),
    fail: (on) => (failing = on),
  };
}

let server: Server | undefined;
const readerOf = (rpcUrl: string, freshHead?: { everyMs: number; forMs: number }) =>
  new ChainReader({ rpcUrl, chainId: CHAIN_ID, timeoutMs: 60_000, ...(freshHead && { freshHead }) });
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Whether `p` settles within `ms`. */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    sleep(ms).then(() => false),
  ]);

describe("the chain's head as verifications read it", () => {
  it("is read again once older than the age asked, and a read in flight is shared", async () => {
    const rpc = await node();
    const reader = readerOf(rpc.url);
    const [a, b] = await Promise.all([reader.pinBlock(0, 1_000), reader.pinBlock(2, 1_000)]);
    expect(b).toBe(a - 2n);
    expect(await reader.pinBlock(0, 1_000)).toBe(a);
    expect(rpc.requests()).toBe(1);
    await sleep(1_100);
    // Nothing reads it in the background: a verification now waits for the chain.
    rpc.hold(true);
    expect(await within(reader.pinBlock(0, 1_000), 300)).toBe(false);
  });

  it("with freshHead, is kept read in the background while verifications come, so one finds it read", async () => {
    const rpc = await node();
    const reader = readerOf(rpc.url, { everyMs: 50, forMs: 1_500 });
    const first = await reader.pinBlock(0, 1_000, { keepFresh: true });
    await sleep(1_200);
    expect(rpc.requests()).toBeGreaterThan(3);
    // The node stops answering: the head read in the background a moment ago still serves.
    rpc.hold(true);
    const pinned = reader.pinBlock(0, 1_000);
    expect(await within(pinned, 300)).toBe(true);
    expect(await pinned).toBeGreaterThan(first);
  });

  it("stops reading in the background after the last verification, whoever else polls, and fails closed once its head is old", async () => {
    const rpc = await node();
    const reader = readerOf(rpc.url, { everyMs: 50, forMs: 300 });
    await reader.pinBlock(0, 1_000, { keepFresh: true });
    // A poll that does not ask to keep the head fresh (the Federation's, a breach report's) reads
    // it only when its own age runs out: 1 s here, so at most twice in the 1.5 s that follow.
    const polling = setInterval(() => void reader.pinBlock(0, 1_000).catch(() => undefined), 100);
    await sleep(500);
    const after = rpc.requests();
    await sleep(1_000);
    clearInterval(polling);
    expect(rpc.requests() - after).toBeLessThanOrEqual(2);
    // Reads that fail are not kept: once the last good head is older than asked, the error shows.
    await sleep(600);
    rpc.fail(true);
    await expect(reader.pinBlock(0, 500)).rejects.toBeInstanceOf(ChainUnavailableError);
  });
});
