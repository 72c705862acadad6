// Signature blobs and hashes, checked against protocol-kit's independent
// implementation of the same Safe conventions; no chain needed.
import {
  buildSignatureBytes,
  calculateSafeMessageHash,
  EthSafeSignature,
  generatePreValidatedSignature,
} from "@safe-global/protocol-kit";
import { getAddress, hashMessage, keccak256, toHex, type Address, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { safeMessageHash } from "./hashes.ts";
import { ServiceError } from "./http.ts";
import { decodeOneSignature, encodeSignatures, type OwnerSignature } from "./signatures.ts";

const HASH = keccak256(toHex("a Safe hash"));
const address = (byte: string): Address => getAddress(`0x${byte.repeat(20)}`);

async function refusalOf(signature: Hex): Promise<string> {
  try {
    await decodeOneSignature(signature, HASH);
  } catch (err) {
    if (err instanceof ServiceError && err.status === 400) return err.message;
    throw err;
  }
  throw new Error(`accepted ${signature}`);
}

/** A contract signature as protocol-kit lays out a single one: s = 65, then {length}{data}. */
function contractSignature(owner: Address, data: Hex): Hex {
  return buildSignatureBytes([new EthSafeSignature(owner, data, true)]) as Hex;
}

describe("decodeOneSignature", () => {
  it("recovers EOA and eth_sign signers and reads contract and approved-hash owners", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const eoa = await account.sign({ hash: HASH });
    const ethSign = await account.signMessage({ message: { raw: HASH } });
    const v = parseInt(ethSign.slice(-2), 16) + 4;
    const nested = contractSignature(address("ab"), `0x${"ee".repeat(70)}`);

    expect(await decodeOneSignature(eoa, HASH)).toEqual({ type: "EOA", owner: account.address, data: eoa });
    expect(await decodeOneSignature(`${ethSign.slice(0, -2)}${v.toString(16)}` as Hex, HASH)).toMatchObject({
      type: "ETH_SIGN",
      owner: account.address,
    });
    expect(await decodeOneSignature(nested, HASH)).toEqual({
      type: "CONTRACT_SIGNATURE",
      owner: address("ab"),
      data: `0x${"ee".repeat(70)}`,
    });
    const approved = generatePreValidatedSignature(account.address).data as Hex;
    expect(await decodeOneSignature(approved, HASH)).toMatchObject({
      type: "APPROVED_HASH",
      owner: account.address,
    });
  });

  it("counts a contract signature's dynamic part as part of that one signature, not as more", async () => {
    const eoa = await privateKeyToAccount(generatePrivateKey()).sign({ hash: HASH });
    const nested = new EthSafeSignature(address("ab"), `0x${"ee".repeat(200)}`, true);
    const both = buildSignatureBytes([new EthSafeSignature(address("01"), eoa), nested]) as Hex;
    expect(await refusalOf(both)).toBe("1 owner signature was expected, 2 received");
    expect(await refusalOf(`${eoa}${eoa.slice(2)}`)).toBe("1 owner signature was expected, 2 received");
  });

  it("refuses trailing bytes, out-of-bounds data and misplaced offsets", async () => {
    const nested = contractSignature(address("ab"), `0x${"ee".repeat(70)}`);
    expect(await refusalOf(`${nested}00`)).toMatch(/1 bytes after the end/);
    expect(await refusalOf(nested.slice(0, -2) as Hex)).toMatch(/declares 70 data bytes, only 69 follow/);
    const pointingInside = `${nested.slice(0, 2 + 64)}${"00".repeat(31)}20${nested.slice(2 + 128)}` as Hex;
    expect(await refusalOf(pointingInside)).toMatch(/must start right after its 65-byte static part, s=32/);
    const eoa = await privateKeyToAccount(generatePrivateKey()).sign({ hash: HASH });
    expect(await refusalOf(`${eoa}ff`)).toMatch(/1 bytes after the end/);
    expect(await refusalOf(`${eoa.slice(0, -2)}1d` as Hex)).toMatch(/v=29/);
    expect(await refusalOf(`0x${"00".repeat(64)}1b`)).toMatch(/not a valid ECDSA signature/);
  });
});

describe("encodeSignatures", () => {
  it("lays signatures out exactly as protocol-kit's buildSignatureBytes does", async () => {
    const accounts = [generatePrivateKey(), generatePrivateKey()].map((k) => privateKeyToAccount(k));
    const mixed: OwnerSignature[] = [
      { type: "CONTRACT_SIGNATURE", owner: address("cc"), data: `0x${"11".repeat(97)}` },
      ...(await Promise.all(
        accounts.map(async (a) => ({
          type: "EOA" as const,
          owner: a.address,
          data: await a.sign({ hash: HASH }),
        })),
      )),
      { type: "CONTRACT_SIGNATURE", owner: address("0a"), data: `0x${"22".repeat(33)}` },
      {
        type: "APPROVED_HASH",
        owner: address("5e"),
        data: generatePreValidatedSignature(address("5e")).data as Hex,
      },
    ];
    const theirs = buildSignatureBytes(
      mixed.map((s) => new EthSafeSignature(s.owner, s.data, s.type === "CONTRACT_SIGNATURE")),
    );
    // protocol-kit writes owners' hex digits in checksum case; hex compares without case.
    expect(encodeSignatures(mixed).toLowerCase()).toBe(theirs.toLowerCase());
  });
});

describe("safeMessageHash", () => {
  it("agrees with protocol-kit for Safe 1.5.0", () => {
    const safe = address("5a");
    const message = hashMessage("hello");
    expect(safeMessageHash(31337, safe, message)).toBe(
      calculateSafeMessageHash(safe, message, "1.5.0", 31337n),
    );
  });
});
