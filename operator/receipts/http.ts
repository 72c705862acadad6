// The region's log, served read-only as C2SP tlog-tiles under /log/: the
// checkpoint (mutable, never cached), tiles and entry bundles (immutable once
// full), and the log's verifier key. Anything else under /log/ is a 404.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TileLog } from "../tlog/tile-log.ts";

export const LOG_PREFIX = "/log/";

/** `checkpoint` gives the latest checkpoint as served: with the peers' cosignatures of it, if any. */
export function logRoute(
  log: TileLog,
  vkey: string,
  checkpoint: () => string = () => log.checkpoint.note,
  prefix = LOG_PREFIX,
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "").slice(prefix.length).split("?")[0] ?? "";
    if (path === "checkpoint") {
      const note = checkpoint();
      if (note === "") return void res.writeHead(404).end("no checkpoint yet\n");
      res
        .writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" })
        .end(note);
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

export const MIRROR_PREFIX = "/mirror/";

/** The copies this region keeps of its peers' logs, as tlog-tiles under /mirror/<region>/. */
export function mirrorRoute(mirror: (region: string) => { log: TileLog; vkey: string } | undefined) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const region = (req.url ?? "").slice(MIRROR_PREFIX.length).split("/")[0] ?? "";
    const found = mirror(region);
    if (!found) return void res.writeHead(404).end(`no mirror of ${region}'s log here\n`);
    logRoute(found.log, found.vkey, () => found.log.checkpoint.note, `${MIRROR_PREFIX}${region}/`)(req, res);
  };
}
