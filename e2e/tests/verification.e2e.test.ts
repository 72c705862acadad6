// Manifest verification against the real Safe 1.5.0 contracts and the real
// api-kit: every approval is re-verified on chain, each tier holds exactly at
// its threshold, and rotation, replay, tampering, expiry, a revoked agent and
// an unreachable chain all fail closed. A chain of the file's own, because
// these tests rotate DSPs and revoke agents.
import {
  createPublicClient,
  createTestClient,
  encodeFunctionData,
  getAddress,
  http,
  padHex,
  type Address,
  type Hex,
} from "viem";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION } from "../../operator/api/v1alpha1/fields.ts";
import { agentRegistryAbi } from "../../operator/chain/abi/agent-registry.ts";
import { ChainReader, ChainUnavailableError } from "../../operator/chain/reader.ts";
import type { AppliedVersion } from "../../operator/core/approval/policy.ts";
import { encodeSingle } from "../../operator/core/approval/signatures.ts";
import { safeAbi } from "../../operator/chain/safe-abi.ts";
import type { ConsortiumManifestSpec } from "../../operator/api/v1alpha1/consortium-manifest.ts";
import type { FederationSpec } from "../../operator/api/v1alpha1/federation.ts";
import { federationSpec } from "../testbed/operator.ts";
import { canonicalManifest, manifestHashes, manifestTypedData } from "../../operator/core/manifest/digest.ts";
import { SafeApiKit } from "../../operator/safe/sdk.ts";
import { SafeService } from "../../operator/safe/service.ts";
import {
  signAsBoardOwner,
  signAsDspOwner,
  signProposal,
  type EoaScheme,
} from "../../operator/signing/sign.ts";
import { verifyManifest, type VerificationReport } from "../../operator/verification/verify.ts";
import { startSafeServiceDouble } from "../safe-service/server.ts";
import type { Region } from "../testbed/layout.ts";
import { deployLegacySafe } from "../testbed/legacy-safe.ts";
import { startPrivateChain, type PrivateChain } from "../testbed/private-chain.ts";
import { approveHashFrom, execFromSafe, rotateDsp, signMessageOnChain } from "../testbed/safe-tx.ts";
import { startTcpProxy, type TcpProxy } from "../testbed/tcp-proxy.ts";

let testChain: PrivateChain;
let proxy: TcpProxy;
let service: { url: string; close(): Promise<void> };
let federation: FederationSpec;
let rpcUrl: string;
const FEDERATION = "dsc";
let counter = 0;

beforeAll(async () => {
  testChain = await startPrivateChain();
  proxy = await startTcpProxy(testChain.port);
  const { chain } = testChain;
  service = await startSafeServiceDouble({ rpcUrl: chain.rpcUrl, chainId: chain.chainId });
  federation = federationSpec(chain, "alpha");
  rpcUrl = `http://127.0.0.1:${String(proxy.port)}`;
}, 120_000);

/**
 * A reader of its own for each verification: a reader serves a head read
 * less than 250 ms ago again (verify.ts, HEAD_MAX_AGE_MS), and these tests
 * change the chain and verify at once.
 */
const reader = (): ChainReader =>
  new ChainReader({ rpcUrl, chainId: testChain.chain.chainId, timeoutMs: 2000 });

afterAll(async () => {
  await service.close();
  await proxy.close();
  await testChain.stop();
});

/** A fresh manifest (its own name, so on-chain approvals never carry over), proposed by alpha's agent. */
async function manifest(
  overrides: Partial<ConsortiumManifestSpec> = {},
  agentKey?: Hex,
  consortiumSafe: Address = testChain.chain.safes.consortium,
) {
  const name = `web-${String(++counter)}`;
  const spec: ConsortiumManifestSpec = {
    tier: "upgrade",
    targets: ["alpha", "beta", "gamma"],
    nonce: 1,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    objects: [
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" }, data: { v: "1" } },
    ],
    proposal: { agent: "0x0000000000000000000000000000000000000000", signature: "0x" },
    ...overrides,
  };
  return propose({ namespace: "default", name, spec }, agentKey, consortiumSafe);
}

async function propose(
  m: { namespace: string; name: string; spec: ConsortiumManifestSpec },
  agentKey?: Hex,
  consortiumSafe: Address = testChain.chain.safes.consortium,
) {
  const key = agentKey ?? testChain.chain.keys.agents.alpha;
  const canonical = canonicalManifest(
    {
      federation: FEDERATION,
      chainId: testChain.chain.chainId,
      consortiumSafe,
    },
    m,
    m.spec,
  );
  const signature = await signProposal(key, manifestTypedData(canonical));
  const { privateKeyToAccount } = await import("viem/accounts");
  const spec = { ...m.spec, proposal: { agent: privateKeyToAccount(key).address, signature } };
  return { ...m, spec, hashes: manifestHashes(canonical, testChain.chain.safes.daoBoard) };
}

type Manifest = Awaited<ReturnType<typeof manifest>>;

const dsp = (m: Manifest, region: Region, scheme: EoaScheme = "ecdsa") =>
  signAsDspOwner(
    testChain.chain.keys.dspOwners[region][0] as Hex,
    testChain.chain.safes.dsp[region],
    testChain.chain.chainId,
    m.hashes,
    scheme,
  ).then((data) => ({ safe: "consortium" as const, data }));

const board = (m: Manifest, scheme: EoaScheme = "ecdsa", owner = 0) =>
  signAsBoardOwner(testChain.chain.keys.boardOwners[owner] as Hex, m.hashes, scheme).then((data) => ({
    safe: "board" as const,
    data,
  }));

function verify(
  m: Manifest,
  options: { service?: string; applied?: AppliedVersion; federation?: FederationSpec } = {},
): Promise<VerificationReport> {
  return verifyManifest(
    {
      chain: reader(),
      service: options.service ? new SafeService(options.service, testChain.chain.chainId) : undefined,
      federationName: FEDERATION,
      federation: options.federation ?? federation,
      operatorNamespace: "dsc-system",
    },
    { namespace: m.namespace, name: m.name, spec: m.spec, applied: options.applied },
  );
}

const withSignatures = (
  m: Manifest,
  signatures: { safe: "consortium" | "board"; data: Hex }[],
): Manifest => ({
  ...m,
  spec: { ...m.spec, signatures },
});

describe("dsc verify, run as a signer runs it", () => {
  it("reads the files and the chain itself: exit 0 at the tier, 1 below it, each approval shown", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dsc-verify-"));
    try {
      const m = await manifest({ tier: "upgrade" });
      const fed = join(dir, "federation.yaml");
      writeFileSync(
        fed,
        stringify({
          apiVersion: API_VERSION,
          kind: "Federation",
          metadata: { name: FEDERATION },
          spec: federation,
        }),
      );
      const file = (signatures: { safe: "consortium" | "board"; data: Hex }[]) => {
        const path = join(dir, `${String(signatures.length)}.yaml`);
        writeFileSync(
          path,
          stringify({
            apiVersion: API_VERSION,
            kind: "ConsortiumManifest",
            metadata: { name: m.name, namespace: m.namespace },
            spec: { ...m.spec, signatures },
          }),
        );
        return path;
      };
      const dsc = async (path: string) => {
        try {
          const { stdout } = await promisify(execFile)(join(import.meta.dirname, "../../bin/dsc"), [
            "verify",
            path,
            "--federation",
            fed,
            "--rpc",
            rpcUrl,
          ]);
          return { code: 0, stdout };
        } catch (error) {
          const e = error as { code: number; stdout: string };
          return { code: e.code, stdout: e.stdout };
        }
      };
      const one = await dsc(file([await dsp(m, "alpha")]));
      expect(one.code).toBe(1);
      expect(one.stdout).toContain("1 of 2 DSP approvals for tier upgrade");
      const two = await dsc(file([await dsp(m, "alpha"), await dsp(m, "beta")]));
      expect(two.code).toBe(0);
      expect(two.stdout.match(/^\s+counts /gmu)).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("each tier, at the edge of its threshold", () => {
  it("operational: 0 of 1 refused, 1 of 1 accepted", async () => {
    const m = await manifest({ tier: "operational" });
    const none = await verify(m);
    expect(none.decision).toMatchObject({ verified: false, reason: "InsufficientApprovals", summary: "0/1" });
    const one = await verify(withSignatures(m, [await dsp(m, "gamma")]));
    expect(one.decision).toMatchObject({ verified: true, summary: "1/1" });
  });

  it("upgrade: 1 of 2 refused with a message that says so, 2 of 2 accepted", async () => {
    const m = await manifest({ tier: "upgrade" });
    const one = await verify(withSignatures(m, [await dsp(m, "alpha")]));
    expect(one.decision.verified).toBe(false);
    expect(one.decision.message).toBe("1 of 2 DSP approvals for tier upgrade (owners at this block: 3)");
    const two = await verify(withSignatures(m, [await dsp(m, "alpha"), await dsp(m, "beta")]));
    expect(two.decision).toMatchObject({ verified: true, summary: "2/2" });
  });

  it("critical: 3 DSPs without the Board, or 2 DSPs with it, refused; 3 + 1 accepted", async () => {
    const m = await manifest({ tier: "critical" });
    const [a, b, c, bo] = await Promise.all([dsp(m, "alpha"), dsp(m, "beta"), dsp(m, "gamma"), board(m)]);
    expect((await verify(withSignatures(m, [a, b, c]))).decision).toMatchObject({
      verified: false,
      summary: "3/3+0/1",
    });
    expect((await verify(withSignatures(m, [a, b, bo]))).decision).toMatchObject({
      verified: false,
      summary: "2/3+1/1",
    });
    expect((await verify(withSignatures(m, [a, b, c, bo]))).decision).toMatchObject({
      verified: true,
      summary: "3/3+1/1",
    });
  });
});

describe("the four signature kinds, and where approvals come from", () => {
  it("counts nested contract signatures (inner ECDSA and eth_sign), approved hashes and on-chain signed messages", async () => {
    const m = await manifest({ tier: "critical" });
    const { chain } = testChain;
    // gamma approves on chain through its own Safe: approveHash on the Consortium Safe.
    await approveHashFrom(chain, chain.safes.consortium, m.hashes.consortiumMessageHash, ["gamma"]);
    // beta signs the message on chain (SignMessageLib), so its EIP-1271 check passes with no data.
    await signMessageOnChain(chain, "beta", m.hashes.consortiumMessageHash);
    const report = await verify(
      withSignatures(m, [await dsp(m, "alpha", "eth_sign"), await board(m, "ecdsa")]),
    );
    expect(report.decision).toMatchObject({ verified: true, summary: "3/3+1/1" });
    const kinds = report.verdicts.filter((v) => v.valid).map((v) => [v.safe, v.kind, v.source, v.signer]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ["consortium", "contract", "inline", chain.safes.dsp.alpha],
        ["consortium", "approved_hash", "chain", chain.safes.dsp.gamma],
        ["consortium", "contract", "chain", chain.safes.dsp.beta],
        ["board", "ecdsa", "inline", expect.any(String)],
      ]),
    );
  });

  it("counts Board approvals by eth_sign and by an owner's approved hash", async () => {
    const m = await manifest({ tier: "critical" });
    const { chain } = testChain;
    const [a, b, c] = await Promise.all([dsp(m, "alpha"), dsp(m, "beta"), dsp(m, "gamma")]);
    const viaEthSign = await verify(withSignatures(m, [a, b, c, await board(m, "eth_sign", 1)]));
    expect(viaEthSign.verdicts.find((v) => v.safe === "board")).toMatchObject({
      kind: "eth_sign",
      valid: true,
    });
    expect(viaEthSign.decision.verified).toBe(true);

    const m2 = await manifest({ tier: "critical" });
    const [a2, b2, c2] = await Promise.all([dsp(m2, "alpha"), dsp(m2, "beta"), dsp(m2, "gamma")]);
    const { createPublicClient, createWalletClient, http } = await import("viem");
    const { privateKeyToAccount } = await import("viem/accounts");
    const owner = createWalletClient({
      account: privateKeyToAccount(chain.keys.boardOwners[0] as Hex),
      transport: http(chain.rpcUrl),
    });
    const tx = await owner.writeContract({
      address: chain.safes.daoBoard,
      abi: safeAbi,
      functionName: "approveHash",
      args: [m2.hashes.boardMessageHash],
      chain: null,
    });
    // Verified once the approval is in a block (the send returns before that, now and then).
    await createPublicClient({ transport: http(chain.rpcUrl) }).waitForTransactionReceipt({ hash: tx });
    const viaApproval = await verify(withSignatures(m2, [a2, b2, c2]));
    expect(viaApproval.verdicts.find((v) => v.safe === "board")).toMatchObject({
      kind: "approved_hash",
      source: "chain",
      valid: true,
    });
    expect(viaApproval.decision.verified).toBe(true);
  });

  it("takes approvals from the Safe Transaction Service through api-kit, and re-verifies them", async () => {
    const m = await manifest({ tier: "upgrade" });
    const kit = new SafeApiKit({ chainId: BigInt(testChain.chain.chainId), txServiceUrl: service.url });
    const typed = JSON.parse(
      JSON.stringify(
        manifestTypedData(
          canonicalManifest(
            {
              federation: FEDERATION,
              chainId: testChain.chain.chainId,
              consortiumSafe: testChain.chain.safes.consortium,
            },
            m,
            m.spec,
          ),
        ),
        (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v),
      ),
    ) as never;
    await kit.addMessage(testChain.chain.safes.consortium, {
      message: typed,
      signature: (await dsp(m, "alpha")).data,
    });
    await kit.addMessageSignature(m.hashes.consortiumMessageHash, (await dsp(m, "gamma")).data);
    const report = await verify(m, { service: service.url });
    expect(report.decision).toMatchObject({ verified: true, summary: "2/2" });
    expect(report.verdicts.filter((v) => v.source === "safe-service" && v.valid)).toHaveLength(2);
  });

  it("loses only that source when the Safe Transaction Service is down", async () => {
    const m = await manifest({ tier: "operational" });
    const report = await verify(withSignatures(m, [await dsp(m, "beta")]), {
      service: "http://127.0.0.1:9/api",
    });
    expect(report.serviceError).toMatch(/Safe Transaction Service unavailable/);
    expect(report.decision.verified).toBe(true);
  });
});

describe("what must never pass", () => {
  it("a manifest tampered with after approval", async () => {
    const m = await manifest({ tier: "upgrade" });
    const sigs = [await dsp(m, "alpha"), await dsp(m, "beta")];
    const tampered = withSignatures(
      { ...m, spec: { ...m.spec, objects: [{ ...m.spec.objects[0], data: { v: "evil" } }] } },
      sigs,
    );
    const report = await verify(tampered);
    expect(report.decision.verified).toBe(false);
    expect(report.verdicts.every((v) => !v.valid)).toBe(true);
    // The DSP Safe's own check finds the inner signer is none of its owners for this hash.
    expect(report.verdicts[0]?.reason).toMatch(/GS026/);
  });

  it("an approval replayed onto another nonce, tier, federation or manifest", async () => {
    const m = await manifest({ tier: "upgrade", nonce: 3 });
    const sigs = [await dsp(m, "alpha"), await dsp(m, "beta")];
    expect((await verify(withSignatures(m, sigs))).decision.verified).toBe(true);
    const replays = [
      await propose({ ...m, spec: { ...m.spec, nonce: 4 } }),
      await propose({ ...m, spec: { ...m.spec, tier: "operational" } }),
      await propose({ ...m, name: `${m.name}-copy` }),
    ];
    for (const replay of replays) {
      expect((await verify(withSignatures(replay, sigs))).decision.verified).toBe(false);
    }
    const otherFederation = await verifyManifest(
      {
        chain: reader(),
        service: undefined,
        federationName: "dsc-staging",
        federation,
        operatorNamespace: "dsc-system",
      },
      { ...withSignatures(m, sigs), applied: undefined },
    );
    expect(otherFederation.decision.verified).toBe(false);
  });

  it("a lower nonce than the one applied, and an expired approval", async () => {
    const m = await manifest({ tier: "operational", nonce: 2 });
    const signed = withSignatures(m, [await dsp(m, "alpha")]);
    expect(
      (await verify(signed, { applied: { nonce: 5, digest: `0x${"ab".repeat(32)}`, tier: "operational" } }))
        .decision.reason,
    ).toBe("NonceRegression");
  });

  it("an approval expired by the chain's clock, whatever the pod's clock says", async () => {
    const rpc = createTestClient({ mode: "anvil", transport: http(testChain.chain.rpcUrl) });
    const head = await createPublicClient({ transport: http(testChain.chain.rpcUrl) }).getBlock();
    const expiresAt = new Date((Number(head.timestamp) + 600) * 1000).toISOString();
    const m = await manifest({ tier: "operational", expiresAt });
    const signed = withSignatures(m, [await dsp(m, "alpha")]);
    expect((await verify(signed)).decision.verified).toBe(true);
    // Eleven minutes pass on chain, not here: the approval has expired.
    await rpc.increaseTime({ seconds: 660 });
    await rpc.mine({ blocks: 1 });
    const report = await verify(signed);
    expect(report.decision.reason).toBe("Expired");
    expect(Date.now()).toBeLessThan(Date.parse(expiresAt));
  });

  it("a proposal by an address holding no agent token", async () => {
    const m = await manifest({ tier: "operational" }, testChain.chain.keys.guardian);
    const report = await verify(withSignatures(m, [await dsp(m, "alpha")]));
    expect(report.decision.reason).toBe("InvalidProposer");
    expect(report.decision.message).toMatch(/holds no agent token/);
  });
});

describe("a Safe the verifier does not understand", () => {
  /** A contract signature naming `owner` with no data: no key made it, and a Safe 1.5.0 refuses it. */
  const forged = (owner: Address) => ({
    safe: "consortium" as const,
    data: encodeSingle({ kind: "contract", r: padHex(owner, { size: 32 }), s: "0x", v: 0, data: "0x" }),
  });

  it("refuses a Consortium Safe 1.4.1 with no fallback handler, where any signature 'succeeds', naming its version", async () => {
    const { chain } = testChain;
    const dsps = [chain.safes.dsp.alpha, chain.safes.dsp.beta, chain.safes.dsp.gamma];
    const legacy = await deployLegacySafe(chain, dsps, 2);
    const onLegacy = { ...federation, consortiumSafe: legacy };
    const m = await manifest({ tier: "upgrade" }, undefined, legacy);
    const report = await verify(
      withSignatures(m, [forged(chain.safes.dsp.beta), forged(chain.safes.dsp.gamma)]),
      {
        federation: onLegacy,
      },
    );
    expect(report.decision).toMatchObject({ verified: false, reason: "UnsupportedSafe" });
    expect(report.decision.message).toContain(`the Consortium Safe ${legacy}`);
    expect(report.decision.message).toContain('is Safe "1.4.1"; this operator verifies only Safe 1.5.0');
    expect(report.verdicts.filter((v) => v.valid)).toEqual([]);

    // The same forgeries on the federation's Safe 1.5.0: the Safe itself refuses each one.
    const real = await manifest({ tier: "upgrade" });
    const onReal = await verify(
      withSignatures(real, [forged(chain.safes.dsp.beta), forged(chain.safes.dsp.gamma)]),
    );
    expect(onReal.decision.reason).toBe("InsufficientApprovals");
    expect(onReal.verdicts.map((v) => v.valid)).toEqual([false, false]);
  });
});

describe("the chain is the judge, at the block it is read", () => {
  it("stops counting a DSP the DAO rotates out, for manifests not yet applied", async () => {
    const m = await manifest({ tier: "upgrade" });
    const signed = withSignatures(m, [await dsp(m, "alpha"), await dsp(m, "gamma")]);
    expect((await verify(signed)).decision.verified).toBe(true);
    const { chain } = testChain;
    await rotateDsp(chain, chain.safes.dsp.gamma, getAddress("0x000000000000000000000000000000000000dEaD"));
    const after = await verify(signed);
    expect(after.decision.verified).toBe(false);
    expect(after.decision.message).toMatch(/1 of 2 DSP approvals/);
    expect(after.verdicts.find((v) => v.signer === chain.safes.dsp.gamma)?.reason).toMatch(/not an owner/);
  });

  it("refuses a proposal from an agent the DAO revoked", async () => {
    const { chain } = testChain;
    const m = await manifest({ tier: "operational" }, chain.keys.agents.beta);
    const signed = withSignatures(m, [await dsp(m, "alpha")]);
    expect((await verify(signed)).decision.verified).toBe(true);
    const agent = m.spec.proposal.agent;
    const { createPublicClient, http } = await import("viem");
    const client = createPublicClient({ transport: http(chain.rpcUrl) });
    const [tokenId] = await client.readContract({
      address: chain.federation.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "agentOf",
      args: [agent],
    });
    const revoke = encodeFunctionData({ abi: agentRegistryAbi, functionName: "revoke", args: [tokenId] });
    await execFromSafe(
      chain,
      chain.safes.daoBoard,
      { to: chain.federation.agentRegistry, data: revoke },
      chain.keys.boardOwners.slice(0, 1),
    );
    const after = await verify(signed);
    expect(after.decision.reason).toBe("InvalidProposer");
  });

  it("fails closed while the chain cannot be read, and recovers when it can", async () => {
    const m = await manifest({ tier: "operational" });
    const signed = withSignatures(m, [await dsp(m, "alpha")]);
    proxy.cut();
    try {
      await expect(verify(signed)).rejects.toBeInstanceOf(ChainUnavailableError);
    } finally {
      proxy.restore();
    }
    // The operator retries with backoff; the first request after an outage may
    // still meet a connection that died with it.
    let report: VerificationReport | undefined;
    for (let attempt = 0; attempt < 5 && !report; attempt++) {
      report = await verify(signed).catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    expect(report?.decision.verified).toBe(true);
  });
});
