// The writes the operator makes on chain, each with a key that can do nothing
// else: recording a pause raised in its cluster on the GuardianPause contract
// (the guardian key: pause only, it cannot unpause, move funds or sign for any
// Safe), and anchoring its log's checkpoints on the LogAnchor contract (the
// anchoring key the Consortium Safe registered for this region's log).
import {
  BaseError,
  NonceTooLowError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseEventLogs,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { guardianPauseAbi } from "./abi/guardian-pause.ts";
import { logAnchorAbi } from "./abi/log-anchor.ts";

interface WriterOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly contract: Address;
  readonly key: Hex;
}

/** The last send queued per chain and account, in this process. */
const sending = new Map<string, Promise<void>>();

/** Sends one transaction from `key` and waits for it to be mined; a revert is an error. */
function sender(options: WriterOptions) {
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
  const queue = `${String(options.chainId)} ${account.address}`;
  return {
    account: account.address,
    /**
     * One key's transactions go to the node one at a time in this process (whichever writer
     * sends them), each once the one before was accepted: viem numbers a send from the
     * account's pending nonce, and two sent together (two pauses raised at once) took the same
     * one, the second refused. A send refused for its nonce (another process with the key, a
     * node behind a balancer) is made once more, numbered afresh. Mining is awaited apart.
     */
    send(write: (w: typeof wallet) => Promise<Hex>): Promise<Hex> {
      const once = () => write(wallet);
      const sent = (sending.get(queue) ?? Promise.resolve()).then(() =>
        once().catch((error: unknown) => {
          if (error instanceof BaseError && error.walk((e) => e instanceof NonceTooLowError)) return once();
          throw error;
        }),
      );
      const tail = sent.then(
        () => undefined,
        () => undefined,
      );
      sending.set(queue, tail);
      // The last send of a key leaves no entry behind.
      void tail.then(() => {
        if (sending.get(queue) === tail) sending.delete(queue);
      });
      return sent;
    },
    async mined(what: string, hash: Hex): Promise<TransactionReceipt> {
      const receipt = await reader.waitForTransactionReceipt({ hash, timeout: 30_000 });
      if (receipt.status !== "success") throw new Error(`${what} transaction ${hash} reverted`);
      return receipt;
    },
  };
}

/** Returns a function that pauses on chain with `evidence` and resolves to the new pause id once mined. */
export function guardianWriter(options: WriterOptions): (evidence: Hex) => Promise<bigint> {
  const s = sender(options);
  return async (evidence) => {
    const hash = await s.send((wallet) =>
      wallet.writeContract({
        address: options.contract,
        abi: guardianPauseAbi,
        functionName: "pause",
        args: [evidence],
      }),
    );
    const receipt = await s.mined("pause", hash);
    const [event] = parseEventLogs({ abi: guardianPauseAbi, eventName: "Paused", logs: receipt.logs });
    return event?.args.pauseId ?? 0n;
  };
}

/** Anchors a checkpoint (size, root) of the log `log`; resolves to the block it was mined in. */
export type AnchorWriter = (log: Hex, size: number, root: Hex) => Promise<bigint>;

/** Returns the region's anchoring writer, and the account it sends from. */
export function anchorWriter(options: WriterOptions): {
  readonly account: Address;
  readonly anchor: AnchorWriter;
} {
  const s = sender(options);
  return {
    account: s.account,
    anchor: async (log, size, root) => {
      const hash = await s.send((wallet) =>
        wallet.writeContract({
          address: options.contract,
          abi: logAnchorAbi,
          functionName: "anchor",
          args: [log, BigInt(size), root],
        }),
      );
      return (await s.mined("anchor", hash)).blockNumber;
    },
  };
}
