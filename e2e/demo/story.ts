// The demo's story, on a running test bed with an operator per region: a DSP
// submits a manifest, two signers approve, it is applied in all three regions,
// gamma is lost and catches up, an agent flags a breach, everything pauses,
// the Board resumes. Each step waits for what the clusters and the chain show,
// never for a fixed time; the same helpers as the end-to-end tests.
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { ConsortiumManifestSpec } from "../../operator/api/v1alpha1/consortium-manifest.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { approvedSpec, manifestObject } from "../testbed/approve.ts";
import { eventually } from "../testbed/eventually.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import { adminConfig, type OperatorProcess } from "../testbed/operator.ts";
import {
  breachReportObject,
  chainPause,
  resumeSpec,
  signedReport,
  unpauseChain,
} from "../testbed/guardian.ts";
import {
  breachReportStatus,
  deployment as readDeployment,
  federationStatus,
  manifestStatus,
} from "../testbed/read.ts";
import { killComponent, restartComponent, type Testbed } from "../testbed/testbed.ts";
import { seconds, type Narrator } from "./print.ts";

export interface StoryContext {
  readonly testbed: Testbed;
  readonly say: Narrator;
  /** The namespace the demo's manifests live in. */
  readonly namespace: string;
  readonly operators: Map<Region, OperatorProcess>;
  /** Starts (or starts again) a region's operator. */
  readonly startOperator: (region: Region) => Promise<OperatorProcess>;
  /** How long any one step may take before the demo gives up. */
  readonly timeoutMs: number;
}

const DSP = { alpha: "DSP-1", beta: "DSP-2", gamma: "DSP-3" } as const;
const short = (hex: string): string => `${hex.slice(0, 10)}…${hex.slice(-4)}`;
/** "alpha 0.5 s, beta 1.2 s, gamma 0.9 s" */
const perRegion = (ms: Partial<Record<Region, number>>): string =>
  REGIONS.map((r) => `${r} ${seconds(ms[r] ?? 0)}`).join(", ");

export async function runStory(ctx: StoryContext): Promise<void> {
  const { testbed, say, namespace: ns } = ctx;
  const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
  const admin = (region: Region) => new Applier(kc(region), { fieldManager: "dsp-admin" });
  const until = <T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T> =>
    eventually(what, probe, {
      timeoutMs: ctx.timeoutMs,
      logs: () => [...ctx.operators.values()].map((o) => o.log),
    });
  const since = (t0: number): number => performance.now() - t0;

  // ---- reading the clusters and the chain ----

  const federation = (region: Region) => federationStatus(kc(region));
  const manifest = (region: Region, name: string) => manifestStatus(kc(region), ns, name);
  const deployment = (region: Region, name: string) => readDeployment(kc(region), ns, name);
  const paused = async (region: Region): Promise<boolean> =>
    (await federation(region))?.guardian?.paused ?? false;

  // ---- acting as the DSPs, the signers, the agent and the Board ----

  const submit = async (region: Region, name: string, spec: ConsortiumManifestSpec): Promise<void> => {
    await admin(region).apply(manifestObject(ns, name, spec));
  };
  const expiresAt = new Date(Date.now() + 24 * 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
  const web = (nonce: number, image: string) => ({
    tier: "upgrade" as const,
    targets: [...REGIONS],
    nonce,
    expiresAt,
    objects: [
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "web", namespace: ns },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image }] },
          },
        },
      },
    ],
  });
  const webIn = (region: Region, check: (d: Awaited<ReturnType<typeof deployment>>) => boolean) =>
    until(`web in ${region}`, async () => check(await deployment(region, "web")));
  const regionsOf = async (name: string, want: string): Promise<string> =>
    until(`${name}: ${want}`, async () => {
      const s = (await manifest("alpha", name))?.regionSummary;
      return s === want ? s : undefined;
    });

  // ---- 1. a DSP submits ----

  say.chapter(1, "A DSP submits a manifest in alpha");
  const v1 = web(1, "registry.example/web:1");
  const unsigned = await approvedSpec(testbed.chain, { namespace: ns, name: "web" }, v1, {
    proposer: "alpha",
  });
  let t0 = performance.now();
  await submit("alpha", "web", unsigned.spec);
  say.done(`DSP-1's agent proposes ${ns}/web: Deployment web, 3 replicas`);
  say.note(`tier upgrade (2 of 3 DSPs), targets alpha beta gamma`);
  say.note(`digest ${unsigned.hashes.digest}`);
  const pending = await until("web pending in alpha", async () => {
    const s = await manifest("alpha", "web");
    return s?.state === "Pending" && s.digest ? s : undefined;
  });
  say.done(`alpha: Pending, approvals ${pending.approvalSummary ?? "?"}: nothing applied yet`, {
    label: "submitted → alpha shows Pending",
    ms: since(t0),
  });
  if (pending.digest !== unsigned.hashes.digest) throw new Error("alpha computed another digest");
  say.note(`alpha computed the same digest; it waits for approvals`);

  // ---- 2. two signers approve ----

  say.chapter(2, "Two signers approve");
  const one = await approvedSpec(testbed.chain, { namespace: ns, name: "web" }, v1, {
    proposer: "alpha",
    signers: ["alpha"],
  });
  t0 = performance.now();
  await submit("alpha", "web", one.spec);
  const half = await until("1 approval counted", async () => {
    const s = await manifest("alpha", "web");
    return s?.approvalSummary === "1/2" ? s : undefined;
  });
  say.done(`DSP-1's signer approves: ${half.approvalSummary ?? ""}, still ${half.state ?? ""}`, {
    label: "1st approval → counted",
    ms: since(t0),
  });
  const two = await approvedSpec(testbed.chain, { namespace: ns, name: "web" }, v1, {
    proposer: "alpha",
    signers: ["alpha", "beta"],
  });
  t0 = performance.now();
  await submit("alpha", "web", two.spec);
  const verified = await until("2 approvals counted", async () => {
    const s = await manifest("alpha", "web");
    return s?.approvalSummary === "2/2" && s.state !== "Pending" ? s : undefined;
  });
  say.done(`DSP-2's signer approves: ${verified.approvalSummary ?? ""}, verified on chain`, {
    label: "2nd approval → verified",
    ms: since(t0),
  });
  say.note(`each approval is a nested Safe signature, checked at block ${String(verified.block ?? "?")}`);

  // ---- 3. applied everywhere ----

  say.chapter(3, "It is applied in all three regions");
  const applied: Partial<Record<Region, number>> = {};
  await Promise.all(
    REGIONS.map(async (region) => {
      await webIn(region, (d) => d?.spec?.replicas === 3);
      applied[region] = since(t0);
    }),
  );
  say.done(`web applied: ${perRegion(applied)} after the 2nd approval`);
  say.record("approved → applied in all three", Math.max(...Object.values(applied)));
  const summary = await regionsOf("web", "alpha ✓ beta ✓ gamma ✓");
  say.done(`kubectl get consortiummanifests, in any region: ${summary}`);
  await Promise.all(REGIONS.map((r) => webIn(r, (d) => d?.status?.readyReplicas === 3)));
  say.done(`3 of 3 pods ready in each region`, {
    label: "approved → pods ready everywhere",
    ms: since(t0),
  });

  // ---- 4. gamma lost and back ----

  say.chapter(4, "gamma is lost, and comes back");
  t0 = performance.now();
  await ctx.operators.get("gamma")?.kill();
  ctx.operators.delete("gamma");
  await killComponent("gamma/kube-apiserver", { layout: testbed.layout });
  say.done("gamma killed: its operator and kube-apiserver (kill -9)");
  await until("alpha sees gamma gone", async () => {
    const peers = (await federation("alpha"))?.peers;
    return peers?.find((p) => p.region === "gamma")?.connected === false;
  });
  const lost = (await federation("alpha"))?.peerSummary ?? "";
  say.done(`alpha's peers: ${lost}`, { label: "gamma killed → alpha notices", ms: since(t0) });

  const v2 = await approvedSpec(
    testbed.chain,
    { namespace: ns, name: "web" },
    web(2, "registry.example/web:2"),
    {
      proposer: "beta",
      signers: ["alpha", "beta"],
    },
  );
  t0 = performance.now();
  await submit("beta", "web", v2.spec);
  say.done("meanwhile, web v2 (image web:2, nonce 2), approved 2/2, submitted in beta");
  const v2image = (d: Awaited<ReturnType<typeof deployment>>) =>
    d?.spec?.template.spec?.containers[0]?.image === "registry.example/web:2";
  await Promise.all([webIn("alpha", v2image), webIn("beta", v2image)]);
  const without = await regionsOf("web", "alpha ✓ beta ✓ gamma pending");
  say.done(`two regions go on: ${without}`, { label: "v2 applied without gamma", ms: since(t0) });

  t0 = performance.now();
  restartComponent("gamma/kube-apiserver", { layout: testbed.layout });
  await until("gamma's API server back", async () =>
    kc("gamma")
      .makeApiClient(CoreV1Api)
      .readNamespace({ name: "default" })
      .then(() => true),
  );
  say.done("gamma's kube-apiserver is back", { label: "gamma restart → API server up", ms: since(t0) });
  await ctx.startOperator("gamma");
  say.done("gamma's operator is back");
  say.note("alpha and beta redial it (their backoff, up to 2 s, grew while it was down); then it syncs");
  await webIn("gamma", v2image);
  say.done("gamma applied web v2 it missed", { label: "gamma restart → caught up", ms: since(t0) });
  say.done(`alpha shows ${await regionsOf("web", "alpha ✓ beta ✓ gamma ✓")}`);

  // ---- 5. a breach ----

  say.chapter(5, "An agent flags a breach in gamma");
  const signed = await signedReport(
    testbed.chain,
    testbed.chain.keys.agents.gamma,
    "settlement invariant broken",
    { evidence: `demo ${ns}: total supply moved without a settlement` },
  );
  t0 = performance.now();
  await admin("gamma").apply(breachReportObject(ns, "breach-1", signed));
  say.done(`DSP-3's agent files a signed BreachReport: "${signed.report.scope}"`);
  const judged = await until("the report judged", async () => {
    const status = await breachReportStatus(kc("gamma"), ns, "breach-1");
    return status?.state ? status : undefined;
  });
  if (judged.state !== "Accepted")
    throw new Error(`gamma refused the report: ${judged.reason ?? ""} ${judged.message ?? ""}`);
  say.done(`gamma accepts it: a soulbound agent of ${DSP.gamma}`, {
    label: "report filed → accepted",
    ms: since(t0),
  });
  say.note(`pause token ${judged.token ?? "?"}`);

  // ---- 6. everything pauses ----

  say.chapter(6, "Everything pauses");
  const pausedAt: Partial<Record<Region, number>> = {};
  await Promise.all(
    REGIONS.map(async (region) => {
      await until(`paused in ${region}`, () => paused(region));
      pausedAt[region] = since(t0);
    }),
  );
  say.done(`paused: ${perRegion(pausedAt)} after the report`);
  say.record("report → paused in all three", Math.max(...Object.values(pausedAt)));
  await Promise.all(REGIONS.map((r) => webIn(r, (d) => d?.spec?.replicas === 0)));
  say.done("web scaled to 0 replicas in alpha, beta, gamma (3 kept for the resume)", {
    label: "report → scaled to zero everywhere",
    ms: since(t0),
  });
  await until("the pause recorded on chain", async () => {
    const c = await chainPause(testbed.chain);
    return c.paused && c.evidence.toLowerCase() === (judged.token ?? "").toLowerCase();
  });
  say.done("recorded on chain: GuardianPause paused, with the report's token", {
    label: "report → recorded on chain",
    ms: since(t0),
  });

  // ---- 7. the Board resumes ----

  say.chapter(7, "The Board resumes");
  t0 = performance.now();
  await unpauseChain(testbed.chain);
  say.done("the DAO Board Safe unpauses on chain", { label: "Board Safe unpause tx", ms: since(t0) });
  const tokens = (await federation("alpha"))?.guardian?.pauses.map((p) => p.token) ?? [];
  const resume = await approvedSpec(
    testbed.chain,
    { namespace: ns, name: "resume-1" },
    resumeSpec(tokens, { expiresAt }),
    { proposer: "alpha", signers: ["alpha", "beta", "gamma"], boardSigners: 1 },
  );
  t0 = performance.now();
  await submit("alpha", "resume-1", resume.spec);
  say.done(`resume-1 submitted: critical tier, approved by 3 of 3 DSPs + 1 Board owner`);
  say.note(`it lifts ${tokens.map(short).join(", ")}`);
  const resumedAt: Partial<Record<Region, number>> = {};
  await Promise.all(
    REGIONS.map(async (region) => {
      await until(`resumed in ${region}`, async () => !(await paused(region)));
      resumedAt[region] = since(t0);
    }),
  );
  say.done(`resumed: ${perRegion(resumedAt)} after the resume manifest`);
  say.record("resume → resumed in all three", Math.max(...Object.values(resumedAt)));
  await Promise.all(REGIONS.map((r) => webIn(r, (d) => d?.spec?.replicas === 3)));
  say.done("web back to 3 replicas in alpha, beta, gamma", {
    label: "resume → replicas restored",
    ms: since(t0),
  });
  const after = await regionsOf("web", "alpha ✓ beta ✓ gamma ✓");
  say.done(`kubectl get consortiummanifests: web ${after} again`, {
    label: "resume → manifests applied again",
    ms: since(t0),
  });
  // Each region resumes on the lifted tokens it receives; its own record of the resume manifest
  // (what pause-history shows) comes with its reconcile of it.
  const resumeRegions = await regionsOf("resume-1", "alpha ✓ beta ✓ gamma ✓");
  say.done(`kubectl get consortiummanifests: resume-1 ${resumeRegions}`);

  // ---- 8. every decision, in a log the others witness and the chain anchors ----

  say.chapter(8, "Every decision is a receipt: witnessed by the others, anchored on chain");
  t0 = performance.now();
  const logs = await Promise.all(
    REGIONS.map((region) =>
      until(`${region}'s log cosigned by both peers and anchored`, async () => {
        const log = (await federation(region))?.log;
        const cosigned = (log?.cosignedBy ?? []).filter((c) => c.size > 0).length === 2;
        const own = log?.anchored?.find((a) => a.region === region);
        return cosigned && own?.state === "Anchored" && own.size > 0 && { log, anchoredAt: own.size };
      }),
    ),
  );
  say.done(
    `receipts in each region's own log: ${REGIONS.map((r, i) => `${r} ${String(logs[i]?.log?.size ?? 0)}`).join(", ")}`,
    { label: "logs cosigned and anchored", ms: since(t0) },
  );
  say.note("each log's checkpoint is cosigned by the two other regions (C2SP tlog-witness)");
  say.done(
    `anchored on chain (LogAnchor, registered by the Consortium Safe): ${REGIONS.map((r, i) => `${r} at ${String(logs[i]?.anchoredAt ?? 0)}`).join(", ")}`,
  );
  say.note("every region checks every anchor against the log: one it contradicts pauses the federation");
}
