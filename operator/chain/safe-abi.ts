// The parts of the Safe 1.5.0 interface the operator reads, and what its
// revert codes mean to a person reading a status condition.
import { parseAbi, type Hex } from "viem";
import type { CheckResult } from "./model.ts";

export const safeAbi = parseAbi([
  "function getOwners() view returns (address[])",
  "function getThreshold() view returns (uint256)",
  "function approvedHashes(address owner, bytes32 hash) view returns (uint256)",
  "function signedMessages(bytes32 hash) view returns (uint256)",
  // 1.5.0: the executor replaces msg.sender in the approved-hash check; we pass
  // address(0) so an owner's unapproved v=1 signature never passes.
  "function checkNSignatures(address executor, bytes32 dataHash, bytes signatures, uint256 requiredSignatures) view",
  "function approveHash(bytes32 hashToApprove)",
  "function swapOwner(address prevOwner, address oldOwner, address newOwner)",
  "function VERSION() view returns (string)",
]);

/** Safe's GS error codes (contracts/common/ErrorMessage.sol), in words. */
const SAFE_ERRORS: Readonly<Record<string, string>> = {
  GS020: "signature data too short",
  GS021: "contract signature data points inside the signatures",
  GS022: "contract signature data out of bounds",
  GS023: "contract signature length out of bounds",
  GS024: "the owner contract rejected the signature (EIP-1271)",
  GS025: "hash not approved on chain by this owner",
  GS026:
    "signer is not an owner at this block (for a nested signature: of the DSP's own Safe), or signed something else",
};

/**
 * Finds a GS code in a revert, whatever shape the client gave it: in a
 * message, in details, or only in the revert data (an ABI-encoded
 * Error(string), which a raw eth_call leaves undecoded).
 */
export function describeSafeRevert(error: unknown): string {
  const texts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const { details, data } = e as { details?: unknown; data?: unknown };
    texts.push(e.message, typeof details === "string" ? details : "");
    if (typeof data === "string" && /^0x[0-9a-fA-F]*$/.test(data)) texts.push(revertText(data as Hex));
  }
  if (texts.length === 0) texts.push(String(error));
  return describeTexts(texts);
}

/**
 * The Safe's judgement of one signature from checkNSignatures' raw outcome.
 * Safe 1.5.0's function returns nothing: success is an empty return. Data
 * back means the call reached some other function (a fallback handler),
 * which is no judgement of the signature.
 */
export function checkOutcome(ok: boolean, data: Hex): CheckResult {
  if (!ok) return { valid: false, reason: describeTexts([revertText(data)]) };
  if (data !== "0x")
    return { valid: false, reason: "checkNSignatures returned data: not Safe 1.5.0's function" };
  return { valid: true };
}

/** Revert data as text: an ABI-encoded Error(string) carries its GS code in plain bytes. */
const revertText = (data: Hex): string => Buffer.from(data.slice(2), "hex").toString("latin1");

function describeTexts(texts: readonly string[]): string {
  const code = /GS0\d\d/.exec(texts.join(" "))?.[0];
  if (code) return `${code}: ${SAFE_ERRORS[code] ?? "rejected by the Safe"}`;
  return "rejected by the Safe";
}
