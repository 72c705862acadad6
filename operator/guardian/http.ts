// The guardian's HTTP endpoints on the operator's port: agents POST signed
// reports; Alertmanager POSTs its webhook with a bearer token. Bodies are
// bounded; every answer is JSON with a reason a human can act on.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { ChainUnavailableError } from "../chain/reader.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { RateLimiter } from "../runtime/rate-limit.ts";
import { BodyTooLargeError, readBody } from "../runtime/server.ts";
import type { Guardian } from "./service.ts";

export const BREACH_PATH = "/v1/breach-reports";
export const ALERTMANAGER_PATH = "/v1/alertmanager";
const MAX_BODY = 64 * 1024;

class BodyError extends Error {
  override name = "BodyError";
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readBody(req, MAX_BODY);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new BodyError(error.message);
    throw error;
  }
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    throw new BodyError("body is not JSON");
  }
}

const send = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { "content-type": "application/json" }).end(`${JSON.stringify(body)}\n`);
};

export async function guardianRequest(
  req: IncomingMessage,
  res: ServerResponse,
  g: Guardian | undefined,
  log: Logger,
  reports: RateLimiter,
): Promise<void> {
  try {
    if (!g) {
      send(res, 503, { reason: "NotFederated", message: "this operator keeps no federation state" });
      return;
    }
    if (req.url === ALERTMANAGER_PATH) {
      // The token is checked before the body is parsed: a stranger learns nothing from our errors.
      const refused = g.authorizeAlertmanager(req.headers.authorization);
      if (refused) {
        send(res, refused.status, refused);
        return;
      }
      const result = await g.acceptAlerts(req.headers.authorization, await readJson(req));
      send(res, result.status, result);
      return;
    }
    // Before the body is read: a flood costs a refusal, not a signature recovery each.
    const from = req.socket.remoteAddress ?? "unknown";
    if (!reports.take(from)) {
      g.countReport("http", "RateLimited");
      res.setHeader("retry-after", String(reports.retryAfter(from)));
      send(res, 429, { reason: "RateLimited", message: `too many breach reports from ${from}; retry later` });
      return;
    }
    const body = (await readJson(req)) as { report?: unknown; signature?: unknown } | null;
    const verdict = await g.acceptReport(body?.report, body?.signature, "http");
    if (verdict.ok) send(res, 202, { state: "Accepted", token: verdict.hash, dsp: verdict.dsp });
    else send(res, 422, { state: "Refused", reason: verdict.reason, message: verdict.message });
  } catch (error) {
    if (error instanceof BodyError) {
      send(res, 400, { reason: "BadBody", message: error.message });
      return;
    }
    if (error instanceof ChainUnavailableError) {
      send(res, 503, { reason: "ChainUnavailable", message: `${error.message}; retry` });
      return;
    }
    log.error({ err: errorMessage(error) }, "guardian request failed");
    send(res, 500, { reason: "Internal", message: "see the operator's log" });
  }
}
