// Approved manifest submitted in alpha -> applied in alpha, beta and gamma,
// through the three operators and their replication, beside a bare
// server-side apply of the same object to the three API servers at once.
// "Applied" is when a watch in each region sees the object.
import { readFileSync } from "node:fs";
import { allSeen, bareWrite, configMapWatchers, regionClients } from "./watch.ts";
import { approvedSpec, configMapSpec, manifestObject } from "../e2e/testbed/approve.ts";
import { REGIONS } from "../e2e/testbed/layout.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";
import { addCpu, sampleCpu, type CpuSample, type CpuTotals } from "./cpu.ts";

export interface PropagationResult {
  readonly operator: number[];
  readonly bare: number[];
  /** One manifest's path, step by step (the operators run with DSC_TRACE=TRACE_PATTERN). */
  readonly trace: readonly TraceStep[];
}

/** What the bench names the manifests it traces; the operators are started with DSC_TRACE set to it. */
export const TRACE_PATTERN = "/trace-";

export interface TraceStep {
  /** Milliseconds since the manifest was accepted by alpha's API server. */
  readonly ms: number;
  readonly region: string;
  readonly step: string;
}

export async function benchPropagation(
  testbed: Testbed,
  logs: Readonly<Record<string, string>>,
  rounds = 200,
  /** Where the machine's CPU went over the measured rounds is added here (bench/cpu.ts). */
  cpu?: CpuTotals,
): Promise<PropagationResult> {
  const { chain } = testbed;
  const ns = `prop-${Date.now().toString(36)}`;
  const { configs, appliers } = regionClients(testbed);
  await Promise.all(
    REGIONS.map((r) => appliers[r].apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })),
  );
  const watchers = configMapWatchers(configs, ns);
  await new Promise((r) => setTimeout(r, 500));
  const result = { operator: [] as number[], bare: [] as number[] };
  const submit = async (name: string): Promise<{ accepted: number; acceptedAt: number; all: number }> => {
    const id = { namespace: ns, name };
    const { spec } = await approvedSpec(
      chain,
      id,
      configMapSpec(id, { tier: "upgrade", targets: [...REGIONS], data: { v: "1" } }),
      { signers: ["alpha", "beta"] },
    );
    await appliers.alpha.apply(manifestObject(ns, name, spec));
    const accepted = performance.now();
    const acceptedAt = Date.now(); // the operators' traces are in wall-clock time (runtime/trace.ts)
    return { accepted, acceptedAt, all: await allSeen(watchers, name) };
  };

  let cpuBefore: CpuSample | undefined;
  for (let i = -1; i < rounds; i++) {
    if (i === 0 && cpu) cpuBefore = sampleCpu();
    const bare = await bareWrite(appliers, watchers, ns, `bare-${String(i + 1)}`);
    const { accepted, all } = await submit(`op-${String(i + 1)}`);
    if (i >= 0) {
      result.bare.push(bare);
      result.operator.push(all - accepted);
    }
  }
  if (cpu) addCpu(cpu, cpuBefore, sampleCpu());

  // One more, traced: every step the operators log for it, and when each region's watch saw it.
  const name = "trace-1";
  const { accepted, acceptedAt } = await submit(name);
  await new Promise((r) => setTimeout(r, 500)); // the status writes that follow the apply
  const origin = acceptedAt;
  const steps: TraceStep[] = [];
  for (const [i, region] of REGIONS.entries()) {
    const watcher = watchers[i];
    if (watcher) steps.push({ ms: (await watcher.seen(name)) - accepted, region, step: "(seen by a watch)" });
  }
  for (const [region, file] of Object.entries(logs)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.includes('"trace"')) continue;
      const entry = JSON.parse(line) as { trace?: string; step?: string; at?: number };
      if (entry.trace !== `${ns}/${name}` || entry.step === undefined || entry.at === undefined) continue;
      steps.push({ ms: entry.at - origin, region, step: entry.step });
    }
  }
  for (const w of watchers) w.stop();
  return { ...result, trace: steps.sort((a, b) => a.ms - b.ms) };
}
