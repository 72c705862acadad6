// Accepting one owner's signature over a Safe hash: the checks messages and
// multisig transactions share.
import type { Address, Hex } from "viem";
import type { ChainReader } from "./chain.ts";
import { badRequest } from "./http.ts";
import { decodeOneSignature, encodeSignatures, type OwnerSignature } from "./signatures.ts";

export interface Confirmation {
  readonly signature: OwnerSignature;
  readonly created: Date;
}

let last = 0;

/** Wall-clock time that never repeats, so that ordering by creation is total. */
export function now(): Date {
  last = Math.max(Date.now(), last + 1);
  return new Date(last);
}

/**
 * Decodes `signature` and checks it the way Safe's checkNSignatures would for
 * `safe`: the signer is a current owner, a contract owner's EIP-1271 check
 * passes, an approved hash is approved on chain. ECDSA signers are recovered,
 * so a tampered ECDSA signature shows up as a stranger.
 */
export async function verifyOwnerSignature(
  chain: ChainReader,
  safe: Address,
  owners: readonly Address[],
  hash: Hex,
  signature: Hex,
): Promise<OwnerSignature> {
  const decoded = await decodeOneSignature(signature, hash);
  if (!owners.includes(decoded.owner)) {
    const how = decoded.type === "EOA" || decoded.type === "ETH_SIGN" ? "recovered from the signature " : "";
    throw badRequest(
      `Signer ${decoded.owner} ${how}is not an owner of Safe ${safe}. Current owners=${owners.join(",")}`,
    );
  }
  if (
    decoded.type === "CONTRACT_SIGNATURE" &&
    !(await chain.isValidContractSignature(decoded.owner, hash, decoded.data))
  ) {
    throw badRequest(
      `Signature=${encodeSignatures([decoded])} for owner=${decoded.owner} is not valid: ` +
        `its isValidSignature(bytes32,bytes) did not return the EIP-1271 magic value for hash ${hash}`,
    );
  }
  if (decoded.type === "APPROVED_HASH" && !(await chain.approvedHash(safe, decoded.owner, hash))) {
    throw badRequest(
      `Approved-hash signature for owner=${decoded.owner} is not valid: hash ${hash} is not approved`,
    );
  }
  return decoded;
}

export function refuseDuplicate(confirmations: readonly Confirmation[], owner: Address): void {
  if (confirmations.some((c) => c.signature.owner === owner)) {
    throw badRequest(`Signature for owner ${owner} already exists`);
  }
}

export function confirmationSignature(confirmation: Confirmation): Hex {
  return encodeSignatures([confirmation.signature]);
}
