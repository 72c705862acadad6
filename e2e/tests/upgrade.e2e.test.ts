// A rolling upgrade (issue 16): the three regions start on the previous
// release (release.ts: its operator sources at a commit of this repository),
// apply a manifest, and are upgraded one at a time to this checkout on the
// same state volumes, with a manifest applied after each step and a pause
// raised and lifted while two releases run side by side. Nothing is lost,
// nothing is applied twice, and no region refuses another's changes.
import type { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Applier } from "../../operator/runtime/apply.ts";
import { eventually } from "../testbed/eventually.ts";
import { breachReportObject, resumeSpec, signedReport, unpauseChain } from "../testbed/guardian.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  logKey,
  peersThrough,
  startFederatedSuite,
  startPeerLinks,
  startSuiteOperator,
  stopFederatedSuite,
  submitApproved,
  type OperatorProcess,
} from "../testbed/operator.ts";
import {
  breachReportStatus,
  configMap as readConfigMap,
  federationStatus as readFederationStatus,
  manifestStatus as readManifestStatus,
} from "../testbed/read.ts";
import { PREVIOUS_RELEASE, releaseTree } from "../testbed/release.ts";
import { openReceipt } from "../../operator/core/receipt/receipt.ts";
import { ed25519PublicKey, noteVerifier, parseVkey } from "../../operator/core/tlog/note.ts";
import { TileClient } from "../../operator/tlog/client.ts";
import type { TcpProxy } from "../testbed/tcp-proxy.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
let previous = "";
const operators = new Map<Region, OperatorProcess>();
let links = new Map<string, TcpProxy>();
const RUN = Date.now().toString(36);
const NS = `upgrade-${RUN}`;
/** The suite's own federation state in each region: a pause must not leak into other suites. */
const STATE = `upgrade-state-${RUN}`;
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const options = (region: Region) => ({
  peers: peersThrough(testbed, links, region),
  guardian: { action: "Freeze" as const },
});
const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 45_000,
): Promise<T> =>
  eventually(what, probe, { timeoutMs, logs: () => [...operators.values()].map((o) => o.log) });

/** Changes a region's operator refused from its peers (a process's counter starts at 0). */
const rejected = async (region: Region): Promise<number> =>
  Number(
    /^dsc_sync_rejected_messages_total (\d+)/m.exec((await operators.get(region)?.metrics()) ?? "")?.[1] ??
      "-1",
  );

/** The region's operator of the previous release stops (having refused nothing); this checkout's starts on the same state. */
async function upgrade(region: Region): Promise<void> {
  for (const r of REGIONS)
    expect(await rejected(r), `changes ${r} refused before ${region}'s upgrade`).toBe(0);
  await operators.get(region)?.stop();
  operators.set(region, await startSuiteOperator(testbed, region, STATE));
}

/** The manifest.applied receipts for `name` in a region's own decision log, read and proven over HTTP. */
async function appliedReceipts(region: Region, name: string): Promise<number> {
  const vkey = parseVkey(logKey(testbed, region).vkey);
  const client = new TileClient(
    `http://127.0.0.1:${String(operators.get(region)?.port)}/log/`,
    noteVerifier(vkey.name, vkey.publicKey),
  );
  const checkpoint = await client.checkpoint();
  return (await client.entries(checkpoint, 0, checkpoint.size))
    .map((e) => openReceipt(e, ed25519PublicKey(vkey.publicKey)).receipt)
    .filter((r) => r.kind === "manifest.applied" && r.subject === `${NS}/${name}`).length;
}

const configMap = (region: Region, name: string) => readConfigMap(kc(region), NS, name);
const pausedIn = async (region: Region): Promise<boolean> =>
  (await readFederationStatus(kc(region)))?.guardian?.paused ?? false;

/** A manifest from `region`, approved by alpha's and beta's DSPs, for every region; applied in all three. */
async function applyEverywhere(region: Region, name: string): Promise<void> {
  await submitApproved(
    testbed,
    region,
    NS,
    name,
    {
      tier: "upgrade",
      targets: [...REGIONS],
      nonce: 1,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: NS }, data: { v: "1" } }],
    },
    { signers: ["alpha", "beta"] },
  );
  for (const r of REGIONS)
    await until(`${name} applied in ${r}`, async () => (await configMap(r, name)) !== undefined);
  await until(
    `${name} applied everywhere, as ${region} sees it`,
    async () => (await readManifestStatus(kc(region), NS, name))?.regionSummary === "alpha ✓ beta ✓ gamma ✓",
  );
}

beforeAll(async () => {
  testbed = await current();
  previous = await releaseTree(PREVIOUS_RELEASE);
  links = await startPeerLinks(testbed);
  await unpauseChain(testbed.chain);
  for (const [region, operator] of await startFederatedSuite(testbed, {
    namespace: NS,
    stateName: STATE,
    options,
    source: previous,
  }))
    operators.set(region, operator);
}, 300_000);

afterAll(async () => {
  await stopFederatedSuite(testbed, { operators, links, namespace: NS });
}, 120_000);

describe(`a rolling upgrade from the previous release (${PREVIOUS_RELEASE.slice(0, 7)})`, () => {
  it("upgrades alpha, then beta, then gamma, applying and pausing between, losing nothing and applying nothing twice", async () => {
    // The previous release's own operator runs in each region, not this checkout's.
    for (const region of REGIONS)
      expect(operators.get(region)?.child.spawnargs.join(" ")).toContain(join(previous, "operator/main.ts"));
    expect(existsSync(join(previous, "operator/build/runtime-deps.ts"))).toBe(false); // newer than that release
    await applyEverywhere("alpha", "before");
    const written = async () =>
      Promise.all(REGIONS.map(async (r) => (await configMap(r, "before"))?.metadata?.resourceVersion));
    const beforeVersions = await written();

    await upgrade("alpha");
    await applyEverywhere("alpha", "after-alpha");

    // A pause raised in a region of the previous release, and lifted by a critical resume, while
    // the two releases run side by side.
    const report = await signedReport(testbed.chain, testbed.chain.keys.agents.beta, "upgrade suite", {
      evidence: `upgrade ${RUN}`,
    });
    await new Applier(kc("beta"), { fieldManager: "dsp-admin" }).apply(
      breachReportObject(NS, "breach", report),
    );
    const judged = await until("the report accepted in beta", async () => {
      const s = await breachReportStatus(kc("beta"), NS, "breach");
      return s?.state === "Accepted" && s;
    });
    await until("paused in all three", async () => (await Promise.all(REGIONS.map(pausedIn))).every(Boolean));
    await submitApproved(testbed, "gamma", NS, "resume", resumeSpec([judged.token ?? ""]), {
      signers: ["alpha", "beta", "gamma"],
      boardSigners: 1,
    });
    await until("resumed in all three", async () =>
      (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
    );

    await upgrade("beta");
    await applyEverywhere("beta", "after-beta");
    await upgrade("gamma");
    await applyEverywhere("gamma", "after-gamma");

    for (const region of REGIONS)
      expect(operators.get(region)?.child.spawnargs.join(" ")).not.toContain(previous);
    // The first manifest was never written again in any region, through three restarts on a new
    // release, and each region's log, kept across its upgrade, decided its apply once.
    expect(await written()).toEqual(beforeVersions);
    for (const region of REGIONS) expect(await appliedReceipts(region, "before"), region).toBe(1);
    for (const region of REGIONS) {
      for (const name of ["before", "after-alpha", "after-beta", "after-gamma"])
        expect((await readManifestStatus(kc(region), NS, name))?.state, `${name} in ${region}`).toBe(
          "Applied",
        );
      // No region refused a change another made, in either release.
      expect(await operators.get(region)?.metrics()).toMatch(/^dsc_sync_rejected_messages_total 0$/m);
    }
  }, 600_000);
});
