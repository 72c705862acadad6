// What the chain readers answer, shared by the one-by-one reads and the lens.
import type { Address } from "viem";

/** Raised when the chain cannot be read: nothing may be applied on its word. */
export class ChainUnavailableError extends Error {
  override name = "ChainUnavailableError";
}

/** The Safe's judgement of one signature. */
export interface CheckResult {
  readonly valid: boolean;
  readonly reason?: string;
}

export interface SafeState {
  readonly owners: readonly Address[];
  readonly threshold: number;
  /** VERSION() at the block, or undefined when the contract has none (not a Safe). */
  readonly version: string | undefined;
  /**
   * Whether checkNSignatures refused a signature nobody made. A contract whose
   * call falls through to an empty fallback (a Safe older than 1.5.0 without a
   * fallback handler) "succeeds" for every signature: it judges nothing.
   */
  readonly refusesForgery: boolean;
}

export interface Agent {
  readonly tokenId: bigint;
  readonly dsp: Address;
}

/** The first line of an error's message (viem's shortMessage when it has one): what a status can show. */
export function shortError(error: unknown): string {
  const message =
    error instanceof Error
      ? ((error as { shortMessage?: string }).shortMessage ?? error.message)
      : String(error);
  return message.split("\n")[0] ?? message;
}
