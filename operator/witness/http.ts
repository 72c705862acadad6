// The witness's C2SP tlog-witness HTTP endpoint on the operator's port, for
// logs and monitors outside the federation's peer connections (and tests).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Witness } from "./witness.ts";

export const ADD_CHECKPOINT_PATH = "/witness/add-checkpoint";
const MAX_BODY = 64 * 1024;

export function addCheckpointRoute(witness: Witness) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        res.writeHead(413).end(`the request is over ${String(MAX_BODY)} bytes\n`);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (res.headersSent) return;
      void witness.addCheckpoint(Buffer.concat(chunks).toString("utf8")).then((a) => {
        res.writeHead(a.status, { "content-type": a.contentType }).end(a.body);
      });
    });
  };
}
