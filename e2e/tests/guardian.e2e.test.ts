// The guardian pause across three regions: an agent's signed report (as a
// BreachReport, over HTTP), an Alertmanager alert or a pause on chain pauses
// alpha, beta and gamma; workloads go to zero and nothing is applied; only a
// critical-tier resume manifest (3 of 3 DSPs + 1 of the Board), after the DAO
// Board Safe has unpaused on chain, lifts it and restores the exact replica
// counts. Forged, revoked and replayed reports pause nothing.
import { readFileSync } from "node:fs";
import { CustomObjectsApi, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import {
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  http,
  keccak256,
  toHex,
  type Address,
  type Hex,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FederationStatus } from "../../operator/api/v1alpha1/federation.ts";
import { agentRegistryAbi } from "../../operator/chain/abi/agent-registry.ts";
import { guardianPauseAbi } from "../../operator/chain/abi/guardian-pause.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { startAlertmanager } from "../observability/alertmanager.ts";
import { findTool, inCi, installHint } from "../observability/files.ts";
import { eventually } from "../testbed/eventually.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  installFederation,
  peersThrough,
  startFederatedSuite,
  submitApproved,
  startPeerLinks,
  type OperatorProcess,
} from "../testbed/operator.ts";
import {
  breachReportObject,
  chainPause,
  resumeSpec,
  signedReport,
  unpauseChain,
  type SignedReport,
} from "../testbed/guardian.ts";
import {
  breachReportStatus,
  configMap as readConfigMap,
  deployment as readDeployment,
  federationStatus as readFederationStatus,
  manifestStatus as readManifestStatus,
} from "../testbed/read.ts";
import { execFromSafe } from "../testbed/safe-tx.ts";
import type { TcpProxy } from "../testbed/tcp-proxy.ts";
import { current, kubectl, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
const operators = new Map<Region, OperatorProcess>();
let links = new Map<string, TcpProxy>();
const RUN = Date.now().toString(36);
const NS = `guard-${RUN}`;
const ALERT_TOKEN = `am-${RUN}-secret`;
const alertmanagerBinary = findTool("prometheus-alertmanager");
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const admin = (region: Region) => new Applier(kc(region), { fieldManager: "dsp-admin" });

const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> =>
  eventually(what, probe, { timeoutMs, logs: () => [...operators.values()].map((o) => o.log) });

const peersOf = (region: Region) => peersThrough(testbed, links, region);

const federationOptions = (region: Region) => ({
  peers: peersOf(region),
  guardian: { action: "ScaleToZero" as const, recordOnChain: true, alertmanagerToken: ALERT_TOKEN },
});

beforeAll(async () => {
  testbed = await current();
  links = await startPeerLinks(testbed);
  await unpauseChain(testbed.chain); // a clean start whatever ran before
  for (const [region, operator] of await startFederatedSuite(testbed, {
    namespace: NS,
    // A federation state of this file's own: a pause must not leak into other suites.
    stateName: `guardian-state-${RUN}`,
    options: federationOptions,
  }))
    operators.set(region, operator);
}, 180_000);

afterAll(async () => {
  // Leave nothing paused for the suites after this one.
  await resumeAll("resume-final").catch(() => undefined);
  // Its manifests go while the operators still run to release their finalizers.
  await Promise.all(
    REGIONS.map((r) =>
      kc(r)
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: NS })
        .catch(() => undefined),
    ),
  );
  await until(
    "this suite's namespaces gone",
    async () =>
      (
        await Promise.all(
          REGIONS.map((r) =>
            kc(r)
              .makeApiClient(CoreV1Api)
              .readNamespace({ name: NS })
              .then(
                () => false,
                () => true,
              ),
          ),
        )
      ).every(Boolean),
    60_000,
  ).catch(() => undefined);
  await Promise.all([...operators.values()].map((o) => o.stop()));
  await Promise.all([...links.values()].map((l) => l.close()));
  // The other suites' Federations carry no guardian.
  for (const region of REGIONS) await installFederation(testbed, region);
}, 120_000);

// ---- chain, reports, reads ----

const publicClient = () => createPublicClient({ transport: http(testbed.chain.rpcUrl) });

async function boardCall(to: Address, data: Hex): Promise<void> {
  await execFromSafe(testbed.chain, testbed.chain.safes.daoBoard, { to, data }, [
    testbed.chain.keys.boardOwners[0] as Hex,
  ]);
}

/** A report by the agent of `agentKey` (signed by `signer`: another key forges it), evidence unique to this run. */
const agentReport = (agentKey: Hex, scope: string, signer?: Hex): Promise<SignedReport> =>
  signedReport(testbed.chain, agentKey, scope, {
    evidence: `${scope} ${RUN}`,
    ...(signer ? { signer } : {}),
  });

async function fileReport(region: Region, name: string, r: SignedReport) {
  await admin(region).apply(breachReportObject(NS, name, r));
  return until(`BreachReport ${name} judged in ${region}`, async () => {
    const status = await breachReportStatus(kc(region), NS, name);
    return status?.state ? status : undefined;
  });
}

const operatorUrl = (region: Region, path: string): string =>
  `http://127.0.0.1:${String(operators.get(region)?.port)}${path}`;

// ---- federation and workloads ----

const federationStatus = (region: Region) => readFederationStatus(kc(region));

const pausedIn = async (region: Region): Promise<boolean> =>
  (await federationStatus(region))?.guardian?.paused ?? false;

const allPaused = (what: string, timeoutMs?: number) =>
  until(
    `${what}: paused in all three`,
    async () => (await Promise.all(REGIONS.map(pausedIn))).every(Boolean),
    timeoutMs,
  );

const deployment = (region: Region, name: string) => readDeployment(kc(region), NS, name);
const configMap = (region: Region, name: string) => readConfigMap(kc(region), NS, name);
const manifestStatus = (region: Region, name: string) => readManifestStatus(kc(region), NS, name);

const submit = (
  region: Region,
  name: string,
  spec: Parameters<typeof submitApproved>[4],
  options: Parameters<typeof submitApproved>[5],
): Promise<void> => submitApproved(testbed, region, NS, name, spec, options);

const expiresAt = () => new Date(Date.now() + 3_600_000).toISOString();

/** Board unpauses on chain, then a critical resume of every pause in force, approved 3 + 1. */
async function resumeAll(name: string, recordedOnChain = true): Promise<void> {
  const tokens = (await federationStatus("alpha"))?.guardian?.pauses.map((p) => p.token) ?? [];
  if (tokens.length === 0) return;
  // A pause raised in a cluster is recorded on chain (recordOnChain); the Board lifts it there first.
  if (recordedOnChain)
    await until("pause recorded on chain", async () => (await chainPause(testbed.chain)).paused);
  await unpauseChain(testbed.chain);
  await submit("alpha", name, resumeSpec(tokens), { signers: ["alpha", "beta", "gamma"], boardSigners: 1 });
  await until(`${name}: resumed in all three`, async () =>
    (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
  );
}

describe("the guardian pause", () => {
  it("refuses a forged report and a revoked agent's, and pauses nothing", async () => {
    await submit(
      "alpha",
      "web",
      {
        tier: "upgrade",
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "web", namespace: NS },
            spec: {
              replicas: 3,
              selector: { matchLabels: { app: "web" } },
              template: {
                metadata: { labels: { app: "web" } },
                spec: { containers: [{ name: "web", image: "registry.example/web:1" }] },
              },
            },
          },
        ],
      },
      { signers: ["alpha", "beta"] },
    );
    for (const region of REGIONS)
      await until(`web in ${region}`, async () => (await deployment(region, "web"))?.spec?.replicas === 3);
    // A scale by hand of a managed workload is refused (the scale policy, written as the manifest applied).
    await until("the scale policy to refuse a scale by hand", () =>
      kubectl(testbed, "alpha", [
        "-n",
        NS,
        "scale",
        "deployment",
        "web",
        "--replicas=5",
        "--dry-run=server",
      ]).then(
        () => false,
        (error: unknown) => String(error).includes("may not scale deployments/web"),
      ),
    );
    await until(
      "web at the approved replica count",
      async () => (await deployment("alpha", "web"))?.spec?.replicas === 3,
    );

    const gammaAgent = testbed.chain.keys.agents.gamma;
    const forged = await agentReport(gammaAgent, "forged", generatePrivateKey());
    expect(await fileReport("gamma", "forged", forged)).toMatchObject({
      state: "Refused",
      reason: "BadSignature",
    });

    // The Board revokes gamma's agent; its report no longer counts. Then it is bound again.
    const registry = testbed.chain.federation.agentRegistry;
    const agent = privateKeyToAccount(gammaAgent).address;
    const [tokenId] = await publicClient().readContract({
      address: registry,
      abi: agentRegistryAbi,
      functionName: "agentOf",
      args: [agent],
    });
    await boardCall(
      registry,
      encodeFunctionData({ abi: agentRegistryAbi, functionName: "revoke", args: [tokenId] }),
    );
    try {
      const revoked = await agentReport(gammaAgent, "revoked");
      expect(await fileReport("gamma", "revoked", revoked)).toMatchObject({
        state: "Refused",
        reason: "NotAnAgent",
      });
    } finally {
      await boardCall(
        registry,
        encodeFunctionData({
          abi: agentRegistryAbi,
          functionName: "mint",
          args: [agent, testbed.chain.safes.dsp.gamma],
        }),
      );
    }
    for (const region of REGIONS) expect(await pausedIn(region)).toBe(false);
    expect((await chainPause(testbed.chain)).paused).toBe(false);
    const metrics = await operators.get("gamma")?.metrics();
    expect(metrics).toMatch(/^dsc_breach_reports_total\{source="agent",result="BadSignature"\} 1$/m);
    expect(metrics).toMatch(/^dsc_breach_reports_total\{source="agent",result="NotAnAgent"\} 1$/m);
  });

  let accepted: SignedReport;
  let acceptedToken = "";

  it("pauses all three regions on an agent's report in gamma, scales managed workloads to zero and applies nothing; only 3+1 resumes, exactly", async () => {
    accepted = await agentReport(testbed.chain.keys.agents.gamma, "settlement invariant broken");
    const status = await fileReport("gamma", "breach-1", accepted);
    expect(status.state).toBe("Accepted");
    acceptedToken = status.token ?? "";
    await allPaused("agent report");
    for (const region of REGIONS) {
      // The condition is written with status.guardian, in one write (federation/pause-status.ts):
      // whatever read shows the pause shows the condition too.
      const fed = await federationStatus(region);
      expect(fed?.guardian?.paused).toBe(true);
      const condition = fed?.conditions?.find((c) => c.type === "Paused");
      expect(condition).toMatchObject({ status: "True", reason: "BreachReported" });
      // The Federation controller's own conditions stay beside it (a map keyed by type).
      expect(fed?.conditions?.map((c) => c.type)).toContain("Ready");
      expect(fed?.guardian?.pauses[0]).toMatchObject({
        token: acceptedToken,
        source: "agent",
        by: privateKeyToAccount(testbed.chain.keys.agents.gamma).address,
        dsp: testbed.chain.safes.dsp.gamma,
        reason: "settlement invariant broken",
        evidence: accepted.report.evidenceHash,
      });
      const web = await until(`web scaled to zero in ${region}`, async () => {
        const d = await deployment(region, "web");
        return d?.spec?.replicas === 0 ? d : undefined;
      });
      expect(web.metadata?.annotations?.["dsc.federation.dev/paused-replicas"]).toBe("3");
      expect(await operators.get(region)?.metrics()).toMatch(/^dsc_guardian_paused 1$/m);
    }
    const events = await kc("beta").makeApiClient(CoreV1Api).listEventForAllNamespaces({
      fieldSelector: "reason=GuardianPaused,involvedObject.kind=Federation",
    });
    expect(events.items.length).toBeGreaterThan(0);
    // Recorded on chain by the guardian key, with the report's token as evidence.
    await until("pause recorded on chain", async () => {
      const c = await chainPause(testbed.chain);
      return c.paused && c.evidence.toLowerCase() === acceptedToken.toLowerCase();
    });

    // Nothing is applied while paused.
    await submit(
      "alpha",
      "during-pause",
      {
        tier: "upgrade",
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "during-pause" }, data: { v: "1" } },
        ],
      },
      { signers: ["alpha", "beta"] },
    );
    await until(
      "during-pause held back",
      async () => (await manifestStatus("alpha", "during-pause"))?.state === "Paused",
    );
    expect(await configMap("alpha", "during-pause")).toBeUndefined();

    // 2 of 3 DSPs and the Board: not enough for a resume.
    await unpauseChain(testbed.chain);
    await submit("alpha", "resume-short", resumeSpec([acceptedToken]), {
      signers: ["alpha", "beta"],
      boardSigners: 1,
    });
    await until(
      "resume-short judged",
      async () => (await manifestStatus("alpha", "resume-short"))?.state === "Pending",
    );
    expect(await pausedIn("alpha")).toBe(true);

    // 3 of 3 and 1 of the Board: resumed everywhere, replica counts restored exactly.
    await submit("alpha", "resume-1", resumeSpec([acceptedToken]), {
      signers: ["alpha", "beta", "gamma"],
      boardSigners: 1,
    });
    await until("resumed everywhere", async () =>
      (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
    );
    for (const region of REGIONS) {
      const web = await until(`web restored in ${region}`, async () => {
        const d = await deployment(region, "web");
        return d?.spec?.replicas === 3 ? d : undefined;
      });
      expect(web.metadata?.annotations?.["dsc.federation.dev/paused-replicas"]).toBeUndefined();
      await until(
        `during-pause applied in ${region}`,
        async () => (await configMap(region, "during-pause")) !== undefined,
      );
    }
    await until(
      "resume-1 Applied",
      async () => (await manifestStatus("alpha", "resume-1"))?.state === "Applied",
    );
  });

  it("refuses a replayed report, over HTTP or as a BreachReport, and pauses nothing", async () => {
    const res = await fetch(operatorUrl("beta", "/v1/breach-reports"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(accepted),
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ state: "Refused", reason: "Replayed" });
    expect(await fileReport("alpha", "breach-1-again", accepted)).toMatchObject({
      state: "Refused",
      reason: "Replayed",
    });
    for (const region of REGIONS) expect(await pausedIn(region)).toBe(false);
  });

  it("pauses on a real Alertmanager's webhook with its bearer token, and not with a wrong or missing one", async () => {
    if (!alertmanagerBinary) {
      if (inCi())
        throw new Error(`${installHint("prometheus-alertmanager")} CI=true: this test must run here.`);
      console.warn(`SKIPPED the Alertmanager test: ${installHint("prometheus-alertmanager")}`);
      return;
    }
    const webhook = operatorUrl("alpha", "/v1/alertmanager");
    const alertmanager = await startAlertmanager({
      binary: alertmanagerBinary,
      receivers: [
        { name: "wrong-token", url: webhook, token: "wrong" },
        { name: "no-token", url: webhook, token: undefined },
        { name: "dsc", url: webhook, token: ALERT_TOKEN },
      ],
    });
    try {
      const alert = (receiver: string) => ({
        labels: { alertname: "DscInvariantBroken", severity: "critical", receiver, run: RUN },
        annotations: { summary: "total supply moved without a settlement" },
      });
      await alertmanager.fire([alert("wrong-token"), alert("no-token")]);
      // Alertmanager sent both, and the operator answered 401 to each.
      await until("alertmanager's two notifications refused", () => {
        const log = readFileSync(alertmanager.log, "utf8");
        return Promise.resolve(
          ["wrong-token", "no-token"].every((r) =>
            log.split("\n").some((line) => line.includes(`${r}/webhook`) && line.includes("status code 401")),
          ),
        );
      });
      for (const region of REGIONS) expect(await pausedIn(region)).toBe(false);

      await alertmanager.fire([alert("dsc")]);
      await allPaused("alertmanager");
      // A resume that did its work stays Applied while a later pause is in force.
      await new Promise((r) => setTimeout(r, 2500));
      expect((await manifestStatus("alpha", "resume-1"))?.state).toBe("Applied");
      const fed = await federationStatus("gamma");
      expect(fed?.guardian?.pauses[0]?.source).toBe("alertmanager");
      expect(fed?.guardian?.pauses[0]?.reason).toContain("DscInvariantBroken");
    } finally {
      await alertmanager.stop();
    }
    await resumeAll("resume-2");
  });

  it("pauses beta when it rejoins after a partition, even if it applied something in between", async () => {
    // Off chain this time: beta would otherwise learn of the pause from the chain, not from its peers.
    for (const region of REGIONS)
      await installFederation(testbed, region, {
        peers: peersOf(region),
        guardian: { action: "ScaleToZero", alertmanagerToken: ALERT_TOKEN },
      });
    await until("every operator read the new Federation", async () => {
      const all = await Promise.all(
        REGIONS.map(
          (r) =>
            kc(r).makeApiClient(CustomObjectsApi).getClusterCustomObject({
              group: "dsc.federation.dev",
              version: "v1alpha1",
              plural: "federations",
              name: "dsc",
            }) as Promise<{ metadata: { generation: number }; status?: FederationStatus }>,
        ),
      );
      return all.every((f) => f.status?.observedGeneration === f.metadata.generation);
    });
    links.get("alpha-beta")?.cut();
    links.get("beta-gamma")?.cut();
    await until("beta cut off", async () => {
      const s = await federationStatus("beta");
      return s?.peers?.every((p) => !p.connected);
    });
    const report = await agentReport(testbed.chain.keys.agents.alpha, "bridge drained");
    const res = await fetch(operatorUrl("alpha", "/v1/breach-reports"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(202);
    await until("alpha and gamma paused", async () => (await pausedIn("alpha")) && (await pausedIn("gamma")));
    expect(await pausedIn("beta")).toBe(false);
    // Beta, not yet told, still applies its own.
    await submit(
      "beta",
      "beta-alone",
      {
        tier: "operational",
        targets: ["beta"],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "beta-alone" }, data: { v: "1" } },
        ],
      },
      { signers: ["beta"] },
    );
    await until(
      "beta-alone applied in beta",
      async () => (await configMap("beta", "beta-alone")) !== undefined,
    );

    links.get("alpha-beta")?.restore();
    links.get("beta-gamma")?.restore();
    await until("beta paused after rejoining", () => pausedIn("beta"), 40_000);
    await until(
      "web scaled to zero in beta",
      async () => (await deployment("beta", "web"))?.spec?.replicas === 0,
    );
    await resumeAll("resume-3", false);
    for (const region of REGIONS) await installFederation(testbed, region, federationOptions(region));
  });

  it("pauses the clusters when the guardian pauses on chain", async () => {
    const guardian = createWalletClient({
      account: privateKeyToAccount(testbed.chain.keys.guardian),
      chain: { ...foundry, id: testbed.chain.chainId },
      transport: http(testbed.chain.rpcUrl),
    });
    const evidence = keccak256(toHex(`on chain ${RUN}`));
    const hash = await guardian.writeContract({
      address: testbed.chain.federation.guardianPause,
      abi: guardianPauseAbi,
      functionName: "pause",
      args: [evidence],
    });
    await publicClient().waitForTransactionReceipt({ hash });
    await allPaused("chain pause");
    // Beta may take the pause from a peer before its own chain poll sees it; the status says
    // chainPaused only from this region's own read of the chain.
    const fed = await until("beta read the pause on chain itself", async () => {
      const f = await federationStatus("beta");
      return f?.guardian?.chainPaused === true ? f : undefined;
    });
    expect(fed.guardian?.pauses[0]).toMatchObject({ source: "chain", evidence });
    // Without the Board's unpause on chain, even a 3+1 resume waits.
    const tokens = fed.guardian?.pauses.map((p) => p.token) ?? [];
    await submit("alpha", "resume-early", resumeSpec(tokens), {
      signers: ["alpha", "beta", "gamma"],
      boardSigners: 1,
    });
    await until("resume-early held back", async () => {
      const s = await manifestStatus("alpha", "resume-early");
      return s?.conditions?.find((c) => c.type === "Applied")?.message.includes("unpause") ?? false;
    });
    expect(await pausedIn("alpha")).toBe(true);
    await unpauseChain(testbed.chain);
    await until("resumed once the Board unpaused", async () =>
      (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
    );
  });
});
