// Reads everything one manifest verification weighs in a single eth_call: the
// creation code of contracts/ManifestLens.sol, run at the pinned block, whose
// constructor calls the Safes, the agent registry and checkNSignatures once
// per candidate and returns the raw answers. Verifications that ask at the same
// block in the same turn of the event loop ride in one call. Every answer is
// decoded here exactly as the one-by-one reads decode theirs, and anything the
// lens could not read fails the whole verification closed.
import {
  bytesToBigInt,
  bytesToHex,
  decodeFunctionResult,
  encodeDeployData,
  getAddress,
  hexToBytes,
  size,
  zeroAddress,
  type Address,
  type Hex,
} from "viem";
import { manifestLensAbi, manifestLensBytecode } from "./abi/manifest-lens.ts";
import { checkOutcome, safeAbi } from "./safe-abi.ts";
import { agentRegistryAbi } from "./abi/agent-registry.ts";
import { ChainUnavailableError, shortError, type Agent, type CheckResult, type SafeState } from "./model.ts";

/** One manifest's question: the hash each Safe signs, the candidates, the proposer's agent. */
export interface LensQuery {
  /** By Safe index, as in the batch's `safes`. */
  readonly hashes: readonly Hex[];
  /** Candidates whose signer is known; the lens checks those whose signer is an owner. */
  readonly checks: readonly { readonly safe: number; readonly signer: Address; readonly signature: Hex }[];
  readonly agent: Address;
  /** The proposer's signature of the manifest (over its EIP-712 hash), recovered by the chain's ecrecover. */
  readonly proposal: { readonly hash: Hex; readonly signature: Hex };
}

/** What an owner has on chain for the manifest's hash, and the Safe's judgement of it. */
export interface OwnerOnChain {
  readonly owner: Address;
  /** Set when the owner approved the hash on chain (approveHash): the v=1 signature's check. */
  readonly approved?: CheckResult;
  /** Set when the owner is a contract: the empty v=0 (signed message) signature's check. */
  readonly contract?: CheckResult;
}

export interface LensAnswer {
  /** The block's timestamp (Unix seconds). */
  readonly time: number;
  readonly safes: readonly SafeState[];
  /** By Safe index, then by owner. */
  readonly onChain: readonly (readonly OwnerOnChain[])[];
  /** By check index; undefined when the signer is no owner (the Safe was not asked). */
  readonly checks: readonly (CheckResult | undefined)[];
  readonly agent: Agent | undefined;
  /** Whom the proposal's signature recovers to; undefined when no one. */
  readonly proposer: Address | undefined;
}

/**
 * A batch stays under the 49,152-byte limit on creation code (EIP-3860; the
 * lens's own code is 5.4 KB), under any node's gas cap for eth_call (geth's
 * is 50 M) and under the 24,576 bytes a constructor may return: 32 manifests
 * of two approvals are 39.5 KB of call, 6.7 M gas and 13.7 KB of answer on
 * anvil. A batch the chain refuses anyway (a hostile spec's many checks) is
 * asked again one manifest at a time.
 */
const MAX_QUERIES = 32;
const MAX_ARGUMENT_BYTES = 40_000;

interface Pending {
  readonly query: LensQuery;
  readonly resolve: (answer: LensAnswer) => void;
  readonly reject: (error: unknown) => void;
}

interface Batch {
  readonly block: bigint;
  readonly safes: readonly Address[];
  readonly registry: Address;
  readonly pending: Pending[];
  bytes: number;
}

/** Runs the lens through `call` (one eth_call of `data` at `block`, resolving to the returned bytes). */
export class ManifestLens {
  readonly #call: (data: Hex, block: bigint) => Promise<Hex>;
  readonly #chainId: number;
  readonly #open = new Map<string, Batch>();

  constructor(chainId: number, call: (data: Hex, block: bigint) => Promise<Hex>) {
    this.#chainId = chainId;
    this.#call = call;
  }

  judge(safes: readonly Address[], registry: Address, query: LensQuery, block: bigint): Promise<LensAnswer> {
    return new Promise((resolve, reject) => {
      const key = `${block.toString()} ${registry} ${safes.join(" ")}`;
      const bytes = queryBytes(query);
      let batch = this.#open.get(key);
      if (batch && (batch.pending.length >= MAX_QUERIES || batch.bytes + bytes > MAX_ARGUMENT_BYTES)) {
        this.#open.delete(key);
        this.#send(batch);
        batch = undefined;
      }
      if (!batch) {
        const opened: Batch = { block, safes, registry, pending: [], bytes: 0 };
        this.#open.set(key, opened);
        // Everything asked in this turn of the event loop rides along.
        setImmediate(() => {
          if (this.#open.get(key) !== opened) return;
          this.#open.delete(key);
          this.#send(opened);
        });
        batch = opened;
      }
      batch.pending.push({ query, resolve, reject });
      batch.bytes += bytes;
    });
  }

  #send(batch: Batch): void {
    const { block, safes, registry, pending } = batch;
    this.#run(block, safes, registry, pending).catch((error: unknown) => {
      // One bad query (a hostile spec whose checks exhaust the gas) must not fail the others:
      // each is asked again alone, and only the one that cannot be read fails.
      if (pending.length > 1) {
        for (const one of pending) this.#send({ ...batch, pending: [one], bytes: 0 });
        return;
      }
      for (const p of pending) p.reject(unavailable(error));
    });
  }

  async #run(
    block: bigint,
    safes: readonly Address[],
    registry: Address,
    pending: readonly Pending[],
  ): Promise<void> {
    const data = encodeDeployData({
      abi: manifestLensAbi,
      bytecode: manifestLensBytecode,
      args: [
        safes,
        registry,
        pending.map(({ query }) => ({
          hashes: query.hashes,
          checks: query.checks.map((c) => ({ safe: c.safe, signer: c.signer, signature: c.signature })),
          agent: query.agent,
          proposal: { hash: query.proposal.hash, ...ecdsaParts(query.proposal.signature) },
        })),
      ],
    });
    const reader = new Cursor(await this.#call(data, block));
    const chainId = reader.uint(32);
    const number = reader.uint(32);
    const time = Number(reader.uint(32));
    if (chainId !== BigInt(this.#chainId))
      throw new ChainUnavailableError(
        `the RPC serves chain ${chainId.toString()}, not ${String(this.#chainId)}`,
      );
    if (number !== block)
      throw new ChainUnavailableError(
        `the RPC ran the call at block ${number.toString()}, not ${block.toString()}`,
      );
    const states = safes.map((safe) => readSafe(reader, safe, block));
    // Decoded in full before anyone is answered: one unreadable part fails the batch.
    const answers = pending.map(({ query }) => readQuery(reader, query, states, registry, time));
    if (!reader.done()) throw new ChainUnavailableError("the lens answered more than was asked");
    pending.forEach((p, q) => {
      p.resolve(answers[q] as LensAnswer);
    });
  }
}

/** Reads the lens's packed answer front to back; running past its end fails closed. */
class Cursor {
  readonly #bytes: Uint8Array;
  #at = 0;

  constructor(data: Hex) {
    this.#bytes = hexToBytes(data);
  }

  take(n: number): Uint8Array {
    if (this.#at + n > this.#bytes.length)
      throw new ChainUnavailableError("the lens's answer ended early: not the lens's code, or a broken RPC");
    const out = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  uint(n: number): bigint {
    return bytesToBigInt(this.take(n));
  }

  /** A call's raw answer: whether it returned, and its data. */
  call(): { readonly ok: boolean; readonly data: Hex } {
    const ok = this.uint(1) === 1n;
    return { ok, data: bytesToHex(this.take(Number(this.uint(2)))) };
  }

  /** checkNSignatures' outcome, judged as the one-by-one read judges it; undefined when not asked. */
  outcome(): CheckResult | undefined {
    const status = Number(this.uint(1));
    if (status === 0) return undefined;
    if (status === 1) return checkOutcome(true, "0x");
    if (status === 2) return checkOutcome(true, "0x00");
    if (status === 3) return checkOutcome(false, bytesToHex(this.take(Number(this.uint(1)))));
    throw new ChainUnavailableError(`the lens answered an unknown outcome ${String(status)}`);
  }

  done(): boolean {
    return this.#at === this.#bytes.length;
  }
}

function readSafe(reader: Cursor, safe: Address, block: bigint): SafeState {
  const fail = (what: string): never => {
    throw new ChainUnavailableError(`cannot read Safe ${safe} at block ${block.toString()}: ${what}`);
  };
  const [owners, threshold, version] = [reader.call(), reader.call(), reader.call()];
  const canary = reader.outcome();
  if (!owners.ok) fail("getOwners() reverted");
  if (!threshold.ok) fail("getThreshold() reverted");
  return {
    owners: decodeOr(fail, () =>
      decodeFunctionResult({ abi: safeAbi, functionName: "getOwners", data: owners.data }),
    ).map((o) => getAddress(o)),
    threshold: Number(
      decodeOr(fail, () =>
        decodeFunctionResult({ abi: safeAbi, functionName: "getThreshold", data: threshold.data }),
      ),
    ),
    // As the one-by-one read: a revert or an empty answer is "no VERSION()", other garbage fails.
    version:
      !version.ok || version.data === "0x"
        ? undefined
        : decodeOr(fail, () =>
            decodeFunctionResult({ abi: safeAbi, functionName: "VERSION", data: version.data }),
          ),
    refusesForgery: !(canary?.valid ?? false),
  };
}

function readQuery(
  reader: Cursor,
  query: LensQuery,
  safes: readonly SafeState[],
  registry: Address,
  time: number,
): LensAnswer {
  const onChain = safes.map((state) =>
    state.owners.map((owner): OwnerOnChain => {
      const flags = Number(reader.uint(1));
      if ((flags & 1) === 0) throw new ChainUnavailableError(`cannot read approved hashes of ${owner}`);
      const approved = (flags & 2) !== 0 ? reader.outcome() : undefined;
      const contract = (flags & 4) !== 0 ? reader.outcome() : undefined;
      return { owner, ...(approved ? { approved } : {}), ...(contract ? { contract } : {}) };
    }),
  );
  const checks = query.checks.map(() => reader.outcome());
  const agentCall = reader.call();
  const proposer = getAddress(bytesToHex(reader.take(20)));
  const fail = (what: string): never => {
    throw new ChainUnavailableError(`cannot read the agent registry ${registry}: ${what}`);
  };
  if (!agentCall.ok) fail("agentOf() reverted");
  const [tokenId, dsp] = decodeOr(fail, () =>
    decodeFunctionResult({ abi: agentRegistryAbi, functionName: "agentOf", data: agentCall.data }),
  );
  return {
    time,
    safes,
    onChain,
    checks,
    agent: tokenId === 0n ? undefined : { tokenId, dsp: getAddress(dsp) },
    proposer: proposer === zeroAddress ? undefined : proposer,
  };
}

function decodeOr<T>(fail: (what: string) => never, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    return fail(shortError(error));
  }
}

/** About what a query adds to the call's arguments. */
function queryBytes(query: LensQuery): number {
  return 320 + 32 * query.hashes.length + query.checks.reduce((n, c) => n + 160 + size(c.signature), 0);
}

const NO_ONE = { v: 0, r: `0x${"0".repeat(64)}`, s: `0x${"0".repeat(64)}` } as const;

/**
 * A signature split for ecrecover exactly as viem's recoverAddress reads it:
 * 65 bytes, r and s then v, where v 0 or 27 is parity 0 and 1 or 28 parity
 * 1. Anything else recovers no one.
 */
export function ecdsaParts(signature: Hex): { readonly v: number; readonly r: Hex; readonly s: Hex } {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return NO_ONE;
  const v = Number.parseInt(signature.slice(130), 16);
  const parity = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : undefined;
  if (parity === undefined) return NO_ONE;
  return { v: 27 + parity, r: `0x${signature.slice(2, 66)}`, s: `0x${signature.slice(66, 130)}` };
}

function unavailable(error: unknown): ChainUnavailableError {
  if (error instanceof ChainUnavailableError) return error;
  return new ChainUnavailableError(`cannot read the chain: ${shortError(error)}`);
}
