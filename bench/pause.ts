// Breach accepted -> every region paused: an agent's signed report POSTed to
// gamma's operator, until a watch in each region sees its Federation's status
// name the pause; beside one round trip of the sync channel (the peers' own
// heartbeat RTT) and a bare write to the three API servers. Each round ends
// with a critical resume (3 DSPs + 1 Board) so the next one pauses afresh.
import type { Hex } from "viem";
import type { FederationStatus } from "../operator/api/v1alpha1/federation.ts";
import { approvedSpec, manifestObject } from "../e2e/testbed/approve.ts";
import { resumeSpec, signedReport } from "../e2e/testbed/guardian.ts";
import { REGIONS } from "../e2e/testbed/layout.ts";
import type { OperatorProcess } from "../e2e/testbed/operator.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";
import { allSeen, bareWrite, configMapWatchers, regionClients, watchMarks } from "./watch.ts";

export interface PauseResult {
  /** Report accepted (HTTP 202) -> all three Federations show the pause (ms). */
  readonly paused: number[];
  /** The same, from the moment the report was sent. */
  readonly fromSend: number[];
  readonly bare: number[];
  /** Heartbeat round trips between the operators, sampled after the run (ms). */
  readonly syncRtt: number[];
}

/** Requires the operators to run with spec.guardian (action Freeze, nothing recorded on chain). */
export async function benchPause(
  testbed: Testbed,
  operators: readonly OperatorProcess[],
  rounds = 100,
): Promise<PauseResult> {
  const { configs, appliers } = regionClients(testbed);
  const ns = `pause-${Date.now().toString(36)}`;
  await Promise.all(
    REGIONS.map((r) => appliers[r].apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })),
  );
  const bareWatchers = configMapWatchers(configs, ns);
  // Marks: "<token>" once a region's status lists the pause, "lifted <token>" once it no longer does.
  const listed = new Map<string, Set<string>>();
  const pauseWatchers = REGIONS.map((r) =>
    watchMarks(configs[r], "/apis/dsc.federation.dev/v1alpha1/federations", (_, o) => {
      const tokens = new Set(
        ((o as { status?: FederationStatus }).status?.guardian?.pauses ?? []).map((p) => p.token),
      );
      const before = listed.get(r) ?? new Set<string>();
      listed.set(r, tokens);
      return [...tokens, ...[...before].filter((t) => !tokens.has(t)).map((t) => `lifted ${t}`)];
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  const gamma = operators.find((o) => o.region === "gamma");
  if (!gamma) throw new Error("benchPause needs gamma's operator");
  const agentKey = testbed.chain.keys.agents.gamma;
  const result: PauseResult = { paused: [], fromSend: [], bare: [], syncRtt: [] };

  for (let i = -1; i < rounds; i++) {
    const bare = await bareWrite(appliers, bareWatchers, ns, `bare-${String(i + 1)}`);
    const { report, signature } = await signedReport(
      testbed.chain,
      agentKey,
      `bench round ${String(i + 1)}`,
      {
        evidence: `${ns} ${String(i)}`,
      },
    );
    const sent = performance.now();
    const res = await fetch(`http://127.0.0.1:${String(gamma.port)}/v1/breach-reports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ report, signature }),
    });
    const accepted = performance.now();
    const body = (await res.json()) as { token?: string; message?: string };
    if (res.status !== 202 || !body.token)
      throw new Error(`the report was not accepted: ${String(res.status)} ${body.message ?? ""}`);
    const all = await allSeen(pauseWatchers, body.token);
    if (i >= 0) {
      result.paused.push(all - accepted);
      result.fromSend.push(all - sent);
      result.bare.push(bare);
    }
    await resume(testbed, appliers.alpha, ns, `resume-${String(i + 1)}`, body.token as Hex);
    await allSeen(pauseWatchers, `lifted ${body.token}`);
  }
  for (const w of [...bareWatchers, ...pauseWatchers]) w.stop();
  for (const o of operators) {
    const text = await o.metrics();
    for (const m of text.matchAll(/^dsc_peer_rtt_seconds\{[^}]*\} ([0-9.e+-]+)$/gm))
      result.syncRtt.push(Number(m[1]) * 1000);
  }
  return result;
}

async function resume(
  testbed: Testbed,
  applier: ReturnType<typeof regionClients>["appliers"]["alpha"],
  ns: string,
  name: string,
  token: Hex,
): Promise<void> {
  const { spec } = await approvedSpec(testbed.chain, { namespace: ns, name }, resumeSpec([token]), {
    signers: ["alpha", "beta", "gamma"],
    boardSigners: 1,
  });
  await applier.apply(manifestObject(ns, name, spec));
}
