import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  encodeAbiParameters,
  encodeFunctionResult,
  toFunctionSelector,
  zeroAddress,
  zeroHash,
  type Hex,
} from "viem";
import { afterEach, describe, expect, it } from "vitest";
import { guardianPauseAbi } from "./abi/guardian-pause.ts";
import { ChainReader, ChainUnavailableError } from "./reader.ts";

const CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
// A torn read: `paused` from the state after the first pause, `lastPause` from the one before it.
const pausedData = encodeFunctionResult({ abi: guardianPauseAbi, functionName: "paused", result: true });
const lastPauseData = encodeFunctionResult({
  abi: guardianPauseAbi,
  functionName: "lastPause",
  result: [zeroAddress, zeroHash, 0n, 0n],
});

function answer(call: { to?: string; data?: string; input?: string }): Hex {
  const data = (call.data ?? call.input ?? "0x") as Hex;
  if (call.to) return data.startsWith(toFunctionSelector("paused()")) ? pausedData : lastPauseData;
  // A deployless multicall: aggregate3's Result[].
  return encodeAbiParameters(
    [{ type: "tuple[]", components: [{ type: "bool" }, { type: "bytes" }] }],
    [
      [
        [true, pausedData],
        [true, lastPauseData],
      ],
    ],
  );
}

let server: Server | undefined;
afterEach(() => server?.close());

describe("ChainReader.guardianPause", () => {
  it("takes a paused contract without a pause on record for a torn read, not a pause", async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const one = (r: { id: number; method: string; params: unknown[] }) => ({
          jsonrpc: "2.0",
          id: r.id,
          result: r.method === "eth_call" ? answer(r.params[0] as { to?: string; data?: string }) : "0x7a69",
        });
        const parsed = JSON.parse(body) as Parameters<typeof one>[0] | Parameters<typeof one>[0][];
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(Array.isArray(parsed) ? parsed.map(one) : one(parsed)));
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const reader = new ChainReader({ rpcUrl: `http://127.0.0.1:${String(port)}`, chainId: 31337 });
    await expect(reader.guardianPause(CONTRACT, 10n)).rejects.toBeInstanceOf(ChainUnavailableError);
  });
});
