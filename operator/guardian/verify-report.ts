// Verifies one breach report: the pure judgement (fields, signature, age,
// replay), then the chain at one pinned block: the signer must hold an agent
// token (never registered or revoked: refused) and the token's DSP must be an
// owner of the Consortium Safe now. A chain that cannot be read throws
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
  readonly agentRegistry: Address;
  readonly consortiumSafe: Address;
  readonly domain: BreachDomain;
}

type BreachRefusal = BreachReason | "NotAnAgent" | "DspNotMember";

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
  const block = await ctx.chain.pinBlock(0);
  const [token, consortium] = await Promise.all([
    ctx.chain.agentOf(getAddress(ctx.agentRegistry), signer, block),
    ctx.chain.safeState(getAddress(ctx.consortiumSafe), block),
  ]);
  if (!token)
    return {
      ok: false,
      reason: "NotAnAgent",
      message: `${signer} holds no agent token at block ${block.toString()} (never registered, or revoked)`,
      hash,
      block,
    };
  if (!consortium.owners.includes(token.dsp))
    return {
      ok: false,
      reason: "DspNotMember",
      message: `the agent's DSP ${token.dsp} is not an owner of the Consortium Safe at block ${block.toString()}`,
      hash,
      dsp: token.dsp,
      block,
    };
  return { ...judged, dsp: token.dsp, block };
}
