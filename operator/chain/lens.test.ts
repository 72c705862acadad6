import fc from "fast-check";
import { concatHex, numberToHex, recoverAddress, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { ecdsaParts, ManifestLens, type LensQuery } from "./lens.ts";
import { ChainUnavailableError } from "./model.ts";

const SAFES: readonly Address[] = [
  "0x00000000000000000000000000000000000000c1",
  "0x00000000000000000000000000000000000000b1",
];
const REGISTRY: Address = "0x00000000000000000000000000000000000000d1";
const query = (n: number): LensQuery => ({
  hashes: [`0x${n.toString(16).padStart(64, "0")}`, `0x${"00".repeat(32)}`],
  checks: [],
  agent: "0x00000000000000000000000000000000000000a1",
  proposal: { hash: `0x${"00".repeat(32)}`, signature: "0x" },
});
const word = (n: number | bigint): string => BigInt(n).toString(16).padStart(64, "0");

describe("the lens's answer", () => {
  it("fails closed when the RPC answers for another chain, another block, or stops short", async () => {
    const cases: [string, Hex, RegExp][] = [
      ["another chain", `0x${word(1)}${word(7)}${word(1)}`, /serves chain 1, not 31337/],
      ["another block", `0x${word(31337)}${word(8)}${word(1)}`, /ran the call at block 8, not 7/],
      ["short", `0x${word(31337)}${word(7)}${word(1)}`, /ended early/],
      ["not hex of the lens", "0x", /ended early/],
    ];
    for (const [what, answer, message] of cases) {
      const lens = new ManifestLens(31337, () => Promise.resolve(answer));
      const error = await lens.judge(SAFES, REGISTRY, query(1), 7n).catch((e: unknown) => e);
      expect(error, what).toBeInstanceOf(ChainUnavailableError);
      expect((error as Error).message, what).toMatch(message);
    }
  });

  it("asks once for everything asked in one turn, and when that fails asks for each alone", async () => {
    const calls: Hex[] = [];
    const lens = new ManifestLens(31337, (data) => {
      calls.push(data);
      return Promise.reject(new Error("connection refused"));
    });
    const results = await Promise.allSettled([0, 1, 2].map((n) => lens.judge(SAFES, REGISTRY, query(n), 7n)));
    // One call for the three, then one for each: a query that breaks a batch fails alone.
    expect(calls).toHaveLength(4);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ChainUnavailableError);
      expect(((r as PromiseRejectedResult).reason as Error).message).toMatch(/connection refused/);
    }
  });

  it("keeps different blocks in different calls", async () => {
    const blocks: bigint[] = [];
    const lens = new ManifestLens(31337, (_data, block) => {
      blocks.push(block);
      return Promise.reject(new Error("down"));
    });
    await Promise.allSettled([
      lens.judge(SAFES, REGISTRY, query(1), 7n),
      lens.judge(SAFES, REGISTRY, query(2), 8n),
    ]);
    expect(blocks.slice(0, 2).sort()).toEqual([7n, 8n]);
  });
});

describe("the proposer's signature split for ecrecover", () => {
  const account = privateKeyToAccount(`0x${"42".repeat(32)}`);
  /** What ecrecover recovers from the parts (as viem would from r, s and v 27 or 28). */
  const ecrecover = async (hash: Hex, signature: Hex): Promise<Address | undefined> => {
    const parts = ecdsaParts(signature);
    if (parts.v !== 27 && parts.v !== 28) return undefined;
    return recoverAddress({
      hash,
      signature: concatHex([parts.r, parts.s, numberToHex(parts.v, { size: 1 })]),
    }).catch(() => undefined);
  };
  const viem = (hash: Hex, signature: Hex): Promise<Address | undefined> =>
    recoverAddress({ hash, signature }).catch(() => undefined);

  it("recovers whom viem's recoverAddress recovers, for real, altered and random signatures", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.oneof(
          fc.constant({ kind: "real" as const }),
          fc.record({ kind: fc.constant("v" as const), v: fc.nat(255) }),
          fc.record({ kind: fc.constant("cut" as const), length: fc.nat(70) }),
          fc.record({ kind: fc.constant("random" as const), bytes: fc.uint8Array({ maxLength: 70 }) }),
        ),
        async (hashBytes, change) => {
          const hash: Hex = `0x${Buffer.from(hashBytes).toString("hex")}`;
          const real = await account.sign({ hash });
          const signature: Hex =
            change.kind === "real"
              ? real
              : change.kind === "v"
                ? concatHex([`0x${real.slice(2, 130)}`, numberToHex(change.v, { size: 1 })])
                : change.kind === "cut"
                  ? `0x${real.slice(2, 2 + change.length * 2)}`
                  : `0x${Buffer.from(change.bytes).toString("hex")}`;
          expect(await ecrecover(hash, signature)).toBe(await viem(hash, signature));
        },
      ),
      { numRuns: 300 },
    );
  });
});
