// Another federation's log, served over real HTTP as tlog-tiles, watched at
// each trust level by the real client and this region's real witness.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { cosignatureVerifier } from "../core/tlog/checkpoint.ts";
import {
  ED25519,
  ed25519Key,
  formatVkey,
  noteSigner,
  noteVerifier,
  parseNote,
  verifyNote,
} from "../core/tlog/note.ts";
import { CurrentFederation, type FederationContext } from "../federation/context.ts";
import { logRoute } from "../receipts/http.ts";
import { diskFiles } from "../tlog/durable.ts";
import { TileLog } from "../tlog/tile-log.ts";
import { TrustedLogs, type TrustedDiscrepancy, type TrustLevel } from "./trusted.ts";
import { Witness } from "./witness.ts";

const ORIGIN = "partner.example/log";
const partnerKey = ed25519Key(new Uint8Array(32).fill(9));
const vkey = formatVkey(ORIGIN, ED25519, partnerKey.publicKey);
const witnessSeed = new Uint8Array(32).fill(4);
const WITNESS = "dsc.federation.dev/dsc/alpha/witness";
const dirs: string[] = [];
const servers: Server[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "trusted-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const silent = pino({ level: "silent" });

async function partnerLog(entries: number, tag = "") {
  const log = await TileLog.open({
    files: diskFiles(tmp()),
    origin: ORIGIN,
    signer: noteSigner(ORIGIN, partnerKey.seed),
    verifier: noteVerifier(ORIGIN, partnerKey.publicKey),
  });
  const append = async (n: number) => {
    const from = log.size;
    for (let i = from; i < from + n; i++)
      void log.append(new TextEncoder().encode(`${tag}receipt ${String(i)}`));
    await log.flushed();
  };
  await append(entries);
  return { log, append };
}

/** Serves whichever log `current.log` is at http://127.0.0.1:<port>/log/. */
async function serve(current: { log: TileLog }): Promise<string> {
  const server = createServer((req, res) => {
    logRoute(current.log, vkey)(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  return `http://127.0.0.1:${String(address.port)}/log/`;
}

async function watcher(url: string, stateDir: string, levels: readonly TrustLevel[]) {
  const current = new CurrentFederation();
  current.set({
    spec: { trust: levels.map((level) => ({ name: `partner-${level}`, url, vkey, level })) },
  } as unknown as FederationContext);
  const found: TrustedDiscrepancy[] = [];
  const trusted: { t?: TrustedLogs } = {};
  const witness = await Witness.open({
    stateDir,
    name: WITNESS,
    seed: witnessSeed,
    logs: () => new Map([[ORIGIN, noteVerifier(ORIGIN, partnerKey.publicKey)]]),
    splitView: () => undefined,
    registry: new Registry(),
    logger: silent,
    now: Date.now,
  });
  trusted.t = await TrustedLogs.open({
    stateDir,
    current,
    witness,
    discrepancy: (d) => found.push(d),
    registry: new Registry(),
    logger: silent,
    now: Date.now,
  });
  return { trusted: trusted.t, found };
}

const byName = (t: TrustedLogs) => Object.fromEntries(t.status().map((s) => [s.name, s]));

describe("other federations' logs, watched at trust levels observe, verify and attest", () => {
  it("reads, proves and cosigns a log that grows; catches and keeps catching one that forks", async () => {
    const partner = await partnerLog(10);
    const served = { log: partner.log };
    const url = await serve(served);
    const stateDir = tmp();
    const { trusted, found } = await watcher(url, stateDir, ["observe", "verify", "attest"]);
    await trusted.tick();
    expect(byName(trusted)).toMatchObject({
      "partner-observe": { state: "Consistent", size: 10 },
      "partner-verify": { state: "Consistent", size: 10 },
      "partner-attest": { state: "Consistent", size: 10, cosigned: 10 },
    });

    await partner.append(290); // across a tile boundary: the proof comes from the served tiles
    await trusted.tick();
    expect(byName(trusted)["partner-attest"]).toMatchObject({
      state: "Consistent",
      size: 300,
      cosigned: 300,
    });
    // The attested checkpoint carries the log's signature and this region's witness cosignature.
    const note = parseNote(trusted.cosigned("partner-attest") ?? "");
    const witness = cosignatureVerifier(WITNESS, ed25519Key(witnessSeed).publicKey);
    expect(
      verifyNote(note, [noteVerifier(ORIGIN, partnerKey.publicKey), witness]).verified.map(
        (v) => v.verifier.name,
      ),
    ).toEqual([ORIGIN, WITNESS]);
    expect(trusted.cosigned("partner-verify")).toBeUndefined();

    // The same key now serves another history of 320 entries: a fork.
    const fork = await partnerLog(320, "forged ");
    served.log = fork.log;
    await trusted.tick();
    const after = byName(trusted);
    expect(after["partner-observe"]).toMatchObject({ state: "Consistent", size: 320 });
    expect(after["partner-verify"]).toMatchObject({ state: "Inconsistent" });
    expect(after["partner-verify"]?.message).toMatch(/does not extend the one of size 300/u);
    expect(after["partner-attest"]).toMatchObject({ state: "Inconsistent", cosigned: 300 });
    expect(found.map((f) => f.name).sort()).toEqual(["partner-attest", "partner-verify"]);
    // The evidence: both checkpoints, each signed by the partner's key.
    for (const c of found[0]?.evidence.checkpoints as string[])
      verifyNote(parseNote(c), [noteVerifier(ORIGIN, partnerKey.publicKey)]);

    // Restarted, the region remembers what it saw: the fork is caught again, not trusted anew.
    const again = await watcher(url, stateDir, ["verify"]);
    await again.trusted.tick();
    expect(byName(again.trusted)["partner-verify"]).toMatchObject({ state: "Inconsistent" });
  });

  it("takes an older checkpoint served again for a cache, and tiles that do not hash to the checkpoint for a bad server: no fork", async () => {
    const partner = await partnerLog(300);
    const served: { log: TileLog; tamper?: boolean } = { log: partner.log };
    const server = createServer((req, res) => {
      if (served.tamper && req.url?.includes("/tile/1/000.p/1")) {
        res.writeHead(200).end(new Uint8Array(32).fill(1)); // the root of tile 0/000, forged
        return;
      }
      logRoute(served.log, vkey)(req, res);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = server.address();
    if (!address || typeof address === "string") throw new Error("no port");
    const url = `http://127.0.0.1:${String(address.port)}/log/`;
    const { trusted, found } = await watcher(url, tmp(), ["verify"]);
    await trusted.tick();
    // An older checkpoint of the same log (a cache in front of it): stale, not a fork.
    const cached = await partnerLog(100);
    served.log = cached.log;
    await trusted.tick();
    expect(byName(trusted)["partner-verify"]).toMatchObject({ state: "Consistent" });
    // Tiles that do not hash to the new checkpoint prove nothing about the log.
    served.log = partner.log;
    await partner.append(20);
    served.tamper = true;
    await trusted.tick();
    expect(byName(trusted)["partner-verify"]).toMatchObject({ state: "Unreachable" });
    served.tamper = false;
    await trusted.tick();
    expect(byName(trusted)["partner-verify"]).toMatchObject({ state: "Consistent", size: 320 });
    expect(found).toEqual([]);
  });

  it("says a log is unreachable, or its checkpoint not signed by the key listed, without trusting it", async () => {
    const { trusted } = await watcher("http://127.0.0.1:9/log/", tmp(), ["verify"]);
    await trusted.tick();
    expect(byName(trusted)["partner-verify"]).toMatchObject({ state: "Unreachable" });
    const other = await TileLog.open({
      files: diskFiles(tmp()),
      origin: ORIGIN,
      signer: noteSigner(ORIGIN, new Uint8Array(32).fill(1)),
      verifier: noteVerifier(ORIGIN, ed25519Key(new Uint8Array(32).fill(1)).publicKey),
    });
    void other.append(new TextEncoder().encode("x"));
    await other.flushed();
    const wrong = await watcher(await serve({ log: other }), tmp(), ["attest"]);
    await wrong.trusted.tick();
    expect(byName(wrong.trusted)["partner-attest"]).toMatchObject({ state: "Unreachable" });
    expect(byName(wrong.trusted)["partner-attest"]?.message).toMatch(/signature/u);
  });
});
