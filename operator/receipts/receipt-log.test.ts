import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { CID } from "multiformats/cid";
import { openReceipt, ReceiptError, RECEIPT_KINDS } from "../core/receipt/receipt.ts";
import { ed25519Key, ed25519PublicKey, noteVerifier, parseVkey } from "../core/tlog/note.ts";
import { serve } from "../runtime/server.ts";
import { LogClientError, TileClient } from "../tlog/client.ts";
import { LOG_PREFIX, logRoute } from "./http.ts";
import { loadLogKey } from "./key.ts";
import { TILE_WIDTH } from "../core/tlog/tiles.ts";
import { MAX_FETCHED } from "../witness/rpc.ts";
import { logOrigin, MAX_RECEIPT_BYTES, ReceiptLog } from "./receipt-log.ts";

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "receipts-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function openLog(dir: string, registry = new Registry()) {
  return ReceiptLog.open({
    dir: join(dir, "log"),
    region: "beta",
    origin: logOrigin("dsc", "beta"),
    seed: await loadLogKey(dir, undefined),
    logger: pino({ level: "silent" }),
    registry,
    now: () => Date.parse("2026-12-06T00:00:00Z"),
  });
}

describe("the receipt log", () => {
  it("records every kind of decision as a signed, content-addressed receipt, served as tlog-tiles and read back by a client", async () => {
    const dir = tmp();
    const registry = new Registry();
    const receipts = await openLog(dir, registry);
    for (let i = 0; i < 600; i++)
      void receipts.record(RECEIPT_KINDS[i % RECEIPT_KINDS.length] ?? "discrepancy", `ns/m-${String(i)}`, {
        i,
      });
    await receipts.flushed();
    expect(receipts.log.size).toBe(600);
    expect(await registry.getSingleMetricAsString("dsc_log_size")).toContain("dsc_log_size 600");

    const server = await serve({
      host: "127.0.0.1",
      port: 0,
      registry,
      ready: () => true,
      post: new Map(),
      get: new Map([[LOG_PREFIX, logRoute(receipts.log, receipts.vkey)]]),
    });
    try {
      const base = `http://127.0.0.1:${String(server.port)}${LOG_PREFIX}`;
      const vkey = parseVkey(await (await fetch(`${base}vkey`)).text());
      expect(vkey.name).toBe("dsc.federation.dev/dsc/beta");
      const client = new TileClient(base, noteVerifier(vkey.name, vkey.publicKey));
      const checkpoint = await client.checkpoint();
      expect(checkpoint.size).toBe(600);
      const publicKey = ed25519PublicKey(vkey.publicKey);
      const entries = await client.entries(checkpoint, 250, 600);
      const opened = entries.map((e) => openReceipt(e, publicKey));
      expect(opened[0]?.receipt).toMatchObject({
        v: 1,
        region: "beta",
        subject: "ns/m-250",
        details: { i: 250 },
      });
      expect(new Set(opened.map((r) => r.receipt.kind))).toEqual(new Set(RECEIPT_KINDS));
      const cid = CID.parse(opened[0]?.cid ?? "");
      expect([cid.version, cid.code, cid.multihash.code]).toEqual([1, 0x0200, 0x12]);

      // A receipt of another key, or altered, is refused.
      const other = ed25519PublicKey(ed25519Key(new Uint8Array(32).fill(9)).publicKey);
      expect(() => openReceipt(entries[0] ?? new Uint8Array(), other)).toThrow(/not the log key's/);
      const altered = new TextEncoder().encode(
        new TextDecoder().decode(entries[0]).replace('"i":250', '"i":251'),
      );
      expect(() => openReceipt(altered, publicKey)).toThrow(ReceiptError);

      // A server that alters one byte of a tile or a bundle is caught.
      for (const target of ["tile/0/000", "tile/entries/001"]) {
        const lying: typeof fetch = async (url, init) => {
          const res = await fetch(url, init);
          const href = url instanceof Request ? url.url : url instanceof URL ? url.href : url;
          if (!href.endsWith(target)) return res;
          const bytes = new Uint8Array(await res.arrayBuffer());
          bytes[40] = (bytes[40] ?? 0) ^ 1;
          return new Response(bytes, { status: 200 });
        };
        const liar = new TileClient(base, noteVerifier(vkey.name, vkey.publicKey), lying);
        await expect(liar.entries(checkpoint, 0, 600)).rejects.toThrow(LogClientError);
      }
      expect((await fetch(`${base}tile/0/003`)).status).toBe(404);
      // A path that climbs out of the log (encoded, so fetch does not resolve it) is no tile.
      expect((await fetch(`${base}tile/..%2F..%2Fcheckpoint`)).status).toBe(404);
    } finally {
      await server.close();
    }

    // Reopened with the same key file, it signs as the same log and goes on.
    const again = await openLog(dir);
    expect(again.vkey).toBe(receipts.vkey);
    expect(again.log.size).toBe(600);
  });

  it("logs a receipt over MAX_RECEIPT_BYTES by its CID and size, so a full bundle of the largest fits one mirror fetch", async () => {
    const receipts = await openLog(tmp());
    await receipts.record("manifest.verified", "ns/big", { reasons: "x".repeat(40_000) });
    await receipts.flushed();
    const entry = (await receipts.log.entry(0)) ?? new Uint8Array();
    expect(entry.length).toBeLessThanOrEqual(MAX_RECEIPT_BYTES);
    const { receipt } = openReceipt(entry, ed25519PublicKey(receipts.publicKey));
    expect(receipt.details).toMatchObject({ truncated: true, bytes: expect.any(Number) as number });
    const fullCid = receipt.details.fullCid;
    expect(typeof fullCid === "string" && CID.parse(fullCid).toString()).toBe(fullCid);
    // A bundle: 256 entries, each with a 2-byte length; a FETCHED answer adds 1 byte and a 5-byte header.
    expect(TILE_WIDTH * (2 + MAX_RECEIPT_BYTES) + 1 + 5).toBeLessThanOrEqual(MAX_FETCHED);
  });

  it("refuses a log key file that is not one seed, naming the fix", async () => {
    const dir = tmp();
    const file = join(dir, "seed");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(file, "not hex\n");
    await expect(loadLogKey(dir, file)).rejects.toThrow(/64 hex digits \(make one: openssl rand -hex 32\)/);
  });

  it("refuses hostile entries with a ReceiptError and nothing else", async () => {
    const { default: fc } = await import("fast-check");
    const key = ed25519PublicKey(ed25519Key(new Uint8Array(32).fill(1)).publicKey);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.json().map((j) => new TextEncoder().encode(j)),
        ),
        (bytes) => {
          try {
            openReceipt(bytes, key);
            return false;
          } catch (error) {
            return error instanceof ReceiptError;
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
