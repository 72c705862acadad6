// The witness's C2SP tlog-witness HTTP endpoint on the operator's port, for
// logs and monitors outside the federation's peer connections (and tests).
// Bodies are bounded and senders rate-limited by address, as the peers'
// messages are: every request is judged in turn, so a flood must not queue.
import type { IncomingMessage, ServerResponse } from "node:http";
import { RateLimiter } from "../runtime/rate-limit.ts";
import { BodyTooLargeError, readBody } from "../runtime/server.ts";
import type { Witness } from "./witness.ts";

export const ADD_CHECKPOINT_PATH = "/witness/add-checkpoint";
const MAX_BODY = 64 * 1024;

export function addCheckpointRoute(witness: Witness) {
  const limit = new RateLimiter({ perSecond: 50, burst: 200 });
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (!limit.take(req.socket.remoteAddress ?? "unknown")) {
      res.writeHead(429).end("too many requests\n");
      return;
    }
    readBody(req, MAX_BODY).then(
      async (body) => {
        const a = await witness.addCheckpoint(body.toString("utf8"));
        res.writeHead(a.status, { "content-type": a.contentType }).end(a.body);
      },
      (error: unknown) => {
        if (error instanceof BodyTooLargeError) res.writeHead(413).end(`${error.message}\n`);
        else res.writeHead(400).end("the request could not be read\n");
      },
    );
  };
}

export const TRUST_PREFIX = "/trust/";

/**
 * GET /trust/<name>/checkpoint: the latest checkpoint of another federation's
 * log that this region attests (spec.trust, level attest), with this region's
 * witness cosignature after the log's own signature, for that federation to
 * collect and serve with its checkpoint.
 */
export function trustRoute(cosigned: (name: string) => string | undefined) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const [name = "", rest = ""] = (req.url ?? "").slice(TRUST_PREFIX.length).split("?")[0]?.split("/") ?? [];
    const note = rest === "checkpoint" ? cosigned(name) : undefined;
    if (note === undefined) return void res.writeHead(404).end(`no attested checkpoint of ${name} here\n`);
    res
      .writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" })
      .end(note);
  };
}
