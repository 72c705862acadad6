// Watching the federation with real servers: Prometheus (Debian's package)
// scrapes the three federated operators on the test bed and evaluates the
// chart's alert rules, at a compressed time scale (every `for` 2 s, every
// range 30 s; the expressions are otherwise the chart's). Every query of the
// chart's Grafana dashboard returns data, and the alerts fire in the scenarios
// they describe: a manifest with a bad signature, a stranger at the federation
// endpoint, a region that cannot read the chain, the guardian pause, a region
// lost. The operators' log lines carry region, controller, object and digest,
// and never a secret.
//
// Without Prometheus the suite is skipped, visibly; with CI=true it fails.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import { generatePrivateKey } from "viem/accounts";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployAnchors } from "../testbed/anchor.ts";
import { generatePeerCertificate } from "../support/certificates.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import {
  compressedRules,
  expand,
  findTool,
  inCi,
  installHint,
  panelQueries,
  readDashboard,
} from "../observability/files.ts";
import { startPrometheus, type Alert, type PrometheusServer } from "../observability/prometheus.ts";
import { approvedSpec, manifestObject } from "../testbed/approve.ts";
import { eventually } from "../testbed/eventually.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  directPeers,
  installFederation,
  peerCertificate,
  startOperator,
  type OperatorProcess,
} from "../testbed/operator.ts";
import { freePort } from "../testbed/process.ts";
import { chainPause, resumeSpec, signedReport, unpauseChain } from "../testbed/guardian.ts";
import { federationStatus as readFederationStatus } from "../testbed/read.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

const prometheusBinary = findTool("prometheus");
const RUN = Date.now().toString(36);
const NS = `obs-${RUN}`;
const ALERT_TOKEN = `am-${RUN}-secret`;
const JOB = "dsc-operator";

let testbed: Testbed;
let prometheus: PrometheusServer | undefined;
const operators = new Map<Region, OperatorProcess>();
/** Every operator log of this suite, including those of processes stopped since. */
const logs = new Map<string, Region>();
/** URLs given to the operators as RPC URLs: none may ever appear in a log. */
const rpcUrls: string[] = [];
const digests: Record<string, string> = {};

const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const admin = (region: Region) => new Applier(kc(region), { fieldManager: "dsp-admin" });

const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> =>
  eventually(what, probe, {
    timeoutMs,
    logs: () => [...logs.keys(), ...(prometheus ? [prometheus.log] : [])],
  });

// The suite's own LogAnchor, so that the anchor panels and alerts have series to show.
let anchors: Address | undefined;
const federationOptions = (region: Region, rpcUrl?: string) => ({
  peers: directPeers(testbed, region),
  ...(anchors ? { anchor: { contract: anchors, intervalSeconds: 5 } } : {}),
  // Freeze: a pause touches no workload, so other suites' objects on the shared test bed stay as they are.
  guardian: { action: "Freeze" as const, recordOnChain: true, alertmanagerToken: ALERT_TOKEN },
  ...(rpcUrl ? { rpcUrl } : {}),
});

async function startRegionOperator(region: Region): Promise<OperatorProcess> {
  const operator = await startOperator(
    testbed,
    region,
    {
      DSC_RESYNC_SECONDS: "2",
      // A federation state of this file's own: a pause must not leak into other suites.
      DSC_STATE_DIR: join(testbed.layout.regionDir(region), `observability-state-${RUN}`),
    },
    { federated: true },
  );
  operators.set(region, operator);
  logs.set(operator.log, region);
  return operator;
}

// ---- alerts ----

const matches = (alert: Alert, name: string, labels: Readonly<Record<string, string>>): boolean =>
  alert.labels.alertname === name && Object.entries(labels).every(([k, v]) => alert.labels[k] === v);

const server = (): PrometheusServer => {
  if (!prometheus) throw new Error("prometheus is not running");
  return prometheus;
};

function firing(name: string, labels: Readonly<Record<string, string>> = {}, timeoutMs?: number) {
  return until(
    `${name} ${JSON.stringify(labels)} firing`,
    async () => (await server().alerts()).find((a) => a.state === "firing" && matches(a, name, labels)),
    timeoutMs,
  );
}

function cleared(name: string, labels: Readonly<Record<string, string>> = {}, timeoutMs?: number) {
  return until(
    `${name} ${JSON.stringify(labels)} cleared`,
    async () => !(await server().alerts()).some((a) => matches(a, name, labels)),
    timeoutMs,
  );
}

// ---- chain and manifests ----

const expiresAt = () => new Date(Date.now() + 3_600_000).toISOString();

/** Applies a ConsortiumManifest as a DSP admin would, with a spec as signed (or forged). */
async function submit(region: Region, name: string, spec: unknown): Promise<void> {
  await admin(region).apply(manifestObject(NS, name, spec));
}

const federationStatus = (region: Region) => readFederationStatus(kc(region));

const pausedIn = async (region: Region): Promise<boolean> =>
  (await federationStatus(region))?.guardian?.paused ?? false;

/** The pauses in force, once every region's Federation status shows the pause the metrics already show. */
async function pausesInForce(): Promise<string[]> {
  const paused = await server().query("max by (region) (dsc_guardian_paused) == 1");
  if (paused.length === 0) return [];
  return until("the pause in every Federation status", async () => {
    const statuses = await Promise.all(REGIONS.map(federationStatus));
    if (!statuses.every((s) => s?.guardian?.paused)) return undefined;
    return statuses[0]?.guardian?.pauses.map((p) => p.token);
  });
}

/** The Board unpauses on chain, then a critical resume (3 of 3 DSPs + 1 of the Board) of every pause in force. */
async function resumeAll(name: string): Promise<void> {
  const tokens = await pausesInForce();
  if (tokens.length === 0) return;
  // A pause raised in a cluster is recorded on chain (recordOnChain); the Board lifts it there first.
  await until("pause recorded on chain", async () => (await chainPause(testbed.chain)).paused);
  await unpauseChain(testbed.chain);
  const approved = await approvedSpec(testbed.chain, { namespace: NS, name }, resumeSpec(tokens), {
    proposer: "alpha",
    signers: ["alpha", "beta", "gamma"],
    boardSigners: 1,
  });
  await submit("alpha", name, approved.spec);
  await until(`${name}: resumed in all three`, async () =>
    (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
  );
}

/**
 * Removes this suite's manifests and namespace, once its operators are
 * stopped: while they run, each re-creates a deleted manifest from the
 * federation state (withdrawing one everywhere takes a manifest of its own).
 * Their private state goes with them, so nothing brings them back.
 */
async function deleteManifests(): Promise<void> {
  const plural = {
    group: "dsc.federation.dev",
    version: "v1alpha1",
    namespace: NS,
    plural: "consortiummanifests",
  };
  for (const region of REGIONS) {
    const api = kc(region).makeApiClient(CustomObjectsApi);
    const list = (await api.listNamespacedCustomObject(plural)) as {
      items: { metadata: { name: string } }[];
    };
    for (const item of list.items) {
      const name = item.metadata.name;
      await api.patchNamespacedCustomObject(
        { ...plural, name, body: { metadata: { finalizers: null } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      await api.deleteNamespacedCustomObject({ ...plural, name }).catch(() => undefined);
    }
    await kc(region)
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: NS })
      .catch(() => undefined);
  }
}

// ---- the suite ----

if (!prometheusBinary && !inCi())
  console.warn(`SKIPPED the observability suite: ${installHint("prometheus")}`);
if (!prometheusBinary && inCi()) {
  describe("observability with a real Prometheus", () => {
    it("has Prometheus installed (CI must run this suite)", () => {
      throw new Error(`${installHint("prometheus")} CI=true: the observability suite must run here.`);
    });
  });
}

describe.skipIf(!prometheusBinary)(
  `observability with a real Prometheus${prometheusBinary ? "" : ` (skipped: ${installHint("prometheus")})`}`,
  () => {
    beforeAll(async () => {
      testbed = await current();
      rpcUrls.push(testbed.chain.rpcUrl);
      await unpauseChain(testbed.chain); // a clean start whatever ran before
      anchors = await deployAnchors(testbed);
      for (const region of REGIONS) {
        await installFederation(testbed, region, federationOptions(region));
        await admin(region).apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
      }
      await Promise.all(REGIONS.map(startRegionOperator));
      prometheus = await startPrometheus({
        binary: prometheusBinary ?? "prometheus",
        job: JOB,
        targets: REGIONS.map((region) => ({
          address: `127.0.0.1:${String(operators.get(region)?.port)}`,
          labels: { region },
        })),
        rules: compressedRules("2s", "30s"),
      });
    }, 240_000);

    afterAll(async () => {
      const problems: string[] = [];
      const attempt = async (what: string, step: () => Promise<unknown>): Promise<void> => {
        try {
          await step();
        } catch (error) {
          problems.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
        }
      };
      // Leave nothing paused and nothing of this suite's for the suites after it.
      if (prometheus && operators.size === REGIONS.length)
        await attempt("resume", () => resumeAll(`resume-final-${RUN}`));
      await attempt("unpause the chain", () => unpauseChain(testbed.chain));
      await Promise.all([...operators.values()].map((o) => o.stop()));
      await prometheus?.stop();
      await attempt("delete manifests", deleteManifests);
      // The other suites' Federations carry no guardian.
      for (const region of REGIONS)
        await attempt(`Federation in ${region}`, () => installFederation(testbed, region));
      if (problems.length > 0) console.warn(`observability clean-up:\n  ${problems.join("\n  ")}`);
    }, 240_000);

    it("scrapes the three operators, and no alert of the scenarios below fires while the federation is healthy", async () => {
      await until("every operator scraped", async () => {
        const up = await server().query(`up{job="${JOB}"} == 1`);
        return REGIONS.every((r) => up.some((s) => s.metric.region === r));
      });
      await until("every region connected to both peers", async () => {
        const peers = await server().query("sum by (region) (dsc_peer_connected)");
        return REGIONS.every((r) => peers.find((s) => s.metric.region === r)?.value[1] === "2");
      });
      // Start-up transients (peers not yet connected) age out of the compressed windows.
      const scenarios = [
        "DscOperatorDown",
        "DscPeerDown",
        "DscGuardianPaused",
        "DscChainUnavailable",
        "DscPeerRefused",
      ];
      await until("no scenario alert active in a healthy federation", async () => {
        const active = (await server().alerts()).filter(
          (a) =>
            scenarios.includes(a.labels.alertname ?? "") ||
            matches(a, "DscVerificationFailing", {
              region: "alpha",
              tier: "operational",
              result: "InvalidProposer",
            }),
        );
        return active.length === 0;
      });
    }, 120_000);

    it("DscVerificationFailing fires when a manifest carries a bad signature; a good one is applied everywhere", async () => {
      const good = {
        tier: "upgrade" as const,
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "web", namespace: NS }, data: { v: "1" } },
        ],
      };
      const approved = await approvedSpec(testbed.chain, { namespace: NS, name: "web" }, good, {
        proposer: "alpha",
        signers: ["alpha", "beta"],
      });
      digests.web = approved.hashes.digest;
      await submit("alpha", "web", approved.spec);

      // Alpha's agent named as the proposer, but the signature is a stranger's.
      const forgedSpec = {
        tier: "operational" as const,
        targets: ["alpha" as const],
        nonce: 1,
        expiresAt: expiresAt(),
        objects: [
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "forged", namespace: NS },
            data: { v: "1" },
          },
        ],
      };
      const id = { namespace: NS, name: "forged" };
      const honest = await approvedSpec(testbed.chain, id, forgedSpec, {
        proposer: "alpha",
        signers: ["alpha"],
      });
      const stranger = await approvedSpec(testbed.chain, id, forgedSpec, { agentKey: generatePrivateKey() });
      digests.forged = honest.hashes.digest;
      await submit("alpha", "forged", {
        ...honest.spec,
        proposal: { agent: honest.spec.proposal.agent, signature: stranger.spec.proposal.signature },
      });

      const alert = await firing("DscVerificationFailing", {
        region: "alpha",
        tier: "operational",
        result: "InvalidProposer",
        severity: "warning",
      });
      expect(alert.annotations.description).toContain("refused (InvalidProposer)");
      expect(alert.annotations.runbook_url).toMatch(/#runbook-dscverificationfailing$/);
      for (const region of REGIONS)
        await until(
          `web applied in ${region}`,
          async () =>
            (
              await kc(region)
                .makeApiClient(CoreV1Api)
                .readNamespacedConfigMap({ name: "web", namespace: NS })
                .catch(() => undefined)
            )?.data?.v === "1",
        );
      expect(
        await kc("alpha")
          .makeApiClient(CoreV1Api)
          .readNamespacedConfigMap({ name: "forged", namespace: NS })
          .catch(() => undefined),
      ).toBeUndefined();
    }, 180_000);

    it("DscPeerRefused fires when a stranger's certificate knocks at the federation endpoint", async () => {
      const intruder = generatePeerCertificate(join(testbed.layout.root, "intruder"), "mallory");
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => {
          const socket = tlsConnect({
            host: "127.0.0.1",
            port: testbed.layout.ports.regions.alpha.peer,
            cert: intruder.cert,
            key: intruder.key,
            rejectUnauthorized: false,
          });
          socket.on("error", () => undefined);
          socket.once("close", () => {
            resolve();
          });
          socket.setTimeout(5000, () => socket.destroy());
        });
        await sleep(1500); // a scrape between knocks, so the counter's increase shows
      }
      const alert = await firing("DscPeerRefused", { region: "alpha", reason: "unknown_certificate" });
      expect(alert.labels.severity).toBe("warning");
    }, 120_000);

    it("DscChainUnavailable fires for a region that cannot read the chain, and clears when it can", async () => {
      const dead = `http://127.0.0.1:${String(await freePort())}`; // nothing listens there
      rpcUrls.push(dead);
      await installFederation(testbed, "gamma", federationOptions("gamma", dead));
      try {
        const alert = await firing("DscChainUnavailable", { region: "gamma", severity: "critical" }, 90_000);
        expect(alert.annotations.description).toContain("region gamma");
        const errors = await server().query(
          'sum by (region) (rate(dsc_chain_errors_total{region="gamma"}[30s])) > 0',
        );
        expect(errors).toHaveLength(1);
      } finally {
        await installFederation(testbed, "gamma", federationOptions("gamma"));
      }
      await cleared("DscChainUnavailable", { region: "gamma" }, 90_000);
      for (const region of ["alpha", "beta"])
        expect((await server().alerts()).some((a) => matches(a, "DscChainUnavailable", { region }))).toBe(
          false,
        );
    }, 240_000);

    it("DscGuardianPaused fires in every region on an agent's signed breach report, and clears on the DAO's resume", async () => {
      const { report, signature } = await signedReport(
        testbed.chain,
        testbed.chain.keys.agents.gamma,
        `observability drill ${RUN}`,
      );
      const res = await fetch(`http://127.0.0.1:${String(operators.get("beta")?.port)}/v1/breach-reports`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ report, signature }),
      });
      expect(res.status).toBe(202);
      try {
        for (const region of REGIONS) {
          const alert = await firing("DscGuardianPaused", { region, severity: "critical" });
          expect(alert.annotations.summary).toBe("The guardian pause is in force.");
        }
        const reports = await server().query(
          'dsc_breach_reports_total{region="beta", source="http", result="Accepted"}',
        );
        expect(reports.map((s) => s.value[1])).toEqual(["1"]);
      } finally {
        await resumeAll(`resume-${RUN}`);
      }
      await cleared("DscGuardianPaused");
    }, 240_000);

    it("every dashboard panel's query returns data", async () => {
      const variables = {
        region: REGIONS.join("|"),
        __rate_interval: "1m",
        __interval: "15s",
        __range: "1h",
      };
      const empty: string[] = [];
      for (const q of panelQueries(readDashboard())) {
        const expr = expand(q.expr, variables);
        const result = await server().query(expr);
        if (result.length === 0) empty.push(`${q.panel.title} (${q.refId}): ${expr}`);
      }
      expect(empty, "panels without data").toEqual([]);
      const peers = await server().query(
        expand(
          'max by (region) (sum by (region, instance) (dsc_peer_connected{region=~"$region"}))',
          variables,
        ),
      );
      expect(peers.map((s) => [s.metric.region, s.value[1]]).sort()).toEqual(REGIONS.map((r) => [r, "2"]));
    }, 120_000);

    it("DscPeerDown fires in the other regions when a region is lost, and clears when it is back", async () => {
      await operators.get("gamma")?.stop();
      await firing("DscPeerDown", { region: "alpha", peer: "gamma", severity: "warning" });
      await firing("DscPeerDown", { region: "beta", peer: "gamma", severity: "warning" });
      await firing("DscOperatorDown", { region: "gamma", severity: "critical" });
      expect((await server().alerts()).some((a) => matches(a, "DscPeerDown", { peer: "alpha" }))).toBe(false);
      // Gamma comes back (on another metrics port, which this Prometheus does not scrape) and reconnects.
      await startRegionOperator("gamma");
      await cleared("DscPeerDown");
    }, 180_000);

    it("logs carry region, controller, object and digest, and never a secret", () => {
      const secrets: [string, string][] = [
        ...rpcUrls.map((url): [string, string] => ["an RPC URL", url]),
        ["the guardian key", testbed.chain.keys.guardian.slice(2)],
        ["the Alertmanager token", ALERT_TOKEN],
        ...REGIONS.map((r): [string, string] => {
          const body = peerCertificate(testbed, r)
            .key.split("\n")
            .filter((l) => l && !l.startsWith("-----"));
          return [`${r}'s peer key`, body.sort((a, b) => b.length - a.length)[0] ?? "-----"];
        }),
      ];
      let lines = 0;
      const seen = { applied: false, refused: false };
      for (const [file, region] of logs) {
        const text = readFileSync(file, "utf8");
        for (const [what, secret] of secrets) expect(text.includes(secret), `${what} in ${file}`).toBe(false);
        for (const line of text.split("\n")) {
          if (!line.startsWith("{")) continue;
          lines++;
          const entry = JSON.parse(line) as Record<string, unknown>;
          expect(entry.region, `region on ${line}`).toBe(region);
          if ("reconcileID" in entry) {
            expect(entry.controller, `controller on ${line}`).toEqual(expect.any(String));
            expect(entry.key, `object on ${line}`).toEqual(expect.any(String));
          }
          if (
            entry.controller === "consortiummanifest" &&
            entry.key === `${NS}/web` &&
            entry.msg === "applied"
          ) {
            expect(entry.digest).toBe(digests.web);
            seen.applied = true;
          }
          if (entry.key === `${NS}/forged` && entry.reason === "InvalidProposer") {
            expect(entry.controller).toBe("consortiummanifest");
            expect(entry.digest).toBe(digests.forged);
            seen.refused = true;
          }
        }
      }
      expect(lines).toBeGreaterThan(100);
      expect(seen).toEqual({ applied: true, refused: true });
    });
  },
);
