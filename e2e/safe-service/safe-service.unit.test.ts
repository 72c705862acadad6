// The double against the real clients: api-kit talks to it over HTTP,
// protocol-kit signs with the federation's Safes on a fresh anvil chain.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { HttpError } from "@safe-global/api-kit";
import {
  buildContractSignature,
  buildSignatureBytes,
  generatePreValidatedSignature,
  hashSafeMessage,
} from "@safe-global/protocol-kit";
import {
  createPublicClient,
  createWalletClient,
  getAddress,
  http,
  parseAbi,
  zeroAddress,
  type Address,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  CHAIN_ID,
  contractNetworks,
  startTestChain,
  type ChainInfo,
  type TestChain,
} from "../testbed/chain.ts";
import { safeMessageHash, safeTxHash } from "./hashes.ts";
import { Safe, SafeApiKit } from "../../operator/safe/sdk.ts";
import { startSafeServiceDouble, type SafeServiceDouble } from "./server.ts";

// protocol-kit's SigningMethod values; the enum lives in @safe-global/types-kit,
// which is not a direct dependency.
const SAFE_SIGNATURE = "safe_sign";
const ETH_SIGN = "eth_sign";
const EIP1271_MAGIC_VALUE = "0x1626ba7e";

const SAFE_ABI = parseAbi([
  "function checkNSignatures(address executor, bytes32 dataHash, bytes signatures, uint256 requiredSignatures) view",
  "function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)",
  "function approveHash(bytes32 hashToApprove)",
  "function getTransactionHash(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, uint256 _nonce) view returns (bytes32)",
  "function getMessageHashForSafe(address safe, bytes message) view returns (bytes32)",
]);

/** The status and detail of a request the service must refuse. */
async function refusal(request: Promise<unknown>): Promise<{ status: number; detail: string }> {
  try {
    await request;
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    const { detail } = err.data as { detail?: unknown };
    return { status: err.statusCode, detail: String(detail) };
  }
  throw new Error("the service accepted a request it should have refused");
}

// Chain round trips and a spawned process: generous under a loaded machine.
vi.setConfig({ testTimeout: 30_000 });

let chain: TestChain | undefined;
let service: SafeServiceDouble | undefined;
let rpcUrl: string;
let info: ChainInfo;
let apiKit: SafeApiKit;
const publicClient = (): ReturnType<typeof createPublicClient> =>
  createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }), pollingInterval: 50 });

beforeAll(async () => {
  chain = await startTestChain("safe-service");
  ({ rpcUrl, info } = chain);
  service = await startSafeServiceDouble({ rpcUrl, chainId: CHAIN_ID });
  apiKit = new SafeApiKit({ chainId: BigInt(CHAIN_ID), txServiceUrl: service.url });
}, 120_000);

afterAll(async () => {
  await service?.close();
  await chain?.stop();
});

function kit(safeAddress: Address, signer?: Hex): Promise<Safe> {
  const networks = contractNetworks(info);
  return signer === undefined
    ? Safe.init({ provider: rpcUrl, safeAddress, contractNetworks: networks })
    : Safe.init({ provider: rpcUrl, signer, safeAddress, contractNetworks: networks });
}

const addressOf = (key: Hex): Address => privateKeyToAccount(key).address;
function boardOwner(i: number): Hex {
  const key = info.keys.boardOwners[i];
  if (key === undefined) throw new Error(`the DAO Board has no owner #${i}`);
  return key;
}
const uniqueText = (what: string): string => `${what} ${randomUUID()}`;

/** Safe 1.5.0's own verdict: does `signatures` hold `n` valid owner signatures of `hash`? */
function checkNSignatures(safe: Address, hash: Hex, signatures: Hex, n: number): Promise<void> {
  return publicClient().readContract({
    address: safe,
    abi: SAFE_ABI,
    functionName: "checkNSignatures",
    args: [zeroAddress, hash, signatures, BigInt(n)],
  });
}

/** A DSP Safe's EIP-1271 signature of `message` for the Consortium Safe, through protocol-kit's nested flow. */
async function dspSignature(region: "alpha" | "beta" | "gamma", message: string): Promise<Hex> {
  const dsp = info.safes.dsp[region];
  const dspKit = await kit(dsp, info.keys.dspOwners[region][0]);
  const signed = await dspKit.signMessage(
    dspKit.createMessage(message),
    SAFE_SIGNATURE,
    info.safes.consortium,
  );
  const contractSignature = await buildContractSignature([...signed.signatures.values()], dsp);
  return buildSignatureBytes([contractSignature]) as Hex;
}

async function messageHashOn(safe: Address, message: string): Promise<Hex> {
  return (await kit(safe)).getSafeMessageHash(hashSafeMessage(message)) as Promise<Hex>;
}

describe("hashes", () => {
  it("equal what Safe 1.5.0 and its fallback handler compute on chain", async () => {
    const safe = info.safes.daoBoard;
    const tx = {
      to: addressOf(info.keys.guardian),
      value: 5n,
      data: "0x1234" as Hex,
      operation: 1,
      safeTxGas: 6n,
      baseGas: 7n,
      gasPrice: 8n,
      gasToken: info.safes.consortium,
      refundReceiver: addressOf(boardOwner(1)),
      nonce: 9n,
    };
    const onChainTx = await publicClient().readContract({
      address: safe,
      abi: SAFE_ABI,
      functionName: "getTransactionHash",
      args: [
        tx.to,
        tx.value,
        tx.data,
        tx.operation,
        tx.safeTxGas,
        tx.baseGas,
        tx.gasPrice,
        tx.gasToken,
        tx.refundReceiver,
        tx.nonce,
      ],
    });
    expect(safeTxHash(CHAIN_ID, safe, tx)).toBe(onChainTx);

    const messageHash = hashSafeMessage("hello") as Hex;
    const onChainMessage = await publicClient().readContract({
      address: info.contracts.fallbackHandler,
      abi: SAFE_ABI,
      functionName: "getMessageHashForSafe",
      args: [safe, messageHash],
    });
    expect(safeMessageHash(CHAIN_ID, safe, messageHash)).toBe(onChainMessage);
  });
});

describe("Safe messages", () => {
  it("collects nested Safe signatures into one the Consortium Safe accepts on chain", async () => {
    const consortium = info.safes.consortium;
    const text = uniqueText("manifest");
    const hash = await messageHashOn(consortium, text);

    await apiKit.addMessage(consortium, { message: text, signature: await dspSignature("alpha", text) });
    await apiKit.addMessageSignature(hash, await dspSignature("beta", text));

    const stored = await apiKit.getMessage(hash);
    expect(stored.messageHash).toBe(hash);
    expect(stored.proposedBy).toBe(info.safes.dsp.alpha);
    expect(stored.confirmations.map((c) => [c.owner, c.signatureType])).toEqual([
      [info.safes.dsp.alpha, "CONTRACT_SIGNATURE"],
      [info.safes.dsp.beta, "CONTRACT_SIGNATURE"],
    ]);
    const prepared = stored.preparedSignature as Hex;
    await expect(checkNSignatures(consortium, hash, prepared, 2)).resolves.toBeUndefined();
    // The same blob through the Consortium Safe's EIP-1271 entry point, as a verifier would use it.
    const magic = await publicClient().readContract({
      address: consortium,
      abi: SAFE_ABI,
      functionName: "isValidSignature",
      args: [hashSafeMessage(text) as Hex, prepared],
    });
    expect(magic).toBe(EIP1271_MAGIC_VALUE);
    // One DSP's confirmation alone does not reach two.
    const alphaOnly = stored.confirmations[0]?.signature as Hex;
    await expect(checkNSignatures(consortium, hash, alphaOnly, 2)).rejects.toThrow();
  });

  it("stores an EOA-signed DAO Board message and lists it", async () => {
    const daoBoard = info.safes.daoBoard;
    const boardKit = await kit(daoBoard, boardOwner(0));
    const text = uniqueText("unpause");
    const signed = await boardKit.signMessage(boardKit.createMessage(text));
    const signature = signed.encodedSignatures() as Hex;
    await apiKit.addMessage(daoBoard, { message: text, signature });

    const hash = await messageHashOn(daoBoard, text);
    const stored = await apiKit.getMessage(hash);
    expect(stored.message).toBe(text);
    expect(stored.confirmations).toMatchObject([
      { owner: addressOf(boardOwner(0)), signatureType: "EOA", signature },
    ]);
    expect(stored.preparedSignature).toBe(signature);
    await expect(checkNSignatures(daoBoard, hash, signature, 1)).resolves.toBeUndefined();

    const listed = await apiKit.getMessages(daoBoard);
    expect(listed.results.map((m) => m.messageHash)).toContain(hash);
  });

  it("hashes EIP-712 messages itself and recognises eth_sign signatures", async () => {
    const daoBoard = info.safes.daoBoard;
    const typed = {
      domain: { name: "DSC", version: "1", chainId: CHAIN_ID },
      types: { Pause: [{ name: "evidence", type: "string" }] },
      primaryType: "Pause",
      message: { evidence: uniqueText("evidence") },
    };
    const boardKit = await kit(daoBoard, boardOwner(1));
    const signed = await boardKit.signMessage(boardKit.createMessage(typed), ETH_SIGN);
    await apiKit.addMessage(daoBoard, { message: typed, signature: signed.encodedSignatures() });

    const hash = (await boardKit.getSafeMessageHash(hashSafeMessage(typed))) as Hex;
    const stored = await apiKit.getMessage(hash);
    expect(stored.message).toEqual(typed);
    expect(stored.confirmations).toMatchObject([
      { owner: addressOf(boardOwner(1)), signatureType: "ETH_SIGN" },
    ]);
    await expect(
      checkNSignatures(daoBoard, hash, stored.preparedSignature as Hex, 1),
    ).resolves.toBeUndefined();
  });

  it("accepts an approved-hash signature only once the owner approved the hash on chain", async () => {
    const daoBoard = info.safes.daoBoard;
    const owner = privateKeyToAccount(boardOwner(0));
    const text = uniqueText("approved");
    const hash = await messageHashOn(daoBoard, text);
    const signature = generatePreValidatedSignature(owner.address).data;

    const early = await refusal(apiKit.addMessage(daoBoard, { message: text, signature }));
    expect(early.status).toBe(400);
    expect(early.detail).toMatch(/not approved/);

    const wallet = createWalletClient({ account: owner, chain: foundry, transport: http(rpcUrl) });
    const tx = await wallet.writeContract({
      address: daoBoard,
      abi: SAFE_ABI,
      functionName: "approveHash",
      args: [hash],
    });
    await publicClient().waitForTransactionReceipt({ hash: tx });

    await apiKit.addMessage(daoBoard, { message: text, signature });
    const stored = await apiKit.getMessage(hash);
    expect(stored.confirmations).toMatchObject([{ owner: owner.address, signatureType: "APPROVED_HASH" }]);
    await expect(
      checkNSignatures(daoBoard, hash, stored.preparedSignature as Hex, 1),
    ).resolves.toBeUndefined();
  });
});

describe("refusals", () => {
  const daoBoard = (): Address => info.safes.daoBoard;

  /** Proposes `signature` for a fresh message and expects a refusal that stores nothing. */
  async function refusedProposal(
    sign: (hash: Hex) => Promise<Hex>,
  ): Promise<{ status: number; detail: string }> {
    const text = uniqueText("refused");
    const hash = await messageHashOn(daoBoard(), text);
    const result = await refusal(
      apiKit.addMessage(daoBoard(), { message: text, signature: await sign(hash) }),
    );
    expect((await refusal(apiKit.getMessage(hash))).status).toBe(404);
    return result;
  }

  const rawSignature = (key: Hex, hash: Hex): Promise<Hex> => privateKeyToAccount(key).sign({ hash });

  it("refuses a signer who is not an owner", async () => {
    const { status, detail } = await refusedProposal((hash) => rawSignature(info.keys.guardian, hash));
    expect(status).toBe(400);
    expect(detail).toContain(`${addressOf(info.keys.guardian)} recovered from the signature is not an owner`);
  });

  it("refuses two signatures in one request", async () => {
    const { status, detail } = await refusedProposal(async (hash) => {
      const [a, b] = await Promise.all([
        rawSignature(boardOwner(0), hash),
        rawSignature(boardOwner(1), hash),
      ]);
      return `${a}${b.slice(2)}` as Hex;
    });
    expect(status).toBe(400);
    expect(detail).toBe("1 owner signature was expected, 2 received");
  });

  it("refuses a tampered ECDSA signature", async () => {
    const { status, detail } = await refusedProposal(async (hash) => {
      // A different s still recovers (r stays a valid curve point), but to someone else.
      const good = await rawSignature(boardOwner(0), hash);
      const lastOfS = 2 + 128 - 1;
      return `${good.slice(0, lastOfS)}${good[lastOfS] === "0" ? "1" : "0"}${good.slice(lastOfS + 1)}` as Hex;
    });
    expect(status).toBe(400);
    const named = /^Signer (0x[0-9a-fA-F]{40}) recovered from the signature is not an owner/.exec(
      detail,
    )?.[1];
    expect(named).toBeDefined();
    expect(named).not.toBe(addressOf(boardOwner(0)));
  });

  it("refuses a tampered nested Safe signature, naming the DSP Safe", async () => {
    const consortium = info.safes.consortium;
    const text = uniqueText("tampered");
    const good = await dspSignature("alpha", text);
    const tampered = `${good.slice(0, -4)}${good.endsWith("00") ? "11" : "00"}${good.slice(-2)}` as Hex;
    const { status, detail } = await refusal(
      apiKit.addMessage(consortium, { message: text, signature: tampered }),
    );
    expect(status).toBe(400);
    expect(detail).toContain(`for owner=${info.safes.dsp.alpha} is not valid`);
    expect((await refusal(apiKit.getMessage(await messageHashOn(consortium, text)))).status).toBe(404);
  });

  it("refuses a second confirmation by the same owner and a second proposal", async () => {
    const boardKit = await kit(daoBoard(), boardOwner(0));
    const text = uniqueText("duplicate");
    const signature = (await boardKit.signMessage(boardKit.createMessage(text))).encodedSignatures();
    await apiKit.addMessage(daoBoard(), { message: text, signature });
    const hash = await messageHashOn(daoBoard(), text);

    const again = await refusal(apiKit.addMessageSignature(hash, signature));
    expect(again).toEqual({
      status: 400,
      detail: `Signature for owner ${addressOf(boardOwner(0))} already exists`,
    });
    const otherKit = await kit(daoBoard(), boardOwner(1));
    const other = (await otherKit.signMessage(otherKit.createMessage(text))).encodedSignatures();
    const reproposed = await refusal(apiKit.addMessage(daoBoard(), { message: text, signature: other }));
    expect(reproposed.status).toBe(400);
    expect(reproposed.detail).toContain("already exists");
    expect((await apiKit.getMessage(hash)).confirmations).toHaveLength(1);
  });

  it("answers 404 for an unknown message hash", async () => {
    const unknown = `0x${"ab".repeat(32)}`;
    const read = await refusal(apiKit.getMessage(unknown));
    expect(read).toEqual({ status: 404, detail: `No Safe message with safeMessageHash=${unknown}` });
    const sign = await refusal(apiKit.addMessageSignature(unknown, `0x${"11".repeat(65)}`));
    expect(sign.status).toBe(404);
  });

  it("refuses malformed requests with a detail", async () => {
    const url = (path: string): string => `${service?.url ?? ""}${path}`;
    const post = async (path: string, body: string): Promise<string> => {
      const res = await fetch(url(path), {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
      const { detail } = (await res.json()) as { detail?: unknown };
      return `${res.status} ${String(detail)}`;
    };
    const safe = daoBoard();
    const messages = `/v1/safes/${safe}/messages/`;
    expect(await post(messages, "{not json")).toMatch(/^400 JSON parse error/);
    expect(await post(messages, JSON.stringify({ message: "m", signature: "0xzz" }))).toBe(
      '400 signature: "0xzz" is not valid hexadecimal bytes',
    );
    expect(await post(messages, JSON.stringify({ message: "m" }))).toBe(
      "400 signature: This field is required.",
    );
    expect(await post(`/v1/safes/${safe.toLowerCase()}/messages/`, "{}")).toBe(
      `422 Checksum address validation failed for ${safe.toLowerCase()}`,
    );
    const nobody = getAddress(`0x${"12".repeat(20)}`);
    const signature = `0x${"11".repeat(64)}1b`;
    expect(await post(`/v1/safes/${nobody}/messages/`, JSON.stringify({ message: "m", signature }))).toBe(
      `400 Safe ${nobody} is not a contract on chain ${CHAIN_ID}`,
    );
    const unknown = await fetch(url("/v1/nothing-here/"));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ detail: "No route for GET /v1/nothing-here/" });
  });
});

describe("multisig transactions", () => {
  it("proposes, confirms, lists and tracks execution of a DAO Board transaction", async () => {
    const daoBoard = info.safes.daoBoard;
    const [first, second] = [await kit(daoBoard, boardOwner(0)), await kit(daoBoard, boardOwner(1))];
    const recipient = addressOf(info.keys.guardian);
    const safeTx = await first.createTransaction({
      transactions: [{ to: recipient, value: "0", data: "0x" }],
    });
    const safeTxHash = await first.getTransactionHash(safeTx);
    const proposerSignature = (await first.signTransaction(safeTx)).getSignature(addressOf(boardOwner(0)));
    const proposal = {
      safeAddress: daoBoard,
      safeTransactionData: safeTx.data,
      safeTxHash,
      senderAddress: addressOf(boardOwner(0)),
      senderSignature: proposerSignature?.data ?? "0x",
    };

    const wrongHash = await refusal(
      apiKit.proposeTransaction({ ...proposal, safeTxHash: `0x${"cd".repeat(32)}` }),
    );
    expect(wrongHash.status).toBe(422);
    expect(wrongHash.detail).toContain(`Contract-transaction-hash=${safeTxHash} does not match`);
    const wrongSender = await refusal(
      apiKit.proposeTransaction({ ...proposal, senderAddress: addressOf(boardOwner(1)) }),
    );
    expect(wrongSender.status).toBe(422);
    expect(wrongSender.detail).toContain("Signature does not match sender");

    await apiKit.proposeTransaction(proposal);
    expect((await refusal(apiKit.proposeTransaction(proposal))).detail).toContain("already exists");

    // The second owner signs what the service returned, as a co-signer's wallet would.
    const secondSignature = (
      await second.signTransaction(await apiKit.getTransaction(safeTxHash))
    ).getSignature(addressOf(boardOwner(1)));
    const confirmed = await apiKit.confirmTransaction(safeTxHash, secondSignature?.data ?? "0x");
    expect(confirmed.signature).toBe(secondSignature?.data);
    expect(
      (await refusal(apiKit.confirmTransaction(safeTxHash, secondSignature?.data ?? "0x"))).detail,
    ).toContain("already exists");

    const pending = await apiKit.getTransaction(safeTxHash);
    expect(pending).toMatchObject({
      safe: daoBoard,
      to: recipient,
      nonce: String(safeTx.data.nonce),
      safeTxHash,
      isExecuted: false,
      confirmationsRequired: 1,
      proposer: addressOf(boardOwner(0)),
    });
    expect(pending.confirmations?.map((c) => [c.owner, c.signatureType])).toEqual([
      [addressOf(boardOwner(0)), "EOA"],
      [addressOf(boardOwner(1)), "EOA"],
    ]);
    expect((await apiKit.getTransactionConfirmations(safeTxHash)).count).toBe(2);
    expect((await apiKit.getPendingTransactions(daoBoard)).results.map((t) => t.safeTxHash)).toContain(
      safeTxHash,
    );
    expect(await apiKit.getNextNonce(daoBoard)).toBe(String(safeTx.data.nonce + 1));

    const execution = await first.executeTransaction(pending);
    await publicClient().waitForTransactionReceipt({ hash: execution.hash as Hex });
    const executed = await apiKit.getTransaction(safeTxHash);
    expect(executed).toMatchObject({ isExecuted: true, isSuccessful: true, transactionHash: execution.hash });
    expect(executed.signatures).toMatch(/^0x([0-9a-f]{130})+$/);
    expect((await apiKit.getPendingTransactions(daoBoard)).results.map((t) => t.safeTxHash)).not.toContain(
      safeTxHash,
    );
    const late = await refusal(apiKit.confirmTransaction(safeTxHash, proposerSignature?.data ?? "0x"));
    expect(late).toEqual({
      status: 400,
      detail: `Transaction with safe-tx-hash=${safeTxHash} was already executed`,
    });
  });

  it("records nested Safe confirmations of a Consortium transaction as contract signatures", async () => {
    const consortium = info.safes.consortium;
    const consortiumKit = await kit(consortium);
    const safeTx = await consortiumKit.createTransaction({
      transactions: [{ to: info.safes.daoBoard, value: "0", data: "0x" }],
    });
    const safeTxHash = await consortiumKit.getTransactionHash(safeTx);
    const sign = async (region: "alpha" | "beta"): Promise<Hex> => {
      const dsp = info.safes.dsp[region];
      const dspKit = await kit(dsp, info.keys.dspOwners[region][0]);
      const signed = await dspKit.signTransaction(safeTx, SAFE_SIGNATURE, consortium);
      return buildSignatureBytes([await buildContractSignature([...signed.signatures.values()], dsp)]) as Hex;
    };

    await apiKit.proposeTransaction({
      safeAddress: consortium,
      safeTransactionData: safeTx.data,
      safeTxHash,
      senderAddress: info.safes.dsp.alpha,
      senderSignature: await sign("alpha"),
    });
    await apiKit.confirmTransaction(safeTxHash, await sign("beta"));

    const stored = await apiKit.getTransaction(safeTxHash);
    expect(stored.confirmationsRequired).toBe(2);
    expect(stored.confirmations?.map((c) => [c.owner, c.signatureType])).toEqual([
      [info.safes.dsp.alpha, "CONTRACT_SIGNATURE"],
      [info.safes.dsp.beta, "CONTRACT_SIGNATURE"],
    ]);
  });

  it("reads a Safe's configuration from chain", async () => {
    const state = await apiKit.getSafeInfo(info.safes.consortium);
    expect(state).toMatchObject({
      address: info.safes.consortium,
      threshold: 2,
      owners: Object.values(info.safes.dsp),
      singleton: getAddress(info.contracts.safeSingleton),
      fallbackHandler: getAddress(info.contracts.fallbackHandler),
      version: "1.5.0",
    });
  });
});

describe("main.ts", () => {
  it("prints its URL when ready, answers /v1/about/ and exits cleanly on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, "main.ts"), "--rpc", rpcUrl, "--chain-id", String(CHAIN_ID), "--port", "0"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const lines = createInterface({ input: child.stdout });
    const first = await lines[Symbol.asyncIterator]().next();
    const url = /^listening (http:\/\/\S+\/api)$/.exec(String(first.value))?.[1];
    expect(url).toBeDefined();
    const about = await fetch(`${url ?? ""}/v1/about/`);
    expect(about.status).toBe(200);
    expect(await about.json()).toMatchObject({ name: "Safe Transaction Service" });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
