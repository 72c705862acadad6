// An HTTP server that answers too much, for the tests of bounded reads: `/small`
// answers "hello"; `/declared` declares 10 MiB and sends 1 KiB, then stalls;
// any other path streams 64 KiB chunks until the client goes away (at most
// 1 GiB, so it stops by itself). `sent()` is what the last endless answer
// wrote before the client left.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface EndlessServer {
  readonly base: string;
  sent(): number;
  close(): Promise<void>;
}

export async function startEndlessServer(): Promise<EndlessServer> {
  let sent = 0;
  const server = createServer((req, res) => {
    if (req.url?.endsWith("/declared")) {
      res.writeHead(200, { "content-length": String(10 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
      return;
    }
    if (req.url?.endsWith("/small")) {
      res.end("hello");
      return;
    }
    sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = (): void => {
      while (sent < 1024 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    res.on("close", () => {
      res.removeAllListeners("drain");
    });
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    sent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
