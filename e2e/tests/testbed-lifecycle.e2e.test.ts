// `up`, `status` and `down` on a second test bed of its own (another
// directory and port block), so the shared one is left alone.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { layout } from "../testbed/layout.ts";
import { isAlive } from "../testbed/process.ts";
import { down, status, up } from "../testbed/testbed.ts";

const root = mkdtempSync(join(tmpdir(), "dsc-testbed-"));
const previousPort = process.env.DSC_TESTBED_PORT;
// Below the kernel's ephemeral port range (32768+), where outgoing connections could take our ports.
process.env.DSC_TESTBED_PORT = "27000";
const l = layout(root);
process.env.DSC_TESTBED_PORT = previousPort;

/** Processes whose command line mentions the test bed's directory: anything left is an orphan. */
function processesUnder(dir: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

afterAll(async () => {
  await down({ layout: l });
  rmSync(root, { recursive: true, force: true });
});

// A whole second test bed on a 2-core machine that already runs one: give it time.
describe("the test bed's life cycle", { timeout: 300_000 }, () => {
  it("starts once, reports what runs, and stops everything it started", async () => {
    const first = await up({ layout: l });
    expect(first.started).toBe(true);
    const running = status({ layout: l });
    expect(running.ready).toBe(true);
    expect(running.components.map((c) => c.name)).toEqual(
      expect.arrayContaining(["anvil", "safe-service", "alpha/kube-apiserver", "beta/kwok", "gamma/etcd"]),
    );
    expect(running.components).toHaveLength(17);

    const second = await up({ layout: l });
    expect(second.started).toBe(false);
    expect(status({ layout: l }).components.map((c) => c.pid)).toEqual(running.components.map((c) => c.pid));

    const stopped = await down({ layout: l });
    expect(stopped).toHaveLength(17);
    expect(running.components.filter((c) => isAlive(c.pid))).toEqual([]);
    expect(processesUnder(root)).toEqual([]);
    expect(status({ layout: l }).components).toEqual([]);
  });

  it("refuses to start over a port someone else holds, naming it", async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) =>
      squatter.listen(l.ports.regions.beta.apiserver, "127.0.0.1", resolve),
    );
    try {
      await expect(up({ layout: l })).rejects.toThrow(
        `${String(l.ports.regions.beta.apiserver)} (beta/apiserver)`,
      );
      expect(status({ layout: l }).components).toEqual([]);
    } finally {
      squatter.close();
    }
  });
});
