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

const base = {
  tier: "operational",
  targets: ["alpha"],
  nonce: 1,
  expiresAt: "2999-01-01T00:00:00Z",
  objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }],
} as const;
const binding = { name: "fed", chainId: 31337, consortiumSafe, daoBoardSafe: boardSafe };

/** The spec as the registered agent proposed it, with `signatures` inline. */
async function proposedSpec(signatures: { safe: "consortium"; data: Hex }[] = []) {
  const { manifest } = bindManifest(binding, { namespace: "ns", name: "m" }, {
    ...base,
    proposal: { agent, signature: "0x" },
  } as never);
  return {
    ...base,
    proposal: { agent, signature: await signProposal(agentKey, manifestTypedData(manifest)) },
    ...(signatures.length > 0 ? { signatures } : {}),
  };
}

describe("evidence reused within a block", () => {
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

  it("is not lent to a spec with the same digest and another proposal: a forged proposal is refused", async () => {
    const good = await proposedSpec();
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
    const good = await proposedSpec();
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

  /** A chain whose approved-hash reads wait for `open()`, each answering what `approved` said when it was read. */
  function gated(approved: () => boolean) {
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const chainRead = {
      ...(chain as object),
      approvedHash: async (safe: Address) => {
        const now = approved() && safe === consortiumSafe;
        await gate;
        return now;
      },
    } as never;
    return {
      chainRead,
      open: () => {
        open();
      },
    };
  }
  const turns = async (n = 20) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  /**
   * Verifications of one approved spec on a gated chain, each `apart` turns after the one
   * before; how many approved-hash reads they made in all.
   */
  async function verifications(count: number, apart: number) {
    const good = await proposedSpec();
    let reads = 0;
    const g = gated(() => {
      reads++;
      return true;
    });
    const reuse = new VerifiedAtBlock();
    const started = [];
    for (let i = 0; i < count; i++) {
      if (i > 0 && apart > 0) await turns(apart);
      started.push(verifyManifest({ ...ctx, chain: g.chainRead, reuse }, input(good)));
    }
    await turns();
    g.open();
    const reports = await Promise.all(started);
    return { verified: reports.map((r) => r.decision.verified), reads };
  }

  it("waits for a verification of the same spec under way rather than reading the chain twice", async () => {
    const alone = await verifications(1, 0);
    expect(alone.reads).toBeGreaterThan(0);
    const two = await verifications(2, 20);
    expect(two.verified).toEqual([true, true]);
    expect(two.reads).toBe(alone.reads);
  });

  it("reads the chain once for two verifications of one spec started together", async () => {
    const alone = await verifications(1, 0);
    const two = await verifications(2, 0);
    expect(two.verified).toEqual([true, true]);
    expect(two.reads).toBe(alone.reads);
  });

  it("judges a spec again when the verification it waited for refused", async () => {
    const good = await proposedSpec();
    let approved = false;
    const g = gated(() => approved);
    const reuse = new VerifiedAtBlock();
    const first = verifyManifest({ ...ctx, chain: g.chainRead, reuse }, input(good));
    await turns();
    approved = true; // the first verification read "not approved"; a read from now on says approved
    const second = verifyManifest({ ...ctx, chain: g.chainRead, reuse }, input(good));
    await turns();
    g.open();
    expect((await first).decision.verified).toBe(false);
    expect((await second).decision.verified).toBe(true);
  });

  it("keeps a bounded number of verified versions while the chain makes no block, the newest", () => {
    // A peer's hints could add one at a time: an approved spec with junk signatures added verifies.
    const reuse = new VerifiedAtBlock();
    const evidence = {} as Parameters<VerifiedAtBlock["set"]>[3];
    for (let i = 0; i < 5000; i++) reuse.set(chain, `key-${String(i)}`, 7n, evidence);
    expect(reuse.get(chain, "key-4999", 7n)).toBe(evidence);
    expect(reuse.get(chain, "key-3976", 7n)).toBe(evidence);
    expect(reuse.get(chain, "key-3975", 7n)).toBeUndefined();
    expect(reuse.get(chain, "key-0", 7n)).toBeUndefined();
  });
});

describe("approvals the spec carries, judged while the Safe Transaction Service is asked", () => {
  // Nothing approved on chain: only the spec's signatures and the service's can verify.
  const bare = { ...(chain as object), approvedHash: () => Promise.resolve(false) } as never;
  // dspA's approval as a v=1 signature (approved hash), which the Safe (here: always) accepts.
  const approval: Hex = `0x${dspA.slice(2).toLowerCase().padStart(64, "0")}${"0".repeat(64)}01`;
  const verify = (s: unknown, service: unknown) =>
    verifyManifest(
      {
        chain: bare,
        service: service as never,
        federationName: "fed",
        federation,
        operatorNamespace: "dsc-system",
        read: readOneByOne,
      },
      { namespace: "ns", name: "m", spec: s as never, applied: undefined },
    );

  it("verifies with the spec's own approvals without waiting for a service that does not answer", async () => {
    let asked = 0;
    const silent = {
      confirmations: () => {
        asked++;
        return new Promise(() => undefined);
      },
    };
    const report = await Promise.race([
      verify(await proposedSpec([{ safe: "consortium", data: approval }]), silent),
      new Promise<undefined>((resolve) => {
        setTimeout(() => {
          resolve(undefined);
        }, 2_000);
      }),
    ]);
    expect(report?.decision.verified).toBe(true);
    expect(report?.verdicts.map((v) => v.source)).toEqual(["inline"]);
    expect(asked).toBeGreaterThan(0); // asked all the same, beside the chain
    // A service that failed before the chain answered is said, as when it was waited for.
    const down = { confirmations: () => Promise.resolve({ ok: false, error: "connection refused" }) };
    const lost = await verify(await proposedSpec([{ safe: "consortium", data: approval }]), down);
    expect(lost.decision.verified).toBe(true);
    expect(lost.serviceError).toBe("connection refused");
  });

  it("waits for the service when the spec's approvals fall short, and counts what it adds", async () => {
    const service = {
      confirmations: () =>
        Promise.resolve({ ok: true, confirmations: [{ owner: dspA, signature: approval }] }),
    };
    const report = await verify(await proposedSpec([]), service);
    expect(report.decision.verified).toBe(true);
    expect(report.verdicts.filter((v) => v.source === "safe-service" && v.valid)).toHaveLength(1);
    // Without the service, the same spec is refused: its approval came from there.
    const none = { confirmations: () => Promise.resolve({ ok: true, confirmations: [] }) };
    expect((await verify(await proposedSpec([]), none)).decision.reason).toBe("InsufficientApprovals");
    // A service that is down is one source lost, said in the report.
    const down = { confirmations: () => Promise.resolve({ ok: false, error: "503 from the service" }) };
    const lost = await verify(await proposedSpec([]), down);
    expect(lost.decision.verified).toBe(false);
    expect(lost.serviceError).toBe("503 from the service");
  });
});
