// The guardian pause as an agent, the DAO Board and the signers act on it on
// the test bed: a signed breach report, the chain's GuardianPause read and
// lifted by the Board Safe, and the spec of a resume naming pause tokens.
import { createPublicClient, encodeFunctionData, http, keccak256, toHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { ConsortiumManifestSpec } from "../../operator/api/v1alpha1/consortium-manifest.ts";
import { API_VERSION } from "../../operator/api/v1alpha1/fields.ts";
import { guardianPauseAbi } from "../../operator/chain/abi/guardian-pause.ts";
import { signBreachReport, type BreachDomain, type BreachReport } from "../../operator/core/breach/report.ts";
import { RESUME_KIND } from "../../operator/manifests/resume.ts";
import type { TestbedChain } from "./testbed.ts";
import { REGIONS } from "./layout.ts";
import { execFromSafe } from "./safe-tx.ts";

/** What the test bed's reports are bound to: federation "dsc", its chain and GuardianPause. */
export const breachDomain = (chain: TestbedChain): BreachDomain => ({
  federation: "dsc",
  chainId: chain.chainId,
  guardianPause: chain.federation.guardianPause,
});

export interface SignedReport {
  readonly report: BreachReport;
  readonly signature: Hex;
}

/**
 * A critical report by the agent of `agentKey`, observed now (whole seconds),
 * its evidence hash the keccak256 of `evidence` (default: the scope); signed
 * by `signer` (default: the agent itself; another key makes a forgery).
 */
export async function signedReport(
  chain: TestbedChain,
  agentKey: Hex,
  scope: string,
  options: { readonly evidence?: string; readonly signer?: Hex } = {},
): Promise<SignedReport> {
  const report: BreachReport = {
    agent: privateKeyToAccount(agentKey).address,
    scope,
    severity: "critical",
    evidenceHash: keccak256(toHex(options.evidence ?? scope)),
    observedAt: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(/\.000Z$/, "Z"),
  };
  return {
    report,
    signature: await signBreachReport(breachDomain(chain), report, options.signer ?? agentKey),
  };
}

/** A BreachReport holding a signed report, as an agent's DSP admin applies it. */
export const breachReportObject = (namespace: string, name: string, r: SignedReport) =>
  ({
    apiVersion: "dsc.federation.dev/v1alpha1",
    kind: "BreachReport",
    metadata: { name, namespace },
    spec: { ...r.report, signature: r.signature },
  }) as never;

/** The GuardianPause contract: paused or not, and the latest pause's id and evidence. */
export async function chainPause(
  chain: TestbedChain,
): Promise<{ paused: boolean; id: bigint; evidence: Hex }> {
  const client = createPublicClient({ transport: http(chain.rpcUrl) });
  const address = chain.federation.guardianPause;
  const [paused, [, evidence, , id]] = await Promise.all([
    client.readContract({ address, abi: guardianPauseAbi, functionName: "paused" }),
    client.readContract({ address, abi: guardianPauseAbi, functionName: "lastPause" }),
  ]);
  return { paused, id, evidence };
}

/** The DAO Board Safe (one owner of two) unpauses on chain: the record a resume needs. Says whether it was paused. */
export async function unpauseChain(chain: TestbedChain): Promise<boolean> {
  const { paused, id } = await chainPause(chain);
  if (!paused) return false;
  const data = encodeFunctionData({ abi: guardianPauseAbi, functionName: "unpause", args: [id] });
  await execFromSafe(chain, chain.safes.daoBoard, { to: chain.federation.guardianPause, data }, [
    chain.keys.boardOwners[0] as Hex,
  ]);
  return true;
}

/** A critical resume of `tokens` in every region, before its approvals (see approvedSpec). */
export function resumeSpec(
  tokens: readonly string[],
  options: { readonly nonce?: number; readonly expiresAt?: string } = {},
): Omit<ConsortiumManifestSpec, "proposal" | "signatures"> {
  return {
    tier: "critical",
    action: "resume",
    targets: [...REGIONS],
    nonce: options.nonce ?? 1,
    expiresAt: options.expiresAt ?? new Date(Date.now() + 3_600_000).toISOString(),
    objects: [
      {
        apiVersion: API_VERSION,
        kind: RESUME_KIND,
        metadata: { name: "resume" },
        spec: { tokens: [...tokens] },
      },
    ],
  };
}
