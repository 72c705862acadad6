// `npm run demo -- --once` from start to end, on a test bed of its own (not
// the suite's: the demo installs its own Federations and operators), then the
// kubectl plugin against what the demo left in the clusters.
import { spawn, execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { layout, type Region } from "../testbed/layout.ts";
import { binaries, down, status } from "../testbed/testbed.ts";

const repo = resolve(import.meta.dirname, "../..");
const DIR = join(tmpdir(), `dsc-demo-smoke-${String(process.pid)}`);
const PORT = "31000";
const testbedEnv = { DSC_TESTBED_DIR: DIR, DSC_TESTBED_PORT: PORT };
const own = layout(DIR, Number(PORT));
/** A test bed already up there (a developer's) is left up; one the demo started is stopped after. */
const wasUp = status({ layout: own }).ready;

afterAll(async () => {
  if (!wasUp) {
    await down({ layout: own });
    rmSync(DIR, { recursive: true, force: true });
  }
}, 120_000);

/** The last lines of each operator log a failed step names: in CI they are all there is to read. */
function operatorLogTails(output: string): string {
  const files = /\(logs: ([^)]+)\)/u.exec(output)?.[1]?.split(", ") ?? [];
  return files
    .map((file) => {
      let lines: string[];
      try {
        lines = readFileSync(file, "utf8").trimEnd().split("\n").slice(-25);
      } catch {
        lines = ["(unreadable)"];
      }
      return `\n--- ${file} (last ${String(lines.length)} lines)\n${lines.join("\n")}`;
    })
    .join("");
}

function runDemo(): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(repo, "e2e/demo/run.ts"), "--once"], {
      cwd: repo,
      // Keep the test bed the demo starts, for the plugin's turn; afterAll stops it.
      env: { ...process.env, ...testbedEnv, DSC_TESTBED_KEEP: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) => {
      done({ code, output });
    });
  });
}

describe("npm run demo -- --once", () => {
  let output = "";
  let namespace = "";

  it("walks through the whole story and exits 0", async () => {
    const run = await runDemo();
    output = run.output;
    expect(run.code, output + (run.code === 0 ? "" : operatorLogTails(output))).toBe(0);
    for (const line of [
      /✓ an operator per region, peers connected: alpha ↔ beta ↔ gamma ↔ alpha/,
      /✓ alpha: Pending, approvals 0\/2: nothing applied yet/,
      /alpha computed the same digest; it waits for approvals/,
      /✓ DSP-1's signer approves: 1\/2, still Pending/,
      /✓ DSP-2's signer approves: 2\/2, verified on chain/,
      /✓ web applied: alpha [\d.]+ s, beta [\d.]+ s, gamma [\d.]+ s after the 2nd approval/,
      /✓ kubectl get consortiummanifests, in any region: alpha ✓ beta ✓ gamma ✓/,
      /✓ gamma killed: its operator and kube-apiserver/,
      /✓ alpha's peers: beta ✓ gamma ✗/,
      /✓ two regions go on: alpha ✓ beta ✓ gamma pending/,
      /✓ gamma applied web v2 it missed/,
      /✓ gamma accepts it: a soulbound agent of DSP-3/,
      /✓ paused: alpha [\d.]+ s, beta [\d.]+ s, gamma [\d.]+ s after the report/,
      /✓ web scaled to 0 replicas in alpha, beta, gamma/,
      /✓ recorded on chain: GuardianPause paused/,
      /✓ the DAO Board Safe unpauses on chain/,
      /✓ resumed: alpha [\d.]+ s, beta [\d.]+ s, gamma [\d.]+ s after the resume manifest/,
      /✓ web back to 3 replicas in alpha, beta, gamma/,
      /✓ receipts in each region's own log: alpha \d+, beta \d+, gamma \d+/,
      /✓ anchored on chain \(LogAnchor, registered by the Consortium Safe\): alpha at \d+, beta at \d+, gamma at \d+/,
      /Timings \(whole demo /,
      /resume → replicas restored +[\d.]+ s/,
      /^Stopped the operators\.$/m,
    ])
      expect(output).toMatch(line);
    expect(output).not.toMatch(/^ *\d+:\d\d {2}✗ /m); // no step failed
    namespace = /proposes (demo-[a-z0-9]+)\/web/.exec(output)?.[1] ?? "";
    expect(namespace).not.toBe("");
    // Its operators are gone; the test bed stays (DSC_TESTBED_KEEP=1) for the plugin.
    expect(status({ layout: own }).ready).toBe(true);
  }, 420_000);

  it("kubectl dsc status | approvals | pause-history read what the demo left", async () => {
    expect(namespace).not.toBe("");
    const kubectl = join(await binaries(), "kubectl");
    const plugin = async (region: Region, args: string[]): Promise<string> => {
      const { stdout } = await promisify(execFile)(kubectl, ["dsc", ...args], {
        env: {
          ...process.env,
          PATH: `${join(repo, "bin")}:${process.env.PATH ?? ""}`,
          KUBECONFIG: own.kubeconfig(region),
        },
      });
      return stdout;
    };
    const status = await plugin("alpha", ["status"]);
    expect(status).toMatch(/^Federation dsc: region alpha, DSP-1 \(Safe 0x[0-9a-fA-F]{40}\)$/m);
    expect(status).toMatch(/^ {2}beta {4}[✓✗] /m);
    expect(status).toMatch(/^ {2}gamma {3}[✓✗] /m);
    expect(status).toMatch(/Consortium Safe 0x[0-9a-fA-F]{40}: threshold 2 of 3 owners/);
    expect(status).toMatch(/^Guardian {4}not paused \(on a pause: ScaleToZero\); chain not paused$/m);

    const approvals = await plugin("alpha", ["approvals", "web", "-n", namespace]);
    expect(approvals).toContain(`ConsortiumManifest ${namespace}/web: tier upgrade, action apply, nonce 2`);
    expect(approvals).toMatch(/^Approvals {3}2\/2 /m);
    expect(approvals).toMatch(/^Regions {5}alpha ✓ beta ✓ gamma ✓$/m);

    const history = await plugin("gamma", ["pause-history"]);
    expect(history).toMatch(/^Pauses +0 in force, [1-9]\d* lifted$/m);
    expect(history).toContain(`by ${namespace}/resume-1 (3/3+1/1)`);
    expect(history).toContain(`report    ${namespace}/breach-1`);
  }, 60_000);
});
