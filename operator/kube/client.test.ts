import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterEach, describe, expect, it, vi } from "vitest";
import { regionPki } from "../../e2e/testbed/pki.ts";
import { testDir } from "../../e2e/support/temp-dir.ts";
import { ApiError, KubeClient, type WatchEvent } from "./client.ts";
import type { KubeSettings } from "./config.ts";
import { httpStatus } from "./errors.ts";
import { LineTooLongError } from "./lines.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const servers: Server[] = [];
const clients: KubeClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((resolve) => {
          s.closeAllConnections();
          s.close(resolve);
        }),
    ),
  );
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A local API server answering with `handler`, and a client for it. */
async function serve(
  handler: Handler,
  settings: Partial<KubeSettings> = {},
  options: ConstructorParameters<typeof KubeClient>[1] = {},
): Promise<KubeClient> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      handler(req, res, body);
    });
  });
  const port = await listen(server);
  const client = new KubeClient(
    {
      server: `http://127.0.0.1:${String(port)}`,
      namespace: "home",
      insecureSkipTlsVerify: false,
      source: "test",
      ...settings,
    },
    options,
  );
  clients.push(client);
  return client;
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

const coreV1 = {
  kind: "APIResourceList",
  groupVersion: "v1",
  resources: [
    { name: "configmaps", kind: "ConfigMap", namespaced: true },
    { name: "namespaces", kind: "Namespace", namespaced: false },
    { name: "namespaces/status", kind: "Namespace", namespaced: false },
  ],
};

describe("KubeClient requests", () => {
  it("sends method, query, JSON body and bearer token; returns the parsed JSON", async () => {
    const seen: Record<string, string | undefined>[] = [];
    const client = await serve(
      (req, res, body) => {
        seen.push({
          method: req.method,
          url: req.url,
          auth: req.headers.authorization,
          type: req.headers["content-type"],
          body,
        });
        json(res, 201, { ok: true, from: ["kept"] });
      },
      { token: "secret" },
    );
    const answer = await client.request("PATCH", "/api/v1/namespaces/x/configmaps/y", {
      query: { fieldManager: "me", force: "true" },
      body: { from: [1] },
      contentType: "application/apply-patch+yaml",
    });
    expect(answer).toEqual({ ok: true, from: ["kept"] });
    expect(seen).toEqual([
      {
        method: "PATCH",
        url: "/api/v1/namespaces/x/configmaps/y?fieldManager=me&force=true",
        auth: "Bearer secret",
        type: "application/apply-patch+yaml",
        body: '{"from":[1]}',
      },
    ]);
  });

  it("turns an error status into an ApiError with the Status's reason and message", async () => {
    const client = await serve((req, res) => {
      if (req.url?.startsWith("/json")) {
        json(res, 409, {
          kind: "Status",
          reason: "Conflict",
          code: 409,
          message: "the object has been modified",
        });
      } else {
        res.writeHead(503);
        res.end("upstream down");
      }
    });
    const conflict = await client.request("PUT", "/json").catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ApiError);
    expect(conflict).toMatchObject({
      statusCode: 409,
      reason: "Conflict",
      message: "HTTP 409: the object has been modified",
    });
    expect(httpStatus(conflict)).toBe(409);
    const down = await client.request("GET", "/text").catch((e: unknown) => e);
    expect(down).toMatchObject({
      statusCode: 503,
      message: "HTTP 503: upstream down",
      body: "upstream down",
    });
  });

  it("reads a token file again once it is older than tokenRereadMs", async () => {
    const file = join(await testDir("kube-token-"), "token");
    writeFileSync(file, "one\n");
    const auth: (string | undefined)[] = [];
    const client = await serve(
      (req, res) => {
        auth.push(req.headers.authorization);
        json(res, 200, {});
      },
      { tokenFile: file },
      { tokenRereadMs: 0 },
    );
    await client.request("GET", "/a");
    writeFileSync(file, "two\n");
    await client.request("GET", "/b");
    expect(auth).toEqual(["Bearer one", "Bearer two"]);
  });

  it("verifies the server against the CA as tls-server-name, and presents the client certificate", async () => {
    // The test bed's PKI: a CA, an API server certificate for 127.0.0.1 and the
    // cluster's DNS names, and client certificates.
    const pki = regionPki(await testDir("kube-tls-"), "test");
    const server = createTlsServer(
      {
        key: readFileSync(pki.serverKey),
        cert: readFileSync(pki.serverCert),
        ca: readFileSync(pki.caCert),
        requestCert: true,
      },
      (req, res) => {
        json(res, 200, { user: (req.socket as TLSSocket).getPeerCertificate().subject.CN });
      },
    );
    const port = await listen(server);
    const settings: KubeSettings = {
      server: `https://127.0.0.1:${String(port)}`,
      namespace: "default",
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.clientCert("admin")),
      key: readFileSync(pki.clientKey("admin")),
      insecureSkipTlsVerify: false,
      source: "test",
    };
    const client = new KubeClient({ ...settings, tlsServerName: "kubernetes.default.svc" });
    clients.push(client);
    expect(await client.request("GET", "/")).toEqual({ user: "kubernetes-admin" });
    // A server name the certificate does not carry is refused.
    const mismatched = new KubeClient({ ...settings, tlsServerName: "kube.test" });
    clients.push(mismatched);
    await expect(mismatched.request("GET", "/")).rejects.toThrow(/altnames/);
  });
});

describe("KubeClient discovery", () => {
  it("locates namespaced and cluster-scoped kinds, with the default namespace for a namespaced one", async () => {
    const client = await serve((req, res) => {
      if (req.url === "/api/v1") json(res, 200, coreV1);
      else json(res, 404, { message: "not found" });
    });
    expect(await client.objectPath({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a b" } })).toBe(
      "/api/v1/namespaces/home/configmaps/a%20b",
    );
    expect(
      await client.objectPath({ apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "x" } }, false),
    ).toBe("/api/v1/namespaces/x/configmaps");
    expect(await client.objectPath({ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } })).toBe(
      "/api/v1/namespaces/x",
    );
    expect(await client.resource("example.dev/v1", "Widget")).toBeUndefined(); // 404 for the group version
  });

  it("caches each group version, and looks once more when a kind is missing (a CRD installed since)", async () => {
    let installed = false;
    const gets: string[] = [];
    const client = await serve((req, res) => {
      gets.push(req.url ?? "");
      json(res, 200, {
        resources: installed ? [{ name: "widgets", kind: "Widget", namespaced: false }] : [],
      });
    });
    await expect(
      client.objectPath({ apiVersion: "example.dev/v1", kind: "Widget", metadata: { name: "w" } }),
    ).rejects.toMatchObject({ statusCode: 404 });
    expect(gets).toEqual(["/apis/example.dev/v1", "/apis/example.dev/v1"]);
    installed = true;
    expect(await client.resource("example.dev/v1", "Widget")).toMatchObject({ name: "widgets" });
    expect(await client.resource("example.dev/v1", "Widget")).toMatchObject({ name: "widgets" });
    expect(gets).toHaveLength(3); // a miss in the cache, one fresh look; the second lookup hit the cache
  });
});

describe("KubeClient watch", () => {
  function watchInto(client: KubeClient, path = "/api/v1/configmaps") {
    const events: WatchEvent[] = [];
    let resolveDone: (err: Error | undefined) => void = () => undefined;
    const done = new Promise<Error | undefined>((resolve) => (resolveDone = resolve));
    const handle = client.watch(
      path,
      { resourceVersion: "7" },
      (e) => events.push(e),
      (err) => {
        resolveDone(err);
      },
    );
    return { events, done, handle };
  }

  it("parses events split anywhere across chunks (even inside a UTF-8 character), then ends cleanly", async () => {
    let url = "";
    const client = await serve((req, res) => {
      url = req.url ?? "";
      res.writeHead(200, { "Content-Type": "application/json" });
      const stream = Buffer.from(
        [
          JSON.stringify({ type: "ADDED", object: { metadata: { name: "ä€😀" } } }),
          "",
          JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } }),
          "",
        ].join("\n"),
      );
      // One byte at a time: every line and every multi-byte character is cut.
      let i = 0;
      const next = (): void => {
        if (i >= stream.length) {
          res.end();
          return;
        }
        res.write(stream.subarray(i, ++i), next);
      };
      next();
    });
    const w = watchInto(client);
    expect(await w.done).toBeUndefined();
    expect(url).toBe("/api/v1/configmaps?resourceVersion=7&watch=true");
    expect(w.events).toEqual([
      { type: "ADDED", object: { metadata: { name: "ä€😀" } } },
      { type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } },
    ]);
  });

  it("ends with an error on a line longer than the bound", async () => {
    const client = await serve(
      (_req, res) => {
        res.writeHead(200);
        res.write(`${JSON.stringify({ type: "ADDED", object: {} })}\n`);
        res.write("x".repeat(3000)); // no newline in sight: the server is never going to finish it
      },
      {},
      { maxEventBytes: 1024 },
    );
    const w = watchInto(client);
    expect(await w.done).toBeInstanceOf(LineTooLongError);
    expect(w.events).toHaveLength(1);
  });

  it("reports an error status as an ApiError, and a connection broken mid-stream as an error", async () => {
    const gone = await serve((_req, res) => {
      json(res, 410, { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" });
    });
    expect(httpStatus(await watchInto(gone).done)).toBe(410);

    const broken = await serve((_req, res) => {
      res.writeHead(200);
      res.write(`${JSON.stringify({ type: "ADDED", object: {} })}\n`);
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const w = watchInto(broken);
    expect(await w.done).toBeInstanceOf(Error);
    expect(w.events).toHaveLength(1);
  });

  it("stops on abort: the connection closes, and onDone is not called", async () => {
    let closed = false;
    const client = await serve((req, res) => {
      res.writeHead(200);
      res.write(`${JSON.stringify({ type: "ADDED", object: {} })}\n`);
      req.socket.on("close", () => (closed = true));
    });
    const w = watchInto(client);
    await vi.waitFor(() => {
      expect(w.events).toHaveLength(1);
    });
    let doneCalled = false;
    void w.done.then(() => (doneCalled = true));
    w.handle.abort();
    await vi.waitFor(() => {
      expect(closed).toBe(true);
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(doneCalled).toBe(false);
  });
});
