// How each party signs a manifest, in the encodings Safe verifies. Used by
// `dsc sign`, `dsc propose` and the tests, so that what a signer produces and
// what the operator accepts come from one place.
import { concatHex, numberToHex, padHex, parseSignature, size, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { safeMessageHash, type ManifestHashes, type ManifestTypedData } from "../core/manifest/digest.ts";

export type EoaScheme = "ecdsa" | "eth_sign";

/** An EOA's signature of `hash` as Safe reads it: v 27/28 for ECDSA, v+4 for eth_sign. */
export async function signHash(key: Hex, hash: Hex, scheme: EoaScheme = "ecdsa"): Promise<Hex> {
  const account = privateKeyToAccount(key);
  if (scheme === "ecdsa") return account.sign({ hash });
  const { r, s, yParity } = parseSignature(await account.signMessage({ message: { raw: hash } }));
  return concatHex([r, s, numberToHex(yParity + 27 + 4, { size: 1 })]);
}

/** A DAO Board owner's approval: a signature of the Board Safe's message hash. */
export function signAsBoardOwner(
  key: Hex,
  hashes: ManifestHashes,
  scheme: EoaScheme = "ecdsa",
): Promise<Hex> {
  return signHash(key, hashes.boardMessageHash, scheme);
}

/**
 * A DSP's approval, given by one owner of the DSP's own Safe: the owner signs
 * the DSP Safe's message of the Consortium Safe's message hash, wrapped as a
 * contract signature (v = 0) naming the DSP Safe, which the Consortium Safe
 * checks through EIP-1271. A DSP Safe with threshold > 1 passes several
 * owners' signatures, sorted by owner, as `innerSignatures`.
 */
export function contractSignature(dspSafe: Address, innerSignatures: Hex): Hex {
  return concatHex([
    padHex(dspSafe, { size: 32 }),
    padHex(numberToHex(65), { size: 32 }),
    "0x00",
    padHex(numberToHex(size(innerSignatures)), { size: 32 }),
    innerSignatures,
  ]);
}

export async function signAsDspOwner(
  key: Hex,
  dspSafe: Address,
  chainId: number,
  hashes: ManifestHashes,
  scheme: EoaScheme = "ecdsa",
): Promise<Hex> {
  const inner = await signHash(key, safeMessageHash(dspSafe, chainId, hashes.consortiumMessageHash), scheme);
  return contractSignature(dspSafe, inner);
}

/** The proposing agent's EIP-712 signature of the manifest's typed message. */
export function signProposal(key: Hex, typed: ManifestTypedData): Promise<Hex> {
  return privateKeyToAccount(key).signTypedData(typed);
}
