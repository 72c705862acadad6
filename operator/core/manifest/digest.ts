// What a signer approves. The digest binds everything that matters (objects,
// action, tier, targets, nonce, expiry, the manifest's name, the federation,
// the chain and the Consortium Safe), so changing any of them changes it. The
// EIP-712 typed message shows the human-relevant fields in Safe{Wallet} and
// carries the digest for the rest; the Safe message hash wraps it per Safe.
import {
  concatBytes,
  getAddress,
  pad,
  toBytes,
  type Address,
  type Hex,
  type TypedDataDefinition,
} from "viem";
import type { ConsortiumManifestSpec, ManifestAction } from "../../api/v1alpha1/consortium-manifest.ts";
import type { Tier } from "../../api/v1alpha1/fields.ts";
import { keccak256Bytes, keccak256Hex } from "../hash/keccak.ts";
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
  return keccak256Hex(toBytes(canonicalJson(manifest)));
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

/**
 * The EIP-712 hashes, written out for the two fixed types: viem's
 * hashTypedData re-derives the type hashes and checks every field on each
 * call, which was most of a verification's CPU (about 0.5 ms a manifest).
 * The type hashes are constants and each domain separator is kept; the tests
 * hold these to viem's hashTypedData on random manifests.
 */
const typeHash = (type: string): Uint8Array => keccak256Bytes(toBytes(type));
const MANIFEST_DOMAIN_TYPE = typeHash(
  "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
);
const MANIFEST_TYPE = typeHash(
  "ConsortiumManifest(string federation,string manifest,string action,string tier,string[] targets,uint256 nonce,uint256 expiresAt,bytes32 digest)",
);
const SAFE_DOMAIN_TYPE = typeHash("EIP712Domain(uint256 chainId,address verifyingContract)");
const SAFE_MESSAGE_TYPE = typeHash("SafeMessage(bytes message)");
const NAME_HASH = keccak256Bytes(toBytes("DSC Federation"));
const VERSION_HASH = keccak256Bytes(toBytes("1"));

const hashText = (text: string): Uint8Array => keccak256Bytes(toBytes(text));
/** The federation's name, the actions, tiers and target sets repeat: their hashes are kept. */
const repeated = new Map<string, Uint8Array>();
function hashRepeated(key: string, hash: () => Uint8Array): Uint8Array {
  let found = repeated.get(key);
  if (!found) {
    found = hash();
    if (repeated.size >= 1024) repeated.clear();
    repeated.set(key, found);
  }
  return found;
}
const word = (value: bigint | number): Uint8Array => toBytes(BigInt(value), { size: 32 });
const addressWord = (address: Address): Uint8Array => toBytes(pad(address, { size: 32 }));
const hashWords = (...words: readonly Uint8Array[]): Uint8Array => keccak256Bytes(concatBytes(words));
const PREFIX = new Uint8Array([0x19, 0x01]);

/** Domain separators by chain and contract: a federation has a handful. */
const separators = new Map<string, Uint8Array>();
function separator(kind: "manifest" | "safe", chainId: number, contract: Address): Uint8Array {
  const key = `${kind} ${String(chainId)} ${contract.toLowerCase()}`;
  let found = separators.get(key);
  if (!found) {
    found =
      kind === "manifest"
        ? hashWords(MANIFEST_DOMAIN_TYPE, NAME_HASH, VERSION_HASH, word(chainId), addressWord(contract))
        : hashWords(SAFE_DOMAIN_TYPE, word(chainId), addressWord(contract));
    if (separators.size >= 64) separators.clear();
    separators.set(key, found);
  }
  return found;
}

function manifestDataHash(manifest: CanonicalManifest, digest: Hex): Hex {
  const struct = hashWords(
    MANIFEST_TYPE,
    hashRepeated(`text ${manifest.federation}`, () => hashText(manifest.federation)),
    hashText(manifest.manifest),
    hashRepeated(`text ${manifest.action}`, () => hashText(manifest.action)),
    hashRepeated(`text ${manifest.tier}`, () => hashText(manifest.tier)),
    // JSON keeps the list's boundaries: ["a,b"] and ["a","b"] are different keys.
    hashRepeated(`targets ${JSON.stringify(manifest.targets)}`, () =>
      hashWords(...manifest.targets.map(hashText)),
    ),
    word(manifest.nonce),
    word(manifest.expiresAt),
    toBytes(digest),
  );
  return keccak256Hex(
    concatBytes([PREFIX, separator("manifest", manifest.chainId, manifest.consortiumSafe), struct]),
  );
}

/** The Safe's EIP-712 `SafeMessage(bytes message)` hash of `dataHash`, for one Safe. */
export function safeMessageHash(safe: Address, chainId: number, dataHash: Hex): Hex {
  return safeMessageHashOf(safe, chainId, keccak256Bytes(toBytes(dataHash)));
}

/** The same, from the message's own hash (both Safes sign one message: it is hashed once). */
function safeMessageHashOf(safe: Address, chainId: number, messageHash: Uint8Array): Hex {
  const struct = hashWords(SAFE_MESSAGE_TYPE, messageHash);
  return keccak256Hex(concatBytes([PREFIX, separator("safe", chainId, safe), struct]));
}

/** All the hashes of one manifest, as the operator and the CLI report them. */
export interface ManifestHashes {
  readonly digest: Hex;
  readonly dataHash: Hex;
  readonly consortiumMessageHash: Hex;
  readonly boardMessageHash: Hex;
}

export function manifestHashes(manifest: CanonicalManifest, boardSafe: Address): ManifestHashes {
  const digest = manifestDigest(manifest);
  const dataHash = manifestDataHash(manifest, digest);
  const message = keccak256Bytes(toBytes(dataHash));
  return {
    digest,
    dataHash,
    consortiumMessageHash: safeMessageHashOf(manifest.consortiumSafe, manifest.chainId, message),
    boardMessageHash: safeMessageHashOf(getAddress(boardSafe), manifest.chainId, message),
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
