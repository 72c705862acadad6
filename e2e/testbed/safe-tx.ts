// Real Safe transactions on the test chain, signed the way owners sign them:
// EOA owners with ECDSA over the SafeTx hash; the Consortium Safe (whose owners
// are Safes) through approved hashes, each DSP Safe calling approveHash in a
// transaction of its own. The DAO's rotation of a DSP goes through the DAO
// Board Safe, enabled as a module of the Consortium Safe.
import {
  concatHex,
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  getAddress,
  http,
  padHex,
  parseAbi,
  zeroAddress,
  type Address,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { safeTxHash as hashSafeTx } from "../safe-service/hashes.ts";
import { waitForReceipts } from "../../contracts/deploy.ts";
import type { ChainInfo } from "./chain.ts";
import type { Region } from "./layout.ts";

const SAFE = parseAbi([
  "function nonce() view returns (uint256)",
  "function getOwners() view returns (address[])",
  "function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures) payable returns (bool)",
  "function approveHash(bytes32 hashToApprove)",
  "function enableModule(address module)",
  "function execTransactionFromModule(address to, uint256 value, bytes data, uint8 operation) returns (bool)",
  "function swapOwner(address prevOwner, address oldOwner, address newOwner)",
  "function signMessage(bytes _data)",
  "event ExecutionFailure(bytes32 txHash, uint256 payment)",
]);

export interface Call {
  readonly to: Address;
  readonly data: Hex;
  /** 1 for delegatecall (SignMessageLib); 0, the default, for call. */
  readonly operation?: 0 | 1;
}

function clients(chain: ChainInfo, senderKey: Hex) {
  const viemChain = { ...foundry, id: chain.chainId, rpcUrls: { default: { http: [chain.rpcUrl] } } };
  const transport = http(chain.rpcUrl);
  return {
    public: createPublicClient({ chain: viemChain, transport, pollingInterval: 50 }),
    wallet: createWalletClient({ chain: viemChain, transport, account: privateKeyToAccount(senderKey) }),
  };
}

/** A plain call's SafeTx hash (no gas refund), as the Safe computes it. */
export function safeTxHash(chainId: number, safe: Address, call: Call, nonce: bigint): Hex {
  return hashSafeTx(chainId, safe, {
    to: call.to,
    value: 0n,
    data: call.data,
    operation: call.operation ?? 0,
    safeTxGas: 0n,
    baseGas: 0n,
    gasPrice: 0n,
    gasToken: null,
    refundReceiver: null,
    nonce,
  });
}

/** Executes `call` from `safe` with `signatures` (already sorted by owner); fails loudly if the Safe says no. */
async function execute(
  chain: ChainInfo,
  safe: Address,
  call: Call,
  signatures: Hex,
  senderKey: Hex,
): Promise<void> {
  const c = clients(chain, senderKey);
  const hash = await c.wallet.writeContract({
    address: safe,
    abi: SAFE,
    functionName: "execTransaction",
    args: [call.to, 0n, call.data, call.operation ?? 0, 0n, 0n, 0n, zeroAddress, zeroAddress, signatures],
  });
  const [receipt] = await waitForReceipts(c.public, [hash]);
  if (!receipt) throw new Error(`no receipt for ${hash}`);
  if (receipt.status !== "success") throw new Error(`Safe ${safe} transaction reverted`);
  const failed = receipt.logs.some(
    (log) => log.address.toLowerCase() === safe.toLowerCase() && log.topics[0] === FAILURE_TOPIC,
  );
  if (failed) throw new Error(`Safe ${safe} executed the transaction but the inner call failed`);
}

const FAILURE_TOPIC = "0x23428b18acfb3ea64b08dc0c1d296ea9c09702c09083ca5272e64d115b687d23";

/** A transaction of a Safe whose owners are EOAs: `ownerKeys` sign it, the first sends it. */
export async function execFromSafe(
  chain: ChainInfo,
  safe: Address,
  call: Call,
  ownerKeys: readonly Hex[],
): Promise<void> {
  const [sender] = ownerKeys;
  if (!sender) throw new Error("execFromSafe needs at least one owner key");
  const c = clients(chain, sender);
  const nonce = await c.public.readContract({ address: safe, abi: SAFE, functionName: "nonce" });
  const hash = safeTxHash(chain.chainId, safe, call, nonce);
  const signed = await Promise.all(
    ownerKeys.map(async (key) => {
      const account = privateKeyToAccount(key);
      return { owner: account.address, signature: await account.sign({ hash }) };
    }),
  );
  signed.sort((a, b) => (BigInt(a.owner) < BigInt(b.owner) ? -1 : 1));
  await execute(chain, safe, call, concatHex(signed.map((s) => s.signature)), sender);
}

/** A transaction of the Consortium Safe, approved on chain by the DSP Safes of `regions`. */
export async function execFromConsortium(
  chain: ChainInfo,
  call: Call,
  regions: readonly Region[],
): Promise<void> {
  const consortium = chain.safes.consortium;
  const c = clients(chain, chain.keys.deployer);
  const nonce = await c.public.readContract({ address: consortium, abi: SAFE, functionName: "nonce" });
  const hash = safeTxHash(chain.chainId, consortium, call, nonce);
  await approveHashFrom(chain, consortium, hash, regions);
  const owners = regions
    .map((r) => getAddress(chain.safes.dsp[r]))
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  const signatures = concatHex(
    owners.map((o) => concatHex([padHex(o, { size: 32 }), padHex("0x0", { size: 32 }), "0x01"])),
  );
  await execute(chain, consortium, call, signatures, chain.keys.deployer);
}

/** Each DSP Safe of `regions` calls `target.approveHash(hash)` in a transaction of its own. */
export async function approveHashFrom(
  chain: ChainInfo,
  target: Address,
  hash: Hex,
  regions: readonly Region[],
): Promise<void> {
  for (const region of regions) {
    const data = encodeFunctionData({ abi: SAFE, functionName: "approveHash", args: [hash] });
    await execFromSafe(
      chain,
      chain.safes.dsp[region],
      { to: target, data },
      chain.keys.dspOwners[region].slice(0, 1),
    );
  }
}

/** Test-bed set-up: the DAO Board Safe becomes a module of the Consortium Safe, so the DAO can rotate DSPs. */
export async function enableBoardModule(chain: ChainInfo): Promise<void> {
  const data = encodeFunctionData({ abi: SAFE, functionName: "enableModule", args: [chain.safes.daoBoard] });
  await execFromConsortium(chain, { to: chain.safes.consortium, data }, ["alpha", "beta"]);
}

/** The DAO rotates `oldOwner` out of the Consortium Safe for `newOwner`, by a Board Safe transaction. */
export async function rotateDsp(chain: ChainInfo, oldOwner: Address, newOwner: Address): Promise<void> {
  const c = clients(chain, chain.keys.deployer);
  const owners = await c.public.readContract({
    address: chain.safes.consortium,
    abi: SAFE,
    functionName: "getOwners",
  });
  const index = owners.findIndex((o) => o.toLowerCase() === oldOwner.toLowerCase());
  if (index < 0) throw new Error(`${oldOwner} is not an owner of the Consortium Safe`);
  const prev = index === 0 ? "0x0000000000000000000000000000000000000001" : (owners[index - 1] as Address);
  const swap = encodeFunctionData({ abi: SAFE, functionName: "swapOwner", args: [prev, oldOwner, newOwner] });
  const viaModule = encodeFunctionData({
    abi: SAFE,
    functionName: "execTransactionFromModule",
    args: [chain.safes.consortium, 0n, swap, 0],
  });
  await execFromSafe(
    chain,
    chain.safes.daoBoard,
    { to: chain.safes.consortium, data: viaModule },
    chain.keys.boardOwners.slice(0, 1),
  );
}

/** A DSP Safe signs a message on chain (SignMessageLib, by delegatecall), for the "signed message" approval kind. */
export async function signMessageOnChain(chain: ChainInfo, region: Region, message: Hex): Promise<void> {
  const data = encodeFunctionData({ abi: SAFE, functionName: "signMessage", args: [message] });
  await execFromSafe(
    chain,
    chain.safes.dsp[region],
    { to: chain.contracts.signMessageLib, data, operation: 1 },
    chain.keys.dspOwners[region].slice(0, 1),
  );
}
