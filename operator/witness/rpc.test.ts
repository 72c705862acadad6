// The peer connection's FETCH of a log resource: what a mirror asks (a path,
// and after it the entries it holds already), and what a hostile asker gets
// for anything else: "not found", never an error, a crash or a wait.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { WitnessRpc, type WitnessChannel } from "./rpc.ts";

const silent = pino({ level: "silent" });
const FETCH = 4;
const FETCHED = 5;

/** beta serving `read`, alpha asking; `raw` sends alpha's bytes as they are and returns beta's answer. */
function peers(read: (path: string, skip: number) => Promise<Uint8Array | undefined>) {
  const listeners = new Map<string, (peer: string, bytes: Uint8Array, channel: string) => void>();
  const answers: Uint8Array[] = [];
  const channel = (self: string): WitnessChannel => ({
    send: (peer, bytes) => {
      if (self === "beta") answers.push(bytes);
      setImmediate(() => listeners.get(peer)?.(self, bytes, "witness"));
      return true;
    },
    onMessage: (listener) => listeners.set(self, listener),
  });
  const rpc = (self: string, serve: typeof read) =>
    new WitnessRpc({
      channel: channel(self),
      answer: () => Promise.resolve({ status: 404, contentType: "", body: "" }),
      gossiped: () => undefined,
      read: serve,
      logger: silent,
    });
  const alpha = rpc("alpha", () => Promise.resolve(undefined));
  rpc("beta", read);
  const raw = async (text: string): Promise<Uint8Array | undefined> => {
    const body = new TextEncoder().encode(text);
    const frame = new Uint8Array(5 + body.length);
    frame[0] = FETCH;
    new DataView(frame.buffer).setUint32(1, 7);
    frame.set(body, 5);
    const before = answers.length;
    listeners.get("beta")?.("alpha", frame, "witness");
    await expect.poll(() => answers.length).toBe(before + 1);
    const answer = answers[before];
    expect(answer?.[0]).toBe(FETCHED);
    return answer?.[5] === 1 ? answer.slice(6) : undefined;
  };
  return { alpha, raw };
}

describe("a FETCH over the peer connection", () => {
  it("carries the entries the asker holds after the path, and answers what the log serves for them", async () => {
    const asked: [string, number][] = [];
    const { alpha, raw } = peers((path, skip) => {
      asked.push([path, skip]);
      return Promise.resolve(new Uint8Array([skip]));
    });
    expect(await alpha.fetch("beta", "tile/entries/000.p/9", 5)).toEqual(new Uint8Array([5]));
    expect(await alpha.fetch("beta", "tile/entries/000.p/9")).toEqual(new Uint8Array([0]));
    expect(await raw("checkpoint")).toEqual(new Uint8Array([0]));
    expect(asked).toEqual([
      ["tile/entries/000.p/9", 5],
      ["tile/entries/000.p/9", 0],
      ["checkpoint", 0],
    ]);
  });

  it("answers not found, without asking the log, to a skip that is not a count of at most three digits, or a second line", async () => {
    const asked: string[] = [];
    const { raw } = peers((path) => {
      asked.push(path);
      return Promise.resolve(new Uint8Array([1]));
    });
    for (const text of ["p\n", "p\n-1", "p\n1.5", "p\n007", "p\n1000", "p\n1\n2", "p\nx", "p\n 1"])
      expect(await raw(text)).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it("answers not found when the log cannot read what was asked, rather than leaving the asker to time out", async () => {
    const { alpha } = peers(() => Promise.reject(new Error("a damaged bundle")));
    expect(await alpha.fetch("beta", "tile/entries/000.p/9", 3)).toBeUndefined();
  });
});
