// Every region's decisions as receipts in its own transparency log, served as
// C2SP tlog-tiles on the operator's port and read by a client that proves
// every entry against the checkpoint; a region killed mid-stream reopens its
// log at its last checkpoint and goes on consistently; and Go's own tlog and
// note code verifies a live region's checkpoint and proofs.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openReceipt, type SignedReceipt } from "../../operator/core/receipt/receipt.ts";
import { verifyConsistency } from "../../operator/core/tlog/merkle.ts";
import { ed25519PublicKey, noteVerifier, parseVkey } from "../../operator/core/tlog/note.ts";
import { TileClient } from "../../operator/tlog/client.ts";
import { eventually } from "../testbed/eventually.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  directPeers,
  startFederatedSuite,
  startOperator,
  submitApproved,
  type OperatorProcess,
} from "../testbed/operator.ts";
import { configMap, federationStatus } from "../testbed/read.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
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

beforeAll(async () => {
  testbed = await current();
  for (const [region, o] of await startFederatedSuite(testbed, {
    namespace: NS,
    stateName: STATE,
    options: (region) => ({ peers: directPeers(testbed, region) }),
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
    const status = await federationStatus(kc("beta"));
    expect(status?.log?.size).toBeGreaterThan(0);
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
      checkpoint: await (await fetch(`${logUrl("alpha")}checkpoint`)).text(),
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
});
