import fc from "fast-check";
import { getAddress } from "viem";
import { describe, expect, it } from "vitest";
import { checkPauseToken } from "../state/model.ts";
import { chainPauseOf, chainPauseToken, legacyChainPauseToken, samePauseContract } from "./reader.ts";

const contracts = fc.record({
  chainId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  address: fc
    .uint8Array({ minLength: 20, maxLength: 20 })
    .map((b) => getAddress(`0x${Buffer.from(b).toString("hex")}`)),
});
const ids = fc.bigInt({ min: 1n, max: 2n ** 64n });

describe("a chain pause's token", () => {
  it("names its chain, contract and pause id, and reads back as them", () => {
    fc.assert(
      fc.property(contracts, ids, (contract, id) => {
        const token = chainPauseToken(contract, id);
        // It is a pause token the federation state takes.
        expect(checkPauseToken(token)).toBe(token);
        const named = chainPauseOf(token);
        expect(named?.id).toBe(id);
        expect(named?.contract && samePauseContract(named.contract, contract)).toBe(true);
      }),
    );
  });

  it("differs for the same id on another contract or chain", () => {
    const a = { chainId: 1, address: getAddress(`0x${"a1".repeat(20)}`) };
    expect(chainPauseToken(a, 1n)).not.toBe(
      chainPauseToken({ ...a, address: getAddress(`0x${"b2".repeat(20)}`) }, 1n),
    );
    expect(chainPauseToken(a, 1n)).not.toBe(chainPauseToken({ ...a, chainId: 10 }, 1n));
  });

  it("reads a token of the release before 0.1.0 (chain-<id>) as naming no contract", () => {
    expect(chainPauseOf("chain-12")).toEqual({ id: 12n });
    fc.assert(
      fc.property(ids, (id) => {
        expect(chainPauseOf(legacyChainPauseToken(id))).toEqual({ id });
      }),
    );
  });

  it("takes nothing else for a chain pause's token", () => {
    for (const token of [
      "chain-0",
      "chain-01",
      "chain-",
      "chain-1-0xab-2",
      `chain-1-0x${"A1".repeat(20)}-2`, // the address is written in lower case
      `chain-0-0x${"a1".repeat(20)}-2`,
      `chain-1-0x${"a1".repeat(20)}-0`,
      `0x${"ab".repeat(32)}`,
      "Chain-1",
      " chain-1",
    ])
      expect(chainPauseOf(token), token).toBeUndefined();
  });
});
