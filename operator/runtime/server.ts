// The operator's HTTP port: /metrics for Prometheus, /healthz and /readyz for
// the kubelet, and the routes features add (the guardian's endpoints, the log).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

/** A request's body, refused once it passes `max` bytes (nothing more is buffered). */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new BodyTooLargeError(`body larger than ${String(max)} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** Ready once this replica's controllers run (a standby is live, not ready). */
  readonly ready: () => boolean;
  /** POST routes by path. */
  readonly post: ReadonlyMap<string, Route>;
  /** GET routes by path prefix (the log's static resources). */
  readonly get?: ReadonlyMap<string, Route>;
}

export async function serve(o: ServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url === "/metrics") {
      o.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": o.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    const route = req.method === "POST" && req.url !== undefined ? o.post.get(req.url) : undefined;
    if (route) {
      route(req, res);
      return;
    }
    if (req.method === "GET" && req.url !== undefined)
      for (const [prefix, get] of o.get ?? []) {
        if (req.url.startsWith(prefix)) {
          get(req, res);
          return;
        }
      }
    if (req.url === "/healthz") return void res.writeHead(200).end("ok\n");
    if (req.url === "/readyz") {
      const ready = o.ready();
      return void res.writeHead(ready ? 200 : 503).end(ready ? "ok\n" : "not ready\n");
    }
    res.writeHead(404).end("not found\n");
  });
  await new Promise<void>((resolve) => server.listen(o.port, o.host, resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : o.port,
    close: () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  };
}
