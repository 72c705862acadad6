// An in-memory double of the Safe Transaction Service, enough for the real
// @safe-global/api-kit to propose, sign and read Safe messages and multisig
// transactions. Like the service, it is a transport that still checks: it
// recomputes every hash, takes one owner signature per request, and asks the
// chain (at request time) who the owners are and whether a contract owner or
// an approved hash vouches for a signature.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ChainReader } from "./chain.ts";
import { pathAddress } from "./fields.ts";
import { readJsonObject, Router, sendJson, ServiceError, type Reply } from "./http.ts";
import { messageRoutes } from "./messages.ts";
import { transactionRoutes } from "./transactions.ts";

/** api-kit appends `/v1/...` and `/v2/...` to `txServiceUrl`; the real service lives under `/api`. */
const API_ROOT = "/api";

export interface SafeServiceOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly host?: string;
  readonly port?: number;
  /**
   * The API key every request must carry, as the hosted service asks since it
   * took keys (Authorization: Bearer KEY, as api-kit sends it); none: open, as
   * a service a DSP runs itself may be.
   */
  readonly apiKey?: string;
}

export interface SafeServiceDouble {
  /** What api-kit takes as `txServiceUrl`, e.g. http://127.0.0.1:8000/api */
  readonly url: string;
  close(): Promise<void>;
}

function routes(chain: ChainReader, rpcUrl: string): Router {
  const router = new Router();
  router.add("GET", "/v1/about/", (req) =>
    Promise.resolve({
      status: 200,
      body: {
        name: "Safe Transaction Service",
        version: "in-memory double",
        api_version: "v1",
        secure: false,
        host: req.url.host,
        headers: [],
        settings: { ETHEREUM_NODE_URL: rpcUrl, CHAIN_ID: chain.chainId },
      },
    }),
  );
  router.add("GET", "/v1/safes/{address}/", async (req): Promise<Reply> => {
    const state = await chain.state(pathAddress(req.params[0] ?? ""));
    return { status: 200, body: state };
  });
  messageRoutes(router, chain);
  transactionRoutes(router, chain);
  return router;
}

/** Refuses a request without the API key, in Django REST framework's words, before any route runs. */
function authorize(req: IncomingMessage, apiKey: string | undefined): void {
  if (apiKey === undefined) return;
  const header = req.headers.authorization;
  if (header === undefined) throw new ServiceError(401, "Authentication credentials were not provided.");
  const match = /^Bearer (\S+)$/.exec(header);
  if (!match || match[1] !== apiKey) throw new ServiceError(401, "Invalid API key.");
}

async function handle(
  router: Router,
  apiKey: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
  const method = req.method ?? "GET";
  try {
    authorize(req, apiKey);
    if (!url.pathname.startsWith(`${API_ROOT}/`))
      throw new ServiceError(404, `No route for ${method} ${url.pathname}`);
    const match = router.match(method, url.pathname.slice(API_ROOT.length));
    if (match instanceof ServiceError) throw match;
    const reply = await match.handler({ method, url, params: match.params, body: () => readJsonObject(req) });
    sendJson(res, reply.status, reply.body);
  } catch (err) {
    if (err instanceof ServiceError) {
      sendJson(res, err.status, { detail: err.message });
    } else {
      console.error(`${method} ${url.pathname} failed:`, err);
      sendJson(res, 500, { detail: `Internal error: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
}

/** Starts the double; fails if the RPC endpoint does not serve `chainId`. */
export async function startSafeServiceDouble(options: SafeServiceOptions): Promise<SafeServiceDouble> {
  const { rpcUrl, chainId, host = "127.0.0.1", port = 0, apiKey } = options;
  const chain = new ChainReader(rpcUrl, chainId);
  await chain.checkChainId();
  const router = routes(chain, rpcUrl);
  const server = createServer((req, res) => {
    void handle(router, apiKey, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostPart}:${address.port}${API_ROOT}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => {
          if (err) reject(err);
          else resolve();
        });
        server.closeAllConnections();
      }),
  };
}
