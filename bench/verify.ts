// Approvals verified per second against the test bed's chain, with owners and
// thresholds cached per block: the chain read one fact per RPC call (the
// baseline, as before the lens) and all of a verification in one eth_call
// (contracts/ManifestLens.sol), one manifest at a time and several at once,
// side by side. Round trips are counted at the reader.
import { createTestClient, http } from "viem";
import { ChainReader } from "../operator/chain/reader.ts";
import {
  readBatched,
  readOneByOne,
  verifyManifest,
  type ChainFactsReader,
  type ManifestInput,
} from "../operator/verification/verify.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";
import { approvedSpec } from "../e2e/testbed/approve.ts";
import { federationSpec } from "../e2e/testbed/operator.ts";
import { ratio, table } from "./stats.ts";

export interface VerifyRow {
  readonly label: string;
  readonly read: "one-by-one" | "lens";
  readonly inFlight: number;
  readonly seconds: number;
  /** RPC round trips per verification (HTTP requests to the node). */
  readonly roundTrips: number;
}

export interface VerifyResult {
  readonly manifests: number;
  readonly approvalsPerManifest: number;
  readonly rows: readonly VerifyRow[];
}

/** Verifications in flight at once in the concurrent rows: a region after a sync, or many workers. */
const IN_FLIGHT = Number(process.env.DSC_BENCH_IN_FLIGHT ?? 64);

export async function benchVerify(testbed: Testbed, manifests = 400): Promise<VerifyResult> {
  const { chain } = testbed;
  const federation = federationSpec(chain, "alpha");
  // Sign up front: signing is the signers' cost, not the operator's.
  const inputs: ManifestInput[] = await Promise.all(
    Array.from({ length: manifests }, async (_, i) => {
      const name = `bench-${String(i)}`;
      const { spec } = await approvedSpec(
        chain,
        { namespace: "bench", name },
        {
          tier: "upgrade",
          targets: ["alpha"],
          nonce: 1,
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { i: String(i) } }],
        },
        { signers: ["alpha", "beta"] },
      );
      return { namespace: "bench", name, spec, applied: undefined };
    }),
  );
  let calls = 0;
  // One reader for every manifest: owners, thresholds and Safe versions are read once per block.
  const reader = new ChainReader({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    onRequest: () => {
      calls++;
    },
  });
  const anvil = createTestClient({ mode: "anvil", transport: http(chain.rpcUrl) });
  const run = async (
    read: ChainFactsReader,
    inFlight: number,
  ): Promise<{ seconds: number; calls: number }> => {
    // A new block: nothing the reader cached for the last run counts, as for manifests that arrive
    // over time; owners and Safe versions are read once for the block, then served from the cache.
    await anvil.mine({ blocks: 1 });
    const before = calls;
    const start = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < inputs.length; i = next++) {
        const input = inputs[i] as ManifestInput;
        const report = await verifyManifest(
          {
            chain: reader,
            service: undefined,
            federationName: "dsc",
            federation,
            operatorNamespace: "dsc-system",
            read,
          },
          input,
        );
        if (!report.decision.verified)
          throw new Error(`bench manifest ${input.name} did not verify: ${report.decision.message}`);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return { seconds: (performance.now() - start) / 1000, calls: calls - before };
  };
  const cases = [
    { label: "one call per fact (before), one at a time", read: "one-by-one", fn: readOneByOne, inFlight: 1 },
    { label: "one eth_call (lens), one at a time", read: "lens", fn: readBatched, inFlight: 1 },
    {
      label: `one call per fact (before), ${String(IN_FLIGHT)} at once`,
      read: "one-by-one",
      fn: readOneByOne,
      inFlight: IN_FLIGHT,
    },
    {
      label: `one eth_call (lens), ${String(IN_FLIGHT)} at once`,
      read: "lens",
      fn: readBatched,
      inFlight: IN_FLIGHT,
    },
  ] as const;
  for (const c of cases) await run(c.fn, c.inFlight); // warm-up: JIT, connections
  const rows: VerifyRow[] = [];
  for (const c of cases) {
    const { seconds, calls: n } = await run(c.fn, c.inFlight);
    rows.push({ label: c.label, read: c.read, inFlight: c.inFlight, seconds, roundTrips: n / manifests });
  }
  return { manifests, approvalsPerManifest: 2, rows };
}

export function printVerify(v: VerifyResult, log: (line: string) => void = console.log): void {
  const approvals = v.manifests * v.approvalsPerManifest;
  const perSecond = (row: VerifyRow): number => approvals / row.seconds;
  log(
    table([
      ["chain read", "manifests", "seconds", "approvals/s", "round trips per verification"],
      ...v.rows.map((row) => [
        row.label,
        String(v.manifests),
        row.seconds.toFixed(2),
        perSecond(row).toFixed(0),
        row.roundTrips.toFixed(2),
      ]),
    ]),
  );
  const find = (read: VerifyRow["read"], inFlight: boolean) =>
    v.rows.find((r) => r.read === read && r.inFlight > 1 === inFlight);
  const before = find("one-by-one", false);
  const lens = find("lens", true);
  const beforeParallel = find("one-by-one", true);
  const lensAlone = find("lens", false);
  if (before && lens && beforeParallel && lensAlone)
    log(
      [
        `lens, ${String(lens.inFlight)} at once / one call per fact, one at a time (the bench before): ${ratio(before.seconds, lens.seconds)} (goal: at least 10x)`,
        `lens / one call per fact, both ${String(lens.inFlight)} at once: ${ratio(beforeParallel.seconds, lens.seconds)}`,
        `lens / one call per fact, both one at a time: ${ratio(before.seconds, lensAlone.seconds)}`,
      ].join("\n"),
    );
}
