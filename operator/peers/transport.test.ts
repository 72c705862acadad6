// Three transports on loopback over real TLS: connection, exchange, restarts,
// partitions only a heartbeat can see, and changes of membership.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  certificates,
  connected,
  counted,
  deliver,
  restartMember,
  startMember,
  startRelay,
  waitFor,
  wire,
  type Member,
  type Relay,
} from "../../e2e/support/peers.ts";

const { certs, remove } = certificates(["alpha", "beta", "gamma"]);
afterAll(remove);
const REGIONS = ["alpha", "beta", "gamma"] as const;
const HEARTBEAT_MS = 200;

let members: Member[] = [];
let relay: Relay | undefined;

async function federation(): Promise<[Member, Member, Member]> {
  const [alpha, beta, gamma] = await Promise.all(
    REGIONS.map((region) => startMember(region, certs[region], { heartbeatMs: HEARTBEAT_MS })),
  );
  if (!alpha || !beta || !gamma) throw new Error("three members expected");
  members = [alpha, beta, gamma];
  return [alpha, beta, gamma];
}

function allConnected(): boolean {
  return members.every((m) => members.every((p) => p === m || connected(m, p.region)));
}

beforeEach(() => {
  members = [];
  relay = undefined;
});

afterEach(async () => {
  await Promise.all(members.map((m) => m.transport.stop()));
  await relay?.close();
});

describe("PeerTransport", { timeout: 30_000 }, () => {
  it("connects three regions pairwise, once per pair, and carries messages both ways", async () => {
    const [alpha, beta, gamma] = await federation();
    wire(members);
    await waitFor("every pair connected", allConnected);
    for (const from of members)
      for (const to of members) if (from !== to) await deliver(from, to, `${from.region} to ${to.region}`);

    expect(alpha.connects.sort()).toEqual(["beta", "gamma"]);
    expect(beta.connects.sort()).toEqual(["alpha", "gamma"]);
    expect(gamma.connects.sort()).toEqual(["alpha", "beta"]);
    expect(beta.messages).toEqual([
      { from: "alpha", text: "alpha to beta" },
      { from: "gamma", text: "gamma to beta" },
    ]);
    const toBeta = alpha.transport.status().find((s) => s.region === "beta");
    expect(toBeta).toMatchObject({ connected: true, bytesOut: 13, bytesIn: 13 });
    expect(await counted(alpha, "dsc_peer_connected", { peer: "beta" })).toBe(1);
    expect(await counted(alpha, "dsc_sync_bytes_total", { peer: "beta", direction: "out" })).toBe(13);
    expect(await counted(gamma, "dsc_sync_bytes_total", { peer: "alpha", direction: "in" })).toBe(14);
  });

  it("delivers a large message intact, however TLS records split it", async () => {
    const [alpha, beta] = await federation();
    wire(members);
    await waitFor("alpha and beta connected", () => connected(alpha, "beta"));
    const payload = randomBytes(3 * 1024 * 1024);
    const received: string[] = [];
    beta.transport.onMessage((_from, bytes) =>
      received.push(createHash("sha256").update(bytes).digest("hex")),
    );
    expect(alpha.transport.send("beta", payload)).toBe(true);
    await waitFor("the large message", () => received.length === 1);
    expect(received).toEqual([createHash("sha256").update(payload).digest("hex")]);
  });

  it("keeps the document's sync and the spec exchange apart, in order", async () => {
    const [alpha, beta] = await federation();
    wire(members);
    await waitFor("alpha and beta connected", () => connected(alpha, "beta"));
    const received: string[] = [];
    beta.transport.onMessage((from, bytes, channel) =>
      received.push(`${from} ${channel} ${Buffer.from(bytes).toString()}`),
    );
    expect(alpha.transport.send("beta", Buffer.from("one"))).toBe(true);
    expect(alpha.transport.send("beta", Buffer.from("two"), "specs")).toBe(true);
    expect(alpha.transport.send("beta", Buffer.from("three"), "sync")).toBe(true);
    await waitFor("three messages", () => received.length === 3);
    expect(received).toEqual(["alpha sync one", "alpha specs two", "alpha sync three"]);
  });

  it("says when a message cannot be sent, and refuses one larger than a frame", async () => {
    const [alpha] = await federation();
    expect(alpha.transport.send("beta", Buffer.from("too early"))).toBe(false);
    expect(alpha.transport.send("delta", Buffer.from("nobody"))).toBe(false);
    expect(() => alpha.transport.send("beta", new Uint8Array(8 * 1024 * 1024))).toThrow(RangeError);
  });

  it("reports round-trip time and when each peer was last heard", async () => {
    const before = Date.now();
    const [alpha] = await federation();
    wire(members);
    await waitFor("round trips measured", () =>
      members.every((m) => m.transport.status().every((s) => s.rttMs !== null)),
    );
    for (const status of alpha.transport.status()) {
      expect(status.rttMs).toBeGreaterThanOrEqual(0);
      expect(status.lastHeardMs).toBeGreaterThanOrEqual(before);
      expect(status.lastHeardMs).toBeLessThanOrEqual(Date.now());
    }
    const rttSeconds = await counted(alpha, "dsc_peer_rtt_seconds", { peer: "gamma" });
    expect(rttSeconds).toBeGreaterThan(0);
    expect(
      await counted(alpha, "dsc_peer_last_heard_timestamp_seconds", { peer: "gamma" }),
    ).toBeGreaterThanOrEqual(before / 1000);
  });

  it("reconnects to a region that stopped and came back, and tells the caller", async () => {
    const [alpha, beta, gamma] = await federation();
    wire(members);
    await waitFor("every pair connected", allConnected);
    const port = beta.transport.port;

    await beta.transport.stop();
    await waitFor(
      "alpha and gamma to see beta gone",
      () => !connected(alpha, "beta") && !connected(gamma, "beta"),
    );
    expect(alpha.disconnects).toEqual(["beta"]);
    expect(gamma.disconnects).toEqual(["beta"]);
    expect(alpha.transport.send("beta", Buffer.from("while down"))).toBe(false);
    expect(await counted(alpha, "dsc_peer_connected", { peer: "beta" })).toBe(0);
    // Alpha and gamma go on without beta.
    await deliver(alpha, gamma, "without beta");

    await restartMember(beta, { heartbeatMs: HEARTBEAT_MS }, port);
    wire(members); // the new beta learns its peers; alpha's and gamma's pins are unchanged
    await waitFor("beta reconnected to both", allConnected);
    expect(alpha.connects.filter((r) => r === "beta")).toHaveLength(2);
    expect(gamma.connects.filter((r) => r === "beta")).toHaveLength(2);
    await deliver(alpha, beta, "welcome back");
    await deliver(beta, gamma, "back again");
    expect(beta.messages.filter((m) => m.text === "while down")).toEqual([]);
  });

  it("declares a peer that goes silent disconnected after missed heartbeats, and reconnects when it speaks again", async () => {
    const [alpha, beta, gamma] = await federation();
    relay = await startRelay(beta.transport.port);
    const viaRelay = relay.port;
    wire(members, (from, to) => (from === alpha && to === beta ? `127.0.0.1:${viaRelay}` : undefined));
    await waitFor("every pair connected", allConnected);

    // The relay keeps both TCP connections open: no FIN, no RST, only silence.
    relay.pause();
    await waitFor(
      "alpha and beta to give up on each other",
      () => !connected(alpha, "beta") && !connected(beta, "alpha"),
    );
    expect(alpha.disconnects).toEqual(["beta"]);
    expect(beta.disconnects).toEqual(["alpha"]);
    expect(alpha.logs.some((l) => l.msg === "peer silent: closing" && l.peer === "beta")).toBe(true);
    // The rest of the federation did not notice.
    expect(connected(alpha, "gamma") && connected(beta, "gamma")).toBe(true);
    await deliver(alpha, gamma, "still here");
    await deliver(gamma, beta, "and here");

    relay.resume();
    await waitFor("alpha and beta reconnected", () => connected(alpha, "beta") && connected(beta, "alpha"));
    expect(beta.connects.filter((r) => r === "alpha")).toHaveLength(2);
    await deliver(alpha, beta, "healed");
  });

  it("follows membership changes: drops a region that leaves, connects one that joins", async () => {
    const [alpha, beta, gamma] = await federation();
    wire(members);
    await waitFor("every pair connected", allConnected);

    alpha.transport.setPeers([
      {
        region: "beta",
        endpoint: `127.0.0.1:${beta.transport.port}`,
        fingerprint: certs.beta.fingerprint,
      },
    ]);
    expect(alpha.transport.status().map((s) => s.region)).toEqual(["beta"]);
    expect(alpha.disconnects).toEqual(["gamma"]);
    await waitFor("gamma to see alpha gone", () => !connected(gamma, "alpha"));
    expect(alpha.transport.send("gamma", Buffer.from("gone"))).toBe(false);
    expect(await counted(alpha, "dsc_peer_connected", { peer: "gamma" })).toBe(0);
    expect((await alpha.registry.getSingleMetric("dsc_peer_connected")?.get())?.values).toHaveLength(1);

    wire(members);
    await waitFor(
      "alpha and gamma together again",
      () => connected(alpha, "gamma") && connected(gamma, "alpha"),
    );
    await deliver(gamma, alpha, "rejoined");
  });

  it("rejects a peer set that would make identities ambiguous, keeping the one it had", async () => {
    const [alpha, beta] = await federation();
    wire(members);
    await waitFor("every pair connected", allConnected);
    expect(() => {
      alpha.transport.setPeers([
        { region: "beta", endpoint: "127.0.0.1:1", fingerprint: certs.gamma.fingerprint },
        { region: "gamma", endpoint: "127.0.0.1:2", fingerprint: certs.gamma.fingerprint },
      ]);
    }).toThrow(/shares its certificate/);
    expect(connected(alpha, "beta") && connected(alpha, "gamma")).toBe(true);
    await deliver(alpha, beta, "unchanged");
  });
});
