// Reads the chain at a pinned block: owners, thresholds, the per-candidate
// signature check and the agent registry. Results are cached per block, so
// verifying many manifests at one block costs one read of each owner list;
// a new block starts a new cache, so rotation takes effect at the next read.
import {
  createPublicClient,
  encodeFunctionData,
  getAddress,
  http,
  keccak256,
  zeroAddress,
  zeroHash,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { agentRegistryAbi } from "./abi/agent-registry.ts";
import { guardianPauseAbi } from "./abi/guardian-pause.ts";
import { logAnchorAbi } from "./abi/log-anchor.ts";
import { checkOutcome, describeSafeRevert, safeAbi } from "./safe-abi.ts";
import { ChainUnavailableError, shortError, type Agent, type CheckResult, type SafeState } from "./model.ts";
import { ManifestLens, type LensAnswer, type LensQuery } from "./lens.ts";

export { ChainUnavailableError, type Agent, type CheckResult, type SafeState };

interface ChainReaderOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly timeoutMs?: number;
  /** Called with the duration of each RPC round trip, for metrics. */
  readonly observe?: (method: string, seconds: number, ok: boolean) => void;
  /** Called for each HTTP request sent to the node (a JSON-RPC batch is one). */
  readonly onRequest?: () => void;
  /**
   * Read the head in the background every `everyMs` while pinBlock is asked
   * with `keepFresh`, until `forMs` after the last such ask: a verification
   * then finds the head read, instead of waiting a round trip for it.
   */
  readonly freshHead?: { readonly everyMs: number; readonly forMs: number };
}

export class ChainReader {
  readonly chainId: number;
  private readonly client: PublicClient;
  /** The same endpoint with JSON-RPC batching: the chain id and the head in one round trip. */
  readonly #head: PublicClient;
  readonly #lens: ManifestLens;
  private readonly observe: NonNullable<ChainReaderOptions["observe"]>;
  private cacheBlock = -1n;
  private cache = new Map<string, Promise<unknown>>();
  /**
   * What a Safe's code says about its judgement (its VERSION() and whether it
   * refuses a forgery), by the proxy's code hash and the singleton it
   * delegates to (storage slot 0): both are read at every block, the
   * judgement only when they change, so the checks cost no round trip on the
   * hot path. Bounded: a handful of Safes in a federation.
   */
  readonly #judgement = new Map<string, Pick<SafeState, "version" | "refusesForgery">>();
  readonly #fresh: ChainReaderOptions["freshHead"];

  constructor(options: ChainReaderOptions) {
    this.chainId = options.chainId;
    this.#fresh = options.freshHead;
    this.client = createPublicClient({
      transport: http(options.rpcUrl, {
        timeout: options.timeoutMs ?? 5000,
        retryCount: 1,
        retryDelay: 100,
        ...(options.onRequest ? { onFetchRequest: options.onRequest } : {}),
      }),
    });
    this.#head = createPublicClient({
      transport: http(options.rpcUrl, {
        timeout: options.timeoutMs ?? 5000,
        retryCount: 1,
        retryDelay: 100,
        batch: { batchSize: 2, wait: 0 },
        ...(options.onRequest ? { onFetchRequest: options.onRequest } : {}),
      }),
    });
    this.observe = options.observe ?? (() => undefined);
    this.#lens = new ManifestLens(this.chainId, (data, block) =>
      this.timed(
        "manifest_lens",
        async () => (await this.client.call({ data, blockNumber: block })).data ?? "0x",
      ),
    );
  }

  /**
   * Everything one manifest verification reads at `block`, in one eth_call
   * (contracts/ManifestLens.sol) that the verifications asking at the same
   * block in the same turn share. Throws ChainUnavailableError when any part
   * cannot be read.
   */
  judge(safes: readonly Address[], registry: Address, query: LensQuery, block: bigint): Promise<LensAnswer> {
    return this.#lens.judge(safes, registry, query, block);
  }

  private async timed<T>(method: string, call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      const result = await call();
      this.observe(method, (performance.now() - start) / 1000, true);
      return result;
    } catch (error) {
      this.observe(method, (performance.now() - start) / 1000, false);
      throw error;
    }
  }

  /** One read at `block`, memoised and timed; any failure is a ChainUnavailableError naming `what`. */
  private read<T>(
    method: string,
    block: bigint,
    key: string,
    what: string,
    call: () => Promise<T>,
  ): Promise<T> {
    return this.cached(block, key, async () => {
      try {
        return await this.timed(method, call);
      } catch (error) {
        throw new ChainUnavailableError(`cannot read ${what}: ${shortError(error)}`);
      }
    });
  }

  /** Memoises `load` per block; a failed read is not cached. */
  private cached<T>(block: bigint, key: string, load: () => Promise<T>): Promise<T> {
    if (block !== this.cacheBlock) {
      this.cacheBlock = block;
      this.cache = new Map();
    }
    const hit = this.cache.get(key) as Promise<T> | undefined;
    if (hit) return hit;
    const pending = load();
    this.cache.set(key, pending);
    pending.catch(() => this.cache.delete(key));
    return pending;
  }

  /**
   * The block to read at: the head less `confirmations`, after checking the
   * chain id. Callers that ask while a read of the head is in flight share it
   * (singleflight: the head they get is at most one round trip older), and a
   * head read less than `maxAgeMs` ago is served again: a path that verifies
   * the same version several times in a burst (the mirror, then the manifest
   * controller, then the echoes of other regions' progress) reads the chain
   * once. A failed read is not kept. With `freshHead`, a caller that asks
   * `keepFresh` (a verification) keeps the head read in the background for a
   * while, so that the next one finds it read; other callers (the Federation's
   * poll, breach reports) do not.
   */
  async pinBlock(
    confirmations = 0,
    maxAgeMs = 0,
    options: { readonly keepFresh?: boolean } = {},
  ): Promise<bigint> {
    const now = performance.now();
    if (options.keepFresh === true && maxAgeMs > 0) this.#keepFresh(now);
    const settled = this.#settledHead;
    const head =
      settled && now - settled.at < maxAgeMs
        ? settled.value
        : await (this.#reading?.head ?? this.#startHeadRead(now));
    const block = head - BigInt(confirmations);
    return block < 0n ? 0n : block;
  }

  /** The read of the head in flight, if any: every caller shares it. */
  #reading: { readonly at: number; readonly head: Promise<bigint> } | undefined;
  /** The last read of the head that succeeded, and when it started. */
  #settledHead: { readonly at: number; readonly value: bigint } | undefined;
  #freshUntil = 0;
  #freshTimer: NodeJS.Timeout | undefined;

  #startHeadRead(now: number): Promise<bigint> {
    const read = { at: now, head: this.#readHead() };
    const done = (): void => {
      if (this.#reading === read) this.#reading = undefined;
    };
    read.head.then((value) => {
      done();
      if (!this.#settledHead || this.#settledHead.at < read.at) this.#settledHead = { at: read.at, value };
    }, done);
    this.#reading = read;
    return read.head;
  }

  /**
   * While verifications keep coming (until `freshHead.forMs` after the last),
   * reads the head every `freshHead.everyMs` in the background. A failed read
   * changes nothing: the head kept ages out, and the next verification reads
   * the chain itself (and fails closed if it cannot).
   */
  #keepFresh(now: number): void {
    const fresh = this.#fresh;
    if (!fresh) return;
    this.#freshUntil = now + fresh.forMs;
    if (this.#freshTimer) return;
    const tick = (): void => {
      const at = performance.now();
      if (at >= this.#freshUntil) {
        this.#freshTimer = undefined;
        return;
      }
      if (!this.#reading) this.#startHeadRead(at).catch(() => undefined);
      this.#freshTimer = setTimeout(tick, fresh.everyMs).unref();
    };
    this.#freshTimer = setTimeout(tick, fresh.everyMs).unref();
  }

  async #readHead(): Promise<bigint> {
    try {
      const [chainId, head] = await this.timed("eth_blockNumber", () =>
        Promise.all([this.#head.getChainId(), this.#head.getBlockNumber({ cacheTime: 0 })]),
      );
      if (chainId !== this.chainId) {
        throw new ChainUnavailableError(
          `the RPC serves chain ${String(chainId)}, not ${String(this.chainId)}`,
        );
      }
      return head;
    } catch (error) {
      if (error instanceof ChainUnavailableError) throw error;
      throw new ChainUnavailableError(`cannot read the chain: ${shortError(error)}`);
    }
  }

  /**
   * The head, read at most `maxAgeMs` ago: for a path any stranger can call
   * (breach reports), one read of the head per interval however many
   * requests come.
   */
  recentBlock(maxAgeMs: number): Promise<bigint> {
    return this.pinBlock(0, maxAgeMs);
  }

  safeState(safe: Address, block: bigint): Promise<SafeState> {
    return this.cached(block, `safe:${safe}`, async () => {
      const read = <F extends "getOwners" | "getThreshold" | "VERSION">(functionName: F) =>
        this.client.readContract({ address: safe, abi: safeAbi, functionName, blockNumber: block });
      try {
        const [owners, threshold, code, singleton] = await this.timed("safe_state", () =>
          Promise.all([
            read("getOwners"),
            read("getThreshold"),
            this.client.getCode({ address: safe, blockNumber: block }),
            this.client.getStorageAt({ address: safe, slot: "0x0", blockNumber: block }),
          ]),
        );
        const key = `${keccak256(code ?? "0x")}:${singleton ?? "0x"}`;
        let judgement = this.#judgement.get(key);
        if (!judgement) {
          const [version, canary] = await this.timed("safe_judgement", () =>
            Promise.all([
              read("VERSION").catch((error: unknown) => {
                if (isRevert(error) || isNotDecodable(error)) return undefined;
                throw error;
              }),
              this.#checkNSignatures(safe, CANARY_HASH, CANARY_SIGNATURE, block),
            ]),
          );
          judgement = { version, refusesForgery: !canary.valid };
          if (this.#judgement.size >= 64) this.#judgement.clear();
          this.#judgement.set(key, judgement);
        }
        return { owners: owners.map((o) => getAddress(o)), threshold: Number(threshold), ...judgement };
      } catch (error) {
        throw new ChainUnavailableError(
          `cannot read Safe ${safe} at block ${block.toString()}: ${shortError(error)}`,
        );
      }
    });
  }

  /** Unix seconds of `block`: approvals expire by the chain's clock, not the pod's. */
  blockTime(block: bigint): Promise<number> {
    return this.cached(block, "time", async () => {
      try {
        const { timestamp } = await this.timed("eth_getBlockByNumber", () =>
          this.client.getBlock({ blockNumber: block }),
        );
        return Number(timestamp);
      } catch (error) {
        throw new ChainUnavailableError(`cannot read block ${block.toString()}: ${shortError(error)}`);
      }
    });
  }

  /**
   * Checks one signature alone with the Safe's own checkNSignatures, from
   * address(0) at `block`. A revert means invalid; a transport failure throws.
   */
  checkSignature(safe: Address, hash: Hex, signature: Hex, block: bigint): Promise<CheckResult> {
    return this.cached(block, `check:${safe}:${hash}:${signature}`, () =>
      this.timed("checkNSignatures", () => this.#checkNSignatures(safe, hash, signature, block)),
    );
  }

  /**
   * Safe 1.5.0's checkNSignatures returns nothing: success is an empty return.
   * Data back means the call reached some other function (a fallback handler),
   * which is no judgement of the signature.
   */
  async #checkNSignatures(safe: Address, hash: Hex, signature: Hex, block: bigint): Promise<CheckResult> {
    try {
      const { data } = await this.client.call({
        to: safe,
        data: encodeFunctionData({
          abi: safeAbi,
          functionName: "checkNSignatures",
          args: [zeroAddress, hash, signature, 1n],
        }),
        blockNumber: block,
      });
      return checkOutcome(true, data ?? "0x");
    } catch (error) {
      if (isRevert(error)) return { valid: false, reason: describeSafeRevert(error) };
      throw new ChainUnavailableError(`cannot check a signature on ${safe}: ${shortError(error)}`);
    }
  }

  approvedHash(safe: Address, owner: Address, hash: Hex, block: bigint): Promise<boolean> {
    return this.read(
      "approvedHashes",
      block,
      `approved:${safe}:${owner}:${hash}`,
      `approved hashes of ${safe}`,
      async () => {
        const value = await this.client.readContract({
          address: safe,
          abi: safeAbi,
          functionName: "approvedHashes",
          args: [owner, hash],
          blockNumber: block,
        });
        return value !== 0n;
      },
    );
  }

  isContract(address: Address, block: bigint): Promise<boolean> {
    return this.read("eth_getCode", block, `code:${address}`, `code at ${address}`, async () => {
      const code = await this.client.getCode({ address, blockNumber: block });
      return code !== undefined && code !== "0x";
    });
  }

  guardianPause(contract: Address, block: bigint): Promise<ChainPause> {
    return this.read(
      "guardianPause",
      block,
      `pause:${contract}`,
      `the guardian pause ${contract}`,
      async () => {
        // Both values in one eth_call (a deployless multicall), so from one state: two calls at
        // one block number can be answered from two states (a node answering for its head while
        // it mines the next block, as anvil does; a reorg; a load balancer) and tear.
        const [paused, [guardian, evidence, at, id]] = await this.client.multicall({
          contracts: [
            { address: contract, abi: guardianPauseAbi, functionName: "paused" },
            { address: contract, abi: guardianPauseAbi, functionName: "lastPause" },
          ],
          blockNumber: block,
          allowFailure: false,
          deployless: true,
        });
        // The contract is never paused without a pause on record: a read that says so is torn,
        // not a pause (it would raise a phantom "chain-0" that no resume names). Read again.
        if (paused && (id === 0n || guardian === zeroAddress || evidence === zeroHash))
          throw new Error(`paused without a pause on record (latest pause ${id.toString()})`);
        return {
          contract: { chainId: this.chainId, address: getAddress(contract) },
          block,
          paused,
          id,
          guardian: getAddress(guardian),
          evidence,
          at: Number(at),
        };
      },
    );
  }

  /** A log's registration and latest anchor on the LogAnchor contract (all zero for an unknown log). */
  logAnchor(contract: Address, log: Hex, block: bigint): Promise<ChainAnchor> {
    return this.read(
      "logAnchor",
      block,
      `anchor:${contract}:${log}`,
      `the log anchor ${contract}`,
      async () => {
        const [key, anchorer, size, root, at] = await this.client.readContract({
          address: contract,
          abi: logAnchorAbi,
          functionName: "latest",
          args: [log],
          blockNumber: block,
        });
        return { key, anchorer: getAddress(anchorer), size: anchoredSize(size), root, at: Number(at) };
      },
    );
  }

  /** Who owns the LogAnchor contract: only the Consortium Safe's registrations count. */
  logAnchorOwner(contract: Address, block: bigint): Promise<Address> {
    return this.read(
      "logAnchor",
      block,
      `anchorOwner:${contract}`,
      `the owner of the log anchor ${contract}`,
      async () =>
        getAddress(
          await this.client.readContract({
            address: contract,
            abi: logAnchorAbi,
            functionName: "owner",
            blockNumber: block,
          }),
        ),
    );
  }

  /** The anchors made on the LogAnchor contract for `logs` in blocks `from` to `to` (inclusive), in order. */
  async anchorEvents(
    contract: Address,
    logs: readonly Hex[],
    from: bigint,
    to: bigint,
  ): Promise<AnchorEvent[]> {
    const events: AnchorEvent[] = [];
    // Providers cap the blocks one eth_getLogs may span.
    for (let start = from; start <= to; start += ANCHOR_EVENT_SPAN) {
      const end = start + ANCHOR_EVENT_SPAN - 1n < to ? start + ANCHOR_EVENT_SPAN - 1n : to;
      try {
        const found = await this.timed("anchorEvents", () =>
          this.client.getContractEvents({
            address: contract,
            abi: logAnchorAbi,
            eventName: "Anchored",
            args: { log: [...logs] },
            fromBlock: start,
            toBlock: end,
            strict: true,
          }),
        );
        for (const e of found)
          events.push({
            log: e.args.log,
            size: anchoredSize(e.args.size),
            root: e.args.root,
            block: e.blockNumber,
          });
      } catch (error) {
        throw new ChainUnavailableError(`cannot read the anchors on ${contract}: ${shortError(error)}`);
      }
    }
    return events;
  }

  /** The live agent of `dsp`, or undefined when it has none. */
  dspAgent(registry: Address, dsp: Address, block: bigint): Promise<Address | undefined> {
    return this.read(
      "dspAgent",
      block,
      `dspAgent:${registry}:${dsp}`,
      `the agent registry ${registry}`,
      async () => {
        const agent = await this.client.readContract({
          address: registry,
          abi: agentRegistryAbi,
          functionName: "dspAgent",
          args: [dsp],
          blockNumber: block,
        });
        return agent === zeroAddress ? undefined : getAddress(agent);
      },
    );
  }

  /** The agent token held by `agent`, or undefined if it holds none (never minted or revoked). */
  agentOf(registry: Address, agent: Address, block: bigint): Promise<Agent | undefined> {
    return this.read(
      "agentOf",
      block,
      `agent:${registry}:${agent}`,
      `the agent registry ${registry}`,
      async () => {
        const [tokenId, dsp] = await this.client.readContract({
          address: registry,
          abi: agentRegistryAbi,
          functionName: "agentOf",
          args: [agent],
          blockNumber: block,
        });
        return tokenId === 0n ? undefined : { tokenId, dsp: getAddress(dsp) };
      },
    );
  }
}

/**
 * An anchored size as a number: a uint64 past what a log can hold (2^53) is kept at
 * Number.MAX_SAFE_INTEGER, beyond any checkpoint, so it is never mistaken for a size a log
 * reached and still fits a Kubernetes integer in status.
 */
const anchoredSize = (size: bigint): number =>
  size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size);

/** Blocks one eth_getLogs of anchors spans at most. */
const ANCHOR_EVENT_SPAN = 5_000n;

/** One anchor as the contract's Anchored event tells it. */
export interface AnchorEvent {
  readonly log: Hex;
  readonly size: number;
  readonly root: Hex;
  readonly block: bigint;
}

/** A log's registration and latest anchor on chain. */
export interface ChainAnchor {
  /** The log's Ed25519 public key as the Consortium Safe registered it. */
  readonly key: Hex;
  /** The account that anchors for the log; the zero address for a log never registered. */
  readonly anchorer: Address;
  readonly size: number;
  readonly root: Hex;
  /** Unix seconds of the block that anchored it; 0 before the first anchor. */
  readonly at: number;
}

/**
 * A GuardianPause contract on a chain. Its pause ids are its own: a contract
 * the DAO deploys in its place counts from 1 again.
 */
export interface PauseContract {
  readonly chainId: number;
  readonly address: Address;
}

/** The GuardianPause contract's state at a block. */
export interface ChainPause {
  /** The contract read: an id means nothing without it. */
  readonly contract: PauseContract;
  /** The block read. */
  readonly block: bigint;
  readonly paused: boolean;
  /** The latest pause id (0 before the first), lifted or not. */
  readonly id: bigint;
  readonly guardian: Address;
  readonly evidence: Hex;
  /** Unix seconds. */
  readonly at: number;
}

/** The GuardianPause contract a Federation names, if any. */
export function pauseContractOf(spec: {
  readonly chain: { readonly chainId: number };
  readonly guardian?: { readonly pauseContract?: string | undefined } | undefined;
}): PauseContract | undefined {
  const address = spec.guardian?.pauseContract;
  return address ? { chainId: spec.chain.chainId, address: getAddress(address) } : undefined;
}

export const samePauseContract = (a: PauseContract, b: PauseContract): boolean =>
  a.chainId === b.chainId && a.address.toLowerCase() === b.address.toLowerCase();

/**
 * The token of a pause a guardian raised on chain directly, as the federation
 * state holds it: `chain-<chain id>-<contract>-<pause id>`. It names the
 * contract, since a pause lifted on one contract must not stand for the pause
 * of the same id on the contract that replaced it.
 */
export const chainPauseToken = (contract: PauseContract, id: bigint): string =>
  `chain-${String(contract.chainId)}-${contract.address.toLowerCase()}-${id.toString()}`;

/** The token the release before 0.1.0 gave the same pause: `chain-<pause id>`, no contract (chainPauseOf reads both). */
export const legacyChainPauseToken = (id: bigint): string => `chain-${id.toString()}`;

/**
 * The contract and pause id a token names, if it is a chain pause's token.
 * A token of the release before 0.1.0 (`chain-<pause id>`) names no contract.
 */
export function chainPauseOf(
  token: string,
): { readonly contract?: PauseContract; readonly id: bigint } | undefined {
  const m = /^chain-(?:([1-9][0-9]{0,15})-(0x[0-9a-f]{40})-)?([1-9][0-9]*)$/.exec(token);
  if (!m?.[3]) return undefined;
  const id = BigInt(m[3]);
  if (m[1] === undefined || m[2] === undefined) return { id };
  return { contract: { chainId: Number(m[1]), address: getAddress(m[2]) }, id };
}

/**
 * A signature no key made (ECDSA with r = s = 0 recovers no address), over a
 * hash nobody approved: every Safe that judges signatures refuses it.
 */
const CANARY_HASH: Hex = `0x${"00".repeat(31)}01`;
const CANARY_SIGNATURE: Hex = `0x${"00".repeat(64)}1b`;

/** A call that answered with data that does not decode (no VERSION() function, say). */
function isNotDecodable(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === "ContractFunctionZeroDataError" || e.name === "AbiDecodingZeroDataError") return true;
  }
  return false;
}

/**
 * A revert is the Safe saying no; anything else (a refused connection, a
 * timeout, an RPC error) says nothing and must not read as "invalid". viem
 * wraps a revert as ContractFunctionRevertedError over ExecutionRevertedError.
 */
function isRevert(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === "ContractFunctionRevertedError" || e.name === "ExecutionRevertedError") return true;
  }
  return false;
}
