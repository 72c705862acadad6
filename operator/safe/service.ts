// The Safe Transaction Service as a source of approvals, through the real
// api-kit client. It is a transport, never a judge: what it returns is only a
// list of candidate signatures, each re-verified on chain by the caller.
import type { Address, Hex } from "viem";
import { SafeApiKit } from "./sdk.ts";

export interface ServiceConfirmation {
  readonly owner: Address;
  readonly signature: Hex;
}

export type ServiceResult =
  | { readonly ok: true; readonly confirmations: readonly ServiceConfirmation[] }
  | { readonly ok: false; readonly error: string };

export class SafeService {
  private readonly kit: SafeApiKit;

  constructor(url: string, chainId: number) {
    this.kit = new SafeApiKit({ chainId: BigInt(chainId), txServiceUrl: url });
  }

  /** Confirmations of one Safe message; a message the service does not know has none. */
  async confirmations(safeMessageHash: Hex): Promise<ServiceResult> {
    try {
      const message = await this.kit.getMessage(safeMessageHash);
      return {
        ok: true,
        confirmations: message.confirmations.map((c) => ({
          owner: c.owner as Address,
          signature: c.signature as Hex,
        })),
      };
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      if (/not found|404|No MessageSafe matches/i.test(text)) return { ok: true, confirmations: [] };
      return { ok: false, error: `Safe Transaction Service unavailable: ${text.split("\n")[0] ?? text}` };
    }
  }
}
