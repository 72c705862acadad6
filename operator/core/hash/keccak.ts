// Keccak-256 for the hashes a verification computes: a manifest's digest and its
// EIP-712 and Safe message hashes, a dozen per verification. The JavaScript Keccak
// viem uses (@noble/hashes) takes about 9 µs for 32 bytes on these machines, a
// third of a verification's CPU when 64 run at once; hash-wasm's WebAssembly one
// takes under 1 µs. keccak.test.ts checks it against viem's on random inputs.
import { createKeccak } from "hash-wasm";
import { bytesToHex, type Hex } from "viem";

// Instantiated once, when this module loads; used synchronously (init, update, digest
// with no turn of the event loop between), so calls never interleave.
const hasher = await createKeccak(256);

/** Keccak-256 of `data`, as bytes (a copy: the hasher's memory is reused). */
export function keccak256Bytes(data: Uint8Array): Uint8Array {
  hasher.init();
  hasher.update(data);
  return hasher.digest("binary");
}

/** Keccak-256 of `data`, as 0x-prefixed hex. */
export const keccak256Hex = (data: Uint8Array): Hex => bytesToHex(keccak256Bytes(data));
