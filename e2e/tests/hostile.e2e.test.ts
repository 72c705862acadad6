// One hostile member (issue 12): alpha's own cluster admin, with alpha's own
// signer key, tries to act for the federation alone. It may do what it likes
// in its own cluster; the other regions act only on what they verified
// themselves against the chain, under the federation's policy.
// - A rogue resume, approved 1 of 3 under tiers alpha's admin loosened in its
//   own Federation, lifts the pause in alpha only: beta and gamma stay paused.
// - Nothing is deleted while paused: a ConsortiumManifest deleted in beta
//   keeps its objects (and its finalizer) until a real critical resume.
// - The tier follows from what a manifest does: RBAC at 1 of 3 is refused
//   everywhere; a newer version may not lower the tier (and so retarget and
//   prune what 2 of 3 approved); an applied nonce outlives a wiped status.
// - The federation's policy changes only by a critical policy manifest that
//   every region verifies itself: alpha's alone changes nothing.
import type { KubeConfig } from "@kubernetes/client-node";
import { createPublicClient, createTestClient, http } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as A from "@automerge/automerge";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { PeerTransport } from "../../operator/peers/transport.ts";
import { encodeSpecMessage } from "../../operator/replication/spec-messages.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { createState, freshActor, type FederationDoc } from "../../operator/state/document.ts";
import { manifestIds } from "../../operator/state/readers.ts";
import { approvedSpec, configMapSpec } from "../testbed/approve.ts";
import { bindManifest, federationBinding } from "../../operator/core/manifest/digest.ts";
import { specJson } from "../../operator/replication/manifest-records.ts";
import { eventually } from "../testbed/eventually.ts";
import { breachReportObject, resumeSpec, signedReport, unpauseChain } from "../testbed/guardian.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  federationSpec,
  installFederation,
  peerCertificate,
  peersThrough,
  startFederatedSuite,
  startOperator,
  stopFederatedSuite,
  submitApproved,
  startPeerLinks,
  type OperatorProcess,
} from "../testbed/operator.ts";
import {
  breachReportStatus,
  consortiumManifest as readManifest,
  configMap as readConfigMap,
  federationStatus as readFederationStatus,
  manifestStatus as readManifestStatus,
} from "../testbed/read.ts";
import type { TcpProxy } from "../testbed/tcp-proxy.ts";
import { current, kubectl, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
const operators = new Map<Region, OperatorProcess>();
let links = new Map<string, TcpProxy>();
const RUN = Date.now().toString(36);
const NS = `hostile-${RUN}`;
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const admin = (region: Region) => new Applier(kc(region), { fieldManager: "dsp-admin" });
const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> =>
  eventually(what, probe, { timeoutMs, logs: () => [...operators.values()].map((o) => o.log) });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const federationOptions = (region: Region) => ({
  peers: peersThrough(testbed, links, region),
  guardian: { action: "Freeze" as const },
});
const pausedIn = async (region: Region): Promise<boolean> =>
  (await readFederationStatus(kc(region)))?.guardian?.paused ?? false;
const configMap = (region: Region, name: string) => readConfigMap(kc(region), NS, name);

const submit = (
  region: Region,
  name: string,
  spec: Parameters<typeof submitApproved>[4],
  options: Parameters<typeof submitApproved>[5],
): Promise<void> => submitApproved(testbed, region, NS, name, spec, options);

/** Puts a region's Federation back as installed: the tiers its admin added go, spec.guardian returns. */
async function restoreFederation(region: Region): Promise<void> {
  await kubectl(testbed, region, [
    "patch",
    "federation",
    "dsc",
    "--type=json",
    "-p",
    '[{"op":"remove","path":"/spec/tiers"}]',
  ]).catch(() => undefined);
  await installFederation(testbed, region, federationOptions(region));
}

beforeAll(async () => {
  testbed = await current();
  links = await startPeerLinks(testbed);
  await unpauseChain(testbed.chain);
  for (const [region, operator] of await startFederatedSuite(testbed, {
    namespace: NS,
    // A federation state of this file's own: a pause must not leak into other suites.
    stateName: `hostile-state-${RUN}`,
    options: federationOptions,
  }))
    operators.set(region, operator);
}, 180_000);

afterAll(async () => {
  await restoreFederation("alpha").catch(() => undefined);
  await stopFederatedSuite(testbed, { operators, links, namespace: NS });
}, 120_000);

describe("one hostile member", () => {
  let token = "";

  it("cannot lift a pause in the other regions with a resume its own loosened tiers accept", async () => {
    // A manifest in place everywhere before the pause (upgrade: 2 of 3).
    await submit(
      "alpha",
      "keep",
      configMapSpec(
        { namespace: NS, name: "keep" },
        { tier: "upgrade", targets: [...REGIONS], data: { a: "1" } },
      ),
      { signers: ["alpha", "beta"] },
    );
    for (const region of REGIONS) await until(`keep in ${region}`, () => configMap(region, "keep"));

    // gamma's agent reports a breach: every region pauses.
    const report = await signedReport(testbed.chain, testbed.chain.keys.agents.gamma, "hostile suite", {
      evidence: `hostile ${RUN}`,
    });
    await admin("gamma").apply(breachReportObject(NS, "breach", report));
    const judged = await until("report judged in gamma", async () => {
      const s = await breachReportStatus(kc("gamma"), NS, "breach");
      return s?.state ? s : undefined;
    });
    expect(judged.state).toBe("Accepted");
    token = judged.token ?? "";
    await until("paused in all three", async () => (await Promise.all(REGIONS.map(pausedIn))).every(Boolean));

    // alpha's admin loosens its own Federation (critical: 1 of 3, no Board; no guardian contract)
    // and applies a resume that only alpha's DSP signed.
    const loose = { dspApprovals: 1, boardApprovals: 0 };
    await kubectl(testbed, "alpha", [
      "patch",
      "federation",
      "dsc",
      "--type=merge",
      "-p",
      JSON.stringify({
        spec: { tiers: { critical: loose, upgrade: loose, operational: loose }, guardian: null },
      }),
    ]);
    // The Federation shows the policy alpha decides by: the federation's, not its admin's looser one.
    const shown = await until("alpha's Federation to show its policy", async () => {
      const s = await readFederationStatus(kc("alpha"));
      return s?.observedGeneration !== undefined && s.policy ? s.policy : undefined;
    });
    expect(shown.tiers.critical).toEqual({ dspApprovals: 3, boardApprovals: 1 });
    expect(shown.stricterHere).toEqual([]);
    expect(shown.floors).toMatch(/^critical: RBAC/);
    await submit("alpha", "rogue-resume", resumeSpec([token]), { signers: ["alpha"] });

    // Every region verifies the resume itself under the federation's policy, refuses it and stays
    // paused; alpha too: a region's own tiers may make it stricter than the federation, never looser.
    await sleep(8_000); // several sync rounds and resyncs
    expect(await pausedIn("beta")).toBe(true);
    expect(await pausedIn("gamma")).toBe(true);
    const own = await readManifestStatus(kc("alpha"), NS, "rogue-resume");
    expect(own?.state).toBe("Pending");
    expect(own?.conditions?.find((c) => c.type === "Verified")?.message).toMatch(
      /1 of 3 DSP approvals for tier critical.*0 of 1 DAO Board approvals/,
    );
    for (const region of ["beta", "gamma"] as const) {
      const mirrored = await readManifestStatus(kc(region), NS, "rogue-resume");
      expect(mirrored?.state === "Applied").toBe(false);
      expect(await operators.get(region)?.metrics()).toMatch(/^dsc_guardian_paused 1$/m);
    }
  });

  it("deletes nothing while paused: a manifest deleted in beta keeps its objects until a real resume", async () => {
    await kubectl(testbed, "beta", ["-n", NS, "delete", "consortiummanifest", "keep", "--wait=false"]);
    await sleep(5_000);
    expect(await configMap("beta", "keep")).toBeDefined();
    const held = await readManifest(kc("beta"), NS, "keep");
    expect(held?.metadata?.deletionTimestamp).toBeDefined();
    expect(held?.metadata?.finalizers?.length).toBeGreaterThan(0);

    // The federation's own critical resume (3 of 3 and the Board) lifts it everywhere;
    // then the held deletion goes ahead in beta, and beta alone.
    await restoreFederation("alpha");
    await submit("beta", "resume", resumeSpec([token]), {
      signers: ["alpha", "beta", "gamma"],
      boardSigners: 1,
    });
    await until("resumed in all three", async () =>
      (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
    );
    await until(
      "keep pruned in beta after the resume",
      async () => (await configMap("beta", "keep")) === undefined,
    );
    expect(await configMap("alpha", "keep")).toBeDefined();
    expect(await configMap("gamma", "keep")).toBeDefined();
  });

  const configMapV = (name: string, v: string) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: NS },
    data: { v },
  });
  const verifiedCondition = async (region: Region, name: string) =>
    (await readManifestStatus(kc(region), NS, name))?.conditions?.find((c) => c.type === "Verified");

  it("cannot push RBAC at the operational tier: refused, naming the object and its floor, and applied nowhere", async () => {
    const binding = `rogue-${RUN}`;
    await submit(
      "alpha",
      "rbac",
      {
        tier: "operational",
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: binding },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
            subjects: [{ kind: "ServiceAccount", name: "default", namespace: NS }],
          },
        ],
      },
      { signers: ["alpha"] },
    );
    const refused = await until("alpha refuses the RBAC manifest", async () => {
      const c = await verifiedCondition("alpha", "rbac");
      return c?.reason === "BelowTierFloor" ? c : undefined;
    });
    expect(refused.message).toBe(
      `ClusterRoleBinding ${binding} needs tier critical (RBAC decides who may do what); the manifest is labelled operational: raise spec.tier to critical`,
    );
    await sleep(5_000); // sync rounds: no region takes it
    for (const region of REGIONS) {
      const found = await kubectl(testbed, region, [
        "get",
        "clusterrolebinding",
        binding,
        "--ignore-not-found",
        "-o",
        "name",
      ]);
      expect(found.trim(), region).toBe("");
    }
    for (const region of ["beta", "gamma"] as const)
      expect(await readManifest(kc(region), NS, "rbac"), region).toBeUndefined();
  });

  it("cannot lower a manifest's tier to retarget it and prune what 2 of 3 approved elsewhere", async () => {
    const base = {
      targets: [...REGIONS],
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    await submit(
      "alpha",
      "shared",
      { ...base, tier: "upgrade", nonce: 1, objects: [configMapV("shared", "1")] },
      { signers: ["alpha", "beta"] },
    );
    for (const region of REGIONS) await until(`shared in ${region}`, () => configMap(region, "shared"));

    // alpha alone: nonce 2, operational (1 of 3), targeting alpha only.
    await submit(
      "alpha",
      "shared",
      { ...base, tier: "operational", targets: ["alpha"], nonce: 2, objects: [configMapV("shared", "2")] },
      { signers: ["alpha"] },
    );
    const refused = await until("alpha refuses the lower tier", async () => {
      const c = await verifiedCondition("alpha", "shared");
      return c?.reason === "TierRegression" ? c : undefined;
    });
    expect(refused.message).toMatch(
      /tier operational is below tier upgrade of the version it replaces \(nonce 1\)/,
    );
    await sleep(5_000);
    for (const region of REGIONS) expect((await configMap(region, "shared"))?.data?.v, region).toBe("1");
  });

  it("keeps an applied nonce final when the newer version expires and alpha's admin wipes the status", async () => {
    // Expiry is judged by the chain's clock, which other suites move ahead and which stands still
    // between blocks: a block mined now gives the time every later block starts from.
    const rpc = createTestClient({ mode: "anvil", transport: http(testbed.chain.rpcUrl) });
    await rpc.mine({ blocks: 1 });
    const now = Number(
      (await createPublicClient({ transport: http(testbed.chain.rpcUrl) }).getBlock()).timestamp,
    );
    const at = (seconds: number) => new Date((now + seconds) * 1000).toISOString();
    const base = { tier: "upgrade" as const, targets: ["alpha" as const] };
    const v1 = {
      ...base,
      nonce: 1,
      expiresAt: at(3_600),
      objects: [configMapV("final", "1")],
    };
    await submit("alpha", "final", v1, { signers: ["alpha", "beta"] });
    await until("v1 applied", async () => (await configMap("alpha", "final"))?.data?.v === "1");
    // v2's approval runs out first (by the chain's clock), with room for a slow apply.
    await submit(
      "alpha",
      "final",
      { ...base, nonce: 2, expiresAt: at(180), objects: [configMapV("final", "2")] },
      {
        signers: ["alpha", "beta"],
      },
    );
    await until("v2 applied", async () => (await configMap("alpha", "final"))?.data?.v === "2");

    // Time passes on chain: v2 has expired, v1 has not. The mirror puts v1, the highest version
    // alpha still verifies, back into the manifest; the status remembers nonce 2, so it is refused...
    await rpc.increaseTime({ seconds: 300 });
    await rpc.mine({ blocks: 1 });
    await submit("alpha", "final", v1, { signers: ["alpha", "beta"] });
    await until(
      "v1 refused by status",
      async () => (await verifiedCondition("alpha", "final"))?.reason === "NonceRegression",
    );
    // The passes that refusal sets off end first: other regions' outcomes refresh the status 200 ms
    // later, and a pass that read the status before the wipe would write its applied nonce back.
    await sleep(2_000);
    // ...and when alpha's admin wipes the status, the federation state still says nonce 2 was applied.
    // A resync pass that read the status just before the wipe writes back what it read (the status
    // is the operator's memory, applied by its field manager without a precondition), and from then
    // on the status shows nonce 2 again: the check below would pass through the status, not the
    // state. Such a pass is at most one at a time, so the wipe is made again until one holds.
    let status: Awaited<ReturnType<typeof readManifestStatus>>;
    for (let attempt = 1; ; attempt++) {
      await kubectl(testbed, "alpha", [
        "-n",
        NS,
        "patch",
        "consortiummanifest",
        "final",
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({
          status: { appliedNonce: null, appliedDigest: null, appliedTier: null, appliedObjects: null },
        }),
      ]);
      await sleep(6_000); // resyncs
      status = await readManifestStatus(kc("alpha"), NS, "final");
      if (status?.appliedNonce === undefined || attempt === 3) break;
    }
    expect(status?.conditions?.find((c) => c.type === "Verified")?.message).toMatch(
      /nonce 1 is lower than the applied nonce 2/,
    );
    expect(status?.appliedNonce).toBeUndefined();
    expect((await configMap("alpha", "final"))?.data?.v).toBe("2");
  });

  it("refuses a rogue peer holding alpha's real certificate: beta keeps running, applying and restarting", async () => {
    // alpha's operator goes; a process with alpha's certificate and key takes its place and speaks
    // the real protocol (mTLS, HELLO, Automerge sync) with hostile content.
    await operators.get("alpha")?.stop();
    const certificate = peerCertificate(testbed, "alpha");
    const endpoints = peersThrough(testbed, links, "alpha");
    const rogue = new PeerTransport({
      region: "alpha",
      listen: { host: "127.0.0.1", port: testbed.layout.ports.regions.alpha.peer },
      certificate: { cert: certificate.cert, key: certificate.key },
      peers: (["beta", "gamma"] as const).map((r) => ({
        region: r,
        endpoint: endpoints[r] ?? "",
        fingerprint: peerCertificate(testbed, r).fingerprint,
      })),
      heartbeatMs: 500,
      logger: pino({ level: "silent" }),
      registry: new Registry(),
    });
    let doc = createState(freshActor());
    let state = A.initSyncState();
    const answer = (): void => {
      let message: Uint8Array | null;
      [state, message] = A.generateSyncMessage(doc, state);
      if (message) rogue.send("beta", message);
    };
    rogue.onConnect((peer) => {
      if (peer === "beta") answer();
    });
    rogue.onMessage((peer, bytes, channel) => {
      if (peer !== "beta" || channel !== "sync") return;
      [doc, state] = A.receiveSyncMessage(doc, state, bytes);
      answer();
    });
    const rejected = async (): Promise<number> =>
      Number(
        /^dsc_sync_rejected_messages_total (\d+)/m.exec(
          (await operators.get("beta")?.metrics()) ?? "",
        )?.[1] ?? "0",
      );
    const before = await rejected();
    await rogue.start();
    try {
      // First an honest peer: it learns beta's state.
      await until("the rogue peer to learn beta's state", () =>
        Promise.resolve(manifestIds(doc).length > 0 || undefined),
      );
      // Then a change that would brick every region: another schema, the pauses map gone.
      doc = A.change(doc, (d: FederationDoc) => {
        d.schema = 99;
        delete (d as Partial<FederationDoc>).pauses;
      });
      answer();
      await until("beta to refuse the rogue change", async () => (await rejected()) > before);
      // Specs offered with a hint (the manifest a peer is verifying): none is its digest's, and
      // more come than beta checks a second. Each is counted, none is mirrored, beta goes on.
      const early = async (outcome: string): Promise<number> =>
        Number(
          new RegExp(`^dsc_spec_early_verifications_total\\{outcome="${outcome}"\\} (\\d+)`, "m").exec(
            (await operators.get("beta")?.metrics()) ?? "",
          )?.[1] ?? "0",
        );
      const counted = async (): Promise<number> => (await early("mismatched")) + (await early("busy"));
      const [verifiedBefore, countedBefore] = [await early("verified"), await counted()];
      for (let i = 0; i < 20; i++)
        rogue.send(
          "beta",
          encodeSpecMessage({
            kind: "spec",
            digest: `0x${i.toString(16).padStart(64, "0")}`,
            json: '{"nonce":1}',
            hint: { id: `${NS}/ghost-${String(i)}`, signatures: [] },
          }),
          "specs",
        );
      const busyBefore = await early("busy");
      await until("beta to count the hinted offers", async () =>
        (await counted()) - countedBefore >= 20 ? true : undefined,
      );
      expect((await counted()) - countedBefore).toBe(20);
      expect((await early("busy")) - busyBefore).toBeGreaterThan(0);
      expect(await early("verified")).toBe(verifiedBefore);
      // And a spec that is its digest's, with approvals that verify: beta verifies it, as hinted,
      // and still writes nothing, since no state change names it.
      await new Promise((resolve) => setTimeout(resolve, 1100)); // the next second's budget
      const id = { namespace: NS, name: "hinted" };
      const { spec } = await approvedSpec(
        testbed.chain,
        id,
        configMapSpec(id, { tier: "upgrade", targets: ["beta"], data: { v: "1" } }),
        { signers: ["alpha", "beta"] },
      );
      const binding = federationBinding("dsc", federationSpec(testbed.chain, "beta"));
      rogue.send(
        "beta",
        encodeSpecMessage({
          kind: "spec",
          digest: bindManifest(binding, id, spec).hashes.digest,
          json: specJson(spec),
          hint: {
            id: `${NS}/hinted`,
            signatures: (spec.signatures ?? []).map((s) => ({ safe: s.safe, data: s.data.toLowerCase() })),
          },
        }),
        "specs",
      );
      await until("beta to verify the hinted version", async () =>
        (await early("verified")) > verifiedBefore ? true : undefined,
      );
    } finally {
      await rogue.stop();
    }

    // beta applies what it verifies, as before...
    await submit(
      "beta",
      "after-rogue",
      {
        tier: "operational",
        targets: ["beta"],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [configMapV("after-rogue", "1")],
      },
      { signers: ["beta"] },
    );
    await until("beta applies a manifest after the rogue change", () => configMap("beta", "after-rogue"));
    expect(await readManifest(kc("beta"), NS, "hinted")).toBeUndefined();
    expect(await configMap("beta", "hinted")).toBeUndefined();
    // ...and its stored state loads: the rogue change was never persisted.
    await operators.get("beta")?.stop();
    const restarted = await startOperator(
      testbed,
      "beta",
      {
        DSC_RESYNC_SECONDS: "2",
        DSC_STATE_DIR: join(testbed.layout.regionDir("beta"), `hostile-state-${RUN}`),
      },
      { federated: true },
    );
    operators.set("beta", restarted);
    await until("beta back up and syncing", async () =>
      /^dsc_document_bytes \d+/m.test(await restarted.metrics()),
    );
    expect(await restarted.metrics()).toMatch(/^dsc_sync_rejected_messages_total 0$/m);
    // alpha's own operator comes back for the rest of the suite.
    operators.set(
      "alpha",
      await startOperator(
        testbed,
        "alpha",
        {
          DSC_RESYNC_SECONDS: "2",
          DSC_STATE_DIR: join(testbed.layout.regionDir("alpha"), `hostile-state-${RUN}`),
        },
        { federated: true },
      ),
    );
  });
  it("changes the federation's policy only with a critical manifest every region verifies itself", async () => {
    const changed = {
      critical: { dspApprovals: 3, boardApprovals: 1 },
      upgrade: { dspApprovals: 2, boardApprovals: 0 },
      operational: { dspApprovals: 2, boardApprovals: 0 },
    };
    // Expiry by the chain's clock (see the test above): 5 minutes, then the clock moves past it.
    const rpc = createTestClient({ mode: "anvil", transport: http(testbed.chain.rpcUrl) });
    await rpc.mine({ blocks: 1 });
    const chainNow = Number(
      (await createPublicClient({ transport: http(testbed.chain.rpcUrl) }).getBlock()).timestamp,
    );
    const policySpec = (nonce: number) => ({
      tier: "critical" as const,
      action: "policy" as const,
      targets: [...REGIONS],
      nonce,
      expiresAt: new Date((chainNow + 300) * 1000).toISOString(),
      objects: [
        {
          apiVersion: "dsc.federation.dev/v1alpha1",
          kind: "FederationPolicy",
          metadata: { name: "federation" },
          spec: { tiers: changed, floors: [{ kind: "/ConfigMap", tier: "upgrade" }] },
        },
      ],
    });
    const policyIn = async (region: Region) => (await readFederationStatus(kc(region)))?.policy;
    // A Federation written while the CRD still defaulted spec.tiers keeps the seeds' tiers as its own.
    for (const region of REGIONS) await restoreFederation(region);

    // alpha alone (1 of 3, no Board): a policy manifest is critical whatever else it says.
    await submit("alpha", "policy", policySpec(1), { signers: ["alpha"] });
    await until("alpha waits for the policy's approvals", async () => {
      const c = await verifiedCondition("alpha", "policy");
      return c?.reason === "InsufficientApprovals" ? c : undefined;
    });
    await sleep(3_000);
    for (const region of REGIONS)
      expect((await policyIn(region))?.source, region).toBe("built in (the seeds' policy)");

    // The consortium's own (the same nonce, now with 3 of 3 and the Board). Every region adopts
    // it, and says so.
    await submit("alpha", "policy", policySpec(1), {
      signers: ["alpha", "beta", "gamma"],
      boardSigners: 1,
    });
    for (const region of REGIONS) {
      const policy = await until(`the new policy in force in ${region}`, async () => {
        const p = await policyIn(region);
        return p?.source?.includes("nonce 1") ? p : undefined;
      });
      expect(policy.source).toBe(`manifest ${NS}/policy nonce 1; raised floors: /ConfigMap≥upgrade`);
      expect(policy.tiers.operational).toEqual({ dspApprovals: 2, boardApprovals: 0 });
    }

    // The floor it raised: a ConfigMap at the operational tier is refused, naming the policy.
    await submit(
      "alpha",
      "cm-operational",
      {
        tier: "operational",
        targets: ["alpha"],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [configMapV("cm-operational", "1")],
      },
      { signers: ["alpha"] },
    );
    const refused = await until("alpha refuses a ConfigMap below the raised floor", async () => {
      const c = await verifiedCondition("alpha", "cm-operational");
      return c?.reason === "BelowTierFloor" ? c : undefined;
    });
    expect(refused.message).toMatch(/the federation policy raises \/ConfigMap to upgrade/);

    // The tier it raised: operational is 2 of 3 now; one DSP's approval no longer does.
    await submit(
      "beta",
      "secret-operational",
      {
        tier: "operational",
        targets: ["beta"],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "s", namespace: NS },
            stringData: { v: "1" },
          },
        ],
      },
      { signers: ["beta"] },
    );
    const waiting = await until("beta waits for a second DSP", async () => {
      const c = await verifiedCondition("beta", "secret-operational");
      return c?.reason === "InsufficientApprovals" ? c : undefined;
    });
    expect(waiting.message).toMatch(/^1 of 2 DSP approvals for tier operational/);

    // A second policy at the nonce in force is stale, even with every approval.
    await submit("gamma", "policy-again", policySpec(1), {
      signers: ["alpha", "beta", "gamma"],
      boardSigners: 1,
    });
    const stale = await until("gamma calls a reused policy nonce stale", async () => {
      const c = (await readManifestStatus(kc("gamma"), NS, "policy-again"))?.conditions?.find(
        (x) => x.type === "Applied",
      );
      return c?.reason === "Superseded" ? c : undefined;
    });
    expect(stale.message).toMatch(/a policy change takes the next nonce, 2$/);

    // The policy manifests outlive this suite in the test bed's clusters (a namespace being deleted
    // keeps them a while), where a later suite's regions, starting from no policy, would verify and
    // adopt them. Past their expiry on chain, none can.
    await rpc.increaseTime({ seconds: 600 });
    await rpc.mine({ blocks: 1 });
  });
});
