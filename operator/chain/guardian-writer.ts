// The one write the operator makes on chain: recording a pause raised in its
// cluster on the GuardianPause contract, with the guardian key (pause only:
// the key cannot unpause, move funds or sign for any Safe).
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseEventLogs,
  type Address,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { guardianPauseAbi } from "./abi/guardian-pause.ts";

interface GuardianWriterOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly contract: Address;
  readonly key: Hex;
}

/** Returns a function that pauses on chain with `evidence` and resolves to the new pause id once mined. */
export function guardianWriter(options: GuardianWriterOptions): (evidence: Hex) => Promise<bigint> {
  const chain = defineChain({
    id: options.chainId,
    name: `chain ${String(options.chainId)}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const account = privateKeyToAccount(options.key);
  const transport = http(options.rpcUrl, { timeout: 10_000 });
  const wallet = createWalletClient({ account, chain, transport });
  const reader = createPublicClient({ chain, transport });
  return async (evidence) => {
    const hash = await wallet.writeContract({
      address: options.contract,
      abi: guardianPauseAbi,
      functionName: "pause",
      args: [evidence],
    });
    const receipt = await reader.waitForTransactionReceipt({ hash, timeout: 30_000 });
    if (receipt.status !== "success") throw new Error(`pause transaction ${hash} reverted`);
    const [event] = parseEventLogs({ abi: guardianPauseAbi, eventName: "Paused", logs: receipt.logs });
    return event?.args.pauseId ?? 0n;
  };
}
