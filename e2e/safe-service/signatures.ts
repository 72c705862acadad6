// Safe signature blobs, read the way Safe's checkNSignatures and safe-eth-py
// read them: 65-byte static parts {r}{s}{v}, where v says the kind
//   v = 0   contract signature (EIP-1271): r = owner, s = offset of {length}{bytes}
//   v = 1   approved hash: r = owner, valid if approvedHashes(owner, hash) != 0
//   v > 30  eth_sign: ECDSA over the "\x19Ethereum Signed Message:\n32" hash, v - 4
//   else    ECDSA over the hash itself
// and the dynamic parts of contract signatures appended after all static parts.
import {
  bytesToHex,
  getAddress,
  hashMessage,
  hexToBytes,
  numberToHex,
  recoverAddress,
  type Address,
  type Hex,
} from "viem";
import { badRequest } from "./http.ts";

export type SignatureType = "CONTRACT_SIGNATURE" | "APPROVED_HASH" | "EOA" | "ETH_SIGN";

/** One owner's signature; `data` is the EIP-1271 bytes of a contract signature, else the 65 bytes. */
export interface OwnerSignature {
  readonly type: SignatureType;
  readonly owner: Address;
  readonly data: Hex;
}

const STATIC = 65;

interface StaticPart {
  readonly r: Uint8Array;
  readonly s: bigint;
  readonly v: number;
}

function typeOf(v: number): SignatureType {
  if (v === 0) return "CONTRACT_SIGNATURE";
  if (v === 1) return "APPROVED_HASH";
  return v > 30 ? "ETH_SIGN" : "EOA";
}

const word = (bytes: Uint8Array, at: number): bigint => BigInt(bytesToHex(bytes.subarray(at, at + 32)));
const addressIn = (r: Uint8Array): Address => getAddress(bytesToHex(r.subarray(12)));

/**
 * How many signatures a blob holds, counted like safe-eth-py: static parts up
 * to the first contract signature's data, ignoring a short tail.
 */
function staticParts(blob: Uint8Array): StaticPart[] {
  const parts: StaticPart[] = [];
  let dataStart = blob.length;
  for (let i = 0; i + STATIC <= blob.length && i < dataStart; i += STATIC) {
    const part = { r: blob.subarray(i, i + 32), s: word(blob, i + 32), v: blob[i + 64] ?? 0 };
    if (part.v === 0 && part.s < BigInt(dataStart)) dataStart = Number(part.s);
    parts.push(part);
  }
  return parts;
}

async function recover(hash: Hex, part: StaticPart, blob: Uint8Array): Promise<Address> {
  const ethSign = part.v > 30;
  const v = ethSign ? part.v - 4 : part.v;
  if (v !== 27 && v !== 28) throw badRequest(`Signature has v=${part.v}, which is no ECDSA recovery id`);
  try {
    return await recoverAddress({
      hash: ethSign ? hashMessage({ raw: hash }) : hash,
      signature: bytesToHex(new Uint8Array([...blob.subarray(0, 64), v])),
    });
  } catch (err) {
    throw badRequest(
      `Signature is not a valid ECDSA signature (${err instanceof Error ? err.name : "error"})`,
    );
  }
}

/**
 * Decodes a blob that must hold exactly one owner's signature over `hash`,
 * with nothing after it: the service stores one confirmation per request.
 * Recovers ECDSA signers; contract and approved-hash owners still need their
 * on-chain check.
 */
export async function decodeOneSignature(signature: Hex, hash: Hex): Promise<OwnerSignature> {
  const blob = hexToBytes(signature);
  const parts = staticParts(blob);
  if (parts.length !== 1) throw badRequest(`1 owner signature was expected, ${parts.length} received`);
  const [part] = parts as [StaticPart];
  const type = typeOf(part.v);
  if (type === "EOA" || type === "ETH_SIGN") {
    if (blob.length !== STATIC) throw badRequest(trailing(blob.length, STATIC));
    return { type, owner: await recover(hash, part, blob), data: bytesToHex(blob) };
  }
  if (type === "APPROVED_HASH") {
    if (blob.length !== STATIC) throw badRequest(trailing(blob.length, STATIC));
    return { type, owner: addressIn(part.r), data: bytesToHex(blob) };
  }
  if (part.s !== BigInt(STATIC)) {
    throw badRequest(`Contract signature data must start right after its 65-byte static part, s=${part.s}`);
  }
  if (blob.length < STATIC + 32) throw badRequest("Contract signature has no length word for its data");
  const length = word(blob, STATIC);
  const end = BigInt(STATIC + 32) + length;
  if (end > BigInt(blob.length)) {
    throw badRequest(
      `Contract signature declares ${length} data bytes, only ${blob.length - STATIC - 32} follow`,
    );
  }
  if (end !== BigInt(blob.length)) throw badRequest(trailing(blob.length, Number(end)));
  return { type, owner: addressIn(part.r), data: bytesToHex(blob.subarray(STATIC + 32)) };
}

function trailing(actual: number, expected: number): string {
  return `Signature has ${actual - expected} bytes after the end of the one signature it may hold`;
}

const pad32 = (value: bigint | number): string => numberToHex(value, { size: 32 }).slice(2);

/**
 * Concatenates signatures as checkSignatures expects them: ascending owners,
 * each contract signature's s pointing at its {length}{data} after all static parts.
 */
export function encodeSignatures(signatures: readonly OwnerSignature[]): Hex {
  const sorted = [...signatures].sort((a, b) => (a.owner.toLowerCase() < b.owner.toLowerCase() ? -1 : 1));
  let offset = sorted.length * STATIC;
  let head = "";
  let tail = "";
  for (const sig of sorted) {
    if (sig.type === "CONTRACT_SIGNATURE") {
      const length = (sig.data.length - 2) / 2;
      head += pad32(BigInt(sig.owner)) + pad32(offset) + "00";
      tail += pad32(length) + sig.data.slice(2);
      offset += 32 + length;
    } else {
      head += sig.data.slice(2);
    }
  }
  return `0x${head}${tail}`;
}

/** The signatures wrapped as one contract signature of `safe` itself, for nesting it in a parent Safe. */
export function encodeAsContractSignature(safe: Address, signatures: readonly OwnerSignature[]): Hex {
  return encodeSignatures([{ type: "CONTRACT_SIGNATURE", owner: safe, data: encodeSignatures(signatures) }]);
}
