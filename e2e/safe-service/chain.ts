// What the double reads from the chain, always at the latest block and at
// request time: who owns a Safe now is what decides whether a signature counts.
import {
  BaseError,
  createPublicClient,
  decodeFunctionData,
  getAddress,
  http,
  keccak256,
  parseAbi,
  toHex,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { badRequest, notFound } from "./http.ts";

const SAFE_ABI = parseAbi([
  "function getOwners() view returns (address[])",
  "function getThreshold() view returns (uint256)",
  "function nonce() view returns (uint256)",
  "function VERSION() view returns (string)",
  "function approvedHashes(address owner, bytes32 hash) view returns (uint256)",
  "function getModulesPaginated(address start, uint256 pageSize) view returns (address[] array, address next)",
  "function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)",
  "function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures) payable returns (bool)",
]);

const [EXECUTION_SUCCESS, EXECUTION_FAILURE] = parseAbi([
  "event ExecutionSuccess(bytes32 indexed txHash, uint256 payment)",
  "event ExecutionFailure(bytes32 indexed txHash, uint256 payment)",
]);
const EIP1271_MAGIC_VALUE = "0x1626ba7e";
const SENTINEL = "0x0000000000000000000000000000000000000001";

/** Storage slots where Safe keeps its singleton and handler addresses (see Safe's *Manager.sol). */
const SLOTS = {
  singleton: "0x0",
  fallbackHandler: keccak256(toHex("fallback_manager.handler.address")),
  guard: keccak256(toHex("guard_manager.guard.address")),
  moduleGuard: keccak256(toHex("module_manager.module_guard.address")),
} as const;

export interface SafeState {
  readonly address: Address;
  readonly nonce: string;
  readonly threshold: number;
  readonly owners: Address[];
  readonly masterCopy: Address;
  readonly modules: Address[];
  readonly fallbackHandler: Address;
  readonly guard: Address;
  readonly moduleGuard: Address;
  readonly version: string | null;
}

/** An on-chain execution of a Safe transaction, found by its ExecutionSuccess/Failure event. */
export interface Execution {
  readonly transactionHash: Hex;
  readonly blockNumber: number;
  readonly executionDate: string;
  readonly isSuccessful: boolean;
  readonly executor: Address;
  readonly ethGasPrice: string;
  readonly gasUsed: number;
  readonly fee: string;
  readonly payment: string;
  readonly signatures: Hex | null;
}

function reason(err: unknown): string {
  if (err instanceof BaseError) return err.shortMessage;
  return err instanceof Error ? err.message : String(err);
}

export class ChainReader {
  readonly chainId: number;
  readonly #client: PublicClient;

  constructor(rpcUrl: string, chainId: number) {
    this.chainId = chainId;
    this.#client = createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }) });
  }

  /** Refuses to serve a chain other than the one whose id goes into every hash. */
  async checkChainId(): Promise<void> {
    const actual = await this.#client.getChainId();
    if (actual !== this.chainId) throw new Error(`RPC serves chain ${actual}, not chain ${this.chainId}`);
  }

  /** Current owners; refuses an address that holds no Safe, as the service does. */
  async owners(safe: Address): Promise<Address[]> {
    const code = await this.#read(safe, () => this.#client.getCode({ address: safe }));
    if (code === undefined || code === "0x")
      throw badRequest(`Safe ${safe} is not a contract on chain ${this.chainId}`);
    const owners = await this.#read(safe, () =>
      this.#client.readContract({ address: safe, abi: SAFE_ABI, functionName: "getOwners" }),
    );
    return [...owners];
  }

  async threshold(safe: Address): Promise<number> {
    const value = await this.#read(safe, () =>
      this.#client.readContract({ address: safe, abi: SAFE_ABI, functionName: "getThreshold" }),
    );
    return Number(value);
  }

  async nonce(safe: Address): Promise<bigint> {
    return this.#read(safe, () =>
      this.#client.readContract({ address: safe, abi: SAFE_ABI, functionName: "nonce" }),
    );
  }

  async approvedHash(safe: Address, owner: Address, hash: Hex): Promise<boolean> {
    const approved = await this.#read(safe, () =>
      this.#client.readContract({
        address: safe,
        abi: SAFE_ABI,
        functionName: "approvedHashes",
        args: [owner, hash],
      }),
    );
    return approved !== 0n;
  }

  /**
   * EIP-1271 as Safe 1.5.0's checkNSignatures asks it: `isValidSignature(bytes32,bytes)`
   * on the owner, with the parent Safe's hash. A revert or a non-contract owner is a no.
   */
  async isValidContractSignature(owner: Address, hash: Hex, signature: Hex): Promise<boolean> {
    try {
      const magic = await this.#client.readContract({
        address: owner,
        abi: SAFE_ABI,
        functionName: "isValidSignature",
        args: [hash, signature],
      });
      return magic === EIP1271_MAGIC_VALUE;
    } catch {
      return false;
    }
  }

  /** `GET /v1/safes/{address}/`: the Safe's configuration, read from chain (404 if no contract). */
  async state(safe: Address): Promise<SafeState> {
    const code = await this.#read(safe, () => this.#client.getCode({ address: safe }));
    if (code === undefined || code === "0x") throw notFound(`No Safe at ${safe} on chain ${this.chainId}`);
    const slot = async (at: Hex): Promise<Address> => {
      const word = await this.#client.getStorageAt({ address: safe, slot: at });
      return getAddress(`0x${(word ?? "0x").slice(-40).padStart(40, "0")}`);
    };
    const call = { address: safe, abi: SAFE_ABI } as const;
    return this.#read(safe, async () => {
      const [owners, threshold, nonce, version, [modules]] = await Promise.all([
        this.#client.readContract({ ...call, functionName: "getOwners" }),
        this.#client.readContract({ ...call, functionName: "getThreshold" }),
        this.#client.readContract({ ...call, functionName: "nonce" }),
        this.#client.readContract({ ...call, functionName: "VERSION" }).catch(() => null),
        this.#client.readContract({ ...call, functionName: "getModulesPaginated", args: [SENTINEL, 10n] }),
      ]);
      return {
        address: safe,
        nonce: String(nonce),
        threshold: Number(threshold),
        owners: [...owners],
        masterCopy: await slot(SLOTS.singleton),
        modules: [...modules],
        fallbackHandler: await slot(SLOTS.fallbackHandler),
        guard: await slot(SLOTS.guard),
        moduleGuard: await slot(SLOTS.moduleGuard),
        version,
      };
    });
  }

  /** Executions of a Safe's transactions, by safeTxHash, among `hashes`. */
  async executions(safe: Address, hashes: readonly Hex[]): Promise<Map<Hex, Execution>> {
    const found = new Map<Hex, Execution>();
    if (hashes.length === 0) return found;
    const outcomes = [EXECUTION_SUCCESS, EXECUTION_FAILURE] as const;
    const logs = await this.#read(safe, () =>
      Promise.all(
        outcomes.map((event) =>
          this.#client.getLogs({ address: safe, event, args: { txHash: [...hashes] }, fromBlock: 0n }),
        ),
      ),
    );
    for (const log of logs.flat()) {
      const receipt = await this.#client.getTransactionReceipt({ hash: log.transactionHash });
      const [block, tx] = await Promise.all([
        this.#client.getBlock({ blockNumber: log.blockNumber }),
        this.#client.getTransaction({ hash: log.transactionHash }),
      ]);
      found.set(log.args.txHash?.toLowerCase() as Hex, {
        transactionHash: log.transactionHash,
        blockNumber: Number(log.blockNumber),
        executionDate: new Date(Number(block.timestamp) * 1000).toISOString(),
        isSuccessful: log.eventName === "ExecutionSuccess",
        executor: receipt.from,
        ethGasPrice: String(receipt.effectiveGasPrice),
        gasUsed: Number(receipt.gasUsed),
        fee: String(receipt.gasUsed * receipt.effectiveGasPrice),
        payment: String(log.args.payment ?? 0n),
        signatures: tx.to?.toLowerCase() === safe.toLowerCase() ? execSignatures(tx.input) : null,
      });
    }
    return found;
  }

  /** Runs a read of `safe`'s state, turning node failures into the service's 400. */
  async #read<T>(safe: Address, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      throw badRequest(`Could not read Safe ${safe} from chain ${this.chainId}: ${reason(err)}`);
    }
  }
}

/** The signatures an execTransaction call carried; null for executions through another contract. */
function execSignatures(input: Hex): Hex | null {
  try {
    const call = decodeFunctionData({ abi: SAFE_ABI, data: input });
    return call.functionName === "execTransaction" ? call.args[9] : null;
  } catch {
    return null;
  }
}
