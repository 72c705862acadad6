// What a signer approves. The digest binds everything that matters (objects,
// action, tier, targets, nonce, expiry, the manifest's name, the federation,
// the chain and the Consortium Safe), so changing any of them changes it. The
// EIP-712 typed message shows the human-relevant fields in Safe{Wallet} and
// carries the digest for the rest; the Safe message hash wraps it per Safe.
import {
  getAddress,
  hashTypedData,
  keccak256,
  toBytes,
  type Address,
  type Hex,
  type TypedDataDefinition,
} from "viem";
import type { ConsortiumManifestSpec, ManifestAction } from "../../api/v1alpha1/consortium-manifest.ts";
import type { Tier } from "../../api/v1alpha1/fields.ts";
import { canonicalJson } from "./canonical.ts";

/** The context an approval is bound to, beyond the manifest itself. */
export interface ApprovalDomain {
  readonly federation: string;
  readonly chainId: number;
  readonly consortiumSafe: Address;
}

export interface ManifestIdentity {
  readonly namespace: string;
  readonly name: string;
}

/** Everything the digest covers, normalised. */
export interface CanonicalManifest {
  readonly kind: "dsc.federation.dev/v1alpha1/ConsortiumManifest";
  readonly federation: string;
  readonly chainId: number;
  readonly consortiumSafe: Address;
  readonly manifest: string;
  readonly action: ManifestAction;
  readonly tier: Tier;
  readonly targets: readonly string[];
  readonly nonce: number;
  readonly expiresAt: number;
  readonly objects: readonly Record<string, unknown>[];
}

/** Unix seconds of an RFC 3339 time, so that equal instants written differently agree. */
function expirySeconds(expiresAt: string): number {
  const ms = Date.parse(expiresAt);
  if (Number.isNaN(ms))
    throw new Error(`spec.expiresAt: ${JSON.stringify(expiresAt)} is not an RFC 3339 date-time`);
  return Math.floor(ms / 1000);
}

export function canonicalManifest(
  domain: ApprovalDomain,
  id: ManifestIdentity,
  spec: ConsortiumManifestSpec,
): CanonicalManifest {
  return {
    kind: "dsc.federation.dev/v1alpha1/ConsortiumManifest",
    federation: domain.federation,
    chainId: domain.chainId,
    consortiumSafe: getAddress(domain.consortiumSafe),
    manifest: `${id.namespace}/${id.name}`,
    action: spec.action ?? "apply",
    tier: spec.tier,
    targets: [...new Set(spec.targets)].sort(),
    nonce: spec.nonce,
    expiresAt: expirySeconds(spec.expiresAt),
    objects: spec.objects,
  };
}

export function manifestDigest(manifest: CanonicalManifest): Hex {
  return keccak256(toBytes(canonicalJson(manifest)));
}

const MANIFEST_TYPES = {
  EIP712Domain: [
    { name: "name", type: "string" },
    { name: "version", type: "string" },
    { name: "chainId", type: "uint256" },
    { name: "verifyingContract", type: "address" },
  ],
  ConsortiumManifest: [
    { name: "federation", type: "string" },
    { name: "manifest", type: "string" },
    { name: "action", type: "string" },
    { name: "tier", type: "string" },
    { name: "targets", type: "string[]" },
    { name: "nonce", type: "uint256" },
    { name: "expiresAt", type: "uint256" },
    { name: "digest", type: "bytes32" },
  ],
} as const;

export type ManifestTypedData = TypedDataDefinition<typeof MANIFEST_TYPES, "ConsortiumManifest">;

/** The EIP-712 message a signer sees in Safe{Wallet} (and `dsc digest` prints). */
export function manifestTypedData(manifest: CanonicalManifest): ManifestTypedData {
  return {
    domain: {
      name: "DSC Federation",
      version: "1",
      chainId: BigInt(manifest.chainId),
      verifyingContract: manifest.consortiumSafe,
    },
    types: MANIFEST_TYPES,
    primaryType: "ConsortiumManifest",
    message: {
      federation: manifest.federation,
      manifest: manifest.manifest,
      action: manifest.action,
      tier: manifest.tier,
      targets: [...manifest.targets],
      nonce: BigInt(manifest.nonce),
      expiresAt: BigInt(manifest.expiresAt),
      digest: manifestDigest(manifest),
    },
  };
}

/** The Safe's EIP-712 `SafeMessage(bytes message)` hash of `dataHash`, for one Safe. */
export function safeMessageHash(safe: Address, chainId: number, dataHash: Hex): Hex {
  return hashTypedData({
    domain: { chainId: BigInt(chainId), verifyingContract: safe },
    types: { SafeMessage: [{ name: "message", type: "bytes" }] },
    primaryType: "SafeMessage",
    message: { message: dataHash },
  });
}

/** All the hashes of one manifest, as the operator and the CLI report them. */
export interface ManifestHashes {
  readonly digest: Hex;
  readonly dataHash: Hex;
  readonly consortiumMessageHash: Hex;
  readonly boardMessageHash: Hex;
}

export function manifestHashes(manifest: CanonicalManifest, boardSafe: Address): ManifestHashes {
  const dataHash = hashTypedData(manifestTypedData(manifest));
  return {
    digest: manifestDigest(manifest),
    dataHash,
    consortiumMessageHash: safeMessageHash(manifest.consortiumSafe, manifest.chainId, dataHash),
    boardMessageHash: safeMessageHash(getAddress(boardSafe), manifest.chainId, dataHash),
  };
}

/** The federation a manifest is approved for: what binds an approval to it (the Federation's name and spec). */
export interface FederationBinding {
  readonly name: string;
  readonly chainId: number;
  readonly consortiumSafe: string;
  readonly daoBoardSafe: string;
}

/** The binding of the Federation named `name` with `spec`: one place reads it off a spec. */
export const federationBinding = (
  name: string,
  spec: {
    readonly chain: { readonly chainId: number };
    readonly consortiumSafe: string;
    readonly daoBoardSafe: string;
  },
): FederationBinding => ({
  name,
  chainId: spec.chain.chainId,
  consortiumSafe: spec.consortiumSafe,
  daoBoardSafe: spec.daoBoardSafe,
});

/** A manifest bound to its federation: the canonical form and every hash a signer or a verifier uses. */
export function bindManifest(
  federation: FederationBinding,
  id: ManifestIdentity,
  spec: ConsortiumManifestSpec,
): { readonly manifest: CanonicalManifest; readonly hashes: ManifestHashes } {
  const manifest = canonicalManifest(
    {
      federation: federation.name,
      chainId: federation.chainId,
      consortiumSafe: getAddress(federation.consortiumSafe),
    },
    id,
    spec,
  );
  return { manifest, hashes: manifestHashes(manifest, getAddress(federation.daoBoardSafe)) };
}
