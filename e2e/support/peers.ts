// Helpers for the peer transport's tests (operator/peers/*.test.ts): regions
// on loopback wired to each other, clients that misbehave on purpose, a relay
// that can go silent, and bounded waiting.
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { captureLogger, metricValue, type LogLine } from "./runtime.ts";
import { generatePeerCertificate, type PeerCertificate } from "./certificates.ts";
import { PeerTransport, type PeerTransportOptions } from "../../operator/peers/transport.ts";

const HOST = "127.0.0.1";

/** Certificates for `regions` in a fresh directory; `remove` deletes it. */
export function certificates<R extends string>(
  regions: readonly R[],
): {
  certs: Record<R, PeerCertificate>;
  remove: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), "dsc-peers-"));
  const certs = Object.fromEntries(
    regions.map((region) => [region, generatePeerCertificate(dir, region)]),
  ) as Record<R, PeerCertificate>;
  return {
    certs,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One region's transport and what it has seen. */
export interface Member {
  readonly region: string;
  readonly certificate: PeerCertificate;
  readonly registry: Registry;
  readonly logs: LogLine[];
  transport: PeerTransport;
  readonly messages: { from: string; text: string }[];
  readonly connects: string[];
  readonly disconnects: string[];
}

export type MemberOptions = Partial<
  Pick<PeerTransportOptions, "heartbeatMs" | "maxFrameBytes" | "reconnect">
>;

/** Starts a transport listening on a kernel-chosen port (or `port`), with no peers yet. */
export async function startMember(
  region: string,
  certificate: PeerCertificate,
  options: MemberOptions = {},
  port = 0,
): Promise<Member> {
  const { logger, lines } = captureLogger();
  const registry = new Registry();
  const seen: Pick<Member, "messages" | "connects" | "disconnects"> = {
    messages: [],
    connects: [],
    disconnects: [],
  };
  const transport = await startTransport(region, certificate, registry, logger, seen, options, port);
  return { region, certificate, registry, logs: lines, transport, ...seen };
}

/** Replaces the member's transport by a new one on `port`: an operator restart, history kept in `member`. */
export async function restartMember(member: Member, options: MemberOptions, port: number): Promise<void> {
  const { logger } = captureLogger();
  member.transport = await startTransport(
    member.region,
    member.certificate,
    member.registry,
    logger,
    member,
    options,
    port,
  );
}

async function startTransport(
  region: string,
  certificate: PeerCertificate,
  registry: Registry,
  logger: Logger,
  seen: Pick<Member, "messages" | "connects" | "disconnects">,
  options: MemberOptions,
  port: number,
): Promise<PeerTransport> {
  const transport = new PeerTransport({
    region,
    listen: { host: HOST, port },
    certificate: { cert: certificate.cert, key: certificate.key },
    peers: [],
    heartbeatMs: options.heartbeatMs ?? 200,
    logger,
    registry,
    ...(options.maxFrameBytes !== undefined && { maxFrameBytes: options.maxFrameBytes }),
    ...(options.reconnect && { reconnect: options.reconnect }),
  });
  transport.onMessage((from, bytes) => {
    seen.messages.push({ from, text: Buffer.from(bytes).toString() });
  });
  transport.onConnect((peer) => seen.connects.push(peer));
  transport.onDisconnect((peer) => seen.disconnects.push(peer));
  await transport.start();
  return transport;
}

/** Pins every other member in each member; `endpoint` may route a pair elsewhere (through a relay). */
export function wire(
  members: readonly Member[],
  endpoint?: (from: Member, to: Member) => string | undefined,
): void {
  for (const from of members)
    from.transport.setPeers(
      members
        .filter((to) => to !== from)
        .map((to) => ({
          region: to.region,
          endpoint: endpoint?.(from, to) ?? `${HOST}:${to.transport.port}`,
          fingerprint: to.certificate.fingerprint,
        })),
    );
}

export function connected(member: Member, peer: string): boolean {
  return member.transport.status().find((s) => s.region === peer)?.connected ?? false;
}

/** Polls `condition` until it holds; fails after `timeoutMs` with `what` in the message. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits for `promise`; fails after `timeoutMs` with `what` in the message. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `text` from `from` to `to` and waits until it arrives. */
export async function deliver(from: Member, to: Member, text: string): Promise<void> {
  if (!from.transport.send(to.region, Buffer.from(text)))
    throw new Error(`${from.region} is not connected to ${to.region}`);
  await waitFor(`${to.region} to receive ${JSON.stringify(text)}`, () =>
    to.messages.some((m) => m.from === from.region && m.text === text),
  );
}

export async function counted(member: Member, name: string, labels: Record<string, string>): Promise<number> {
  return (await metricValue(member.registry, name, labels)) ?? 0;
}

/** A client that speaks raw bytes over TLS (or plain TCP), to misbehave as no transport would. */
export interface RawClient {
  readonly socket: Socket;
  readonly received: Buffer[];
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
}

export async function rawTls(
  port: number,
  credentials?: { readonly cert: string; readonly key: string },
): Promise<RawClient & { readonly socket: TLSSocket }> {
  const socket = tlsConnect({
    host: HOST,
    port,
    ...(credentials && { cert: credentials.cert, key: credentials.key }),
    rejectUnauthorized: false,
    minVersion: "TLSv1.3",
  });
  const client = track(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  return { ...client, socket };
}

export async function rawTcp(port: number): Promise<RawClient> {
  const socket = tcpConnect(port, HOST);
  const client = track(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return client;
}

function track(socket: Socket): RawClient {
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  // The server resets refused connections; that is the expected outcome, not a test failure.
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once("close", () => {
      resolve();
    }),
  );
  return { socket, received, closed };
}

/**
 * A TCP relay that can stop forwarding while keeping both connections open:
 * a partition as the endpoints see it, with no FIN or RST to notice, so only
 * a heartbeat can tell.
 */
export interface Relay {
  readonly port: number;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  let paused = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(targetPort, HOST);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      if (paused) from.pause();
      from.on("data", (chunk: Buffer) => to.write(chunk));
      from.on("end", () => to.end());
      from.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      from.on("close", () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("relay has no address");
  return {
    port: address.port,
    pause() {
      paused = true;
      for (const s of sockets) s.pause();
    },
    resume() {
      paused = false;
      for (const s of sockets) s.resume();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
