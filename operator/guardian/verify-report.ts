// Verifies one breach report: the pure judgement (fields, signature, age,
// replay), then the chain at one pinned block: the signer must be the live
// agent (registry.dspAgent) of an owner of the Consortium Safe now. A chain that cannot be read throws
// ChainUnavailableError: nothing is accepted on anyone's word, and the caller
// retries.
import { getAddress, type Address, type Hex } from "viem";
import type { ChainReader } from "../chain/reader.ts";
import {
  judgeReport,
  type BreachDomain,
  type BreachReason,
  type BreachReport,
  type JudgeOptions,
} from "../core/breach/report.ts";

export interface BreachVerificationContext extends JudgeOptions {
  readonly chain: ChainReader;
  /**
   * Where the head is pinned: fresh for a BreachReport a DSP's admin applied;
   * at most a second old for the HTTP endpoint any stranger can call, so a
   * flood reads the head once a second. An agent minted within that second is
   * not seen yet: its report is refused (422) and taken when it retries.
   */
  readonly headMaxAgeMs: number;
  readonly agentRegistry: Address;
  readonly consortiumSafe: Address;
  readonly domain: BreachDomain;
}

type BreachRefusal = BreachReason | "NotAnAgent";

export type BreachVerdict =
  | {
      readonly ok: true;
      readonly hash: Hex;
      readonly signer: Address;
      readonly report: BreachReport;
      readonly dsp: Address;
      readonly block: bigint;
    }
  | {
      readonly ok: false;
      readonly reason: BreachRefusal;
      readonly message: string;
      readonly hash?: Hex;
      readonly dsp?: Address;
      readonly block?: bigint;
    };

export async function verifyBreachReport(
  ctx: BreachVerificationContext,
  report: unknown,
  signature: unknown,
): Promise<BreachVerdict> {
  const judged = await judgeReport(ctx.domain, report, signature, ctx);
  if (!judged.ok) return judged;
  const { hash, signer } = judged;
  // The agents are read per owner, per block, whoever signed: a report from a
  // key that is no agent costs no chain read of its own, so junk from fresh
  // keys cannot crowd out the RPC that a genuine report needs.
  const block =
    ctx.headMaxAgeMs > 0 ? await ctx.chain.recentBlock(ctx.headMaxAgeMs) : await ctx.chain.pinBlock(0);
  const { owners } = await ctx.chain.safeState(getAddress(ctx.consortiumSafe), block);
  const agents = await Promise.all(
    owners.map((owner) => ctx.chain.dspAgent(getAddress(ctx.agentRegistry), owner, block)),
  );
  const dsp = owners[agents.findIndex((agent) => agent === signer)];
  if (!dsp)
    return {
      ok: false,
      reason: "NotAnAgent",
      message: `${signer} is not the agent of an owner of the Consortium Safe at block ${block.toString()} (never registered, revoked, or its DSP is no longer an owner)`,
      hash,
      block,
    };
  return { ...judged, dsp, block };
}
