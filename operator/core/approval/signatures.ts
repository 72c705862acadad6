// Safe signatures as the contracts read them: 65-byte {r, s, v} parts, then
// the dynamic data of contract signatures, located by offset. Parsing is pure
// and total: hostile bytes produce errors, never exceptions or out-of-bounds
// reads. Each parsed signature is re-encoded alone, so it can be checked on
// chain by itself (one bad signature ahead of good ones makes the Safe revert).
import {
  concatHex,
  getAddress,
  hashMessage,
  isHex,
  numberToHex,
  recoverAddress,
  size,
  sliceHex,
  hexToBigInt,
  hexToNumber,
  padHex,
  type Address,
  type Hex,
} from "viem";

export type SignatureKind = "ecdsa" | "eth_sign" | "approved_hash" | "contract";

export interface ParsedSignature {
  readonly kind: SignatureKind;
  /** For contract and approved-hash signatures, the owner named in r; else undefined until recovered. */
  readonly owner: Address | undefined;
  readonly r: Hex;
  readonly s: Hex;
  readonly v: number;
  /** The contract signature's own data (what the owner contract checks). */
  readonly data: Hex | undefined;
  /** This signature alone, encoded as checkNSignatures(..., 1) expects. */
  readonly encoded: Hex;
}

interface ParseResult {
  readonly signatures: readonly ParsedSignature[];
  readonly errors: readonly string[];
}

const PART = 65;
/** Contract-signature data beyond this is refused: no honest Safe needs it, and it bounds eth_call cost. */
const MAX_CONTRACT_DATA = 16_384;

function kindOf(v: number): SignatureKind {
  if (v === 0) return "contract";
  if (v === 1) return "approved_hash";
  if (v > 30) return "eth_sign";
  return "ecdsa";
}

/** r as an address, if its upper 12 bytes are zero (as Safe requires in practice). */
function ownerFromR(r: Hex): Address | undefined {
  if (hexToBigInt(r) >> 160n !== 0n) return undefined;
  return getAddress(sliceHex(r, 12));
}

/** Encodes one signature alone: its static part, then its data at offset 65. */
export function encodeSingle(sig: Pick<ParsedSignature, "r" | "s" | "v" | "data" | "kind">): Hex {
  if (sig.kind !== "contract") return concatHex([sig.r, sig.s, numberToHex(sig.v, { size: 1 })]);
  const data = sig.data ?? "0x";
  return concatHex([
    sig.r,
    padHex(numberToHex(PART), { size: 32 }),
    "0x00",
    padHex(numberToHex(size(data)), { size: 32 }),
    data,
  ]);
}

export function parseSignatures(blob: string): ParseResult {
  if (!isHex(blob, { strict: true }) || blob.length % 2 !== 0) {
    return {
      signatures: [],
      errors: ["not hex bytes (expected 0x followed by an even number of hex digits)"],
    };
  }
  const total = size(blob);
  if (total < PART)
    return { signatures: [], errors: [`too short: ${String(total)} bytes, a signature has 65`] };
  const signatures: ParsedSignature[] = [];
  const errors: string[] = [];
  let staticEnd = total;
  for (let pos = 0; pos + PART <= staticEnd; pos += PART) {
    const r = sliceHex(blob, pos, pos + 32);
    const s = sliceHex(blob, pos + 32, pos + 64);
    const v = hexToNumber(sliceHex(blob, pos + 64, pos + 65));
    const kind = kindOf(v);
    const index = signatures.length + errors.length;
    if (kind === "ecdsa" && v !== 27 && v !== 28) {
      errors.push(`signature ${String(index)}: v=${String(v)} is not a signature type Safe accepts`);
      continue;
    }
    if (kind === "eth_sign" && v !== 31 && v !== 32) {
      errors.push(`signature ${String(index)}: v=${String(v)} is not a valid eth_sign v (31 or 32)`);
      continue;
    }
    let owner: Address | undefined;
    let data: Hex | undefined;
    if (kind === "contract" || kind === "approved_hash") {
      owner = ownerFromR(r);
      if (!owner) {
        errors.push(`signature ${String(index)}: r does not hold an address`);
        continue;
      }
    }
    if (kind === "contract") {
      const offset = hexToBigInt(s);
      if (offset < BigInt(pos + PART) || offset + 32n > BigInt(total)) {
        errors.push(
          `signature ${String(index)}: contract data offset ${offset.toString()} is outside the signature`,
        );
        continue;
      }
      const start = Number(offset);
      const length = hexToBigInt(sliceHex(blob, start, start + 32));
      if (length > BigInt(MAX_CONTRACT_DATA) || BigInt(start) + 32n + length > BigInt(total)) {
        errors.push(
          `signature ${String(index)}: contract data length ${length.toString()} overruns the signature`,
        );
        continue;
      }
      data = length === 0n ? "0x" : sliceHex(blob, start + 32, start + 32 + Number(length));
      staticEnd = Math.min(staticEnd, start);
    }
    const parsed = { kind, owner, r, s, v, data };
    signatures.push({ ...parsed, encoded: encodeSingle(parsed) });
  }
  if (signatures.length === 0 && errors.length === 0) errors.push("no signature found");
  return { signatures, errors };
}

/**
 * The signer of an ECDSA or eth_sign signature over `hash`, as the Safe's
 * ecrecover would find it; for the other kinds, the owner named in r.
 */
export async function signerOf(sig: ParsedSignature, hash: Hex): Promise<Address | undefined> {
  if (sig.owner) return sig.owner;
  try {
    if (sig.kind === "eth_sign") {
      const v = numberToHex(sig.v - 4, { size: 1 });
      return await recoverAddress({
        hash: hashMessage({ raw: hash }),
        signature: concatHex([sig.r, sig.s, v]),
      });
    }
    return await recoverAddress({
      hash,
      signature: concatHex([sig.r, sig.s, numberToHex(sig.v, { size: 1 })]),
    });
  } catch {
    return undefined;
  }
}
