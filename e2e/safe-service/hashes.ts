// The hashes a Safe signs, recomputed here from what the client sent: the
// service never takes a client's word for a hash.
import {
  hashMessage,
  hashTypedData,
  zeroAddress,
  type Address,
  type Hex,
  type TypedDataDefinition,
} from "viem";
import { badRequest } from "./http.ts";

/** A message as Safe{Wallet} and protocol-kit send it: EIP-191 text or EIP-712 typed data. */
export type SafeMessageBody = string | TypedDataDefinition;

/** Validates a message field and returns it with its EIP-191 or EIP-712 hash. */
export function hashSafeMessageBody(value: unknown): { message: SafeMessageBody; hash: Hex } {
  if (typeof value === "string") return { message: value, hash: hashMessage(value) };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(`message: ${JSON.stringify(value)} is neither a string nor an EIP-712 object`);
  }
  const typed = value as Record<string, unknown>;
  for (const key of ["types", "primaryType", "message"]) {
    if (typed[key] === undefined) throw badRequest(`message: the EIP-712 object has no "${key}"`);
  }
  const message = value as TypedDataDefinition;
  try {
    return { message, hash: hashTypedData(message) };
  } catch (err) {
    const reason = err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err);
    throw badRequest(`message: not a valid EIP-712 message (${reason})`);
  }
}

/** EIP-712 `SafeMessage(bytes message)` under the Safe's domain (Safe >= 1.3.0). */
export function safeMessageHash(chainId: number, safe: Address, messageHash: Hex): Hex {
  return hashTypedData({
    domain: { chainId, verifyingContract: safe },
    types: { SafeMessage: [{ name: "message", type: "bytes" }] },
    primaryType: "SafeMessage",
    message: { message: messageHash },
  });
}

export interface SafeTx {
  readonly to: Address;
  readonly value: bigint;
  readonly data: Hex;
  readonly operation: number;
  readonly safeTxGas: bigint;
  readonly baseGas: bigint;
  readonly gasPrice: bigint;
  readonly gasToken: Address | null;
  readonly refundReceiver: Address | null;
  readonly nonce: bigint;
}

const SAFE_TX_TYPES = {
  SafeTx: [
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "data", type: "bytes" },
    { name: "operation", type: "uint8" },
    { name: "safeTxGas", type: "uint256" },
    { name: "baseGas", type: "uint256" },
    { name: "gasPrice", type: "uint256" },
    { name: "gasToken", type: "address" },
    { name: "refundReceiver", type: "address" },
    { name: "nonce", type: "uint256" },
  ],
} as const;

/** Safe 1.5.0's `getTransactionHash`, computed off chain. A null token or receiver is the zero address. */
export function safeTxHash(chainId: number, safe: Address, tx: SafeTx): Hex {
  return hashTypedData({
    domain: { chainId, verifyingContract: safe },
    types: SAFE_TX_TYPES,
    primaryType: "SafeTx",
    message: {
      ...tx,
      gasToken: tx.gasToken ?? zeroAddress,
      refundReceiver: tx.refundReceiver ?? zeroAddress,
    },
  });
}
