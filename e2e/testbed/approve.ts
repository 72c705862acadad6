// A ConsortiumManifest spec as a proposing agent and the signers would make it
// on the test bed: the agent's proposal signature and the DSPs' nested Safe
// approvals, through the operator's own signing functions.
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { ConsortiumManifestSpec } from "../../operator/api/v1alpha1/consortium-manifest.ts";
import { API_VERSION } from "../../operator/api/v1alpha1/fields.ts";
import {
  canonicalManifest,
  manifestHashes,
  manifestTypedData,
  type ManifestHashes,
} from "../../operator/core/manifest/digest.ts";
import { signAsBoardOwner, signAsDspOwner, signProposal } from "../../operator/signing/sign.ts";
import type { ChainInfo } from "./chain.ts";
import type { Region } from "./layout.ts";

export interface Approved {
  readonly spec: ConsortiumManifestSpec;
  readonly hashes: ManifestHashes;
}

/**
 * `spec` proposed by `proposer`'s agent and approved by the DSPs of `signers`
 * (one owner each, nested Safe signatures), for federation "dsc".
 */
export async function approvedSpec(
  chain: ChainInfo,
  id: { readonly namespace: string; readonly name: string },
  spec: Omit<ConsortiumManifestSpec, "proposal" | "signatures">,
  options: {
    readonly proposer?: Region;
    readonly agentKey?: Hex;
    readonly signers?: readonly Region[];
    /** How many DAO Board owners sign too (the critical tier needs one). */
    readonly boardSigners?: number;
    readonly federation?: string;
  } = {},
): Promise<Approved> {
  const agentKey = options.agentKey ?? chain.keys.agents[options.proposer ?? "alpha"];
  const canonical = canonicalManifest(
    {
      federation: options.federation ?? "dsc",
      chainId: chain.chainId,
      consortiumSafe: chain.safes.consortium,
    },
    id,
    { ...spec, proposal: { agent: "0x0000000000000000000000000000000000000000", signature: "0x" } },
  );
  const hashes = manifestHashes(canonical, chain.safes.daoBoard);
  const signatures: { safe: "consortium" | "board"; data: Hex }[] = await Promise.all(
    (options.signers ?? []).map(async (r) => ({
      safe: "consortium" as const,
      data: await signAsDspOwner(
        chain.keys.dspOwners[r][0] as Hex,
        chain.safes.dsp[r],
        chain.chainId,
        hashes,
      ),
    })),
  );
  for (const key of chain.keys.boardOwners.slice(0, options.boardSigners ?? 0))
    signatures.push({ safe: "board" as const, data: await signAsBoardOwner(key, hashes) });
  return {
    hashes,
    spec: {
      ...spec,
      proposal: {
        agent: privateKeyToAccount(agentKey).address,
        signature: await signProposal(agentKey, manifestTypedData(canonical)),
      },
      ...(signatures.length > 0 ? { signatures } : {}),
    },
  };
}

/** The ConsortiumManifest a DSP applies with `spec` (signed, or forged on purpose), for an Applier. */
export function manifestObject(
  namespace: string,
  name: string,
  spec: unknown,
): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: unknown } {
  return { apiVersion: API_VERSION, kind: "ConsortiumManifest", metadata: { name, namespace }, spec };
}

/**
 * An unsigned version holding one ConfigMap of the same name and namespace as its manifest,
 * expiring in an hour (see approvedSpec): the manifest most suites and benches submit.
 */
export function configMapSpec(
  id: { readonly namespace: string; readonly name: string },
  version: {
    readonly tier: ConsortiumManifestSpec["tier"];
    readonly targets: ConsortiumManifestSpec["targets"];
    readonly data: Record<string, string>;
    readonly nonce?: number;
  },
): Omit<ConsortiumManifestSpec, "proposal" | "signatures"> {
  return {
    tier: version.tier,
    targets: version.targets,
    nonce: version.nonce ?? 1,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    objects: [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: id.name, namespace: id.namespace },
        data: version.data,
      },
    ],
  };
}
