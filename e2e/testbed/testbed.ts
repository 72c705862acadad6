// The three-region test bed: `up`, `down` and `status`, usable from the CLI
// (`npm run testbed -- up`) and from tests. Everything started is recorded in
// .testbed/state.json as it starts, so `down` can stop it from any shell, and
// a failed `up` leaves nothing behind.
import { execFile } from "node:child_process";
import { renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { Address } from "viem";
import { deployFederationContracts } from "../../contracts/deploy.ts";
import { deployFederation, federationSetup, startAnvil, waitForAnvil, type ChainInfo } from "./chain.ts";
import { apiGet, startRegion, type RegionPlan } from "./kube.ts";
import { enableBoardModule } from "./safe-tx.ts";
import { layout, REGIONS, type Layout, type Region } from "./layout.ts";
import type { RegionPki } from "./pki.ts";
import {
  isAlive,
  portOpen,
  readJson,
  startDetached,
  stopProcess,
  waitUntil,
  writeJsonAtomic,
  type ProcessRecord,
} from "./process.ts";

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "../..");

interface State {
  readonly startedAt: string;
  readonly processes: ProcessRecord[];
  ready: boolean;
  timings?: Record<string, number>;
}

/** The chain as the test bed leaves it: Safes, plus the federation's own contracts. */
export interface TestbedChain extends ChainInfo {
  readonly federation: { readonly agentRegistry: Address; readonly guardianPause: Address };
}

/** The API key the test bed's Safe Transaction Service double asks for, as the hosted service does. */
export const SAFE_SERVICE_API_KEY = "dsc-testbed-safe-service-key";

export interface Testbed {
  readonly layout: Layout;
  readonly chain: TestbedChain;
  readonly safeServiceUrl: string;
  /** Sent as `Authorization: Bearer`; the double refuses a request without it. */
  readonly safeServiceApiKey: string;
  readonly kubeconfig: Record<Region, string>;
  readonly bin: string;
}

const stateFile = (l: Layout): string => join(l.root, "state.json");
const chainFile = (l: Layout): string => join(l.root, "chain.json");

/** Builds (on first use) and returns the directory of the Go-built binaries. */
export async function binaries(log: (line: string) => void = () => undefined): Promise<string> {
  const script = join(repo, "e2e/testbed/go/build.sh");
  const child = execFile(script, [], { maxBuffer: 1 << 20 });
  child.stderr?.on("data", (chunk: Buffer | string) => {
    for (const line of String(chunk).trimEnd().split("\n")) log(line);
  });
  const out = await new Promise<string>((resolveOut, reject) => {
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer | string) => (stdout += String(chunk)));
    child.on("close", (code) => {
      if (code === 0) resolveOut(stdout.trim());
      else
        reject(
          new Error(`building the test bed binaries failed (exit ${String(code)}); see the output above`),
        );
    });
  });
  return out;
}

function describe(l: Layout, bin: string): Testbed {
  const chain = readJson(chainFile(l)) as TestbedChain | undefined;
  if (!chain) throw new Error(`the test bed has no ${chainFile(l)}: run \`npm run testbed -- up\``);
  return {
    layout: l,
    chain,
    safeServiceUrl: `http://127.0.0.1:${String(l.ports.safeService)}/api`,
    safeServiceApiKey: SAFE_SERVICE_API_KEY,
    kubeconfig: Object.fromEntries(REGIONS.map((r) => [r, l.kubeconfig(r)])) as Record<Region, string>,
    bin,
  };
}

/** Starts the test bed unless it already runs; `started` says which happened. */
export async function up(
  options: { log?: (line: string) => void; layout?: Layout } = {},
): Promise<{ testbed: Testbed; started: boolean; timings: Record<string, number> }> {
  const l = options.layout ?? layout();
  const log = options.log ?? (() => undefined);
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  const mark = (name: string): void => {
    timings[name] = Math.round(performance.now() - t0);
  };

  const bin = await binaries(log);
  mark("binaries");
  const existing = readJson(stateFile(l)) as State | undefined;
  if (existing) {
    const alive = existing.processes.filter((p) => isAlive(p.pid));
    if (existing.ready && alive.length === existing.processes.length) {
      log("test bed already up");
      return { testbed: describe(l, bin), started: false, timings: existing.timings ?? {} };
    }
    log(
      `a previous test bed is ${alive.length > 0 ? "half up" : "gone"}: stopping what is left and starting anew`,
    );
    await down({ layout: l });
  }

  const busy = await findBusyPorts(l);
  if (busy.length > 0) {
    throw new Error(
      `ports already in use, not by this test bed: ${busy.join(", ")}. ` +
        `Stop whatever holds them, or set DSC_TESTBED_PORT to another base port.`,
    );
  }

  // A start that fails is tried once more from nothing: a chain transaction anvil never mined
  // under load was seen once to fail a whole CI run.
  let state: State = { startedAt: new Date().toISOString(), processes: [], ready: false };
  const record = (p: ProcessRecord): void => {
    state.processes.push(p);
    writeJsonAtomic(stateFile(l), state);
  };
  for (let attempt = 1; ; attempt++) {
    rmSync(l.root, { recursive: true, force: true });
    state = { startedAt: new Date().toISOString(), processes: [], ready: false };
    let started: Promise<unknown>[] = [];
    try {
      const rpcUrl = `http://127.0.0.1:${String(l.ports.anvil)}`;
      const chainReady = (async () => {
        const anvil = startAnvil(l.root, l.ports.anvil);
        record(anvil);
        await waitForAnvil(anvil, rpcUrl);
        const safes = await deployFederation(rpcUrl);
        // One after the other: both send from the deployer account, and nonces must not race.
        const federation = await deployFederationContracts(rpcUrl, federationSetup(safes));
        await enableBoardModule(safes);
        const chain: TestbedChain = { ...safes, federation };
        writeJsonAtomic(chainFile(l), chain);
        mark("chain");
        const service = startDetached(
          "safe-service",
          [
            process.execPath,
            join(repo, "e2e/safe-service/main.ts"),
            "--rpc",
            rpcUrl,
            "--chain-id",
            String(chain.chainId),
            "--port",
            String(l.ports.safeService),
            "--api-key",
            SAFE_SERVICE_API_KEY,
          ],
          join(l.root, "safe-service.log"),
        );
        record(service);
        const url = `http://127.0.0.1:${String(l.ports.safeService)}`;
        const authorized = { headers: { Authorization: `Bearer ${SAFE_SERVICE_API_KEY}` } };
        await waitUntil(service, "serving", async () => (await fetch(`${url}/api/v1/about/`, authorized)).ok);
        mark("safe-service");
      })();
      const regionsReady = Promise.all(
        REGIONS.map(async (region) => {
          const plan: RegionPlan = { region, dir: l.regionDir(region), ports: l.ports.regions[region], bin };
          const { pki, processes } = await startRegion(plan, record);
          mark(`${region}-apiserver`);
          await waitForWorkloadReady(plan, pki, processes);
          mark(`${region}-ready`);
        }),
      );
      started = [chainReady, regionsReady];
      await Promise.all(started);
      break;
    } catch (err) {
      log("start failed: stopping everything this attempt started");
      // What is still starting records its processes first, so that down stops them too.
      await Promise.allSettled(started);
      await down({ layout: l, keepFiles: true });
      if (attempt >= 2) throw err;
      // The failed attempt's files (anvil.log, the API servers' logs) are the evidence: kept aside.
      const failed = `${l.root}.failed`;
      rmSync(failed, { recursive: true, force: true });
      renameSync(l.root, failed);
      // Something of the first attempt still holding a port: its own error says why.
      if ((await findBusyPorts(l)).length > 0) throw err;
      const why = err instanceof Error ? err.message.split("\n", 1)[0] : String(err);
      log(`starting again (${why ?? ""}; the first attempt's files are in ${failed})`);
    }
  }
  mark("total");
  state.ready = true;
  state.timings = timings;
  writeJsonAtomic(stateFile(l), state);
  return { testbed: describe(l, bin), started: true, timings };
}

/**
 * A region is ready for workloads when the fake node is Ready and the
 * controller manager has created the default ServiceAccount (before that,
 * pods are refused by the ServiceAccount admission plugin).
 */
async function waitForWorkloadReady(
  plan: RegionPlan,
  pki: RegionPki,
  processes: [ProcessRecord, ...ProcessRecord[]],
): Promise<void> {
  await waitUntil(processes, "ready for workloads", async () => {
    const sa = await apiGet(plan, pki, "/api/v1/namespaces/default/serviceaccounts/default");
    if (sa.status !== 200) throw new Error("default ServiceAccount not created yet");
    const node = await apiGet(plan, pki, `/api/v1/nodes/kwok-${plan.region}-0`);
    const conditions = (
      JSON.parse(node.body) as { status?: { conditions?: { type: string; status: string }[] } }
    ).status?.conditions;
    if (!conditions?.some((c) => c.type === "Ready" && c.status === "True"))
      throw new Error("node not Ready yet");
    return true;
  });
}

async function findBusyPorts(l: Layout): Promise<string[]> {
  const named: [string, number][] = [
    ["anvil", l.ports.anvil],
    ["safe-service", l.ports.safeService],
    ...REGIONS.flatMap((r) =>
      Object.entries(l.ports.regions[r] as unknown as Record<string, number>).map(
        ([name, port]): [string, number] => [`${r}/${name}`, port],
      ),
    ),
  ];
  const open = await Promise.all(named.map(([, port]) => portOpen(port)));
  return named.filter((_, i) => open[i]).map(([name, port]) => `${String(port)} (${name})`);
}

/** Stops every process the test bed started, newest first. */
export async function down(options: { layout?: Layout; keepFiles?: boolean } = {}): Promise<string[]> {
  const l = options.layout ?? layout();
  const state = readJson(stateFile(l)) as State | undefined;
  if (!state) return [];
  const stopped: string[] = [];
  // Controllers and the service first, then API servers, then etcd and the chain.
  const order = (p: ProcessRecord): number =>
    p.name.endsWith("etcd") || p.name === "anvil" ? 2 : p.name.endsWith("kube-apiserver") ? 1 : 0;
  const groups = [0, 1, 2].map((rank) => state.processes.filter((p) => order(p) === rank));
  for (const group of groups) {
    await Promise.all(
      group.map(async (p) => {
        if (isAlive(p.pid)) stopped.push(p.name);
        await stopProcess(p);
      }),
    );
  }
  if (options.keepFiles) writeJsonAtomic(stateFile(l), { ...state, processes: [], ready: false });
  else rmSync(stateFile(l), { force: true });
  return stopped;
}

export interface ComponentStatus {
  readonly name: string;
  readonly pid: number;
  readonly running: boolean;
  readonly log: string;
}

export function status(options: { layout?: Layout } = {}): { ready: boolean; components: ComponentStatus[] } {
  const l = options.layout ?? layout();
  const state = readJson(stateFile(l)) as State | undefined;
  if (!state) return { ready: false, components: [] };
  const components = state.processes.map((p) => ({
    name: p.name,
    pid: p.pid,
    running: isAlive(p.pid),
    log: p.log,
  }));
  return { ready: state.ready && components.every((c) => c.running), components };
}

/** The running test bed's description, for tests and the demo. */
export async function current(options: { layout?: Layout } = {}): Promise<Testbed> {
  const l = options.layout ?? layout();
  if (!status({ layout: l }).ready) throw new Error("the test bed is not up: run `npm run testbed -- up`");
  return describe(l, await binaries());
}

/** Runs the test bed's own kubectl against a region. */
export async function kubectl(testbed: Testbed, region: Region, args: readonly string[]): Promise<string> {
  const { stdout } = await run(
    join(testbed.bin, "kubectl"),
    [`--kubeconfig=${testbed.kubeconfig[region]}`, ...args],
    {
      maxBuffer: 16 << 20,
    },
  );
  return stdout;
}

/** Kills one component (as a crash would: SIGKILL by default) and leaves it down. */
export async function killComponent(name: string, options: { layout?: Layout } = {}): Promise<void> {
  const l = options.layout ?? layout();
  const state = readJson(stateFile(l)) as State | undefined;
  const record = state?.processes.find((p) => p.name === name);
  if (!record) throw new Error(`no test-bed component named ${name}`);
  try {
    process.kill(-record.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await stopProcess(record, 0);
}

/** Starts a killed component again with the command it had, and records its new pid. */
export function restartComponent(name: string, options: { layout?: Layout } = {}): void {
  const l = options.layout ?? layout();
  const state = readJson(stateFile(l)) as State | undefined;
  const index = state?.processes.findIndex((p) => p.name === name) ?? -1;
  const record = state?.processes[index];
  if (!state || !record) throw new Error(`no test-bed component named ${name}`);
  if (isAlive(record.pid)) return;
  const started = startDetached(record.name, record.command, record.log);
  state.processes[index] = started;
  writeJsonAtomic(stateFile(l), state);
}
