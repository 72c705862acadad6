// The test bed's chain: anvil (a real EVM node, from npm) with the real Safe
// 1.5.0 contracts deployed from their published build artifacts, then the
// federation's accounts: one Safe per DSP, the Consortium Safe owned by the
// three DSP Safes, and the DAO Board Safe.
//
// Safe 1.5.0 rather than 1.4.1: one `isValidSignature` overload (viem 2.57.20
// finds 1.4.1's two overloads ambiguous inside protocol-kit), module guards,
// and it is the version Safe{Wallet} deploys today.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { inNonceOrder, waitForReceipts, type FederationSetup } from "../../contracts/deploy.ts";
import { REGIONS, type Region } from "./layout.ts";
import {
  ComponentError,
  freePort,
  startDetached,
  stopProcess,
  waitUntil,
  type ProcessRecord,
} from "./process.ts";

const require = createRequire(import.meta.url);

/** anvil's published test mnemonic: these keys are public and worthless. */
export const TEST_MNEMONIC = "test test test test test test test test test test test junk";
export const CHAIN_ID = 31337;

interface Artifact {
  readonly abi: Abi;
  readonly bytecode: Hex;
}

function artifact(path: string): Artifact {
  return require(`@safe-global/safe-smart-account/build/artifacts/contracts/${path}`) as Artifact;
}

/** The Safe 1.5.0 contracts protocol-kit needs, by its `contractNetworks` names. */
const SAFE_CONTRACTS = {
  safeSingleton: "Safe.sol/Safe.json",
  safeProxyFactory: "proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
  fallbackHandler: "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
  multiSend: "libraries/MultiSend.sol/MultiSend.json",
  multiSendCallOnly: "libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
  signMessageLib: "libraries/SignMessageLib.sol/SignMessageLib.json",
  createCall: "libraries/CreateCall.sol/CreateCall.json",
  simulateTxAccessor: "accessors/SimulateTxAccessor.sol/SimulateTxAccessor.json",
} as const;

const PROXY_CREATION = parseAbi(["event ProxyCreation(address indexed proxy, address singleton)"]);

export type SafeContractName = keyof typeof SAFE_CONTRACTS;

/** What `up` writes to .testbed/chain.json: everything a test or a demo needs. */
export interface ChainInfo {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly safeVersion: "1.5.0";
  readonly contracts: Record<SafeContractName, Address>;
  readonly safes: {
    readonly consortium: Address;
    readonly daoBoard: Address;
    readonly dsp: Record<Region, Address>;
  };
  /** Test keys (anvil's public mnemonic), by role. */
  readonly keys: {
    readonly deployer: Hex;
    readonly dspOwners: Record<Region, readonly Hex[]>;
    readonly boardOwners: readonly Hex[];
    readonly agents: Record<Region, Hex>;
    readonly guardian: Hex;
    /** The accounts that anchor each region's log (contracts/LogAnchor.sol). */
    readonly anchorers: Record<Region, Hex>;
  };
}

/** HD index of each role's key; DSP owners take two each. */
const KEY_INDEX = {
  deployer: 0,
  dspOwners: { alpha: [1, 2], beta: [3, 4], gamma: [5, 6] },
  boardOwners: [7, 8],
  agents: { alpha: 9, beta: 10, gamma: 11 },
  guardian: 12,
  anchorers: { alpha: 13, beta: 14, gamma: 15 },
} as const;
const ACCOUNTS = 16;

function key(index: number): Hex {
  const hd = mnemonicToAccount(TEST_MNEMONIC, { addressIndex: index }).getHdKey();
  if (!hd.privateKey) throw new Error(`no private key at index ${String(index)}`);
  return `0x${Buffer.from(hd.privateKey).toString("hex")}`;
}

/**
 * The anvil binary: $ANVIL if set, else the npm build for this platform. The
 * package registry reachable here carries only the Linux x64 build, so it is
 * an optional dependency: elsewhere, install Foundry and point ANVIL at it.
 */
export function anvilBinary(): string {
  if (process.env.ANVIL) return process.env.ANVIL;
  try {
    return join(dirname(require.resolve("@foundry-rs/anvil-linux-amd64/package.json")), "bin", "anvil");
  } catch {
    throw new Error(
      `no anvil for ${process.platform}-${process.arch}: the npm build is Linux x64 only; install Foundry's anvil and set ANVIL=/path/to/anvil`,
    );
  }
}

/** `host` 0.0.0.0 lets other machines (kind's nodes) reach it; the test bed keeps to loopback. */
export function startAnvil(dir: string, port: number, host = "127.0.0.1"): ProcessRecord {
  return startDetached(
    "anvil",
    [
      anvilBinary(),
      "--host",
      host,
      "--port",
      String(port),
      "--chain-id",
      String(CHAIN_ID),
      "--mnemonic",
      TEST_MNEMONIC,
      "--accounts",
      String(ACCOUNTS),
      "--silent",
    ],
    join(dir, "anvil.log"),
  );
}

export async function waitForAnvil(record: ProcessRecord, rpcUrl: string, timeoutMs?: number): Promise<void> {
  const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }) });
  await waitUntil(
    record,
    "answering JSON-RPC",
    async () => (await client.getChainId()) === CHAIN_ID,
    timeoutMs,
  );
}

/** Deploys the Safe contracts and the federation's Safes; returns where they are. */
export async function deployFederation(
  rpcUrl: string,
  options: { readonly receiptTimeoutMs?: number } = {},
): Promise<ChainInfo> {
  const chain = { ...foundry, id: CHAIN_ID, rpcUrls: { default: { http: [rpcUrl] } } };
  const transport = http(rpcUrl, { retryCount: 0 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
  const deployer = mnemonicToAccount(TEST_MNEMONIC, { addressIndex: KEY_INDEX.deployer });
  const wallet = createWalletClient({ chain, transport, account: deployer });

  // Send every deployment before waiting for any: anvil mines each at once, and
  // one round of receipts is much faster than seven sequential round trips.
  const names = Object.keys(SAFE_CONTRACTS) as SafeContractName[];
  const send = inNonceOrder(await publicClient.getTransactionCount({ address: deployer.address }));
  const hashes = await Promise.all(
    names.map((name) => {
      const { abi, bytecode } = artifact(SAFE_CONTRACTS[name]);
      return send((nonce) => wallet.deployContract({ abi, bytecode, nonce }));
    }),
  );
  const receipts = await waitForReceipts(publicClient, hashes, options.receiptTimeoutMs);
  const contracts = Object.fromEntries(
    names.map((name, i) => {
      const address = receipts[i]?.contractAddress;
      if (!address) throw new Error(`deploying ${name} produced no contract`);
      return [name, address];
    }),
  ) as Record<SafeContractName, Address>;

  const safeAbi = artifact(SAFE_CONTRACTS.safeSingleton).abi;
  const factoryAbi = artifact(SAFE_CONTRACTS.safeProxyFactory).abi;
  const createSafe = async (
    owners: readonly Address[],
    threshold: number,
    salt: bigint,
  ): Promise<Address> => {
    const initializer = encodeFunctionData({
      abi: safeAbi,
      functionName: "setup",
      args: [
        owners,
        BigInt(threshold),
        zeroAddress,
        "0x",
        contracts.fallbackHandler,
        zeroAddress,
        0n,
        zeroAddress,
      ],
    });
    const hash = await send((nonce) =>
      wallet.writeContract({
        address: contracts.safeProxyFactory,
        abi: factoryAbi,
        functionName: "createProxyWithNonce",
        args: [contracts.safeSingleton, initializer, salt],
        nonce,
      }),
    );
    const [receipt] = await waitForReceipts(publicClient, [hash], options.receiptTimeoutMs);
    if (!receipt) throw new Error("no receipt for the Safe's creation");
    const [created] = parseEventLogs({ abi: PROXY_CREATION, logs: receipt.logs });
    if (!created) throw new Error("SafeProxyFactory emitted no ProxyCreation event");
    return created.args.proxy;
  };
  const addressOf = (index: number): Address =>
    mnemonicToAccount(TEST_MNEMONIC, { addressIndex: index }).address;

  const dspSafes = await Promise.all(
    REGIONS.map((region, i) => createSafe(KEY_INDEX.dspOwners[region].map(addressOf), 1, BigInt(100 + i))),
  );
  const dsp = Object.fromEntries(REGIONS.map((r, i) => [r, dspSafes[i]])) as Record<Region, Address>;
  // The Consortium Safe's own threshold governs Safe transactions (owner
  // changes); manifest tiers are counted by the operator, not by this number.
  const [consortium, daoBoard] = await Promise.all([
    createSafe(
      REGIONS.map((r) => dsp[r]),
      2,
      200n,
    ),
    createSafe(KEY_INDEX.boardOwners.map(addressOf), 1, 300n),
  ]);

  const byRegion = <T>(f: (r: Region) => T): Record<Region, T> =>
    Object.fromEntries(REGIONS.map((r) => [r, f(r)])) as Record<Region, T>;
  return {
    rpcUrl,
    chainId: CHAIN_ID,
    safeVersion: "1.5.0",
    contracts,
    safes: { consortium, daoBoard, dsp },
    keys: {
      deployer: key(KEY_INDEX.deployer),
      dspOwners: byRegion((r) => KEY_INDEX.dspOwners[r].map(key)),
      boardOwners: KEY_INDEX.boardOwners.map(key),
      agents: byRegion((r) => key(KEY_INDEX.agents[r])),
      guardian: key(KEY_INDEX.guardian),
      anchorers: byRegion((r) => key(KEY_INDEX.anchorers[r])),
    },
  };
}

/** A chain of a test file's own: anvil with the federation deployed. */
export interface TestChain {
  readonly rpcUrl: string;
  readonly info: ChainInfo;
  /** Stops anvil and removes its directory. */
  stop(): Promise<void>;
}

/**
 * One start's bound: it takes about a second, under 4 s with the cores saturated. Its steps
 * have bounds of their own within it, so that a step that fails says why (a receipt that
 * never came names the transaction and the account's nonces).
 */
const TEST_CHAIN_START_MS = 45_000;
const TEST_CHAIN_STEP_MS = 20_000;

/**
 * Starts anvil in a directory of its own and deploys the federation on it. A
 * start that does not finish within its bound fails naming the step it stopped
 * at, with anvil's log, and is tried once more from nothing, as the test bed's
 * start is: two bounded attempts stay within a hook timeout of 120 s.
 */
export async function startTestChain(prefix: string): Promise<TestChain> {
  try {
    return await startTestChainOnce(prefix);
  } catch (err) {
    console.warn(`${prefix}: the test chain did not start; starting again from nothing.\n${String(err)}`);
    return startTestChainOnce(prefix);
  }
}

async function startTestChainOnce(prefix: string): Promise<TestChain> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${String(port)}`;
  const anvil = startAnvil(dir, port);
  const stop = async (): Promise<void> => {
    await stopProcess(anvil);
    rmSync(dir, { recursive: true, force: true });
  };
  let step = "answering JSON-RPC";
  const start = (async () => {
    await waitForAnvil(anvil, rpcUrl, TEST_CHAIN_STEP_MS);
    step = "deploying the Safes";
    return deployFederation(rpcUrl, { receiptTimeoutMs: TEST_CHAIN_STEP_MS });
  })();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new ComponentError("anvil", anvil.log, `${step}: not done after ${String(TEST_CHAIN_START_MS)} ms`),
      );
    }, TEST_CHAIN_START_MS);
  });
  try {
    const info = await Promise.race([start, deadline]);
    return { rpcUrl, info, stop };
  } catch (err) {
    // The abandoned start fails once anvil is gone; that failure is this one.
    start.catch(() => undefined);
    // The directory stays: anvil's log is the evidence the error names.
    await stopProcess(anvil);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** protocol-kit's `contractNetworks` for this chain. */
export function contractNetworks(
  info: ChainInfo,
): Record<string, Record<`${SafeContractName}Address`, Address>> {
  const entries = Object.entries(info.contracts).map(([name, address]) => [`${name}Address`, address]);
  return {
    [String(info.chainId)]: Object.fromEntries(entries) as Record<`${SafeContractName}Address`, Address>,
  };
}

/** What contracts/deploy.ts needs to set up the federation contracts for this chain's accounts. */
export function federationSetup(info: ChainInfo): FederationSetup {
  return {
    deployerKey: info.keys.deployer,
    agents: REGIONS.map((region) => ({
      agent: privateKeyToAccount(info.keys.agents[region]).address,
      dspSafe: info.safes.dsp[region],
    })),
    guardian: privateKeyToAccount(info.keys.guardian).address,
    daoBoard: info.safes.daoBoard,
  };
}
