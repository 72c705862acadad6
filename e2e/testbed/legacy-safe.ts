// A real Safe 1.4.1 (the contracts as Safe shipped them, from
// @safe-global/safe-contracts), set up with no fallback handler. Its
// checkNSignatures has another selector than 1.5.0's, so a 1.5.0 call lands
// in its fallback, which with no handler returns empty success: the Safe a
// verifier must refuse to take a judgement from.
import { createRequire } from "node:module";
import {
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  http,
  parseAbi,
  parseEventLogs,
  zeroAddress,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import type { ChainInfo } from "./chain.ts";

const require = createRequire(import.meta.url);

interface Artifact {
  readonly abi: Abi;
  readonly bytecode: Hex;
}

const artifact = (path: string): Artifact =>
  require(`@safe-global/safe-contracts/build/artifacts/contracts/${path}`) as Artifact;

const PROXY_CREATION = parseAbi(["event ProxyCreation(address indexed proxy, address singleton)"]);

/** Deploys Safe 1.4.1 and its proxy factory, and creates a Safe of `owners` with no fallback handler. */
export async function deployLegacySafe(
  chain: ChainInfo,
  owners: readonly Address[],
  threshold: number,
): Promise<Address> {
  const viemChain = { ...foundry, id: chain.chainId, rpcUrls: { default: { http: [chain.rpcUrl] } } };
  const transport = http(chain.rpcUrl);
  const publicClient = createPublicClient({ chain: viemChain, transport, pollingInterval: 50 });
  const wallet = createWalletClient({
    chain: viemChain,
    transport,
    account: privateKeyToAccount(chain.keys.deployer),
  });
  const deploy = async (a: Artifact): Promise<Address> => {
    const hash = await wallet.deployContract({ abi: a.abi, bytecode: a.bytecode });
    const { contractAddress } = await publicClient.waitForTransactionReceipt({ hash });
    if (!contractAddress) throw new Error("deploying a Safe 1.4.1 contract produced no contract");
    return contractAddress;
  };
  const singleton = artifact("Safe.sol/Safe.json");
  const factory = artifact("proxies/SafeProxyFactory.sol/SafeProxyFactory.json");
  const singletonAddress = await deploy(singleton);
  const factoryAddress = await deploy(factory);
  const initializer = encodeFunctionData({
    abi: singleton.abi,
    functionName: "setup",
    args: [owners, BigInt(threshold), zeroAddress, "0x", zeroAddress, zeroAddress, 0n, zeroAddress],
  });
  const hash = await wallet.writeContract({
    address: factoryAddress,
    abi: factory.abi,
    functionName: "createProxyWithNonce",
    args: [singletonAddress, initializer, 141n],
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  const [created] = parseEventLogs({ abi: PROXY_CREATION, logs: receipt.logs });
  if (!created) throw new Error("the Safe 1.4.1 proxy factory emitted no ProxyCreation event");
  return created.args.proxy;
}
