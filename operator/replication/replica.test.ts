// A local change goes to the peers while it is still being written. These
// show that the peers have it before the disk does, and that a region which
// crashes before the write lands (its directory as it was before the change)
// comes back, takes the change again from a peer, and writes on without a
// conflict: it runs under a fresh actor, so no sequence number is used twice.
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryFederation } from "../../e2e/support/memory-federation.ts";
import { submission } from "../../e2e/support/state-fixtures.ts";
import { versions } from "../state/readers.ts";
import type { Draft } from "../state/transitions.ts";

const REGIONS = ["alpha", "beta"];
let federation: MemoryFederation | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await federation?.close();
  federation = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const NO_REBASE = { minBytes: Infinity, minIntervalMs: 0 };

/** Holds `region`'s writes until the returned function is called. */
function holdWrites(f: MemoryFederation, region: string): () => void {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  void f.get(region).replica.afterWrites(() => gate);
  return release;
}

const nonces = (f: MemoryFederation, region: string, id: string) =>
  versions(f.get(region).replica.doc, id).map((v) => v.nonce);

describe("a local change", () => {
  it("reaches the peers while its write is still in flight, and its caller waits for the disk", async () => {
    const f = (federation = await MemoryFederation.start(REGIONS, NO_REBASE));
    const release = holdWrites(f, "alpha");
    let done = false;
    const change = f
      .get("alpha")
      .replica.change((d) => d.submit(submission("ops/api", 1, "alpha", 1)))
      .then(() => {
        done = true;
      });
    for (let i = 0; i < 20 && nonces(f, "beta", "ops/api").length === 0; i++)
      await new Promise((resolve) => setImmediate(resolve));
    expect(nonces(f, "beta", "ops/api")).toEqual([1]);
    expect(done).toBe(false);
    release();
    await change;
    expect(done).toBe(true);
  });

  it("that changes nothing still waits for the write in flight that holds what it asked for", async () => {
    const f = (federation = await MemoryFederation.start(REGIONS, NO_REBASE));
    const release = holdWrites(f, "alpha");
    const edit = (d: Draft) => d.submit(submission("ops/api", 1, "alpha", 1));
    const first = f.get("alpha").replica.change(edit);
    // The same edit again (a retried breach report, the same submission): nothing new to write,
    // but its caller is told it is durable, so it must wait for the first one's write.
    let done = false;
    const again = f
      .get("alpha")
      .replica.change(edit)
      .then(() => {
        done = true;
      });
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    release();
    await Promise.all([first, again]);
    expect(done).toBe(true);
  });

  it("lost in a crash before its write landed comes back from a peer, and the region writes on", async () => {
    const f = (federation = await MemoryFederation.start(REGIONS, NO_REBASE));
    const alpha = f.get("alpha");
    await alpha.replica.change((d) => d.submit(submission("ops/api", 1, "alpha", 1)));
    await f.settle();
    // The directory as a kill -9 would leave it if the next append never reached the disk.
    const before = await mkdtemp(join(tmpdir(), "dsc-crash-"));
    dirs.push(before);
    await cp(alpha.dir, before, { recursive: true });
    await alpha.replica.change((d) => d.submit(submission("ops/api", 2, "alpha", 2)));
    await f.settle();
    expect(nonces(f, "beta", "ops/api")).toEqual([2, 1]);

    await f.stop("alpha");
    await rm(alpha.dir, { recursive: true, force: true });
    await cp(before, alpha.dir, { recursive: true });
    const back = await f.open("alpha", alpha.dir);
    expect(nonces(f, "alpha", "ops/api")).toEqual([1]);
    f.connect("alpha", "beta");
    await f.settle();
    expect(nonces(f, "alpha", "ops/api")).toEqual([2, 1]);

    await back.replica.change((d) => d.submit(submission("ops/api", 3, "alpha", 3)));
    await f.settle();
    for (const region of REGIONS) {
      expect(nonces(f, region, "ops/api")).toEqual([3, 2, 1]);
      expect(f.get(region).refusals).toEqual([]);
    }
  });
});
