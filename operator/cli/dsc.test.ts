// dsc run as a user runs it: the bin/dsc script in a child process, with files,
// flags, the DSC_KEY environment variable, its output and its exit code. (The
// log commands: log.test.ts; verify against a chain: e2e/tests/verification.e2e.test.ts;
// the cluster commands: cluster-format.test.ts and the e2e suites.)
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { recoverAddress, recoverTypedDataAddress, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { breachHash, type BreachReport } from "../core/breach/report.ts";
import { manifestTypedData } from "../core/manifest/digest.ts";
import { VERSION } from "../version.ts";
import { loadContext } from "./context.ts";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/dsc");
const examples = join(repo, "manifests/examples");
const KEY: Hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"; // anvil's public test key 1
const dir = mkdtempSync(join(tmpdir(), "dsc-cli-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function dsc(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, args, {
      env: { ...process.env, DSC_KEY: "", ...env },
      cwd: dir,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const manifest = join(examples, "manifest-upgrade.yaml");
const federation = join(examples, "federation-alpha.yaml");

// Each test starts the CLI as a process up to three times, a second or more each on a loaded
// 2-core machine: the 5 s default timed out once in a CI rehearsal of e01587c (propose, three runs).
describe("dsc, run as a user runs it", { timeout: 30_000 }, () => {
  it("version: this release, as the chart and /metrics show it", async () => {
    const plain = await dsc(["version"]);
    expect(plain).toMatchObject({ code: 0 });
    expect(plain.stdout.trim()).toBe(`dsc ${VERSION} (Node.js ${process.version})`);
    expect(JSON.parse((await dsc(["version", "--json"])).stdout)).toEqual({
      version: VERSION,
      node: process.version,
    });
    expect(readFileSync(join(repo, "charts/dsc-operator/Chart.yaml"), "utf8")).toContain(
      `appVersion: "${VERSION}"`,
    );
  });

  it("digest: what a signer approves, the same as the operator computes, and it changes with the manifest", async () => {
    const out = await dsc(["digest", manifest, "--federation", federation, "--json"]);
    expect(out.code).toBe(0);
    const hashes = JSON.parse(out.stdout) as { digest: string; consortiumMessageHash: string };
    const ctx = loadContext(manifest, federation);
    expect(hashes.digest).toBe(ctx.hashes.digest);
    expect(hashes.consortiumMessageHash).toBe(ctx.hashes.consortiumMessageHash);
    const text = await dsc(["digest", manifest, "--federation", federation]);
    expect(text.stdout).toContain(`digest        ${ctx.hashes.digest}`);
    expect(text.stdout).toContain("action        apply, tier upgrade, targets alpha, beta");

    const changed = join(dir, "changed.yaml");
    copyFileSync(manifest, changed);
    writeFileSync(changed, readFileSync(changed, "utf8").replace("nonce: 2", "nonce: 3"));
    const again = JSON.parse(
      (await dsc(["digest", changed, "--federation", federation, "--json"])).stdout,
    ) as {
      digest: string;
    };
    expect(again.digest).not.toBe(hashes.digest);
  });

  it("digest: a missing flag or a file that is not a manifest ends with one line that names it, exit 2", async () => {
    const noFederation = await dsc(["digest", manifest]);
    expect(noFederation.code).toBe(2);
    expect(noFederation.stderr).toMatch(/--federation FILE is required/u);
    const wrong = await dsc(["digest", federation, "--federation", federation]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).not.toMatch(/\n\s+at /u); // no stack trace
  });

  it("propose: the agent's signature over the manifest, printed or written into the file", async () => {
    const agent = privateKeyToAccount(KEY).address;
    const printed = await dsc(["propose", manifest, "--federation", federation], { DSC_KEY: KEY });
    expect(printed.code).toBe(0);
    const proposal = (parseYaml(printed.stdout) as { proposal: { agent: string; signature: Hex } }).proposal;
    expect(proposal.agent).toBe(agent);
    const typed = manifestTypedData(loadContext(manifest, federation).manifest);
    expect(await recoverTypedDataAddress({ ...typed, signature: proposal.signature })).toBe(agent);

    const file = join(dir, "proposed.yaml");
    copyFileSync(manifest, file);
    const written = await dsc(["propose", file, "--federation", federation, "--write"], { DSC_KEY: KEY });
    expect(written.stdout).toContain(`as agent ${agent}`);
    const spec = (parseYaml(readFileSync(file, "utf8")) as { spec: { proposal: unknown } }).spec;
    expect(spec.proposal).toEqual(proposal);
    // Without a key: says where a key comes from.
    const keyless = await dsc(["propose", manifest, "--federation", federation]);
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toMatch(/--key-file|DSC_KEY/u);
  });

  it("breach: an agent's signed report, as a BreachReport for kubectl or the endpoint's JSON; bad input named", async () => {
    const pause = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    const flags = ["--federation", "dsc", "--chain-id", "31337", "--guardian-pause", pause];
    const what = ["--scope", "payments", "--severity", "critical", "--evidence", "disk wiped on node 3"];
    const json = await dsc(["breach", ...flags, ...what, "--observed-at", "2026-12-06T10:00:00Z", "--json"], {
      DSC_KEY: KEY,
    });
    expect(json.code).toBe(0);
    const { report, signature } = JSON.parse(json.stdout) as { report: BreachReport; signature: Hex };
    expect(report).toMatchObject({
      agent: privateKeyToAccount(KEY).address,
      scope: "payments",
      severity: "critical",
    });
    const hash = breachHash({ federation: "dsc", chainId: 31337, guardianPause: pause }, report);
    expect(await recoverAddress({ hash, signature })).toBe(report.agent);

    const resource = await dsc(["breach", ...flags, ...what], { DSC_KEY: KEY });
    expect(resource.stdout).toMatch(/^# breach report 0x[0-9a-f]{64} in federation dsc \(chain 31337\)/u);
    expect(parseYaml(resource.stdout)).toMatchObject({ kind: "BreachReport", spec: { scope: "payments" } });

    const bad = await dsc(
      ["breach", ...flags, "--scope", "payments", "--severity", "high", "--evidence", "x"],
      {
        DSC_KEY: KEY,
      },
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--severity/u);
  });
});
