// Every region's decisions as receipts in its own transparency log, served as
// C2SP tlog-tiles on the operator's port and read by a client that proves
// every entry against the checkpoint; a region killed mid-stream reopens its
// log at its last checkpoint and goes on consistently; and Go's own tlog and
// note code verifies a live region's checkpoint and proofs.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Applier } from "../../operator/runtime/apply.ts";
import { logRoute } from "../../operator/receipts/http.ts";
import { diskFiles } from "../../operator/tlog/durable.ts";
import { TileLog } from "../../operator/tlog/tile-log.ts";
import { createPublicClient, hexToBytes, http, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { logAnchorAbi } from "../../operator/chain/abi/log-anchor.ts";
import { anchorWriter } from "../../operator/chain/writers.ts";
import { anchorLogId, verifyAnchorInvalid, type AnchorInvalid } from "../../operator/core/tlog/anchor.ts";
import { deployAnchors } from "../testbed/anchor.ts";
import { openReceipt, type SignedReceipt } from "../../operator/core/receipt/receipt.ts";
import { leafHash, memoryReader, treeHash, verifyConsistency } from "../../operator/core/tlog/merkle.ts";
import {
  ED25519,
  ed25519Key,
  ed25519PublicKey,
  formatVkey,
  formatNote,
  noteSigner,
  noteVerifier,
  parseNote,
  parseVkey,
  signNote,
  verifyNote,
} from "../../operator/core/tlog/note.ts";
import { cosignatureVerifier, formatCheckpoint, witnessName } from "../../operator/core/tlog/checkpoint.ts";
import { formatAddCheckpoint } from "../../operator/core/tlog/witness.ts";
import { resumeSpec } from "../testbed/guardian.ts";
import { TileClient } from "../../operator/tlog/client.ts";
import { run } from "../../operator/cli/dsc.ts";
import { eventually } from "../testbed/eventually.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  directPeers,
  logKey,
  startFederatedSuite,
  startOperator,
  submitApproved,
  type OperatorProcess,
} from "../testbed/operator.ts";
import { configMap, federationStatus } from "../testbed/read.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
let anchors: Address;
const operators = new Map<Region, OperatorProcess>();
const RUN = Date.now().toString(36);
const NS = `log-${RUN}`;
const STATE = `log-state-${RUN}`;
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> =>
  eventually(what, probe, { timeoutMs, logs: () => [...operators.values()].map((o) => o.log) });

const operator = (region: Region): OperatorProcess => {
  const o = operators.get(region);
  if (!o) throw new Error(`no ${region} operator`);
  return o;
};
const logUrl = (region: Region): string => `http://127.0.0.1:${String(operator(region).port)}/log/`;

/** A region's log as an outsider reads it: its vkey from the Federation's status, then only the tiles. */
async function readLog(region: Region) {
  const status = await federationStatus(kc(region));
  const vkey = parseVkey(status?.log?.vkey ?? "");
  const client = new TileClient(logUrl(region), noteVerifier(vkey.name, vkey.publicKey));
  const checkpoint = await client.checkpoint();
  const entries = await client.entries(checkpoint, 0, checkpoint.size);
  const key = ed25519PublicKey(vkey.publicKey);
  return { vkey, client, checkpoint, receipts: entries.map((e) => openReceipt(e, key)), entries };
}

const expiresAt = () => new Date(Date.now() + 3_600_000).toISOString();

/** Lifts a pause as any pause is lifted: a critical resume (3 DSPs and the Board), then waits for all three. */
async function resumeEverywhere(name: string, token: string): Promise<void> {
  await submitApproved(testbed, "alpha", NS, name, resumeSpec([token]), {
    signers: ["alpha", "beta", "gamma"],
    boardSigners: 1,
  });
  for (const region of REGIONS)
    await until(
      `${region} resumed`,
      async () => (await federationStatus(kc(region)))?.guardian?.paused === false,
    );
}

beforeAll(async () => {
  testbed = await current();
  anchors = await deployAnchors(testbed);
  for (const [region, o] of await startFederatedSuite(testbed, {
    namespace: NS,
    stateName: STATE,
    options: (region) => ({
      peers: directPeers(testbed, region),
      guardian: { action: "Freeze" },
      anchor: { contract: anchors, intervalSeconds: 5 },
    }),
  }))
    operators.set(region, o);
});

afterAll(async () => {
  await Promise.all(
    REGIONS.map((r) =>
      kc(r)
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: NS })
        .catch(() => undefined),
    ),
  );
  await new Promise((r) => setTimeout(r, 3000)); // the operators release their finalizers
  await Promise.all([...operators.values()].map((o) => o.stop()));
});

describe("the decision log", () => {
  it("records each region's own decisions as receipts it signed, proven against its checkpoint", async () => {
    await submitApproved(
      testbed,
      "alpha",
      NS,
      "logged",
      {
        tier: "upgrade",
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "logged" }, data: { v: "1" } }],
      },
      { signers: ["alpha", "beta"] },
    );
    await submitApproved(
      testbed,
      "beta",
      NS,
      "unapproved",
      {
        tier: "upgrade",
        targets: ["beta"],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "unapproved" }, data: { v: "1" } },
        ],
      },
      { signers: ["beta"] },
    );
    for (const region of REGIONS)
      await until(
        `logged applied in ${region}`,
        async () => (await configMap(kc(region), NS, "logged")) !== undefined,
      );

    const origins = new Set<string>();
    for (const region of REGIONS) {
      const found = await until(`${region}'s receipt of the apply`, async () => {
        const log = await readLog(region);
        const applied = log.receipts.find(
          (r) => r.receipt.kind === "manifest.applied" && r.receipt.subject === `${NS}/logged`,
        );
        return applied && { log, applied };
      });
      const { log, applied } = found;
      origins.add(log.vkey.name);
      expect(log.vkey.name).toBe(`dsc.federation.dev/federation/${region}`);
      expect(applied.receipt).toMatchObject({
        v: 1,
        region,
        details: { tier: "upgrade", nonce: 1, objects: [`ConfigMap/${NS}/logged`] },
      });
      expect(applied.receipt.details.dspApprovers).toHaveLength(2);
      // Every receipt in a region's log is that region's.
      expect(new Set(log.receipts.map((r: SignedReceipt) => r.receipt.region))).toEqual(new Set([region]));
    }
    expect(origins.size).toBe(3);
    const beta = await readLog("beta");
    expect(beta.receipts.find((r) => r.receipt.subject === `${NS}/unapproved`)?.receipt).toMatchObject({
      kind: "manifest.refused",
      details: { reason: "InsufficientApprovals" },
    });
    // The Federation's status shows the log (its size is refreshed every few seconds).
    await until(
      "beta's status shows its log",
      async () => ((await federationStatus(kc("beta")))?.log?.size ?? 0) > 0,
    );
  });

  it("reopens a region's log after kill -9 at its last checkpoint, consistent with every checkpoint it served", async () => {
    const before = await readLog("gamma");
    // Keep gamma deciding while it dies: a burst of manifests for it alone.
    const burst = Array.from({ length: 8 }, (_, i) =>
      submitApproved(
        testbed,
        "gamma",
        NS,
        `burst-${String(i)}`,
        {
          tier: "operational",
          targets: ["gamma"],
          nonce: 1,
          expiresAt: expiresAt(),
          objects: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: `burst-${String(i)}` },
              data: { v: "1" },
            },
          ],
        },
        { signers: ["gamma"] },
      ),
    );
    await Promise.all(burst);
    await new Promise((r) => setTimeout(r, 300));
    await operator("gamma").kill();
    operators.set(
      "gamma",
      await startOperator(
        testbed,
        "gamma",
        { DSC_RESYNC_SECONDS: "2", DSC_STATE_DIR: join(testbed.layout.regionDir("gamma"), STATE) },
        { federated: true },
      ),
    );
    const after = await until("gamma's log grows again after the restart", async () => {
      const log = await readLog("gamma");
      return (
        log.checkpoint.size > before.checkpoint.size &&
        log.receipts.some((r) => r.receipt.subject === `${NS}/burst-7`) &&
        log
      );
    });
    expect(after.vkey.name).toBe(before.vkey.name); // the same key, from the state directory
    verifyConsistency(
      before.checkpoint.size,
      after.checkpoint.size,
      before.checkpoint.root,
      after.checkpoint.root,
      await after.client.consistencyProof(before.checkpoint.size, after.checkpoint),
    );
  });

  it("serves a checkpoint and proofs that Go's x/mod tlog and note code verifies", async () => {
    const binary = execFileSync("bash", [join(import.meta.dirname, "../tlog/go/build.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
    const log = await readLog("alpha");
    const status = await federationStatus(kc("alpha"));
    const size = log.checkpoint.size;
    const request = {
      origin: log.vkey.name,
      logVkey: status?.log?.vkey,
      witnessVkeys: [],
      // The note the entries were read under: a checkpoint fetched again may be larger than them.
      checkpoint: formatNote(log.checkpoint.note),
      entries: log.entries.slice(0, size).map((e) => Buffer.from(e).toString("base64")),
      roots: [],
      inclusion: await Promise.all(
        [0, size - 1].map(async (index) => ({
          index,
          size,
          proof: (await log.client.inclusionProof(log.checkpoint, index)).map((h) =>
            Buffer.from(h).toString("base64"),
          ),
        })),
      ),
      consistency: [],
      tiles: [],
    };
    const out = JSON.parse(
      execFileSync(binary, [], { input: JSON.stringify(request), encoding: "utf8", maxBuffer: 1 << 26 }),
    ) as { errors: string[]; checked: number };
    expect(out.errors).toEqual([]);
    expect(out.checked).toBe(3);
  });

  it("has each region's checkpoint cosigned by the other two, under the keys each pins", async () => {
    for (const region of REGIONS) {
      const others = REGIONS.filter((r) => r !== region);
      const witnesses = others.map((r) => {
        const vkey = parseVkey(logKey(testbed, r).vkey);
        return cosignatureVerifier(witnessName(vkey.name), vkey.publicKey);
      });
      const cosigned = await until(`${region}'s checkpoint cosigned by ${others.join(" and ")}`, async () => {
        const note = parseNote(await (await fetch(`${logUrl(region)}checkpoint`)).text());
        const names = note.signatures.filter((s) => witnesses.some((w) => w.name === s.name)).length;
        return names === 2 && note;
      });
      expect(verifyNote(cosigned, witnesses).verified).toHaveLength(2);
      // The Federation's status catches up with the served checkpoint at its next refresh.
      const status = await until(`${region}'s status shows both peers' cosignatures`, async () => {
        const st = await federationStatus(kc(region));
        return (st?.log?.cosignedBy?.length ?? 0) === 2 && (st?.log?.witnessed?.length ?? 0) === 2 && st;
      });
      expect(status.log?.cosignedBy?.map((c) => c.region).sort()).toEqual(others);
      expect(status.log?.witnessed?.map((c) => c.region).sort()).toEqual(others);
    }
  });

  it("pauses the federation when a region's real key signs a second checkpoint of one size, with both as evidence", async () => {
    // Whoever holds gamma's log key forges a checkpoint of the size beta cosigned, with another root.
    const addCheckpoint = (region: Region, body: string) =>
      fetch(`http://127.0.0.1:${String(operator(region).port)}/witness/add-checkpoint`, {
        method: "POST",
        body,
      });
    const gammaKey = logKey(testbed, "gamma");
    const origin = parseVkey(gammaKey.vkey).name;
    const forge = (size: number) =>
      signNote(
        { text: formatCheckpoint({ origin, size, root: new Uint8Array(32).fill(7) }), signatures: [] },
        [noteSigner(origin, gammaKey.seed)],
      );
    const probe = await addCheckpoint(
      "beta",
      formatAddCheckpoint({ old: 0, proof: [], checkpoint: forge(1) }),
    );
    expect(probe.status).toBe(409);
    const size = Number((await probe.text()).trim());
    expect(size).toBeGreaterThan(0);
    const forged = forge(size);
    const refused = await addCheckpoint(
      "beta",
      formatAddCheckpoint({ old: size, proof: [], checkpoint: forged }),
    );
    expect(refused.status).toBe(422);

    for (const region of REGIONS)
      await until(
        `${region} paused for the split view`,
        async () => (await federationStatus(kc(region)))?.guardian?.paused === true,
      );
    const pause = (await federationStatus(kc("alpha")))?.guardian?.pauses[0];
    expect(pause).toMatchObject({ source: "log", by: "beta" });
    expect(pause?.reason).toContain("root_mismatch: gamma's log signed two checkpoints");
    // The evidence, in beta's own log: both checkpoints, each verifiable under gamma's pinned key.
    const beta = await until("beta's discrepancy receipt", async () => {
      const log = await readLog("beta");
      return log.receipts.find((r) => r.receipt.kind === "discrepancy");
    });
    const checkpoints = beta.receipt.details.checkpoints as string[];
    expect(checkpoints).toContain(formatNote(forged));
    const gammaVerifier = noteVerifier(origin, parseVkey(gammaKey.vkey).publicKey);
    for (const c of checkpoints) verifyNote(parseNote(c), [gammaVerifier]);
    expect(beta.receipt.details.evidence).toBe(pause?.evidence);

    // Lifted only by a critical resume (3 DSPs and the Board), as any pause.
    await resumeEverywhere("resume-split", pause?.token ?? "");
  });

  it("anchors each region's checkpoints on chain, and pauses the federation on an anchor its log contradicts", async () => {
    const chain = createPublicClient({ transport: http(testbed.chain.rpcUrl) });
    const originOf = (region: Region) => parseVkey(logKey(testbed, region).vkey).name;
    const latest = async (region: Region) => {
      const [, , size, root] = await chain.readContract({
        address: anchors,
        abi: logAnchorAbi,
        functionName: "latest",
        args: [anchorLogId(originOf(region))],
      });
      return { size: Number(size), root: hexToBytes(root) };
    };
    // Each region anchors its own log: the anchored root is its tree's at that size.
    for (const region of REGIONS) {
      const anchor = await until(`${region}'s log anchored`, async () => {
        const a = await latest(region);
        return a.size > 0 && a;
      });
      const log = await readLog(region);
      // The log's served checkpoint extends the anchored root, and its entries hash to it.
      verifyConsistency(
        anchor.size,
        log.checkpoint.size,
        anchor.root,
        log.checkpoint.root,
        await log.client.consistencyProof(anchor.size, log.checkpoint),
      );
      const root = treeHash(anchor.size, memoryReader(log.entries.slice(0, anchor.size).map(leafHash)));
      expect(Buffer.from(root)).toEqual(Buffer.from(anchor.root));
    }
    await until("alpha's status shows the three logs anchored", async () => {
      const anchored = (await federationStatus(kc("alpha")))?.log?.anchored ?? [];
      return anchored.length === 3 && anchored.every((a) => a.state === "Anchored" && a.size > 0);
    });

    // The contract refuses an anchor from another account, a smaller size, or another root at a size.
    const alphaLog = anchorLogId(originOf("alpha"));
    const simulate = (key: Hex, size: number, root: Hex) =>
      chain.simulateContract({
        address: anchors,
        abi: logAnchorAbi,
        functionName: "anchor",
        account: privateKeyToAccount(key),
        args: [alphaLog, BigInt(size), root],
      });
    const anchored = await latest("alpha");
    const forgedRoot = `0x${"07".repeat(32)}` as const;
    await expect(simulate(testbed.chain.keys.anchorers.beta, anchored.size + 1, forgedRoot)).rejects.toThrow(
      /NotAnchorer/,
    );
    await expect(simulate(testbed.chain.keys.anchorers.alpha, anchored.size - 1, forgedRoot)).rejects.toThrow(
      /SmallerSize/,
    );
    await expect(simulate(testbed.chain.keys.anchorers.alpha, anchored.size, forgedRoot)).rejects.toThrow(
      /RootMismatch/,
    );

    // Whoever holds alpha's anchoring key anchors a root alpha's log will contradict, one entry ahead.
    const { anchor: forgeAnchor } = anchorWriter({
      rpcUrl: testbed.chain.rpcUrl,
      chainId: testbed.chain.chainId,
      contract: anchors,
      key: testbed.chain.keys.anchorers.alpha,
    });
    const ahead = (await readLog("alpha")).checkpoint.size + 1;
    await until("the forged anchor mined", async () => {
      try {
        await forgeAnchor(alphaLog, ahead, forgedRoot);
        return true;
      } catch {
        return false; // the operator sent from the same account at that moment: try again
      }
    });
    // Alpha decides something: its log grows past the forged size, and every region finds the lie.
    await submitApproved(
      testbed,
      "alpha",
      NS,
      "after-forged-anchor",
      {
        tier: "operational",
        targets: ["alpha"],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "after-anchor" }, data: { v: "1" } },
        ],
      },
      { signers: ["alpha"] },
    );
    for (const region of REGIONS)
      await until(
        `${region} paused for the invalid anchor`,
        async () => (await federationStatus(kc(region)))?.guardian?.paused === true,
      );
    const pause = (await federationStatus(kc("beta")))?.guardian?.pauses[0];
    expect(pause?.source).toBe("log");
    expect(pause?.reason).toContain("anchor_invalid: the root anchored on chain for alpha's log");
    // The evidence, in the log of a region that found it: anyone holding alpha's key can check it.
    const found = await until("a discrepancy receipt of the anchor", async () => {
      for (const region of REGIONS) {
        const receipt = (await readLog(region)).receipts.find(
          (r) => r.receipt.kind === "discrepancy" && r.receipt.details.kind === "anchor_invalid",
        );
        if (receipt) return receipt;
      }
      return undefined;
    });
    const evidence = found.receipt.details as unknown as AnchorInvalid;
    expect(evidence).toMatchObject({
      size: ahead,
      anchored: Buffer.from(hexToBytes(forgedRoot)).toString("base64"),
    });
    const alphaKey = parseVkey(logKey(testbed, "alpha").vkey);
    verifyAnchorInvalid(evidence, noteVerifier(alphaKey.name, alphaKey.publicKey));
    expect(found.receipt.details.evidence).toBe(pause?.evidence);
    await until("alpha's status shows its anchor invalid", async () =>
      (await federationStatus(kc("beta")))?.log?.anchored?.some(
        (a) => a.region === "alpha" && a.state === "Invalid",
      ),
    );

    await resumeEverywhere("resume-anchor", pause?.token ?? "");
  });

  it("watches another federation's log at the attest level: cosigns it as it grows, catches its fork, pauses nothing", async () => {
    // The other federation's log: a tlog-tiles log of its own, served over HTTP on loopback.
    const dir = mkdtempSync(join(tmpdir(), "partner-log-"));
    const origin = "partner.example/log";
    const seed = new Uint8Array(32).fill(11);
    const partnerVerifier = noteVerifier(origin, ed25519Key(seed).publicKey);
    const open = (sub: string) =>
      TileLog.open({
        files: diskFiles(join(dir, sub)),
        origin,
        signer: noteSigner(origin, seed),
        verifier: partnerVerifier,
      });
    const grow = async (log: TileLog, n: number, tag: string) => {
      for (let i = 0; i < n; i++) void log.append(new TextEncoder().encode(`${tag} ${String(log.size + i)}`));
      await log.flushed();
    };
    const served = { log: await open("a") };
    await grow(served.log, 5, "partner receipt");
    const vkey = formatVkey(origin, ED25519, ed25519Key(seed).publicKey);
    const server = createServer((req, res) => {
      logRoute(served.log, vkey)(req, res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/log/`;
    try {
      // Alpha's DSP lists it in spec.trust.
      await new Applier(kc("alpha"), { fieldManager: "dsp-admin" }).apply({
        apiVersion: "dsc.federation.dev/v1alpha1",
        kind: "Federation",
        metadata: { name: "dsc" },
        spec: { trust: [{ name: "partner", url, vkey, level: "attest" }] },
      } as never);
      const watched = async (
        want: (
          t: NonNullable<NonNullable<Awaited<ReturnType<typeof federationStatus>>>["log"]>["trusted"],
        ) => boolean,
      ) =>
        until(
          "alpha's status of the partner log",
          async () => {
            const trusted = (await federationStatus(kc("alpha")))?.log?.trusted;
            return want(trusted) && trusted;
          },
          45_000,
        );
      await watched((t) => t?.[0]?.state === "Consistent" && t[0].cosigned === 5);
      await grow(served.log, 300, "partner receipt");
      await watched((t) => t?.[0]?.cosigned === 305);
      // The partner collects alpha's cosignature: its log's signature and alpha's witness, both verify.
      const res = await fetch(`http://127.0.0.1:${String(operator("alpha").port)}/trust/partner/checkpoint`);
      expect(res.status).toBe(200);
      const alphaKey = parseVkey(logKey(testbed, "alpha").vkey);
      const verified = verifyNote(parseNote(await res.text()), [
        partnerVerifier,
        cosignatureVerifier(witnessName(alphaKey.name), alphaKey.publicKey),
      ]);
      expect(verified.verified).toHaveLength(2);

      // The same key serves another history: caught, recorded, alerted; alpha does not pause for it.
      served.log = await open("fork");
      await grow(served.log, 320, "forged receipt");
      const forked = await watched((t) => t?.[0]?.state === "Inconsistent");
      expect(forked[0]?.message).toMatch(/does not extend the one of size 305/);
      const status = await federationStatus(kc("alpha"));
      expect(status?.conditions?.find((c) => c.type === "LogConsistent")).toMatchObject({
        status: "False",
        reason: "TrustedLogInconsistent",
      });
      expect(status?.guardian?.paused).toBe(false);
      const receipt = await until("alpha's receipt of the fork", async () =>
        (await readLog("alpha")).receipts.find(
          (r) => r.receipt.kind === "discrepancy" && r.receipt.details.trusted === "partner",
        ),
      );
      const forks = receipt.receipt.details.checkpoints as string[];
      expect(forks).toHaveLength(2);
      for (const c of forks) verifyNote(parseNote(c), [partnerVerifier]);
    } finally {
      await new Applier(kc("alpha"), { fieldManager: "dsp-admin" }).apply({
        apiVersion: "dsc.federation.dev/v1alpha1",
        kind: "Federation",
        metadata: { name: "dsc" },
        spec: {},
      } as never);
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives a proof bundle that `dsc log verify` checks with keys alone, and refuses once tampered", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dsc-proof-"));
    try {
      const status = await federationStatus(kc("alpha"));
      const vkey = status?.log?.vkey ?? "";
      const witnesses = (["beta", "gamma"] as const).flatMap((r) => ["--witness", logKey(testbed, r).vkey]);
      const file = join(dir, "receipt.tlog-proof");
      const dsc = async (...args: string[]) => {
        const lines: string[] = [];
        const code = await run(args, (l) => lines.push(l));
        return { code, text: lines.join("\n") };
      };
      // The served checkpoint carries cosignatures once both peers witnessed its size.
      const verified = await until("a proof cosigned by both peers", async () => {
        if ((await dsc("log", "prove", "0", "--url", logUrl("alpha"), "--vkey", vkey, "-o", file)).code !== 0)
          return false;
        const out = await dsc("log", "verify", file, "--vkey", vkey, ...witnesses, "--quorum", "2");
        return out.code === 0 && out;
      });
      expect(verified.text).toContain("cosigned by 2 of 2 witnesses");
      // Out of the cluster: the operators are not needed to verify it.
      const text = readFileSync(file, "utf8");
      writeFileSync(file, text.replace(/^index 0$/m, "index 1"));
      const tampered = await dsc("log", "verify", file, "--vkey", vkey, ...witnesses, "--quorum", "2");
      expect(tampered.code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps a lost region's receipts readable and provable from a peer's mirror, and restores its log from it", async () => {
    const gammaSize = (await readLog("gamma")).checkpoint.size;
    await until("alpha's mirror of gamma caught up", async () => {
      const status = await federationStatus(kc("alpha"));
      return status?.log?.mirrored?.find((m) => m.region === "gamma")?.size === gammaSize;
    });
    await operator("gamma").stop();
    const gammaLogDir = join(testbed.layout.regionDir("gamma"), STATE, "log");
    rmSync(gammaLogDir, { recursive: true, force: true });

    // Gamma is gone; its receipts are read from alpha, proven under gamma's own key.
    const vkey = parseVkey(logKey(testbed, "gamma").vkey);
    const client = new TileClient(
      `http://127.0.0.1:${String(operator("alpha").port)}/mirror/gamma/`,
      noteVerifier(vkey.name, vkey.publicKey),
    );
    const checkpoint = await client.checkpoint();
    expect(checkpoint.size).toBe(gammaSize);
    const receipts = (await client.entries(checkpoint, 0, checkpoint.size)).map((e) =>
      openReceipt(e, ed25519PublicKey(vkey.publicKey)),
    );
    expect(receipts.some((r) => r.receipt.region === "gamma" && r.receipt.subject === `${NS}/burst-7`)).toBe(
      true,
    );

    // Gamma's log restored from alpha's copy: it reopens at the same checkpoint and goes on, witnessed.
    cpSync(join(testbed.layout.regionDir("alpha"), STATE, "mirrors", "gamma"), gammaLogDir, {
      recursive: true,
    });
    operators.set(
      "gamma",
      await startOperator(
        testbed,
        "gamma",
        { DSC_RESYNC_SECONDS: "2", DSC_STATE_DIR: join(testbed.layout.regionDir("gamma"), STATE) },
        { federated: true },
      ),
    );
    await submitApproved(
      testbed,
      "gamma",
      NS,
      "after-restore",
      {
        tier: "operational",
        targets: ["gamma"],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "after-restore" }, data: { v: "1" } },
        ],
      },
      { signers: ["gamma"] },
    );
    const restored = await until("gamma's restored log grows and is cosigned again", async () => {
      const log = await readLog("gamma");
      const status = await federationStatus(kc("gamma"));
      const cosigned = status?.log?.cosignedBy?.filter((c) => c.size === log.checkpoint.size).length ?? 0;
      return log.checkpoint.size > gammaSize && cosigned === 2 && log;
    });
    verifyConsistency(
      gammaSize,
      restored.checkpoint.size,
      checkpoint.root,
      restored.checkpoint.root,
      await restored.client.consistencyProof(gammaSize, restored.checkpoint),
    );
    expect((await federationStatus(kc("alpha")))?.guardian?.paused).toBe(false);
  });
});
