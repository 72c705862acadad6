// The decision log on its own: receipts appended per second (signed, content
// addressed, batched, fsynced), beside the bare tile log; and a log of a
// million receipts: the size of one inclusion proof, the time to verify one,
// and the RSS of a process that opened it and proves from it (tiles on disk,
// not the tree in memory).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { RECEIPT_KINDS } from "../operator/core/receipt/receipt.ts";
import { ed25519Key, noteSigner, noteVerifier } from "../operator/core/tlog/note.ts";
import { ReceiptLog } from "../operator/receipts/receipt-log.ts";
import { diskFiles } from "../operator/tlog/durable.ts";
import { TileLog } from "../operator/tlog/tile-log.ts";
import { table } from "./stats.ts";

const ORIGIN = "dsc.federation.dev/bench/alpha";
const seed = new Uint8Array(32).fill(7);

/** A receipt's details about the size of a real manifest.applied one. */
const details = (i: number) => ({
  digest: `0x${i.toString(16).padStart(64, "0")}`,
  nonce: i,
  tier: "upgrade",
  block: "123456",
  reason: "Verified",
  approvals: "2/2",
  dspApprovers: ["0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222"],
  boardApprovers: [],
  state: "Applied",
  objects: [`ConfigMap/ns/m-${String(i)}`],
  objectCount: 1,
  pruned: [],
});

async function receiptsPerSecond(
  count: number,
): Promise<{ receipts: number; bare: number; entryBytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), "bench-log-"));
  try {
    const log = await ReceiptLog.open({
      dir: join(dir, "receipts"),
      region: "alpha",
      origin: ORIGIN,
      seed,
      logger: pino({ level: "silent" }),
      registry: new Registry(),
      now: Date.now,
    });
    let started = performance.now();
    for (let i = 0; i < count; i++)
      void log.record(RECEIPT_KINDS[i % 3] ?? "manifest.applied", `ns/m-${String(i)}`, details(i));
    await log.flushed();
    const receipts = count / ((performance.now() - started) / 1000);
    const entryBytes = Math.round((log.log.size > 0 ? (await log.log.entry(0))?.length : 0) ?? 0);
    const key = ed25519Key(seed);
    const bare = await TileLog.open({
      files: diskFiles(join(dir, "bare")),
      origin: ORIGIN,
      signer: noteSigner(ORIGIN, seed),
      verifier: noteVerifier(ORIGIN, key.publicKey),
    });
    const entry = new Uint8Array(entryBytes).fill(65);
    started = performance.now();
    await Promise.all(Array.from({ length: count }, () => bare.append(entry)));
    return { receipts, bare: count / ((performance.now() - started) / 1000), entryBytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchLog(print: (line: string) => void, big = 1_000_000): Promise<void> {
  const runs = [
    await receiptsPerSecond(20_000),
    await receiptsPerSecond(20_000),
    await receiptsPerSecond(20_000),
  ];
  const fmt = (xs: number[]) =>
    `${Math.round(Math.min(...xs)).toLocaleString("en-US")}–${Math.round(Math.max(...xs)).toLocaleString("en-US")}`;
  print(
    table([
      ["append path (20,000 each, 3 runs)", "per second (min–max)", "entry bytes"],
      [
        "receipts: sign + CID + tile log (batched, fsynced)",
        fmt(runs.map((r) => r.receipts)),
        String(runs[0]?.entryBytes ?? 0),
      ],
      ["bare tile log, same entry size", fmt(runs.map((r) => r.bare)), String(runs[0]?.entryBytes ?? 0)],
    ]),
  );
  const worst = Math.min(...runs.map((r) => r.receipts));
  print(`receipts per second: ${Math.round(worst).toLocaleString("en-US")} at worst (goal: at least 5,000)`);

  // A million receipts, then a fresh process that opens the log and proves from it.
  const dir = mkdtempSync(join(tmpdir(), "bench-log-big-"));
  try {
    const started = performance.now();
    const log = await ReceiptLog.open({
      dir,
      region: "alpha",
      origin: ORIGIN,
      seed,
      logger: pino({ level: "silent" }),
      registry: new Registry(),
      now: Date.now,
    });
    for (let i = 0; i < big; i++) {
      void log.record("manifest.applied", `ns/m-${String(i % 1000)}`, details(i));
      if (i % 10_000 === 9_999) await log.flushed();
    }
    await log.flushed();
    const built = (performance.now() - started) / 1000;
    const out = execFileSync(
      process.execPath,
      [join(import.meta.dirname, "log-child.ts"), dir, ORIGIN, Buffer.from(seed).toString("hex")],
      {
        encoding: "utf8",
      },
    );
    const child = JSON.parse(out) as {
      size: number;
      proofHashes: number;
      proofBytes: number;
      verifyMicros: number;
      proveMillis: number;
      rssMb: number;
    };
    print(
      table([
        [
          "log of",
          "built in",
          "inclusion proof",
          "tlog-proof bundle",
          "prove (tiles from disk)",
          "verify one proof",
          "RSS of a process that opened it and proved 1,000",
        ],
        [
          `${child.size.toLocaleString("en-US")} receipts`,
          `${built.toFixed(1)} s`,
          `${String(child.proofHashes)} hashes`,
          `${String(child.proofBytes)} bytes`,
          `${child.proveMillis.toFixed(2)} ms`,
          `${child.verifyMicros.toFixed(1)} µs`,
          `${child.rssMb.toFixed(1)} MB (goal: within 200 MB)`,
        ],
      ]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
