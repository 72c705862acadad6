import { describe, expect, it } from "vitest";
import { getAddress, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { bindManifest, manifestTypedData } from "../core/manifest/digest.ts";
import { readOneByOne, verifyManifest, VerifiedAtBlock } from "./verify.ts";
import { signProposal } from "../signing/sign.ts";

const key = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
const agentKey = key(7);
const agent = privateKeyToAccount(agentKey).address;
const dspA = getAddress("0x00000000000000000000000000000000000000a1");
const consortiumSafe = getAddress("0x00000000000000000000000000000000000000c1");
const boardSafe = getAddress("0x00000000000000000000000000000000000000b1");
const federation = {
  region: "alpha",
  dsp: { name: "DSP-1", safe: dspA },
  chain: { chainId: 31337, rpcUrlSecretRef: { name: "x", key: "y" }, confirmations: 0 },
  consortiumSafe,
  daoBoardSafe: boardSafe,
  agentRegistry: getAddress("0x00000000000000000000000000000000000000d1"),
} as never;

// A chain where dspA, the Consortium Safe's one owner, approved every hash on chain (v=1).
const chain = {
  pinBlock: () => Promise.resolve(100n),
  safeState: (safe: Address) =>
    Promise.resolve({
      owners: safe === consortiumSafe ? [dspA] : [getAddress("0x00000000000000000000000000000000000000e1")],
      threshold: 1,
      version: "1.5.0",
      refusesForgery: true,
    }),
  blockTime: () => Promise.resolve(1_700_000_000),
  approvedHash: (safe: Address) => Promise.resolve(safe === consortiumSafe),
  isContract: () => Promise.resolve(false),
  checkSignature: () => Promise.resolve({ valid: true }),
  agentOf: () => Promise.resolve({ dsp: dspA }),
} as never;

describe("evidence reused within a block", () => {
  const base = {
    tier: "operational",
    targets: ["alpha"],
    nonce: 1,
    expiresAt: "2999-01-01T00:00:00Z",
    objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }],
  } as const;
  const binding = { name: "fed", chainId: 31337, consortiumSafe, daoBoardSafe: boardSafe };
  const ctx = {
    chain,
    service: undefined,
    federationName: "fed",
    federation,
    operatorNamespace: "dsc-system",
    read: readOneByOne,
  };
  const input = (spec: unknown) => ({
    namespace: "ns",
    name: "m",
    spec: spec as never,
    applied: undefined,
  });

  /** The spec as the registered agent proposed it. */
  const proposed = async () => {
    const { manifest } = bindManifest(binding, { namespace: "ns", name: "m" }, {
      ...base,
      proposal: { agent, signature: "0x" },
    } as never);
    return {
      ...base,
      proposal: { agent, signature: await signProposal(agentKey, manifestTypedData(manifest)) },
    };
  };

  it("is not lent to a spec with the same digest and another proposal: a forged proposal is refused", async () => {
    const good = await proposed();
    const forged = { ...base, proposal: { agent, signature: `0x${"11".repeat(65)}` } };
    const reuse = new VerifiedAtBlock();
    const first = await verifyManifest({ ...ctx, reuse }, input(good));
    expect(first.decision.verified).toBe(true);
    const second = await verifyManifest({ ...ctx, reuse }, input(forged));
    expect(second.hashes.digest).toBe(first.hashes.digest);
    expect(second.decision.verified).toBe(false);
    expect(second.decision.reason).toBe("InvalidProposer");
  });

  it("serves the same spec at the same block without reading the chain again", async () => {
    const good = await proposed();
    let reads = 0;
    const counting = {
      ...(chain as object),
      approvedHash: (safe: Address) => {
        reads++;
        return Promise.resolve(safe === consortiumSafe);
      },
    } as never;
    const reuse = new VerifiedAtBlock();
    await verifyManifest({ ...ctx, chain: counting, reuse }, input(good));
    const afterFirst = reads;
    const again = await verifyManifest({ ...ctx, chain: counting, reuse }, input(good));
    expect(again.decision.verified).toBe(true);
    expect(reads).toBe(afterFirst);
  });
});
