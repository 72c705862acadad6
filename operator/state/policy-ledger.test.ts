import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BUILT_IN_POLICY, type AdoptedPolicy } from "../core/approval/federation-policy.ts";
import { PolicyLedger } from "./policy-ledger.ts";

const tiers = {
  critical: { dspApprovals: 2, boardApprovals: 1 },
  upgrade: { dspApprovals: 2, boardApprovals: 0 },
  operational: { dspApprovals: 1, boardApprovals: 0 },
};
const adopted = (nonce: number): AdoptedPolicy => ({
  policy: { tiers, floors: [{ kind: "apps/Deployment", tier: "critical" }] },
  manifest: "dsc/policy",
  nonce,
  digest: `0x${String(nonce).padStart(64, "0")}`,
  at: 1_700_000_000_000,
});

describe("the policy ledger", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "dsc-policy-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("starts from the built-in policy, and keeps what it adopts across a restart", async () => {
    const ledger = await PolicyLedger.open(dir);
    expect(ledger.current()).toBe(BUILT_IN_POLICY);
    const heard: number[] = [];
    ledger.changed.subscribe((p) => heard.push(p.nonce));
    await ledger.adopt(adopted(2));
    expect(ledger.current()).toEqual(adopted(2));
    expect(heard).toEqual([2]);
    expect((await PolicyLedger.open(dir)).current()).toEqual(adopted(2));
  });

  it("ignores a nonce at or below the one in force, so two passes racing cannot go back", async () => {
    const ledger = await PolicyLedger.open(dir);
    await Promise.all([ledger.adopt(adopted(3)), ledger.adopt(adopted(2)), ledger.adopt(adopted(3))]);
    expect(ledger.current().nonce).toBe(3);
    expect((await PolicyLedger.open(dir)).current().nonce).toBe(3);
  });

  it("refuses to start on a damaged file, naming it and the way out (fail closed)", async () => {
    await writeFile(join(dir, "policy.json"), "{");
    await expect(PolicyLedger.open(dir)).rejects.toThrow(/^policy\.json: not JSON; restore it from a backup/);
    const file = JSON.parse(JSON.stringify({ schema: 1, ...adopted(2) })) as Record<string, unknown>;
    (file.policy as { tiers: { operational: unknown } }).tiers.operational = {
      dspApprovals: 0,
      boardApprovals: 0,
    };
    await writeFile(join(dir, "policy.json"), JSON.stringify(file));
    await expect(PolicyLedger.open(dir)).rejects.toThrow(
      /^policy\.json: policy\.tiers\.operational\.dspApprovals: 0 is not a whole number/,
    );
  });

  it("in memory, says it is not durable (the reconciler then keeps the built-in policy), and adopts without a file", async () => {
    const ledger = PolicyLedger.inMemory();
    expect(ledger.durable).toBe(false);
    expect((await PolicyLedger.open(dir)).durable).toBe(true);
    expect(await ledger.adopt(adopted(1))).toBe(true);
    expect(ledger.current().nonce).toBe(1);
  });
});
