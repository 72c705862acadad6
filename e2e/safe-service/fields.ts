// Validation of request fields, with the real service's rules: addresses must
// be checksummed, hex may come with or without 0x, integers as numbers or
// decimal strings. Each failure names the field and the value.
import { getAddress, isAddress, type Address, type Hex } from "viem";
import { badRequest, unprocessable } from "./http.ts";

const MAX_UINT256 = (1n << 256n) - 1n;

export function required(body: Record<string, unknown>, name: string): unknown {
  const value = body[name];
  if (value === undefined) throw badRequest(`${name}: This field is required.`);
  return value;
}

export function isChecksumAddress(value: string): boolean {
  return isAddress(value, { strict: false }) && getAddress(value) === value;
}

export function checksumAddress(value: unknown, name: string): Address {
  if (typeof value !== "string" || !isAddress(value, { strict: false })) {
    throw badRequest(`${name}: ${JSON.stringify(value)} is not an Ethereum address`);
  }
  if (!isChecksumAddress(value)) throw badRequest(`${name}: address ${value} is not checksumed`);
  return value;
}

/** A Safe address in a URL path, which the service checks before anything else. */
export function pathAddress(value: string): Address {
  if (!isChecksumAddress(value)) throw unprocessable(`Checksum address validation failed for ${value}`);
  return value as Address;
}

export function hexBytes(value: unknown, name: string, minBytes = 0, maxBytes = Infinity): Hex {
  if (typeof value !== "string") throw badRequest(`${name}: a hexadecimal string is required`);
  const digits = value.startsWith("0x") || value.startsWith("0X") ? value.slice(2) : value;
  if (!/^[0-9a-fA-F]*$/.test(digits) || digits.length % 2 !== 0) {
    throw badRequest(`${name}: ${JSON.stringify(value)} is not valid hexadecimal bytes`);
  }
  const bytes = digits.length / 2;
  if (bytes < minBytes) throw badRequest(`${name}: at least ${minBytes} bytes are required, got ${bytes}`);
  if (bytes > maxBytes) throw badRequest(`${name}: at most ${maxBytes} bytes are allowed, got ${bytes}`);
  return `0x${digits.toLowerCase()}`;
}

/** A 32-byte hash in a URL path; lower-cased so that lookups ignore case. */
export function pathHash(value: string, name: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value))
    throw badRequest(`${name}: ${value} is not a 32-byte 0x-prefixed hash`);
  return value.toLowerCase() as Hex;
}

export function uint256(value: unknown, name: string): bigint {
  const ok =
    (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) ||
    (typeof value === "string" && /^\d+$/.test(value));
  if (!ok) throw badRequest(`${name}: ${JSON.stringify(value)} is not a non-negative integer`);
  const n = BigInt(value);
  if (n > MAX_UINT256) throw badRequest(`${name}: ${String(value)} does not fit in uint256`);
  return n;
}

export function optional<T>(value: unknown, parse: (v: unknown) => T): T | null {
  return value === undefined || value === null ? null : parse(value);
}

export function shortString(value: unknown, name: string, maxLength: number): string {
  if (typeof value !== "string") throw badRequest(`${name}: a string is required`);
  if (value.length > maxLength) throw badRequest(`${name}: at most ${maxLength} characters are allowed`);
  return value;
}
