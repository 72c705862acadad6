// The gas of anchoring a log's checkpoint on chain (contracts/LogAnchor.sol),
// on the test bed's anvil: the first anchor of a log, and the ones after it.
import { createPublicClient, createWalletClient, http, keccak256, stringToHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { deployLogAnchor } from "../contracts/deploy.ts";
import { logAnchorAbi } from "../operator/chain/abi/log-anchor.ts";
import type { TestbedChain } from "../e2e/testbed/testbed.ts";

export async function benchAnchorGas(chain: TestbedChain): Promise<{ first: bigint; next: bigint[] }> {
  const deployer = privateKeyToAccount(chain.keys.deployer);
  const address = await deployLogAnchor(chain.rpcUrl, {
    deployerKey: chain.keys.deployer,
    owner: deployer.address,
  });
  const c = { ...foundry, id: chain.chainId, rpcUrls: { default: { http: [chain.rpcUrl] } } };
  const wallet = createWalletClient({ chain: c, transport: http(chain.rpcUrl), account: deployer });
  const client = createPublicClient({ chain: c, transport: http(chain.rpcUrl), pollingInterval: 50 });
  const log = keccak256(stringToHex("dsc.federation.dev/bench/alpha"));
  const mined = (hash: Hex) => client.waitForTransactionReceipt({ hash });
  await mined(
    await wallet.writeContract({
      address,
      abi: logAnchorAbi,
      functionName: "register",
      args: [log, `0x${"11".repeat(32)}`, deployer.address],
    }),
  );
  const root = (n: number): Hex => keccak256(stringToHex(`root ${String(n)}`));
  const anchor = async (size: number) =>
    (
      await mined(
        await wallet.writeContract({
          address,
          abi: logAnchorAbi,
          functionName: "anchor",
          args: [log, BigInt(size), root(size)],
        }),
      )
    ).gasUsed;
  const first = await anchor(100);
  const next: bigint[] = [];
  for (let i = 2; i <= 11; i++) next.push(await anchor(100 * i));
  return { first, next };
}
