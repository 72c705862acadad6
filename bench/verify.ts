// Approvals verified per second against the test bed's chain, with owners and
// thresholds cached per block (one reader for every manifest) and without
// (a fresh reader per manifest), side by side.
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { ConsortiumManifestSpec } from "../operator/api/v1alpha1/consortium-manifest.ts";
import type { FederationSpec } from "../operator/api/v1alpha1/federation.ts";
import { ChainReader } from "../operator/chain/reader.ts";
import { canonicalManifest, manifestHashes, manifestTypedData } from "../operator/core/manifest/digest.ts";
import { signAsDspOwner, signProposal } from "../operator/signing/sign.ts";
import { verifyManifest } from "../operator/verification/verify.ts";
import type { Testbed } from "../e2e/testbed/testbed.ts";

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
    chain: { chainId: chain.chainId, rpcUrlSecretRef: { name: "rpc", key: "url" } },
    consortiumSafe: chain.safes.consortium,
    daoBoardSafe: chain.safes.daoBoard,
    agentRegistry: chain.federation.agentRegistry,
  };
  const agent = privateKeyToAccount(chain.keys.agents.alpha).address;
  // Sign up front: signing is the signers' cost, not the operator's.
  const inputs = await Promise.all(
    Array.from({ length: manifests }, async (_, i) => {
      const name = `bench-${String(i)}`;
      const spec: ConsortiumManifestSpec = {
        tier: "upgrade",
        targets: ["alpha"],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { i: String(i) } }],
        proposal: { agent, signature: "0x" },
      };
      const canonical = canonicalManifest(
        { federation: "dsc", chainId: chain.chainId, consortiumSafe: chain.safes.consortium },
        { namespace: "bench", name },
        spec,
      );
      const hashes = manifestHashes(canonical, chain.safes.daoBoard);
      spec.proposal.signature = await signProposal(chain.keys.agents.alpha, manifestTypedData(canonical));
      spec.signatures = await Promise.all(
        (["alpha", "beta"] as const).map(async (r) => ({
          safe: "consortium" as const,
          data: await signAsDspOwner(
            chain.keys.dspOwners[r][0] as Hex,
            chain.safes.dsp[r],
            chain.chainId,
            hashes,
          ),
        })),
      );
      return { namespace: "bench", name, spec, appliedNonce: undefined };
    }),
  );
  const run = async (reader: () => ChainReader): Promise<number> => {
    const start = performance.now();
    for (const input of inputs) {
      const report = await verifyManifest(
        { chain: reader(), service: undefined, federationName: "dsc", federation, now: Date.now },
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
