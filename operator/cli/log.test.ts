// `dsc log` as a user runs it: against a region's log served over HTTP, then
// offline on the proof file it wrote, with the witnesses a policy names.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cosigner, witnessName } from "../core/tlog/checkpoint.ts";
import {
  COSIGNATURE_V1,
  ED25519,
  ed25519Key,
  formatNote,
  formatVkey,
  parseNote,
  signNote,
} from "../core/tlog/note.ts";
import { LOG_PREFIX, logRoute } from "../receipts/http.ts";
import { logOrigin, ReceiptLog } from "../receipts/receipt-log.ts";
import { serve } from "../runtime/server.ts";
import { run } from "./dsc.ts";

const dir = mkdtempSync(join(tmpdir(), "dsc-log-"));
const witnessKeys = ["beta", "gamma"].map((r, i) => ({
  origin: logOrigin("dsc", r),
  key: ed25519Key(new Uint8Array(32).fill(20 + i)),
}));
let url = "";
let vkey = "";
let close: () => Promise<void> = () => Promise.resolve();

beforeAll(async () => {
  const receipts = await ReceiptLog.open({
    dir: join(dir, "log"),
    region: "alpha",
    origin: logOrigin("dsc", "alpha"),
    seed: new Uint8Array(32).fill(1),
    logger: pino({ level: "silent" }),
    registry: new Registry(),
    now: () => Date.parse("2026-12-06T00:00:00Z"),
  });
  for (let i = 0; i < 300; i++) void receipts.record("manifest.applied", `ns/m-${String(i)}`, { nonce: i });
  await receipts.flushed();
  vkey = receipts.vkey;
  // Served as the operator serves it once beta and gamma cosigned: the checkpoint with their lines.
  const cosigned = () =>
    formatNote(
      signNote(
        parseNote(receipts.log.checkpoint.note),
        witnessKeys.map((w) => cosigner(witnessName(w.origin), w.key.seed)),
      ),
    );
  const server = await serve({
    host: "127.0.0.1",
    port: 0,
    registry: new Registry(),
    ready: () => true,
    post: new Map(),
    get: new Map([[LOG_PREFIX, logRoute(receipts.log, receipts.vkey, cosigned)]]),
  });
  url = `http://127.0.0.1:${String(server.port)}/log/`;
  close = () => server.close();
});
afterAll(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

const dsc = async (...args: string[]) => {
  const lines: string[] = [];
  const code = await run(args, (l) => lines.push(l));
  return { code, text: lines.join("\n") };
};

describe("dsc log", () => {
  it("prints the checkpoint and a receipt, proven against the log's key", async () => {
    const checkpoint = await dsc("log", "checkpoint", "--url", url, "--vkey", vkey);
    expect(checkpoint.code).toBe(0);
    expect(checkpoint.text).toContain("dsc.federation.dev/dsc/alpha: 300 receipts, signed by its key");
    const got = await dsc("log", "get", "257", "--url", url, "--vkey", vkey, "--json");
    expect(JSON.parse(got.text)).toMatchObject({
      index: 257,
      receipt: { kind: "manifest.applied", subject: "ns/m-257", region: "alpha" },
    });
    const wrongKey = formatVkey(
      logOrigin("dsc", "alpha"),
      ED25519,
      ed25519Key(new Uint8Array(32).fill(9)).publicKey,
    );
    expect((await dsc("log", "checkpoint", "--url", url, "--vkey", wrongKey)).code).toBe(1);
  });

  it("writes an offline proof that verifies with the log's key and a quorum of witnesses, and fails when tampered", async () => {
    const file = join(dir, "receipt-42.tlog-proof");
    expect((await dsc("log", "prove", "42", "--url", url, "--vkey", vkey, "-o", file)).code).toBe(0);
    expect(readFileSync(file, "utf8")).toMatch(/^c2sp\.org\/tlog-proof@v1\nextra /);
    const witnessFlags = witnessKeys.flatMap((w) => [
      "--witness",
      formatVkey(w.origin, ED25519, w.key.publicKey),
    ]);
    const ok = await dsc("log", "verify", file, "--vkey", vkey, ...witnessFlags, "--quorum", "2");
    expect(ok.code).toBe(0);
    expect(ok.text).toContain("OK: receipt 42 is in dsc.federation.dev/dsc/alpha at size 300");
    expect(ok.text).toContain("cosigned by 2 of 2 witnesses");
    // A witness named by its cosigning key (type 4) counts the same.
    const cosignKey = formatVkey(
      witnessName(witnessKeys[0]?.origin ?? ""),
      COSIGNATURE_V1,
      witnessKeys[0]?.key.publicKey ?? new Uint8Array(),
    );
    expect((await dsc("log", "verify", file, "--vkey", vkey, "--witness", cosignKey)).code).toBe(0);

    // A stranger's "witness" does not make a quorum.
    const stranger = formatVkey(
      "elsewhere/witness",
      COSIGNATURE_V1,
      ed25519Key(new Uint8Array(32).fill(30)).publicKey,
    );
    const short = await dsc(
      "log",
      "verify",
      file,
      "--vkey",
      vkey,
      ...witnessFlags.slice(0, 2),
      "--witness",
      stranger,
      "--quorum",
      "2",
    );
    expect(short.code).toBe(1);
    expect(short.text).toContain("cosigned by 1 of the trusted witnesses; the policy asks 2");

    // The receipt altered in the proof: its hash no longer leads to the root.
    const text = readFileSync(file, "utf8");
    const extra = /^extra (.*)$/m.exec(text)?.[1] ?? "";
    const altered = Buffer.from(
      Buffer.from(extra, "base64").toString("utf8").replace('"nonce":42', '"nonce":43'),
    ).toString("base64");
    writeFileSync(file, text.replace(extra, altered));
    const tampered = await dsc("log", "verify", file, "--vkey", vkey);
    expect(tampered.code).toBe(1);
    expect(tampered.text).toContain("FAILED");
  });

  it("names the missing flag", async () => {
    await expect(dsc("log", "get", "1", "--vkey", vkey)).rejects.toThrow(/--url/);
    await expect(dsc("log", "prove", "x", "--url", url, "--vkey", vkey)).rejects.toThrow(/INDEX/);
  });
});
