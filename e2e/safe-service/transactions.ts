// Multisig transactions: propose with the proposer's signature, confirm one
// owner at a time, list and read them back. Execution is not tracked by an
// indexer but looked up on chain (ExecutionSuccess/Failure events) on reads.
import type { Address, Hex } from "viem";
import type { ChainReader, Execution } from "./chain.ts";
import {
  confirmationSignature,
  now,
  refuseDuplicate,
  verifyOwnerSignature,
  type Confirmation,
} from "./confirmations.ts";
import {
  checksumAddress,
  hexBytes,
  optional,
  pathAddress,
  pathHash,
  required,
  shortString,
  uint256,
} from "./fields.ts";
import { safeTxHash, type SafeTx } from "./hashes.ts";
import {
  badRequest,
  notFound,
  order,
  paginate,
  withStatus,
  type Reply,
  type Request,
  type Router,
} from "./http.ts";

const MAX_SIGNATURE_BYTES = 5000;

interface StoredTx extends SafeTx {
  readonly safe: Address;
  readonly safeTxHash: Hex;
  readonly proposer: Address;
  readonly origin: string | null;
  readonly created: Date;
  modified: Date;
  execution: Execution | null;
  readonly confirmations: Confirmation[];
}

function operation(value: unknown): number {
  const op = Number(uint256(value, "operation"));
  if (op === 2) throw badRequest("operation: Operation CREATE not supported. Please use Safe CreateLib");
  if (op !== 0 && op !== 1) throw badRequest(`operation: Unknown operation ${op}`);
  return op;
}

function parseSafeTx(body: Record<string, unknown>): SafeTx {
  const zeroDefault = (name: string): bigint => optional(body[name], (v) => uint256(v, name)) ?? 0n;
  return {
    to: checksumAddress(required(body, "to"), "to"),
    value: uint256(required(body, "value"), "value"),
    data: optional(body.data, (v) => (v === "" ? "0x" : hexBytes(v, "data"))) ?? "0x",
    operation: operation(required(body, "operation")),
    safeTxGas: zeroDefault("safeTxGas"),
    baseGas: zeroDefault("baseGas"),
    gasPrice: zeroDefault("gasPrice"),
    gasToken: optional(body.gasToken, (v) => checksumAddress(v, "gasToken")),
    refundReceiver: optional(body.refundReceiver, (v) => checksumAddress(v, "refundReceiver")),
    nonce: uint256(required(body, "nonce"), "nonce"),
  };
}

function renderConfirmation(c: Confirmation): unknown {
  return {
    owner: c.signature.owner,
    submissionDate: c.created.toISOString(),
    transactionHash: null,
    signature: confirmationSignature(c),
    signatureType: c.signature.type,
  };
}

/** The v2 shape: nonce, safeTxGas and baseGas as strings. */
function render(tx: StoredTx, confirmationsRequired: number): unknown {
  const ex = tx.execution;
  return {
    safe: tx.safe,
    to: tx.to,
    value: String(tx.value),
    data: tx.data === "0x" ? null : tx.data,
    operation: tx.operation,
    gasToken: tx.gasToken,
    safeTxGas: String(tx.safeTxGas),
    baseGas: String(tx.baseGas),
    gasPrice: String(tx.gasPrice),
    refundReceiver: tx.refundReceiver,
    nonce: String(tx.nonce),
    executionDate: ex?.executionDate ?? null,
    submissionDate: tx.created.toISOString(),
    modified: tx.modified.toISOString(),
    blockNumber: ex?.blockNumber ?? null,
    transactionHash: ex?.transactionHash ?? null,
    safeTxHash: tx.safeTxHash,
    proposer: tx.proposer,
    proposedByDelegate: null,
    executor: ex?.executor ?? null,
    isExecuted: ex !== null,
    isSuccessful: ex?.isSuccessful ?? null,
    ethGasPrice: ex?.ethGasPrice ?? null,
    maxFeePerGas: null,
    maxPriorityFeePerGas: null,
    gasUsed: ex?.gasUsed ?? null,
    fee: ex?.fee ?? null,
    payment: ex?.payment ?? null,
    origin: tx.origin ?? "{}",
    dataDecoded: null,
    confirmationsRequired,
    confirmations: tx.confirmations.map(renderConfirmation),
    trusted: true,
    signatures: ex?.signatures ?? null,
  };
}

/** Query filters of the service's MultisigTransactionFilter that api-kit uses. */
function matchesFilters(url: URL, tx: StoredTx): boolean {
  const q = url.searchParams;
  const bool = (name: string): boolean | undefined => {
    const v = q.get(name)?.toLowerCase();
    return v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : undefined;
  };
  const executed = bool("executed");
  if (executed !== undefined && executed !== (tx.execution !== null)) return false;
  const confirmed = bool("has_confirmations");
  if (confirmed !== undefined && confirmed !== tx.confirmations.length > 0) return false;
  const nonceTests: Record<string, (n: bigint) => boolean> = {
    nonce: (n) => tx.nonce === n,
    nonce__lt: (n) => tx.nonce < n,
    nonce__lte: (n) => tx.nonce <= n,
    nonce__gt: (n) => tx.nonce > n,
    nonce__gte: (n) => tx.nonce >= n,
  };
  return Object.entries(nonceTests).every(([name, test]) => {
    const raw = q.get(name);
    return raw === null || test(uint256(raw, name));
  });
}

export function transactionRoutes(router: Router, chain: ChainReader): void {
  const txs = new Map<Hex, StoredTx>();

  const find = (param: string): StoredTx => {
    const hash = pathHash(param, "safeTxHash");
    const tx = txs.get(hash);
    if (!tx) throw notFound(`Multisig transaction with safe-tx-hash=${hash} was not found`);
    return tx;
  };

  /** Looks up executions of `safe`'s transactions not yet seen executed; once executed stays executed. */
  const refresh = async (safe: Address, among: readonly StoredTx[]): Promise<void> => {
    const pending = among.filter((tx) => tx.execution === null);
    const found = await chain.executions(
      safe,
      pending.map((tx) => tx.safeTxHash),
    );
    for (const tx of pending) {
      const execution = found.get(tx.safeTxHash);
      if (execution) {
        tx.execution = execution;
        tx.modified = now();
      }
    }
  };

  const propose = async (req: Request): Promise<Reply> => {
    const safe = pathAddress(req.params[0] ?? "");
    const body = await req.body();
    const tx = parseSafeTx(body);
    const claimed = hexBytes(required(body, "contractTransactionHash"), "contractTransactionHash", 32, 32);
    const sender = checksumAddress(required(body, "sender"), "sender");
    const signature = hexBytes(required(body, "signature"), "signature", 65, MAX_SIGNATURE_BYTES);
    const origin = optional(body.origin, (v) => shortString(v, "origin", 200));
    const hash = safeTxHash(chain.chainId, safe, tx).toLowerCase() as Hex;
    if (hash !== claimed) {
      throw badRequest(
        `Contract-transaction-hash=${hash} does not match provided contract-tx-hash=${claimed}`,
      );
    }
    const refuseExisting = (): void => {
      if (txs.has(hash)) throw badRequest(`Tx with safe-tx-hash=${hash} for safe=${safe} already exists`);
    };
    refuseExisting();
    const owners = await chain.owners(safe);
    if (!owners.includes(sender)) {
      throw badRequest(`Sender=${sender} is not an owner. Current owners=${owners.join(",")}`);
    }
    const safeNonce = await chain.nonce(safe);
    if (tx.nonce < safeNonce) {
      throw badRequest(
        `Tx with nonce=${tx.nonce} for safe=${safe} already executed (Safe nonce is ${safeNonce})`,
      );
    }
    const first = await verifyOwnerSignature(chain, safe, owners, hash, signature);
    if (first.owner !== sender) {
      throw badRequest(`Signature does not match sender=${sender}. Calculated owners=${first.owner}`);
    }
    refuseExisting();
    const created = now();
    txs.set(hash, {
      ...tx,
      safe,
      safeTxHash: hash,
      proposer: sender,
      origin,
      created,
      modified: created,
      execution: null,
      confirmations: [{ signature: first, created }],
    });
    return { status: 201 };
  };

  router.add("POST", "/v2/safes/{address}/multisig-transactions/", (req) =>
    withStatus(422, () => propose(req)),
  );

  router.add("POST", "/v1/multisig-transactions/{hash}/confirmations/", async (req): Promise<Reply> => {
    const tx = find(req.params[0] ?? "");
    const body = await req.body();
    const signature = hexBytes(required(body, "signature"), "signature", 65, MAX_SIGNATURE_BYTES);
    await refresh(tx.safe, [tx]);
    if (tx.execution) throw badRequest(`Transaction with safe-tx-hash=${tx.safeTxHash} was already executed`);
    const owners = await chain.owners(tx.safe);
    const added = await verifyOwnerSignature(chain, tx.safe, owners, tx.safeTxHash, signature);
    refuseDuplicate(tx.confirmations, added.owner);
    const confirmation = { signature: added, created: now() };
    tx.confirmations.push(confirmation);
    tx.modified = confirmation.created;
    return { status: 201, body: { signature: confirmationSignature(confirmation) } };
  });

  router.add("GET", "/v1/multisig-transactions/{hash}/confirmations/", (req) => {
    const page = paginate(req.url, find(req.params[0] ?? "").confirmations);
    return Promise.resolve({ status: 200, body: { ...page, results: page.results.map(renderConfirmation) } });
  });

  router.add("GET", "/v2/multisig-transactions/{hash}/", async (req): Promise<Reply> => {
    const tx = find(req.params[0] ?? "");
    await refresh(tx.safe, [tx]);
    return { status: 200, body: render(tx, await chain.threshold(tx.safe)) };
  });

  router.add("GET", "/v2/safes/{address}/multisig-transactions/", async (req): Promise<Reply> => {
    const safe = pathAddress(req.params[0] ?? "");
    const own = [...txs.values()].filter((tx) => tx.safe === safe);
    await refresh(safe, own);
    const threshold = own.length > 0 ? await chain.threshold(safe) : 0;
    const sorted = order(
      req.url,
      own.filter((tx) => matchesFilters(req.url, tx)),
      {
        nonce: (tx) => tx.nonce,
        created: (tx) => tx.created.getTime(),
        modified: (tx) => tx.modified.getTime(),
      },
      "-nonce,-created",
    );
    const page = paginate(req.url, sorted);
    return {
      status: 200,
      body: {
        ...page,
        countUniqueNonce: new Set(own.map((tx) => tx.nonce)).size,
        results: page.results.map((tx) => render(tx, threshold)),
      },
    };
  });
}
