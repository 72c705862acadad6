// `npm run demo`: the federation at work, in one command. Starts the
// three-region test bed (or uses the one already up), an operator per region,
// and walks through the story (story.ts), printing each step as it happens.
// Then it leaves the federation running until Ctrl-C, or with --once stops
// what it started and exits.
import { existsSync } from "node:fs";
import { delimiter, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Applier } from "../../operator/runtime/apply.ts";
import { eventually } from "../testbed/eventually.ts";
import { layout, REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  directPeers,
  installFederation,
  startOperator,
  type OperatorProcess,
} from "../testbed/operator.ts";
import { portOpen } from "../testbed/process.ts";
import { down, up, type Testbed } from "../testbed/testbed.ts";
import { otherUsers } from "./in-use.ts";
import { Narrator, seconds, timingTable } from "./print.ts";
import { unpauseChain } from "../testbed/guardian.ts";
import { federationStatus } from "../testbed/read.ts";
import { runStory } from "./story.ts";
import { deployAnchors } from "../testbed/anchor.ts";

const USAGE = `usage: npm run demo [-- --once]

Starts the three-region test bed (or uses the one already up), an operator per
region, and walks through the story: a DSP submits a manifest, two signers
approve, it is applied in all three regions, gamma is lost and catches up, an
agent flags a breach, everything pauses, the Board resumes.

  --once   exit when the story is done, stopping the operators (and the test
           bed, if the demo started it); without it, the federation keeps
           running until Ctrl-C

environment: DSC_TESTBED_DIR and DSC_TESTBED_PORT (another test bed),
             DSC_TESTBED_KEEP=1 (leave up a test bed the demo started),
             DSC_DEMO_STEP_SECONDS (how long one step may take; 120)`;

const { values: flags } = parseArgs({
  options: { once: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  strict: true,
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}

const repo = resolve(import.meta.dirname, "../..");
const say = new Narrator((line) => {
  process.stdout.write(`${line}\n`);
});
const l = layout();
const RUN = Date.now().toString(36);
const NS = `demo-${RUN}`;
const timeoutMs = Number(process.env.DSC_DEMO_STEP_SECONDS ?? 120) * 1000;
const operators = new Map<Region, OperatorProcess>();
/** As for the end-to-end tests: DSC_TESTBED_KEEP=1 leaves up a test bed the demo started. */
const keepTestbed = process.env.DSC_TESTBED_KEEP === "1";
/** Whether the demo stops the test bed at the end: only one it started itself. */
const testbedState = { stopAtEnd: false };
let stopping: Promise<void> | undefined;

/** Stops the operators, and the test bed if this demo started it. Once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await Promise.all([...operators.values()].map((o) => o.stop()));
    operators.clear();
    if (testbedState.stopAtEnd) await down({ layout: l });
  })();
  return stopping;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    say.say();
    say.say(testbedState.stopAtEnd ? "stopping the operators and the test bed…" : "stopping the operators…");
    void stopAll().then(() => {
      say.say("stopped.");
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  });
}

/** Polite refusal: the demo would install its own Federations under someone else's feet. */
function refuse(reason: string): never {
  say.say(`The test bed in ${l.root} is in use: ${reason}.`);
  say.say("The demo would replace its Federations and operators under that run, so it stops here.");
  say.say("Wait for it to finish, or run the demo on a test bed of its own, e.g.");
  say.say("  DSC_TESTBED_DIR=/tmp/dsc-demo DSC_TESTBED_PORT=27000 npm run demo");
  process.exit(1);
}

/** A path as short as it reads well: relative inside the checkout, absolute outside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" || rel.startsWith("..") ? path : rel;
}

const kubectlOnPath = (process.env.PATH ?? "")
  .split(delimiter)
  .some((dir) => dir !== "" && existsSync(join(dir, "kubectl")));

async function prepare(): Promise<Testbed> {
  const users = otherUsers(l.root);
  if (users.length > 0) refuse(users.map((u) => `${u.what} (pid ${String(u.pid)})`).join(", "));

  say.begin("starting the test bed: three Kubernetes control planes, a chain with the Safes");
  const t0 = performance.now();
  const { testbed, started } = await up({
    layout: l,
    log: (line) => {
      if (line !== "test bed already up") say.note(line);
    },
  });
  testbedState.stopAtEnd = started && !keepTestbed;
  if (started)
    say.done("test bed up: alpha, beta, gamma (Kubernetes + KWOK), anvil with Safe 1.5.0", {
      label: "test bed up",
      ms: performance.now() - t0,
    });
  else say.done(`test bed already up in ${shown(l.root)}: using it`);

  const busy = (
    await Promise.all(REGIONS.map(async (r) => ((await portOpen(l.ports.regions[r].peer)) ? r : undefined)))
  ).filter((r) => r !== undefined);
  if (busy.length > 0) refuse(`an operator already serves the federation port of ${busy.join(", ")}`);

  if (await unpauseChain(testbed.chain)) say.done("the Board lifted a pause an earlier run left on chain");

  // Each region's log, registered by a Consortium Safe transaction on a LogAnchor of this run's own.
  const anchors = await deployAnchors(testbed);
  const t1 = performance.now();
  for (const region of REGIONS) {
    await installFederation(testbed, region, {
      peers: directPeers(testbed, region),
      guardian: { action: "ScaleToZero", recordOnChain: true },
      anchor: { contract: anchors, intervalSeconds: 5 },
    });
  }
  await new Applier(adminConfig(testbed, "alpha"), { fieldManager: "dsp-admin" }).apply({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: NS },
  });
  say.done("a Federation in each region: peers and log keys pinned, guardian ScaleToZero, logs anchored");

  await Promise.all(REGIONS.map((r) => startRegionOperator(testbed, r)));
  await eventually(
    "every region connected to its two peers",
    async () =>
      (await Promise.all(REGIONS.map((r) => federation(testbed, r)))).every(
        (s) => s?.peers?.length === 2 && s.peers.every((p) => p.connected),
      ),
    { timeoutMs, logs: () => [...operators.values()].map((o) => o.log) },
  );
  say.done("an operator per region, peers connected: alpha ↔ beta ↔ gamma ↔ alpha", {
    label: "operators up, peers connected",
    ms: performance.now() - t1,
  });
  return testbed;
}

async function startRegionOperator(testbed: Testbed, region: Region): Promise<OperatorProcess> {
  const operator = await startOperator(
    testbed,
    region,
    {
      DSC_RESYNC_SECONDS: "2",
      // A federation state of this run's own: nothing an earlier run or test left behind.
      DSC_STATE_DIR: join(testbed.layout.regionDir(region), `demo-state-${RUN}`),
      LOG_LEVEL: "info",
    },
    { federated: true },
  );
  operators.set(region, operator);
  return operator;
}

const federation = (testbed: Testbed, region: Region) =>
  federationStatus(adminConfig(testbed, region)).catch(() => undefined);

function explore(testbed: Testbed): void {
  const kubectl = kubectlOnPath ? "kubectl" : join(testbed.bin, "kubectl");
  // The same test bed for `npm run testbed`: the variables this demo was given.
  const env = ["DSC_TESTBED_DIR", "DSC_TESTBED_PORT"]
    .filter((name) => process.env[name])
    .map((name) => `${name}=${process.env[name] ?? ""} `)
    .join("");
  const commands: [string, string][] = [
    [`export KUBECONFIG=${shown(testbed.kubeconfig.alpha)}`, "or beta, gamma"],
    [`${kubectl} get federation`, "peers, chain block"],
    [`${kubectl} get consortiummanifests -n ${NS}`, "approvals, regions"],
    [`export PATH=${join(repo, "bin")}:$PATH`, "kubectl finds the plugin there"],
    [`${kubectl} dsc status`, "the kubectl plugin (also npm run dsc -- status)"],
    [`${kubectl} dsc approvals web -n ${NS}`, ""],
    [`${kubectl} dsc pause-history`, ""],
  ];
  const width = Math.max(...commands.map(([c]) => c.length));
  say.say();
  say.say("The federation keeps running. Look around from another shell:");
  for (const [command, comment] of commands)
    say.say(`  ${command.padEnd(width)}${comment ? `   # ${comment}` : ""}`.trimEnd());
  say.say(`Operator logs: ${shown(testbed.layout.root)}/<region>/operator-*.log`);
  say.say(
    testbedState.stopAtEnd
      ? "Ctrl-C stops the operators and the test bed."
      : `Ctrl-C stops the operators; the test bed stays up (${env}npm run testbed -- down stops it).`,
  );
}

say.say("DSC federation demo: three regions, one replicated state, Safe-approved changes,");
say.say("and a guardian pause. Each line is a step the clusters or the chain confirmed.");
say.say();
const began = performance.now();
try {
  const testbed = await prepare();
  await runStory({
    testbed,
    say,
    namespace: NS,
    operators,
    startOperator: (region) => startRegionOperator(testbed, region),
    timeoutMs,
  });
  say.say();
  say.say(`Timings (whole demo ${seconds(performance.now() - began)})`);
  for (const line of timingTable(say.timings)) say.say(`  ${line}`);
  if (flags.once) {
    await stopAll();
    say.say();
    say.say(testbedState.stopAtEnd ? "Stopped the operators and the test bed." : "Stopped the operators.");
  } else {
    explore(testbed);
    setInterval(() => undefined, 1 << 30); // until Ctrl-C
  }
} catch (error) {
  say.fail(error instanceof Error ? error.message : String(error));
  await stopAll();
  process.exitCode = 1;
}
