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
