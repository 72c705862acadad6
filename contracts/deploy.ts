// Deploys the project's contracts. The test bed uses deployFederationContracts;
// the single-contract functions serve any other chain.
import {
  createPublicClient,
  createWalletClient,
  http,
  type Abi,
  type Address,
  type Hex,
  type PublicClient,
  type Chain,
  type PrivateKeyAccount,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { agentRegistryAbi } from "../operator/chain/abi/agent-registry.ts";
import { guardianPauseAbi } from "../operator/chain/abi/guardian-pause.ts";
import { logAnchorAbi } from "../operator/chain/abi/log-anchor.ts";
import { errorMessage } from "../operator/runtime/errors.ts";
import { compileContracts, type ContractName } from "./compile.ts";

export interface DeployOptions {
  readonly deployerKey: Hex;
  /** Initial owner; the DAO Board Safe in production. */
  readonly owner: Address;
}

/** What deployFederationContracts sets the contracts up for, from its caller. */
export interface FederationSetup {
  /** The account that deploys and sets up both contracts, then hands them over. */
  readonly deployerKey: Hex;
  /** Each region's agent and the DSP Safe its token binds it to, minted in this order. */
  readonly agents: readonly { readonly agent: Address; readonly dspSafe: Address }[];
  /** Made a guardian of GuardianPause. */
  readonly guardian: Address;
  /** The DAO Board Safe: the owner of both contracts in the end. */
  readonly daoBoard: Address;
}

export interface FederationContracts {
  readonly agentRegistry: Address;
  readonly guardianPause: Address;
}

interface Clients {
  readonly publicClient: PublicClient;
  readonly wallet: WalletClient<Transport, Chain, PrivateKeyAccount>;
}

async function connect(rpcUrl: string, deployerKey: Hex): Promise<Clients> {
  const transport = http(rpcUrl, { retryCount: 0 });
  const id = await createPublicClient({ transport }).getChainId();
  const chain = { ...foundry, id, rpcUrls: { default: { http: [rpcUrl] } } };
  return {
    publicClient: createPublicClient({ chain, transport, pollingInterval: 50 }),
    wallet: createWalletClient({ chain, transport, account: privateKeyToAccount(deployerKey) }),
  };
}

/** anvil's chain id: a local development chain that mines on demand. */
const ANVIL_CHAIN_ID = 31337;

const RECEIPT_TIMEOUT_MS = 90_000;

/** What the node says of a transaction whose receipt did not come: for the error, so a stuck start can be told apart. */
async function whyUnmined(publicClient: PublicClient, hash: Hex): Promise<string> {
  try {
    const tx = await publicClient.getTransaction({ hash });
    const [latest, pending] = await Promise.all([
      publicClient.getTransactionCount({ address: tx.from, blockTag: "latest" }),
      publicClient.getTransactionCount({ address: tx.from, blockTag: "pending" }),
    ]);
    return `transaction ${hash} (nonce ${String(tx.nonce)} of ${tx.from}) is known but not mined; the account's nonce is ${String(latest)} mined, ${String(pending)} pending`;
  } catch (error) {
    return `transaction ${hash} is not known to the node (${errorMessage(error)})`;
  }
}

/**
 * One account's sends, in nonce order from `first`: each goes to the node only
 * once the node has accepted the one before. anvil can leave a transaction
 * unmined for good when several arrive out of nonce order
 * (foundry-rs/foundry#10122), which concurrent sends with preset nonces invite.
 * Only the sends wait for each other; their receipts are awaited together.
 */
export function inNonceOrder(first: number): <T>(send: (nonce: number) => Promise<T>) => Promise<T> {
  let nonce = first;
  // A send that failed leaves its nonce unused: every later one would wait behind the gap for
  // ever, so each is refused instead, naming the failure.
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(send: (nonce: number) => Promise<T>): Promise<T> => {
    const sent = tail.then(
      () => send(nonce++),
      (error: unknown) => {
        throw new Error(`not sent: the transaction of nonce ${String(nonce - 1)} before it failed`, {
          cause: error,
        });
      },
    );
    tail = sent;
    // Each caller handles its own send's failure; the chain only carries it on.
    sent.catch(() => undefined);
    return sent;
  };
}

/**
 * The receipts of `hashes`. A ready transaction anvil left unmined
 * (foundry-rs/foundry#10122) gets no receipt, so on anvil only a block is asked
 * for (evm_mine) each second until every receipt is in: a backstop for a
 * sender that did not go through inNonceOrder.
 */
export async function waitForReceipts(
  publicClient: PublicClient,
  hashes: readonly Hex[],
  timeoutMs = RECEIPT_TIMEOUT_MS,
): Promise<TransactionReceipt[]> {
  const all = Promise.all(
    hashes.map((hash) =>
      publicClient.waitForTransactionReceipt({ hash, timeout: timeoutMs }).catch(async (error: unknown) => {
        throw new Error(`${await whyUnmined(publicClient, hash)} (${errorMessage(error)})`, {
          cause: error,
        });
      }),
    ),
  );
  if ((await publicClient.getChainId()) !== ANVIL_CHAIN_ID) return all;
  let done = false;
  const nudge = setInterval(() => {
    if (!done) publicClient.request({ method: "evm_mine" } as never).catch(() => undefined);
  }, 1000);
  try {
    return await all;
  } finally {
    done = true;
    clearInterval(nudge);
  }
}

async function waitForAll(
  publicClient: PublicClient,
  hashes: readonly Hex[],
  what: string,
): Promise<TransactionReceipt[]> {
  const receipts = await waitForReceipts(publicClient, hashes);
  for (const receipt of receipts) {
    if (receipt.status !== "success")
      throw new Error(`${what}: transaction ${receipt.transactionHash} reverted`);
  }
  return receipts;
}

/** The contracts deployed on chain (ManifestLens never is: it runs as creation code in eth_call). */
type Deployed = Exclude<ContractName, "ManifestLens">;
const ABIS: Record<Deployed, Abi> = {
  AgentRegistry: agentRegistryAbi,
  GuardianPause: guardianPauseAbi,
  LogAnchor: logAnchorAbi,
};

async function deploy(
  { publicClient, wallet }: Clients,
  names: readonly Deployed[],
  owner: Address,
): Promise<Address[]> {
  const compiled = await compileContracts();
  // Both contracts take the same constructor argument; sending every deployment
  // before awaiting any costs one round of receipts instead of one per contract.
  const send = inNonceOrder(await publicClient.getTransactionCount({ address: wallet.account.address }));
  const hashes = await Promise.all(
    names.map((name) =>
      send((nonce) =>
        wallet.deployContract({ abi: ABIS[name], bytecode: compiled[name].bytecode, args: [owner], nonce }),
      ),
    ),
  );
  const receipts = await waitForAll(publicClient, hashes, `deploying ${names.join(", ")}`);
  return receipts.map(({ contractAddress }, i) => {
    if (!contractAddress) throw new Error(`deploying ${String(names[i])} produced no contract`);
    return contractAddress;
  });
}

async function deployOne(name: Deployed, rpcUrl: string, options: DeployOptions): Promise<Address> {
  const [address] = await deploy(await connect(rpcUrl, options.deployerKey), [name], options.owner);
  return address as Address;
}

export function deployAgentRegistry(rpcUrl: string, options: DeployOptions): Promise<Address> {
  return deployOne("AgentRegistry", rpcUrl, options);
}

export function deployGuardianPause(rpcUrl: string, options: DeployOptions): Promise<Address> {
  return deployOne("GuardianPause", rpcUrl, options);
}

/** The regions' log anchors; its owner should be the Consortium Safe. */
export function deployLogAnchor(rpcUrl: string, options: DeployOptions): Promise<Address> {
  return deployOne("LogAnchor", rpcUrl, options);
}

/**
 * Deploys both contracts, binds each region's agent to its DSP Safe, makes the
 * guardian account a guardian, and hands both contracts to the DAO Board Safe, so
 * that every later revoke or unpause has to be a real Safe transaction.
 */
export async function deployFederationContracts(
  rpcUrl: string,
  setup: FederationSetup,
): Promise<FederationContracts> {
  const clients = await connect(rpcUrl, setup.deployerKey);
  const { publicClient, wallet } = clients;
  const [agentRegistry, guardianPause] = (await deploy(
    clients,
    ["AgentRegistry", "GuardianPause"],
    wallet.account.address,
  )) as [Address, Address];

  // Each call is estimated against the state after deployment, and the nonces
  // order execution, so the ownership transfers run after the mints they follow.
  const send = inNonceOrder(await publicClient.getTransactionCount({ address: wallet.account.address }));
  const registry = { address: agentRegistry, abi: agentRegistryAbi } as const;
  const pause = { address: guardianPause, abi: guardianPauseAbi } as const;
  const hashes = await Promise.all([
    ...setup.agents.map(({ agent, dspSafe }) =>
      send((nonce) =>
        wallet.writeContract({
          ...registry,
          functionName: "mint",
          args: [agent, dspSafe],
          nonce,
        }),
      ),
    ),
    send((nonce) =>
      wallet.writeContract({
        ...pause,
        functionName: "setGuardian",
        args: [setup.guardian, true],
        nonce,
      }),
    ),
    send((nonce) =>
      wallet.writeContract({
        ...registry,
        functionName: "transferOwnership",
        args: [setup.daoBoard],
        nonce,
      }),
    ),
    send((nonce) =>
      wallet.writeContract({
        ...pause,
        functionName: "transferOwnership",
        args: [setup.daoBoard],
        nonce,
      }),
    ),
  ]);
  await waitForAll(publicClient, hashes, "setting up the federation contracts");
  return { agentRegistry, guardianPause };
}
