// The region's log, served read-only as C2SP tlog-tiles under /log/: the
// checkpoint (mutable, never cached), tiles and entry bundles (immutable once
// full), and the log's verifier key. Anything else under /log/ is a 404.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TileLog } from "../tlog/tile-log.ts";

export const LOG_PREFIX = "/log/";

/** `checkpoint` gives the latest checkpoint as served: with the peers' cosignatures of it, if any. */
export function logRoute(log: TileLog, vkey: string, checkpoint: () => string = () => log.checkpoint.note) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "").slice(LOG_PREFIX.length).split("?")[0] ?? "";
    if (path === "checkpoint") {
      res
        .writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" })
        .end(checkpoint());
      return;
    }
    if (path === "vkey") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(`${vkey}\n`);
      return;
    }
    log.readTile(path).then(
      (bytes) => {
        if (!bytes) return void res.writeHead(404).end("not found\n");
        const partial = path.includes(".p/");
        res
          .writeHead(200, {
            "content-type": "application/octet-stream",
            "cache-control": partial ? "max-age=10" : "public, max-age=31536000, immutable",
          })
          .end(bytes);
      },
      () => res.writeHead(500).end("the log could not be read\n"),
    );
  };
}
