// The two contracts on a real EVM (anvil) with the federation's real Safes.
// Each test starts from the same snapshot: contracts deployed, one agent per
// region, one guardian, both contracts owned by the DAO Board Safe. Owner-only
// calls impersonate the Board Safe, except one that goes through a real Safe
// transaction signed by a board owner.
import SafeDefault from "@safe-global/protocol-kit";
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createTestClient,
  createWalletClient,
  encodeFunctionData,
  http,
  keccak256,
  parseEther,
  parseEventLogs,
  stringToHex,
  zeroAddress,
  type Address,
  type Chain,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CHAIN_ID,
  contractNetworks,
  federationSetup,
  startTestChain,
  type ChainInfo,
  type TestChain,
} from "../e2e/testbed/chain.ts";
import { REGIONS } from "../e2e/testbed/layout.ts";
import { agentRegistryAbi } from "../operator/chain/abi/agent-registry.ts";
import { guardianPauseAbi } from "../operator/chain/abi/guardian-pause.ts";
import { deployFederationContracts, deployLogAnchor, type FederationContracts } from "./deploy.ts";
import { logAnchorAbi } from "../operator/chain/abi/log-anchor.ts";
import { guardianWriter } from "../operator/chain/writers.ts";

// protocol-kit's declarations type its default export as CommonJS (the module
// object), but Node loads its ESM build, whose default export is the class.
const Safe = "default" in SafeDefault ? SafeDefault.default : SafeDefault;

const ERC5192_ID = "0xb45a3c0e";
const ERC721_ID = "0x80ac58cd";
const ERC165_ID = "0x01ffc9a7";

let testChain: TestChain | undefined;
let rpcUrl: string;
let chain: ChainInfo;
let deployed: FederationContracts;
let snapshot: Hex;

const clientChain = (): Chain => ({
  ...foundry,
  id: CHAIN_ID,
  rpcUrls: { default: { http: [rpcUrl] } },
});
const transport = () => http(rpcUrl, { retryCount: 0 });
const publicClient = () =>
  createPublicClient({ chain: clientChain(), transport: transport(), pollingInterval: 50 });
const testClient = () => createTestClient({ mode: "anvil", chain: clientChain(), transport: transport() });
const walletOf = (key: Hex) =>
  createWalletClient({ chain: clientChain(), transport: transport(), account: privateKeyToAccount(key) });
/** The DAO Board Safe sending directly, as anvil lets an impersonated contract do. */
const board = () =>
  createWalletClient({ chain: clientChain(), transport: transport(), account: chain.safes.daoBoard });
const addressOf = (key: Hex): Address => privateKeyToAccount(key).address;
const registry = () => ({ address: deployed.agentRegistry, abi: agentRegistryAbi }) as const;
const pauser = () => ({ address: deployed.guardianPause, abi: guardianPauseAbi }) as const;
const agent = (region: (typeof REGIONS)[number]): Address => addressOf(chain.keys.agents[region]);
const boardOwner = (): Hex => chain.keys.boardOwners[0] ?? zeroAddress;
const stranger: Address = "0x000000000000000000000000000000000000dEaD";
const evidence = (text: string): Hex => keccak256(stringToHex(text));

async function mined(hash: Promise<Hex>): Promise<TransactionReceipt> {
  const receipt = await publicClient().waitForTransactionReceipt({ hash: await hash });
  expect(receipt.status).toBe("success");
  return receipt;
}

/** The custom error a call reverts with; fails the test if it does not revert. */
async function revertOf(call: Promise<unknown>): Promise<{ errorName: string; args: readonly unknown[] }> {
  try {
    await call;
  } catch (err) {
    const revert =
      err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : null;
    if (!(revert instanceof ContractFunctionRevertedError)) throw err;
    return {
      errorName: revert.data?.errorName ?? `reason: ${String(revert.reason)}`,
      args: revert.data?.args ?? [],
    };
  }
  throw new Error("the call succeeded but should have reverted");
}

beforeAll(async () => {
  testChain = await startTestChain("contracts");
  ({ rpcUrl, info: chain } = testChain);
  deployed = await deployFederationContracts(rpcUrl, federationSetup(chain));
  await testClient().impersonateAccount({ address: chain.safes.daoBoard });
  await testClient().setBalance({ address: chain.safes.daoBoard, value: parseEther("10") });
  // Longer than startTestChain's two bounded attempts, so a stuck start fails naming its step.
}, 150_000);

beforeEach(async () => {
  snapshot = await testClient().snapshot();
});

afterEach(async () => {
  await testClient().revert({ id: snapshot });
});

afterAll(async () => {
  await testChain?.stop();
});

describe("AgentRegistry", () => {
  async function tokenOf(address: Address): Promise<bigint> {
    const [tokenId] = await publicClient().readContract({
      ...registry(),
      functionName: "agentOf",
      args: [address],
    });
    return tokenId;
  }

  it("binds each region's agent to its DSP Safe and belongs to the DAO Board Safe", async () => {
    const client = publicClient();
    for (const region of REGIONS) {
      const [tokenId, dsp] = await client.readContract({
        ...registry(),
        functionName: "agentOf",
        args: [agent(region)],
      });
      expect(dsp).toBe(chain.safes.dsp[region]);
      expect(await client.readContract({ ...registry(), functionName: "ownerOf", args: [tokenId] })).toBe(
        agent(region),
      );
      expect(await client.readContract({ ...registry(), functionName: "dspOf", args: [tokenId] })).toBe(dsp);
      expect(await client.readContract({ ...registry(), functionName: "dspAgent", args: [dsp] })).toBe(
        agent(region),
      );
    }
    expect(await client.readContract({ ...registry(), functionName: "owner" })).toBe(chain.safes.daoBoard);
    expect(await client.readContract({ ...pauser(), functionName: "owner" })).toBe(chain.safes.daoBoard);
  });

  it("answers (0, zero address) for an address that holds no agent token", async () => {
    const client = publicClient();
    expect(await client.readContract({ ...registry(), functionName: "agentOf", args: [stranger] })).toEqual([
      0n,
      zeroAddress,
    ]);
    expect(await client.readContract({ ...registry(), functionName: "dspAgent", args: [stranger] })).toBe(
      zeroAddress,
    );
  });

  it("is soulbound: neither the agent nor the owner can move or approve a token", async () => {
    const holder = agent("alpha");
    const tokenId = await tokenOf(holder);
    const client = publicClient();
    const asAgent = { ...registry(), account: holder } as const;
    const soulbound = { errorName: "Soulbound", args: [tokenId] };
    expect(
      await revertOf(
        client.simulateContract({
          ...asAgent,
          functionName: "transferFrom",
          args: [holder, stranger, tokenId],
        }),
      ),
    ).toEqual(soulbound);
    expect(
      await revertOf(
        client.simulateContract({
          ...asAgent,
          functionName: "safeTransferFrom",
          args: [holder, stranger, tokenId],
        }),
      ),
    ).toEqual(soulbound);
    expect(
      await revertOf(
        client.simulateContract({
          ...asAgent,
          functionName: "safeTransferFrom",
          args: [holder, stranger, tokenId, "0x"],
        }),
      ),
    ).toEqual(soulbound);
    expect(
      await revertOf(
        client.simulateContract({
          ...registry(),
          account: chain.safes.daoBoard,
          functionName: "transferFrom",
          args: [holder, stranger, tokenId],
        }),
      ),
    ).toEqual(soulbound);
    expect(
      await revertOf(
        client.simulateContract({ ...asAgent, functionName: "approve", args: [stranger, tokenId] }),
      ),
    ).toMatchObject({ errorName: "ApprovalsDisabled" });
    expect(
      await revertOf(
        client.simulateContract({ ...asAgent, functionName: "setApprovalForAll", args: [stranger, true] }),
      ),
    ).toMatchObject({ errorName: "ApprovalsDisabled" });
    expect(await client.readContract({ ...registry(), functionName: "ownerOf", args: [tokenId] })).toBe(
      holder,
    );
  });

  it("reports ERC-5192: locked tokens, the interface id, and Locked at mint", async () => {
    const client = publicClient();
    const tokenId = await tokenOf(agent("beta"));
    expect(await client.readContract({ ...registry(), functionName: "locked", args: [tokenId] })).toBe(true);
    expect(
      await revertOf(client.readContract({ ...registry(), functionName: "locked", args: [999n] })),
    ).toEqual({
      errorName: "ERC721NonexistentToken",
      args: [999n],
    });
    for (const [id, supported] of [
      [ERC5192_ID, true],
      [ERC721_ID, true],
      [ERC165_ID, true],
      ["0xffffffff", false],
    ] as const) {
      expect(
        await client.readContract({ ...registry(), functionName: "supportsInterface", args: [id] }),
      ).toBe(supported);
    }

    const newDsp: Address = "0x00000000000000000000000000000000000D5900";
    const receipt = await mined(
      board().writeContract({ ...registry(), functionName: "mint", args: [stranger, newDsp] }),
    );
    const events = parseEventLogs({ abi: agentRegistryAbi, logs: receipt.logs });
    const minted = await tokenOf(stranger);
    expect(events.map((e) => e.eventName)).toEqual(["Transfer", "Locked", "Bound"]);
    expect(events[1]?.args).toEqual({ tokenId: minted });
    expect(events[2]?.args).toEqual({ tokenId: minted, agent: stranger, dsp: newDsp });
  });

  it("allows one live agent per DSP and one token per agent", async () => {
    const client = publicClient();
    const asBoard = { ...registry(), account: chain.safes.daoBoard, functionName: "mint" } as const;
    expect(
      await revertOf(client.simulateContract({ ...asBoard, args: [stranger, chain.safes.dsp.alpha] })),
    ).toEqual({
      errorName: "DspAlreadyHasAgent",
      args: [chain.safes.dsp.alpha, agent("alpha")],
    });
    expect(
      await revertOf(
        client.simulateContract({
          ...asBoard,
          args: [agent("alpha"), "0x00000000000000000000000000000000000D5901"],
        }),
      ),
    ).toEqual({ errorName: "AgentAlreadyBound", args: [agent("alpha"), await tokenOf(agent("alpha"))] });
    expect(
      await revertOf(client.simulateContract({ ...asBoard, args: [zeroAddress, stranger] })),
    ).toMatchObject({
      errorName: "ZeroAddress",
    });
  });

  it("revoke burns the token, forgets the binding, and frees the DSP for a new agent", async () => {
    const client = publicClient();
    const tokenId = await tokenOf(agent("gamma"));
    const receipt = await mined(
      board().writeContract({ ...registry(), functionName: "revoke", args: [tokenId] }),
    );
    const revoked = parseEventLogs({ abi: agentRegistryAbi, logs: receipt.logs, eventName: "Revoked" });
    expect(revoked.map((e) => e.args)).toEqual([
      { tokenId, agent: agent("gamma"), dsp: chain.safes.dsp.gamma },
    ]);

    expect(
      await client.readContract({ ...registry(), functionName: "agentOf", args: [agent("gamma")] }),
    ).toEqual([0n, zeroAddress]);
    expect(
      await client.readContract({ ...registry(), functionName: "dspAgent", args: [chain.safes.dsp.gamma] }),
    ).toBe(zeroAddress);
    expect(
      await client.readContract({ ...registry(), functionName: "balanceOf", args: [agent("gamma")] }),
    ).toBe(0n);
    for (const functionName of ["ownerOf", "dspOf", "locked"] as const) {
      expect(
        await revertOf(client.readContract({ ...registry(), functionName, args: [tokenId] })),
      ).toMatchObject({
        errorName: "ERC721NonexistentToken",
      });
    }

    await mined(
      board().writeContract({ ...registry(), functionName: "mint", args: [stranger, chain.safes.dsp.gamma] }),
    );
    expect(
      await client.readContract({ ...registry(), functionName: "dspAgent", args: [chain.safes.dsp.gamma] }),
    ).toBe(stranger);
    expect(await tokenOf(stranger)).not.toBe(tokenId);
  });

  it("lets nobody but its owner mint, revoke or give up ownership", async () => {
    const client = publicClient();
    const tokenId = await tokenOf(agent("alpha"));
    const outsiders = [addressOf(chain.keys.deployer), agent("alpha"), addressOf(boardOwner())];
    for (const account of outsiders) {
      const unauthorized = { errorName: "OwnableUnauthorizedAccount", args: [account] };
      expect(
        await revertOf(
          client.simulateContract({
            ...registry(),
            account,
            functionName: "mint",
            args: [stranger, stranger],
          }),
        ),
      ).toEqual(unauthorized);
      expect(
        await revertOf(
          client.simulateContract({ ...registry(), account, functionName: "revoke", args: [tokenId] }),
        ),
      ).toEqual(unauthorized);
    }
    expect(
      await revertOf(
        client.simulateContract({
          ...registry(),
          account: chain.safes.daoBoard,
          functionName: "renounceOwnership",
        }),
      ),
    ).toMatchObject({ errorName: "RenounceDisabled" });
  });

  it("revokes an agent through a real DAO Board Safe transaction", async () => {
    const client = publicClient();
    const tokenId = await tokenOf(agent("beta"));
    const safe = await Safe.init({
      provider: rpcUrl,
      signer: boardOwner(),
      safeAddress: chain.safes.daoBoard,
      contractNetworks: contractNetworks(chain),
    });
    const data = encodeFunctionData({ abi: agentRegistryAbi, functionName: "revoke", args: [tokenId] });
    const tx = await safe.createTransaction({
      transactions: [{ to: deployed.agentRegistry, value: "0", data }],
    });
    const signed = await safe.signTransaction(tx);
    const { hash } = await safe.executeTransaction(signed);
    const receipt = await mined(Promise.resolve(hash as Hex));

    const revoked = parseEventLogs({ abi: agentRegistryAbi, logs: receipt.logs, eventName: "Revoked" });
    expect(revoked.map((e) => [e.address, e.args.tokenId])).toEqual([
      [deployed.agentRegistry.toLowerCase(), tokenId],
    ]);
    expect(
      await client.readContract({ ...registry(), functionName: "agentOf", args: [agent("beta")] }),
    ).toEqual([0n, zeroAddress]);
  });
});

describe("GuardianPause", () => {
  const guardian = () => walletOf(chain.keys.guardian);
  const readPause = async () => {
    const client = publicClient();
    const [paused, [guardianAddress, evidenceHash, at, id]] = await Promise.all([
      client.readContract({ ...pauser(), functionName: "paused" }),
      client.readContract({ ...pauser(), functionName: "lastPause" }),
    ]);
    return { paused, guardian: guardianAddress, evidence: evidenceHash, at, id };
  };

  it("starts unpaused with the test bed's guardian registered", async () => {
    expect(await readPause()).toEqual({
      paused: false,
      guardian: zeroAddress,
      evidence: `0x${"0".repeat(64)}`,
      at: 0n,
      id: 0n,
    });
    const client = publicClient();
    expect(
      await client.readContract({
        ...pauser(),
        functionName: "isGuardian",
        args: [addressOf(chain.keys.guardian)],
      }),
    ).toBe(true);
  });

  it("records every pause the operator's guardian writer is asked for at once, each mined", async () => {
    const record = guardianWriter({
      rpcUrl,
      chainId: CHAIN_ID,
      contract: deployed.guardianPause,
      key: chain.keys.guardian,
    });
    const whys = [1, 2, 3, 4].map((i) => evidence(`pause ${String(i)} raised in the same moment`));
    // One key: sent together, each would take the same nonce and all but one be refused.
    const ids = await Promise.all(whys.map((why) => record(why)));
    expect([...ids].sort()).toEqual([1n, 2n, 3n, 4n]);
  });

  it("pauses at a guardian's word and records who, why and when", async () => {
    const why = evidence("alpha deployed an unapproved image");
    const receipt = await mined(
      guardian().writeContract({ ...pauser(), functionName: "pause", args: [why] }),
    );
    const block = await publicClient().getBlock({ blockNumber: receipt.blockNumber });
    const guardianAddress = addressOf(chain.keys.guardian);
    expect(await readPause()).toEqual({
      paused: true,
      guardian: guardianAddress,
      evidence: why,
      at: block.timestamp,
      id: 1n,
    });
    const events = parseEventLogs({ abi: guardianPauseAbi, logs: receipt.logs, eventName: "Paused" });
    expect(events.map((e) => e.args)).toEqual([
      { guardian: guardianAddress, evidenceHash: why, pauseId: 1n },
    ]);
  });

  it("refuses a pause from anyone who is not a guardian, or without evidence", async () => {
    const client = publicClient();
    const why = evidence("a rumour");
    for (const account of [agent("alpha"), addressOf(chain.keys.deployer), chain.safes.daoBoard]) {
      expect(
        await revertOf(client.simulateContract({ ...pauser(), account, functionName: "pause", args: [why] })),
      ).toEqual({
        errorName: "NotGuardian",
        args: [account],
      });
    }
    const guardianAddress = addressOf(chain.keys.guardian);
    expect(
      await revertOf(
        client.simulateContract({
          ...pauser(),
          account: guardianAddress,
          functionName: "pause",
          args: [`0x${"0".repeat(64)}`],
        }),
      ),
    ).toMatchObject({ errorName: "EvidenceRequired" });

    const removal = await mined(
      board().writeContract({ ...pauser(), functionName: "setGuardian", args: [guardianAddress, false] }),
    );
    expect(
      parseEventLogs({ abi: guardianPauseAbi, logs: removal.logs, eventName: "GuardianSet" }).map(
        (e) => e.args,
      ),
    ).toEqual([{ guardian: guardianAddress, enabled: false }]);
    expect(
      await revertOf(
        client.simulateContract({
          ...pauser(),
          account: guardianAddress,
          functionName: "pause",
          args: [why],
        }),
      ),
    ).toMatchObject({ errorName: "NotGuardian" });
    expect((await readPause()).paused).toBe(false);
  });

  it("keeps every pause: a pause while paused gets the next id and its own evidence", async () => {
    const first = evidence("first breach");
    const second = evidence("second breach");
    await mined(guardian().writeContract({ ...pauser(), functionName: "pause", args: [first] }));
    const receipt = await mined(
      guardian().writeContract({ ...pauser(), functionName: "pause", args: [second] }),
    );
    expect(await readPause()).toMatchObject({ paused: true, evidence: second, id: 2n });
    const [firstGuardian, firstEvidence] = await publicClient().readContract({
      ...pauser(),
      functionName: "pauseById",
      args: [1n],
    });
    expect([firstGuardian, firstEvidence]).toEqual([addressOf(chain.keys.guardian), first]);
    expect(
      parseEventLogs({ abi: guardianPauseAbi, logs: receipt.logs, eventName: "Paused" })[0]?.args.pauseId,
    ).toBe(2n);
  });

  it("is lifted only by the DAO Board Safe, and only for the latest pause", async () => {
    const client = publicClient();
    await mined(guardian().writeContract({ ...pauser(), functionName: "pause", args: [evidence("one")] }));
    await mined(guardian().writeContract({ ...pauser(), functionName: "pause", args: [evidence("two")] }));
    const outsiders = [
      addressOf(chain.keys.guardian),
      addressOf(chain.keys.deployer),
      addressOf(boardOwner()),
    ];
    for (const account of outsiders) {
      expect(
        await revertOf(
          client.simulateContract({ ...pauser(), account, functionName: "unpause", args: [2n] }),
        ),
      ).toEqual({
        errorName: "OwnableUnauthorizedAccount",
        args: [account],
      });
      expect(
        await revertOf(
          client.simulateContract({
            ...pauser(),
            account,
            functionName: "setGuardian",
            args: [account, true],
          }),
        ),
      ).toMatchObject({ errorName: "OwnableUnauthorizedAccount" });
    }
    expect(
      await revertOf(
        client.simulateContract({
          ...pauser(),
          account: chain.safes.daoBoard,
          functionName: "unpause",
          args: [1n],
        }),
      ),
    ).toEqual({ errorName: "StalePause", args: [1n, 2n] });

    const receipt = await mined(board().writeContract({ ...pauser(), functionName: "unpause", args: [2n] }));
    expect(
      parseEventLogs({ abi: guardianPauseAbi, logs: receipt.logs, eventName: "Unpaused" }).map((e) => e.args),
    ).toEqual([{ by: chain.safes.daoBoard, pauseId: 2n }]);
    expect(await readPause()).toMatchObject({ paused: false, evidence: evidence("two"), id: 2n });
    expect(
      await revertOf(
        client.simulateContract({
          ...pauser(),
          account: chain.safes.daoBoard,
          functionName: "unpause",
          args: [2n],
        }),
      ),
    ).toMatchObject({ errorName: "NotPaused" });
  });
});

describe("LogAnchor", () => {
  let anchor: Address;
  const logId = (region: string): Hex => keccak256(stringToHex(`dsc.federation.dev/dsc/${region}`));
  const key = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
  const root = (text: string): Hex => keccak256(stringToHex(text));
  const anchors = () => ({ address: anchor, abi: logAnchorAbi }) as const;
  /** The Consortium Safe sending directly, as anvil lets an impersonated contract do. */
  const consortium = () =>
    createWalletClient({ chain: clientChain(), transport: transport(), account: chain.safes.consortium });
  const alphaAnchorer = (): Hex => chain.keys.agents.alpha;
  // A set gas limit for the anchors the test judges: not an estimate made on a loaded machine.
  const ANCHOR_GAS = 200_000n;
  /** What anchoring `size`, `r` for `region`'s log from `account` would revert with. */
  const simulateAnchor = (account: Address, region: string, size: bigint, r: Hex) =>
    revertOf(
      publicClient().simulateContract({
        ...anchors(),
        account,
        functionName: "anchor",
        args: [logId(region), size, r],
      }),
    );

  beforeAll(async () => {
    anchor = await deployLogAnchor(rpcUrl, {
      deployerKey: chain.keys.deployer,
      owner: chain.safes.consortium,
    });
    await testClient().impersonateAccount({ address: chain.safes.consortium });
    await testClient().setBalance({ address: chain.safes.consortium, value: parseEther("10") });
  });

  it("takes a registered region's anchors in order, and refuses a smaller size or another root at the same size", async () => {
    const client = publicClient();
    await mined(
      consortium().writeContract({
        ...anchors(),
        functionName: "register",
        args: [logId("alpha"), key(1), addressOf(alphaAnchorer())],
      }),
    );
    const region = walletOf(alphaAnchorer());
    const first = await mined(
      region.writeContract({
        ...anchors(),
        functionName: "anchor",
        gas: ANCHOR_GAS,
        args: [logId("alpha"), 10n, root("ten")],
      }),
    );
    expect(
      parseEventLogs({ abi: logAnchorAbi, logs: first.logs, eventName: "Anchored" }).map((e) => e.args),
    ).toEqual([{ log: logId("alpha"), size: 10n, root: root("ten") }]);
    const second = await mined(
      region.writeContract({
        ...anchors(),
        functionName: "anchor",
        gas: ANCHOR_GAS,
        args: [logId("alpha"), 25n, root("twenty-five")],
      }),
    );
    console.log(
      `LogAnchor: gas of one anchor ${String(second.gasUsed)} (the first of a log: ${String(first.gasUsed)})`,
    );
    expect(second.gasUsed).toBeLessThan(60_000n);
    // The same checkpoint again changes nothing; a smaller one or another root at its size is refused.
    await mined(
      region.writeContract({
        ...anchors(),
        functionName: "anchor",
        gas: ANCHOR_GAS,
        args: [logId("alpha"), 25n, root("twenty-five")],
      }),
    );
    const simulate = (size: bigint, r: Hex) => simulateAnchor(addressOf(alphaAnchorer()), "alpha", size, r);
    expect(await simulate(24n, root("x"))).toEqual({
      errorName: "SmallerSize",
      args: [logId("alpha"), 25n, 24n],
    });
    expect(await simulate(25n, root("forged"))).toEqual({
      errorName: "RootMismatch",
      args: [logId("alpha"), 25n],
    });
    const [k, anchorer, size, anchored, at] = await client.readContract({
      ...anchors(),
      functionName: "latest",
      args: [logId("alpha")],
    });
    expect([k, anchorer, size, anchored]).toEqual([
      key(1),
      addressOf(alphaAnchorer()),
      25n,
      root("twenty-five"),
    ]);
    expect(at).toBeGreaterThan(0n);
  });

  it("takes anchors only from the account the Consortium Safe registered, and registrations only from the Safe", async () => {
    const client = publicClient();
    expect(await simulateAnchor(stranger, "beta", 1n, root("b"))).toEqual({
      errorName: "UnknownLog",
      args: [logId("beta")],
    });
    await mined(
      consortium().writeContract({
        ...anchors(),
        functionName: "register",
        args: [logId("beta"), key(2), addressOf(chain.keys.agents.beta)],
      }),
    );
    expect(await simulateAnchor(stranger, "beta", 1n, root("b"))).toEqual({
      errorName: "NotAnchorer",
      args: [logId("beta"), stranger],
    });
    expect(
      await revertOf(
        client.simulateContract({
          ...anchors(),
          account: chain.safes.daoBoard,
          functionName: "register",
          args: [logId("beta"), key(3), stranger],
        }),
      ),
    ).toMatchObject({ errorName: "OwnableUnauthorizedAccount" });
    // A rotation keeps what was anchored: the new account cannot roll the log back.
    await mined(
      walletOf(chain.keys.agents.beta).writeContract({
        ...anchors(),
        functionName: "anchor",
        args: [logId("beta"), 7n, root("seven")],
      }),
    );
    await mined(
      consortium().writeContract({
        ...anchors(),
        functionName: "register",
        args: [logId("beta"), key(4), stranger],
      }),
    );
    expect(await simulateAnchor(stranger, "beta", 3n, root("three"))).toEqual({
      errorName: "SmallerSize",
      args: [logId("beta"), 7n, 3n],
    });
    expect(
      await revertOf(
        client.simulateContract({
          ...anchors(),
          account: chain.safes.consortium,
          functionName: "renounceOwnership",
          args: [],
        }),
      ),
    ).toMatchObject({ errorName: "RenounceDisabled" });
  });
});
