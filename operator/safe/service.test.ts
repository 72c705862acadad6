// SafeService against a scripted HTTP server (each way a response can be
// wrong), and against the Safe Transaction Service double that the real
// api-kit writes to, as `dsc sign --safe-service` does: what SafeService reads
// back must be exactly what api-kit's own getMessage returns.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { HttpError } from "@safe-global/api-kit";
import { hashMessage, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startSafeServiceDouble, type SafeServiceDouble } from "../../e2e/safe-service/server.ts";
import { CHAIN_ID, startTestChain, type ChainInfo, type TestChain } from "../../e2e/testbed/chain.ts";
import { safeMessageHash } from "../core/manifest/digest.ts";
import { contractSignature, signHash } from "../signing/sign.ts";
import { freePort } from "../../e2e/testbed/process.ts";
import { SafeApiKit } from "./sdk.ts";
import { SafeService, type ServiceResult } from "./service.ts";

const HASH: Hex = `0x${"ab".repeat(32)}`;
const API_KEY = "dsc-unit-test-key";
const OWNER: Address = "0x1234567890AbcdEF1234567890aBcdef12345678";
const SIGNATURE: Hex = `0x${"11".repeat(64)}1b`;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

type Script = (req: IncomingMessage, res: ServerResponse) => void;

/** A server that answers as the test scripts it, and records what it was asked. */
async function scriptedServer(): Promise<{
  base: string;
  seen: Seen[];
  script(handler: Script): void;
  close(): Promise<void>;
}> {
  let handler: Script = (_req, res) => res.end();
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${String(port)}/api`,
    seen,
    script: (h) => {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

const json =
  (status: number, body: unknown): Script =>
  (_req, res) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

/** A SafeMessage as the service renders it (fields SafeService ignores included). */
const message = (confirmations: unknown): Record<string, unknown> => ({
  created: "2025-01-01T00:00:00Z",
  modified: "2025-01-01T00:00:00Z",
  safe: OWNER,
  messageHash: HASH,
  message: "hello",
  proposedBy: OWNER,
  safeAppId: null,
  confirmations,
  preparedSignature: SIGNATURE,
  origin: "{}",
});

const errorOf = (result: ServiceResult): string => (result.ok ? "(ok)" : result.error);

describe("SafeService against a scripted server", () => {
  let server: Awaited<ReturnType<typeof scriptedServer>>;
  beforeAll(async () => {
    server = await scriptedServer();
  });
  afterAll(() => server.close());
  afterEach(() => {
    server.seen.length = 0;
  });

  it("requests the URL and headers api-kit's getMessage requests", async () => {
    server.script(json(200, message([])));
    await new SafeApiKit({ chainId: BigInt(CHAIN_ID), txServiceUrl: server.base }).getMessage(HASH);
    await new SafeService(server.base, CHAIN_ID).confirmations(HASH);
    const [kit, ours] = server.seen;
    expect(kit?.url).toBe(`/api/v1/messages/${HASH}/`);
    expect(ours?.url).toBe(kit?.url);
    expect(ours?.method).toBe(kit?.method);
    expect(ours?.headers.accept).toBe(kit?.headers.accept);
    expect(ours?.headers["content-type"]).toBe(kit?.headers["content-type"]);
    expect(ours?.headers.authorization).toBeUndefined();
  });

  it("sends an API key as api-kit sends it, and a blank one not at all", async () => {
    server.script(json(200, message([])));
    const apiKey = "eyJhbGciOiJIUzI1NiJ9.key.sig";
    await new SafeApiKit({ chainId: BigInt(CHAIN_ID), txServiceUrl: server.base, apiKey }).getMessage(HASH);
    await new SafeService(server.base, CHAIN_ID, { apiKey }).confirmations(HASH);
    await new SafeService(server.base, CHAIN_ID, { apiKey: " \n" }).confirmations(HASH);
    const [kit, ours, blank] = server.seen;
    expect(kit?.headers.authorization).toBe(`Bearer ${apiKey}`);
    expect(ours?.headers.authorization).toBe(kit?.headers.authorization);
    expect(blank?.headers.authorization).toBeUndefined();
    // A key a header cannot carry is refused without asking, and without repeating it.
    const before = server.seen.length;
    const broken = errorOf(
      await new SafeService(server.base, CHAIN_ID, { apiKey: "secret\npart" }).confirmations(HASH),
    );
    expect(broken).toBe(
      "the Safe Transaction Service API key holds characters an HTTP header cannot carry (it is not shown)",
    );
    expect(server.seen.length).toBe(before);
  });

  it("asks the hosted service nothing without an API key, and says where one goes", async () => {
    const hosted = "https://api.safe.global/tx-service/eth/api";
    // api-kit refuses the same configuration.
    expect(() => new SafeApiKit({ chainId: 1n, txServiceUrl: hosted })).toThrow(/apiKey is mandatory/);
    expect(errorOf(await new SafeService(hosted, 1).confirmations(HASH))).toBe(
      "the Safe Transaction Service at api.safe.global asks for an API key (from https://developer.safe.global): the Federation's spec.safeTransactionService.apiKeySecretRef, or DSC_SAFE_API_KEY for dsc",
    );
    expect(errorOf(await new SafeService(hosted, 1, { apiKey: "" }).confirmations(HASH))).toMatch(
      /asks for an API key/,
    );
  });

  it("returns the owner and signature of each confirmation of a found message", async () => {
    const other: Hex = `0x${"00".repeat(12)}${OWNER.slice(2)}${"00".repeat(32)}00`;
    server.script(
      json(
        200,
        message([
          { owner: OWNER, signature: SIGNATURE, signatureType: "EOA", created: "2025-01-01T00:00:00Z" },
          { owner: OWNER.toLowerCase(), signature: other, signatureType: "CONTRACT_SIGNATURE" },
        ]),
      ),
    );
    expect(await new SafeService(server.base, CHAIN_ID).confirmations(HASH)).toEqual({
      ok: true,
      confirmations: [
        { owner: OWNER, signature: SIGNATURE },
        { owner: OWNER.toLowerCase(), signature: other },
      ],
    });
  });

  it("reads 404 as a message with no confirmations", async () => {
    server.script(json(404, { detail: "No MessageSafe matches the given query." }));
    expect(await new SafeService(server.base, CHAIN_ID).confirmations(HASH)).toEqual({
      ok: true,
      confirmations: [],
    });
  });

  it("reports HTTP 500 with the service's detail", async () => {
    server.script(json(500, { detail: "database is down\nTraceback ..." }));
    expect(errorOf(await new SafeService(server.base, CHAIN_ID).confirmations(HASH))).toBe(
      `Safe Transaction Service unavailable: GET ${server.base}/v1/messages/${HASH}/ answered HTTP 500: database is down`,
    );
    server.script((_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>Bad Gateway</html>");
    });
    expect(errorOf(await new SafeService(server.base, CHAIN_ID).confirmations(HASH))).toMatch(
      /^Safe Transaction Service unavailable: GET \S+ answered HTTP 502$/,
    );
  });

  it("times out a service that does not answer, or stops halfway through the body", async () => {
    const service = new SafeService(server.base, CHAIN_ID, { timeoutMs: 200 });
    server.script(() => {
      // never answers
    });
    expect(errorOf(await service.confirmations(HASH))).toBe(
      `Safe Transaction Service unavailable: GET ${server.base}/v1/messages/${HASH}/ timed out after 200 ms`,
    );
    server.script((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"messageHash": "');
    });
    expect(errorOf(await service.confirmations(HASH))).toMatch(/timed out after 200 ms$/);
  });

  it("reports a service that cannot be reached", async () => {
    const port = await freePort();
    const result = await new SafeService(`http://127.0.0.1:${String(port)}/api`, CHAIN_ID).confirmations(
      HASH,
    );
    expect(errorOf(result)).toMatch(/^Safe Transaction Service unavailable: GET .* failed: .*ECONNREFUSED/);
  });

  it("refuses a body that is not JSON", async () => {
    server.script((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"messageHash": "0xab", "confirmations": [');
    });
    expect(errorOf(await new SafeService(server.base, CHAIN_ID).confirmations(HASH))).toMatch(
      /^Safe Transaction Service answered a malformed message: not JSON \(/,
    );
    server.script((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.from([0x7b, 0xff, 0x7d]));
    });
    expect(errorOf(await new SafeService(server.base, CHAIN_ID).confirmations(HASH))).toBe(
      "Safe Transaction Service answered a body that is not UTF-8",
    );
  });

  it.each([
    ["an array", [], "not a JSON object"],
    ["null", null, "not a JSON object"],
    [
      "another message",
      { ...message([]), messageHash: `0x${"cd".repeat(32)}` },
      `messageHash "0x${"cd".repeat(32)}" is not the requested ${HASH}`,
    ],
    ["no messageHash", { confirmations: [] }, `messageHash undefined is not the requested ${HASH}`],
    ["no confirmations", { ...message([]), confirmations: undefined }, "confirmations is not an array"],
    ["confirmations as an object", message({}), "confirmations is not an array"],
    ["a confirmation that is not an object", message([null]), "confirmations[0] is not an object"],
    [
      "an owner that is not an address",
      message([{ owner: SIGNATURE, signature: SIGNATURE }]),
      `confirmations[0].owner "${SIGNATURE}" is not a 0x address`,
    ],
    [
      "a missing owner",
      message([{ owner: OWNER, signature: SIGNATURE }, { signature: SIGNATURE }]),
      "confirmations[1].owner undefined is not a 0x address",
    ],
    [
      "a signature of odd length",
      message([{ owner: OWNER, signature: `${SIGNATURE}0` }]),
      "confirmations[0].signature is not 0x-prefixed hex bytes",
    ],
    [
      "an empty signature",
      message([{ owner: OWNER, signature: "0x" }]),
      "confirmations[0].signature is not 0x-prefixed hex bytes",
    ],
    [
      "a signature that is not a string",
      message([{ owner: OWNER, signature: 27 }]),
      "confirmations[0].signature is not 0x-prefixed hex bytes",
    ],
  ])("refuses a message with %s", async (_what, body, wrong) => {
    server.script(json(200, body));
    expect(errorOf(await new SafeService(server.base, CHAIN_ID).confirmations(HASH))).toBe(
      `Safe Transaction Service answered a malformed message: ${wrong}`,
    );
  });

  it("refuses a body over the bound, declared or streamed", async () => {
    const service = new SafeService(server.base, CHAIN_ID, { maxBodyBytes: 1024 });
    const refusal = "Safe Transaction Service answered a body over 1024 bytes";
    const padded = { ...message([{ owner: OWNER, signature: SIGNATURE }]), padding: "x".repeat(2048) };
    server.script(json(200, padded));
    expect(errorOf(await service.confirmations(HASH))).toBe(refusal);
    server.script((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }); // chunked: no content-length
      res.write(JSON.stringify(padded).slice(0, 1000));
      setTimeout(() => res.end(JSON.stringify(padded).slice(1000)), 20);
    });
    expect(errorOf(await service.confirmations(HASH))).toBe(refusal);
    // The default bound (4 MiB) lets the same message through and stops a 5 MiB one.
    server.script(json(200, padded));
    expect((await new SafeService(server.base, CHAIN_ID).confirmations(HASH)).ok).toBe(true);
    server.script(json(200, { ...padded, padding: "x".repeat(5 * 1024 * 1024) }));
    expect(errorOf(await new SafeService(server.base, CHAIN_ID).confirmations(HASH))).toBe(
      `Safe Transaction Service answered a body over ${String(4 * 1024 * 1024)} bytes`,
    );
  });

  it("asks nothing for a hash that is not a Safe message hash", async () => {
    const result = await new SafeService(server.base, CHAIN_ID).confirmations("0x12/../../safes");
    expect(errorOf(result)).toBe('not a Safe message hash: "0x12/../../safes"');
    expect(server.seen).toEqual([]);
  });

  it("refuses a URL it cannot ask, without asking and without repeating credentials", async () => {
    const port = await freePort();
    const errorFor = async (url: string): Promise<string> =>
      errorOf(await new SafeService(url, CHAIN_ID).confirmations(HASH));
    const withCredentials = await errorFor(`http://user:secret@127.0.0.1:${String(port)}/api`);
    expect(withCredentials).toBe(
      `Safe Transaction Service URL for 127.0.0.1:${String(port)} carries credentials, which fetch refuses`,
    );
    expect(await errorFor("safe-service/api")).toBe(
      'Safe Transaction Service URL "safe-service/api" is not a URL',
    );
    expect(await errorFor("file:///etc/api")).toBe(
      'Safe Transaction Service URL "file:///etc/api" is not http(s)',
    );
  });
});

// Chain round trips on a fresh anvil: generous under a loaded machine.
describe("SafeService and api-kit reading the Safe Transaction Service double", { timeout: 30_000 }, () => {
  let chain: TestChain | undefined;
  let double: SafeServiceDouble | undefined;
  let info: ChainInfo;
  let kit: SafeApiKit;
  let service: SafeService;

  beforeAll(async () => {
    chain = await startTestChain("safe-service-reader");
    const { rpcUrl } = chain;
    info = chain.info;
    // As the hosted service: every request carries the API key.
    double = await startSafeServiceDouble({ rpcUrl, chainId: CHAIN_ID, apiKey: API_KEY });
    kit = new SafeApiKit({ chainId: BigInt(CHAIN_ID), txServiceUrl: double.url, apiKey: API_KEY });
    service = new SafeService(double.url, CHAIN_ID, { apiKey: API_KEY });
  }, 120_000);

  afterAll(async () => {
    await double?.close();
    await chain?.stop();
  });

  /** What api-kit's getMessage returns, reduced to the fields SafeService reads. */
  async function kitConfirmations(hash: Hex): Promise<{ owner: string; signature: string }[]> {
    const stored = await kit.getMessage(hash);
    return stored.confirmations.map(({ owner, signature }) => ({ owner, signature }));
  }

  it("reads the confirmations api-kit wrote and reads back, EOA and eth_sign alike", async () => {
    const [first, second] = info.keys.boardOwners;
    if (!first || !second) throw new Error("the DAO Board needs two owners");
    const text = `unpause ${String(Date.now())}`;
    const hash = safeMessageHash(info.safes.daoBoard, CHAIN_ID, hashMessage(text));
    expect(await service.confirmations(hash)).toEqual({ ok: true, confirmations: [] });

    await kit.addMessage(info.safes.daoBoard, { message: text, signature: await signHash(first, hash) });
    await kit.addMessageSignature(hash, await signHash(second, hash, "eth_sign"));

    const expected = await kitConfirmations(hash);
    expect(expected.map((c) => c.owner)).toEqual([
      privateKeyToAccount(first).address,
      privateKeyToAccount(second).address,
    ]);
    expect(await service.confirmations(hash)).toEqual({ ok: true, confirmations: expected });
  });

  it("reads nested DSP Safe contract signatures as api-kit does", async () => {
    const text = `manifest ${String(Date.now())}`;
    const consortium = info.safes.consortium;
    const hash = safeMessageHash(consortium, CHAIN_ID, hashMessage(text));
    const dspSignature = async (region: "alpha" | "beta"): Promise<Hex> => {
      const dsp = info.safes.dsp[region];
      const key = info.keys.dspOwners[region][0];
      if (!key) throw new Error(`DSP ${region} has no owner`);
      return contractSignature(dsp, await signHash(key, safeMessageHash(dsp, CHAIN_ID, hash)));
    };
    await kit.addMessage(consortium, { message: text, signature: await dspSignature("alpha") });
    await kit.addMessageSignature(hash, await dspSignature("beta"));

    const expected = await kitConfirmations(hash);
    expect(expected.map((c) => c.owner)).toEqual([info.safes.dsp.alpha, info.safes.dsp.beta]);
    expect(await service.confirmations(hash)).toEqual({ ok: true, confirmations: expected });
  });

  it("is refused without the API key, or with another, as api-kit is", async () => {
    if (!double) throw new Error("no double");
    const hash: Hex = `0x${"cd".repeat(32)}`;
    for (const apiKey of [undefined, "someone-else's"]) {
      const options = apiKey === undefined ? {} : { apiKey };
      const refused = await new SafeApiKit({
        chainId: BigInt(CHAIN_ID),
        txServiceUrl: double.url,
        ...options,
      })
        .getMessage(hash)
        .catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(HttpError);
      expect((refused as HttpError).statusCode).toBe(401);
      const detail =
        apiKey === undefined ? "Authentication credentials were not provided." : "Invalid API key.";
      expect(errorOf(await new SafeService(double.url, CHAIN_ID, options).confirmations(hash))).toBe(
        `Safe Transaction Service unavailable: GET ${double.url}/v1/messages/${hash}/ answered HTTP 401: ${detail}`,
      );
    }
  });

  it("agrees with api-kit that an unknown message has no confirmations", async () => {
    const unknown: Hex = `0x${"ef".repeat(32)}`;
    const refused = await kit.getMessage(unknown).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).statusCode).toBe(404);
    expect(await service.confirmations(unknown)).toEqual({ ok: true, confirmations: [] });
  });
});
