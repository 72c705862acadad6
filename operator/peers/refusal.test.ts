// What the transport refuses, over real TLS on loopback: certificates it has
// not pinned, certificates that lie about their region, garbage, oversized
// frames. Each time the process goes on and the honest peers keep talking.
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeFrame, FrameDecoder, PROTOCOL } from "./frame.ts";
import {
  certificates,
  connected,
  counted,
  deliver,
  rawTcp,
  rawTls,
  startMember,
  waitFor,
  wire,
  within,
  type Member,
  type RawClient,
} from "../../e2e/support/peers.ts";

const { certs, remove } = certificates(["alpha", "beta", "gamma", "mallory"]);
type Region = keyof typeof certs;
afterAll(remove);
const HEARTBEAT_MS = 200;

let members: Member[] = [];
let clients: RawClient[] = [];

beforeEach(() => {
  members = [];
  clients = [];
});

afterEach(async () => {
  for (const client of clients) client.socket.destroy();
  await Promise.all(members.map((m) => m.transport.stop()));
});

async function member(region: Region, certificate: Region = region): Promise<Member> {
  const m = await startMember(region, certs[certificate], {
    heartbeatMs: HEARTBEAT_MS,
    maxFrameBytes: 4096,
  });
  members.push(m);
  return m;
}

async function federation(): Promise<readonly [Member, Member, Member]> {
  const three = [await member("alpha"), await member("beta"), await member("gamma")] as const;
  wire(three);
  await waitFor("every pair connected", () =>
    three.every((m) => three.every((p) => p === m || connected(m, p.region))),
  );
  return three;
}

function track<C extends RawClient>(client: C): C {
  clients.push(client);
  return client;
}

/** Sends HELLO as `region`, then PINGs, so that only what a test does can end the connection. */
function speakAs(client: RawClient, region: string): void {
  client.socket.write(hello(region));
  const timer = setInterval(() => {
    client.socket.write(encodeFrame({ type: "ping", timestamp: 0 }));
  }, HEARTBEAT_MS / 2);
  void client.closed.then(() => {
    clearInterval(timer);
  });
}

const hello = (region: string) => encodeFrame({ type: "hello", version: PROTOCOL.min, region });
const sync = (text: string) => encodeFrame({ type: "sync", payload: Buffer.from(text) });

/** The honest peers still reach each other, and nobody dropped a connection. */
async function unaffected(alpha: Member, beta: Member, gamma: Member): Promise<void> {
  await deliver(alpha, gamma, "alpha after");
  await deliver(beta, gamma, "beta after");
  await deliver(gamma, alpha, "gamma after");
  for (const m of [alpha, beta, gamma]) expect(m.disconnects).toEqual([]);
}

describe("refused connections", { timeout: 30_000 }, () => {
  it("refuses a region whose certificate is not pinned, before reading a byte from it", async () => {
    const [alpha, beta, gamma] = await federation();
    // Mallory runs a real transport and calls itself alpha, with a certificate nobody pinned.
    const mallory = await member("alpha", "mallory");
    mallory.transport.setPeers([
      {
        region: "gamma",
        endpoint: `127.0.0.1:${gamma.transport.port}`,
        fingerprint: certs.gamma.fingerprint,
      },
    ]);
    await waitFor("gamma to refuse mallory", () =>
      gamma.logs.some((l) => l.msg === "peer connection refused" && l.reason === "unknown_certificate"),
    );
    expect(await counted(gamma, "dsc_peer_refused_total", { reason: "unknown_certificate" })).toBeGreaterThan(
      0,
    );
    expect(mallory.connects).toEqual([]);
    expect(mallory.transport.send("gamma", Buffer.from("let me in"))).toBe(false);

    const raw = track(await rawTls(gamma.transport.port, certs.mallory));
    raw.socket.write(Buffer.concat([hello("alpha"), sync("from mallory")]));
    await within("the server to close the connection", raw.closed);
    expect(raw.received).toEqual([]); // gamma did not even say HELLO
    expect(gamma.messages.map((m) => m.text)).not.toContain("from mallory");
    await unaffected(alpha, beta, gamma);
  });

  it("refuses a client that presents no certificate", async () => {
    const [alpha, beta, gamma] = await federation();
    const raw = track(await rawTls(gamma.transport.port));
    raw.socket.write(Buffer.concat([hello("alpha"), sync("anonymous")]));
    await within("the server to close the connection", raw.closed);
    expect(raw.received).toEqual([]);
    expect(await counted(gamma, "dsc_peer_refused_total", { reason: "no_certificate" })).toBe(1);
    expect(gamma.messages.map((m) => m.text)).not.toContain("anonymous");
    await unaffected(alpha, beta, gamma);
  });

  it.each(["gamma", "alpha"])(
    "refuses beta's pinned certificate when its HELLO claims to be %s",
    async (claimed) => {
      const [alpha, beta, gamma] = await federation();
      const raw = track(await rawTls(gamma.transport.port, certs.beta));
      raw.socket.write(Buffer.concat([hello(claimed), sync("as someone else")]));
      await within("the server to close the connection", raw.closed);
      expect(await counted(gamma, "dsc_peer_refused_total", { reason: "wrong_region" })).toBe(1);
      expect(await counted(gamma, "dsc_peer_malformed_total", { peer: "beta" })).toBe(1);
      expect(gamma.messages.map((m) => m.text)).not.toContain("as someone else");
      // The real beta's connection was never in question.
      await unaffected(alpha, beta, gamma);
    },
  );

  it("refuses a peer with no protocol version in common, naming both, and speaks 2 with the release before 3", async () => {
    const [alpha, , gamma] = await federation();
    expect([alpha.transport.protocol("gamma"), gamma.transport.protocol("beta")]).toEqual([
      PROTOCOL.max,
      PROTOCOL.max,
    ]);
    const tooNew = track(await rawTls(gamma.transport.port, certs.beta));
    tooNew.socket.write(
      Buffer.concat([encodeFrame({ type: "hello", version: 9, region: "beta" }), sync("from the future")]),
    );
    await within("the server to close the connection", tooNew.closed);
    expect(await counted(gamma, "dsc_peer_refused_total", { reason: "version_mismatch" })).toBe(1);
    expect(
      gamma.logs.some(
        (l) => l.reason === "protocol too new: beta speaks version 9, this region versions 2 to 3",
      ),
    ).toBe(true);
    // The real beta's connection speaks 3 all along: the refused one is no incompatibility to show.
    expect(gamma.transport.status().find((p) => p.region === "beta")?.incompatible).toBeNull();
    expect(gamma.messages.map((m) => m.text)).not.toContain("from the future");
    // The release before 3: HELLO 2 and no VERSIONS; its first other frame opens the connection at 2.
    const old = track(await rawTls(gamma.transport.port, certs.beta));
    speakAs(old, "beta");
    old.socket.write(sync("from the release before"));
    await waitFor("gamma to take the old release's message", () =>
      gamma.messages.some((m) => m.text === "from the release before"),
    );
    expect(gamma.logs.some((l) => l.msg === "peer connected" && l.peer === "beta" && l.protocol === 2)).toBe(
      true,
    );
  });

  it("refuses a pinned region dialling the side that dials it: one connection per pair", async () => {
    const [alpha, beta, gamma] = await federation();
    const raw = track(await rawTls(alpha.transport.port, certs.beta));
    raw.socket.write(hello("beta"));
    await within("the server to close the connection", raw.closed);
    expect(raw.received).toEqual([]);
    expect(await counted(alpha, "dsc_peer_refused_total", { reason: "wrong_direction" })).toBe(1);
    await unaffected(alpha, beta, gamma);
  });

  it("refuses a server that is not the region dialled, and a certificate that is no longer pinned", async () => {
    const [alpha, beta, gamma] = await federation();
    const pins = (beta: { endpoint: string; fingerprint: string }) => [
      { region: "beta", ...beta },
      {
        region: "gamma",
        endpoint: `127.0.0.1:${gamma.transport.port}`,
        fingerprint: certs.gamma.fingerprint,
      },
    ];
    // beta's endpoint now leads to gamma, which presents gamma's (pinned) certificate.
    alpha.transport.setPeers(
      pins({ endpoint: `127.0.0.1:${gamma.transport.port}`, fingerprint: certs.beta.fingerprint }),
    );
    await waitFor("alpha to refuse gamma posing as beta", () =>
      alpha.logs.some((l) => l.msg === "peer connection refused" && l.reason === "wrong_region"),
    );
    expect(connected(alpha, "beta")).toBe(false);

    // beta is where it was, but alpha now pins another certificate for it.
    alpha.transport.setPeers(
      pins({ endpoint: `127.0.0.1:${beta.transport.port}`, fingerprint: certs.mallory.fingerprint }),
    );
    await waitFor("alpha to refuse beta's old certificate", () =>
      alpha.logs.some((l) => l.msg === "peer connection refused" && l.reason === "unknown_certificate"),
    );
    expect(connected(alpha, "beta")).toBe(false);
    expect(alpha.transport.send("beta", Buffer.from("x"))).toBe(false);
    expect(connected(alpha, "gamma")).toBe(true);

    alpha.transport.setPeers(
      pins({ endpoint: `127.0.0.1:${beta.transport.port}`, fingerprint: certs.beta.fingerprint }),
    );
    await waitFor("alpha and beta together again", () => connected(alpha, "beta"));
    await deliver(alpha, beta, "pins fixed");
  });
});

describe("garbage and malformed frames", { timeout: 30_000 }, () => {
  const http = Buffer.from("GET / HTTP/1.1\r\nHost: gamma\r\n\r\n");

  it("survives garbage instead of a TLS handshake", async () => {
    const [alpha, beta, gamma] = await federation();
    const raw = track(await rawTcp(gamma.transport.port));
    raw.socket.write(Buffer.concat([http, Buffer.alloc(512, 0xff)]));
    await within("the server to close the connection", raw.closed);
    await waitFor("the failed handshake counted", () =>
      gamma.logs.some((l) => l.msg === "TLS handshake failed"),
    );
    expect(await counted(gamma, "dsc_peer_refused_total", { reason: "tls_handshake" })).toBeGreaterThan(0);
    await unaffected(alpha, beta, gamma);
  });

  it("closes an authenticated connection that sends garbage instead of frames", async () => {
    const [alpha, beta, gamma] = await federation();
    const raw = track(await rawTls(gamma.transport.port, certs.beta));
    raw.socket.write(http); // "GET " read as a length is far over the limit
    await within("the server to close the connection", raw.closed);
    expect(await counted(gamma, "dsc_peer_malformed_total", { peer: "beta" })).toBe(1);
    await unaffected(alpha, beta, gamma);
  });

  describe("from an open connection", () => {
    async function openAsBeta(): Promise<{ gamma: Member; raw: RawClient; frames: FrameDecoder }> {
      // Gamma alone, pinning beta, which the raw client plays with beta's key.
      const gamma = await member("gamma");
      gamma.transport.setPeers([
        { region: "beta", endpoint: "127.0.0.1:1", fingerprint: certs.beta.fingerprint },
      ]);
      const raw = track(await rawTls(gamma.transport.port, certs.beta));
      speakAs(raw, "beta");
      await waitFor("gamma to accept beta", () => connected(gamma, "beta"));
      return { gamma, raw, frames: new FrameDecoder() };
    }

    it("answers HELLO with its own", async () => {
      const { raw, frames } = await openAsBeta();
      await waitFor("gamma's HELLO", () => raw.received.length > 0);
      expect(frames.push(Buffer.concat(raw.received))[0]).toEqual({
        ok: true,
        frame: { type: "hello", version: PROTOCOL.min, region: "gamma" },
      });
    });

    it("keeps one connection per peer: a reconnecting peer replaces the one that has not died yet", async () => {
      // As after kill -9 of beta: its old connection lingers until a heartbeat would find it silent.
      const { gamma, raw: old } = await openAsBeta();
      const fresh = track(await rawTls(gamma.transport.port, certs.beta));
      speakAs(fresh, "beta");
      await within("the server to close the connection", old.closed);
      expect(connected(gamma, "beta")).toBe(true);
      expect(gamma.transport.send("beta", Buffer.from("to the new one"))).toBe(true);
      const frames = new FrameDecoder();
      await waitFor("the message on the new connection", () =>
        frames
          .push(Buffer.concat(fresh.received.splice(0)))
          .some(
            (d) =>
              d.ok && d.frame.type === "sync" && Buffer.from(d.frame.payload).toString() === "to the new one",
          ),
      );
      expect(gamma.connects).toEqual(["beta", "beta"]);
      expect(gamma.disconnects).toEqual([]);
    });

    it("drops a frame of unknown type, counts it, and keeps the connection", async () => {
      const { gamma, raw } = await openAsBeta();
      raw.socket.write(Buffer.concat([Uint8Array.of(0, 0, 0, 3, 42, 1, 2), sync("after the bad frame")]));
      await waitFor("the next frame delivered", () =>
        gamma.messages.some((m) => m.text === "after the bad frame"),
      );
      expect(await counted(gamma, "dsc_peer_malformed_total", { peer: "beta" })).toBe(1);
      expect(connected(gamma, "beta")).toBe(true);
    });

    it("closes the connection on a frame longer than the limit, without waiting for its body", async () => {
      const { gamma, raw } = await openAsBeta();
      raw.socket.write(Buffer.concat([Uint8Array.of(0, 0, 0x10, 0x01), sync("never read")]));
      await within("the server to close the connection", raw.closed);
      expect(connected(gamma, "beta")).toBe(false);
      expect(gamma.disconnects).toEqual(["beta"]);
      expect(await counted(gamma, "dsc_peer_malformed_total", { peer: "beta" })).toBe(1);
      expect(gamma.messages).toEqual([]);

      // The port still serves: the peer comes back with well-formed frames.
      const again = track(await rawTls(gamma.transport.port, certs.beta));
      again.socket.write(Buffer.concat([hello("beta"), sync("well-formed")]));
      await waitFor("the well-formed message", () => gamma.messages.some((m) => m.text === "well-formed"));
    });
  });
});
