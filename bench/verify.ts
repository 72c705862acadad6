// Approvals verified per second against the test bed's chain, with owners and
// thresholds cached per block (one reader for every manifest) and without
// (a fresh reader per manifest), side by side.
import type { FederationSpec } from "../operator/api/v1alpha1/federation.ts";
import { ChainReader } from "../operator/chain/reader.ts";
import { verifyManifest } from "../operator/verification/verify.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";
import { approvedSpec } from "../e2e/testbed/approve.ts";

export interface VerifyResult {
  readonly manifests: number;
  readonly approvalsPerManifest: number;
  readonly cachedSeconds: number;
  readonly uncachedSeconds: number;
}

export async function benchVerify(testbed: Testbed, manifests = 150): Promise<VerifyResult> {
  const { chain } = testbed;
  const federation: FederationSpec = {
    region: "alpha",
    dsp: { name: "DSP-1", safe: chain.safes.dsp.alpha },
    chain: { chainId: chain.chainId, rpcUrlSecretRef: { name: "rpc", key: "url" }, confirmations: 0 },
    consortiumSafe: chain.safes.consortium,
    daoBoardSafe: chain.safes.daoBoard,
    agentRegistry: chain.federation.agentRegistry,
  };
  // Sign up front: signing is the signers' cost, not the operator's.
  const inputs = await Promise.all(
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
  const run = async (reader: () => ChainReader): Promise<number> => {
    const start = performance.now();
    for (const input of inputs) {
      const report = await verifyManifest(
        {
          chain: reader(),
          service: undefined,
          federationName: "dsc",
          federation,
          operatorNamespace: "dsc-system",
        },
        input,
      );
      if (!report.decision.verified)
        throw new Error(`bench manifest ${input.name} did not verify: ${report.decision.message}`);
    }
    return (performance.now() - start) / 1000;
  };
  const shared = new ChainReader({ rpcUrl: chain.rpcUrl, chainId: chain.chainId });
  await run(() => shared); // warm-up: JIT, connections
  const cachedSeconds = await run(() => shared);
  const uncachedSeconds = await run(() => new ChainReader({ rpcUrl: chain.rpcUrl, chainId: chain.chainId }));
  return { manifests, approvalsPerManifest: 2, cachedSeconds, uncachedSeconds };
}
