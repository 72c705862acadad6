// `npm run bench`: every benchmark on the test bed, figures and ratios side by side.
import { performance } from "node:perf_hooks";
import { installFederation, startOperator } from "../e2e/testbed/operator.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { down, up } from "../e2e/testbed/testbed.ts";
import { layout } from "../e2e/testbed/layout.ts";
import { benchApplyLatency } from "./apply-latency.ts";
import { benchPause } from "./pause.ts";
import { benchPropagation, TRACE_PATTERN } from "./propagation.ts";
import { writeLiveManifests } from "./live-cache.ts";
import { benchState } from "./state.ts";
import { benchSoak } from "./soak.ts";
import { directPeers } from "../e2e/testbed/operator.ts";
import { REGIONS } from "../e2e/testbed/layout.ts";
import { ms, ratioRow, summarize, summaryRow, SUMMARY_HEADER, table } from "./stats.ts";
import { eventually } from "../e2e/testbed/eventually.ts";
import { benchVerify, printVerify } from "./verify.ts";
import { benchLog } from "./log.ts";
import { benchAnchorGas } from "./anchor.ts";
import { allPeersConnected } from "./operators.ts";
import { cpuRows, cpuTotals } from "./cpu.ts";

// `npm run bench -- --until pause` stops after the path sections (verification, apply,
// propagation, pause): the figures of issue 13 and the logging overhead, in about 12 minutes.
const STOPS = ["pause"] as const;
// `--until pause` or `--until=pause`; any other spelling of --until is refused below.
const untilAt = process.argv.findIndex((a) => a === "--until" || a.startsWith("--until="));
const untilArg = untilAt >= 0 ? process.argv[untilAt] : undefined;
const until = untilArg?.startsWith("--until=")
  ? untilArg.slice("--until=".length)
  : untilAt >= 0
    ? process.argv[untilAt + 1]
    : undefined;
if (untilAt >= 0 && !STOPS.some((s) => s === until)) {
  console.error(
    `bench: --until ${until ?? "(nothing)"}: no such stop; the stops are ${STOPS.join(", ")} (or no --until, for every section)`,
  );
  process.exit(2);
}

const started = performance.now();
// A test bed of the bench's own: figures must not depend on what earlier runs left behind.
const root = mkdtempSync(join(tmpdir(), "dsc-bench-"));
const benchLayout = layout(root, Number(process.env.DSC_BENCH_PORT ?? 28000));
const { testbed } = await up({
  layout: benchLayout,
  log: (line) => {
    console.error(`testbed: ${line}`);
  },
});

console.log("\n== Approvals verified per second (2 approvals per manifest, real Safe contracts on anvil) ==");
printVerify(await benchVerify(testbed, 1000));

console.log("\n== Approval complete -> applied (ConfigMap + Service + Deployment), alpha ==");
await installFederation(testbed, "alpha");
const operator = await startOperator(testbed, "alpha", { DSC_RESYNC_SECONDS: "300", LOG_LEVEL: "warn" });
try {
  const l = await benchApplyLatency(testbed, testbed.kubeconfig.alpha);
  const op = summarize(l.operator);
  const bare = summarize(l.bare);
  const parallel = summarize(l.bareParallel);
  console.log(
    table([
      SUMMARY_HEADER,
      summaryRow("operator: watch + verify + dry-run + apply", op),
      summaryRow("bare SSA, one by one (as kubectl)", bare),
      summaryRow("bare SSA, all at once", parallel),
      ratioRow("ratio operator / one by one", op, bare),
      ratioRow("ratio operator / all at once", op, parallel),
    ]),
  );
  const overhead = (a: number, b: number): string => `${((a / b - 1) * 100).toFixed(0)}%`;
  console.log(
    `at p99 the operator adds ${overhead(op.p99, bare.p99)} to a one-by-one apply and ${overhead(op.p99, parallel.p99)} to an all-at-once apply (target: at most 50%)`,
  );
  // Where the operator's time goes, from its own metrics (means over the run).
  const text = await operator.metrics();
  const mean = (metric: string, labels = ""): string => {
    const sum = new RegExp(
      `^${metric}_sum${labels ? `\\{${labels}\\}` : "(\\{[^}]*\\})?"} ([0-9.e+-]+)$`,
      "m",
    ).exec(text)?.[2 - (labels ? 1 : 0)];
    const count = new RegExp(
      `^${metric}_count${labels ? `\\{${labels}\\}` : "(\\{[^}]*\\})?"} ([0-9.e+-]+)$`,
      "m",
    ).exec(text)?.[2 - (labels ? 1 : 0)];
    return sum && count && Number(count) > 0 ? ms((Number(sum) / Number(count)) * 1000) : "n/a";
  };
  console.log(
    table([
      ["operator stage (mean)", "time"],
      [
        "whole reconcile",
        mean("controller_runtime_reconcile_time_seconds", 'controller="consortiummanifest"'),
      ],
      ["dry-run + apply + prune", mean("dsc_apply_seconds")],
      [
        "one lens call (all of a verification's reads)",
        mean("dsc_chain_read_seconds", 'method="manifest_lens",outcome="ok"'),
      ],
    ]),
  );
} finally {
  await operator.stop();
}
console.log(
  "\n== Approved in alpha -> applied in alpha, beta and gamma (three operators, replication over mTLS) ==",
);
for (const region of REGIONS)
  await installFederation(testbed, region, { peers: directPeers(testbed, region) });
const startTrio = (log: boolean) =>
  Promise.all(
    REGIONS.map((region) =>
      startOperator(
        testbed,
        region,
        { DSC_RESYNC_SECONDS: "300", LOG_LEVEL: "warn", DSC_TRACE: TRACE_PATTERN, DSC_LOG: String(log) },
        { federated: true },
      ),
    ),
  );
// Decision logging on and off, side by side: alternating blocks of rounds, so drift hits both.
const logged = { operator: [] as number[], bare: [] as number[] };
// Checkpoint durable -> cosigned by both peers, from each region's dsc_log_cosigned_seconds histogram.
const cosignBuckets = new Map<number, number>();
const addBuckets = (into: Map<number, number>, text: string): void => {
  for (const m of text.matchAll(/^dsc_log_cosigned_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)) {
    const le = m[1] === "+Inf" ? Infinity : Number(m[1]);
    into.set(le, (into.get(le) ?? 0) + Number(m[2]));
  }
};
/** The smallest bucket bound under which a share q of the observations fall. */
const bucketQuantile = (buckets: Map<number, number>, q: number): string => {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  const hit = sorted.find(([, n]) => n >= q * total);
  return total === 0 || !hit ? "n/a" : hit[0] === Infinity ? "over 30 s" : `≤ ${String(hit[0] * 1000)} ms`;
};
const unlogged = { operator: [] as number[], bare: [] as number[] };
const propagationCpu = cpuTotals();
let trace: Awaited<ReturnType<typeof benchPropagation>>["trace"] = [];
// ABBA BAAB: eight blocks of 50 rounds, so that warm-up and this machine's slower and faster
// phases (the bare writes' p50 went from 13.7 to 20.3 ms between blocks of one run) fall on both
// sides alike.
for (const log of [false, true, true, false, true, false, false, true]) {
  const block = await startTrio(log);
  try {
    await allPeersConnected(block);
    const p = await benchPropagation(
      testbed,
      Object.fromEntries(REGIONS.map((region, i) => [region, block[i]?.log ?? ""])),
      50,
      propagationCpu,
    );
    if (log) for (const o of block) addBuckets(cosignBuckets, await o.metrics());
    const into = log ? logged : unlogged;
    into.operator.push(...p.operator);
    into.bare.push(...p.bare);
    if (log) trace = p.trace;
  } finally {
    await Promise.all(block.map((o) => o.stop()));
  }
}
const trio = await startTrio(true);
try {
  await allPeersConnected(trio);
  const op = summarize(logged.operator);
  const bare = summarize(logged.bare);
  const off = summarize(unlogged.operator);
  const offBare = summarize(unlogged.bare);
  console.log(
    table([
      SUMMARY_HEADER,
      summaryRow("operators: verify in alpha, replicate, verify + apply in each", op),
      summaryRow("bare SSA to the three API servers at once", bare),
      ratioRow("ratio", op, bare),
      summaryRow("the same operators with decision logging off (DSC_LOG=false)", off),
      summaryRow("bare SSA, beside the logging-off rounds", offBare),
      ratioRow("ratio logging on / off (goal: at most 1.05x)", op, off),
      ratioRow(
        "the same, each over its own bare rounds",
        { ...op, p50: op.p50 / bare.p50, p99: op.p99 / bare.p99, mean: op.mean / bare.mean },
        { ...off, p50: off.p50 / offBare.p50, p99: off.p99 / offBare.p99, mean: off.mean / offBare.mean },
      ),
    ]),
  );
  console.log(`p99 ${ms(op.p99)} (goal: under 500 ms; Karmada publishes ~1 s)`);
  console.log(
    `checkpoint durable -> cosigned by both peers (the three logs, logging-on rounds, ${String([...cosignBuckets].sort((a, b) => a[0] - b[0]).at(-1)?.[1] ?? 0)} checkpoints): p50 ${bucketQuantile(cosignBuckets, 0.5)}, p99 ${bucketQuantile(cosignBuckets, 0.99)} (histogram bounds; goal: p99 under 1 s)`,
  );
  const cpu = cpuRows(propagationCpu, logged.operator.length + unlogged.operator.length);
  if (cpu.length > 0) {
    console.log(
      "\nWhere the machine's CPU went over those rounds (/proc; each round is a bare write, an approval signed by the bench, and the manifest's way through the three regions, all on these cores):",
    );
    console.log(table(cpu));
  }
  console.log(
    "\nWhere one manifest's time goes (trace-1, DSC_TRACE; ms since alpha's API server accepted it):",
  );
  console.log(table([["ms", "region", "step"], ...trace.map((t) => [t.ms.toFixed(1), t.region, t.step])]));

  console.log("\n== Breach accepted in gamma -> paused in alpha, beta and gamma (guardian pause) ==");
  for (const region of REGIONS)
    await installFederation(testbed, region, {
      peers: directPeers(testbed, region),
      guardian: { action: "Freeze" },
    });
  await eventually("every operator serving the guardian", async () => {
    const texts = await Promise.all(trio.map((o) => o.metrics()));
    return texts.every((t) => /^dsc_guardian_paused 0$/m.test(t));
  });
  const g = await benchPause(testbed, trio);
  const paused = summarize(g.paused);
  const fromSend = summarize(g.fromSend);
  const bareWrite = summarize(g.bare);
  const rtt = summarize(g.syncRtt);
  console.log(
    table([
      SUMMARY_HEADER,
      summaryRow("accepted (HTTP 202) -> paused in all three", paused),
      summaryRow("report sent -> paused in all three", fromSend),
      summaryRow("bare SSA to the three API servers at once", bareWrite),
      summaryRow("one sync round trip (peer heartbeat RTT)", rtt),
      ratioRow("ratio accepted->paused / bare write", paused, bareWrite),
    ]),
  );
  console.log(
    `p99 ${ms(paused.p99)} (goal: under 300 ms; the anchors advertise seconds to a handful of blocks)`,
  );
} finally {
  await Promise.all(trio.map((o) => o.stop()));
}
if (until === "pause") {
  await down({ layout: benchLayout });
  rmSync(root, { recursive: true, force: true });
  console.log(
    `\nbench stopped after the pause section (--until pause) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  process.exit(0);
}

// The federation state on its own (in process): convergence, size, load time and memory; and a
// live region's share: 10,000 ConsortiumManifests in alpha (no operator runs any more) for an
// informer cache beside the loaded state.
const liveSeconds = await writeLiveManifests(testbed.kubeconfig.alpha, 10_000);
console.error(`bench: 10,000 ConsortiumManifests written to alpha in ${liveSeconds.toFixed(1)} s`);
await benchState(console.log, { kubeconfig: testbed.kubeconfig.alpha, manifests: 10_000 });
console.log("\n== The decision log: receipts appended, and a log of 1,000,000 receipts ==");
await benchLog(console.log);
const gas = await benchAnchorGas(testbed.chain);
const usual = gas.next.reduce((a, b) => a + b, 0n) / BigInt(gas.next.length);
console.log(
  `gas per anchor (contracts/LogAnchor.sol): ${usual.toString()} (the first of a log: ${gas.first.toString()}); at one anchor per 10 minutes, 144 a day: ${(usual * 144n).toLocaleString("en-US")} gas a day per region`,
);
await down({ layout: benchLayout });
rmSync(root, { recursive: true, force: true });
// In process, with the test bed down: nothing else competes for the two cores.
await benchSoak(Number(process.env.DSC_BENCH_SOAK_UPDATES ?? 100_000));
console.log(`\nbench done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
