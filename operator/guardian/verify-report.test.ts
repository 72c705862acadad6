import { getAddress, keccak256, toHex, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it, vi } from "vitest";
import { ChainUnavailableError, type ChainReader } from "../chain/reader.ts";
import { breachHash, signBreachReport, type BreachDomain, type BreachReport } from "../core/breach/report.ts";
import { verifyBreachReport, type BreachVerificationContext } from "./verify-report.ts";

const agentKey: Hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const agent = privateKeyToAccount(agentKey).address;
const dsp = getAddress("0x00000000000000000000000000000000000000d1");
const outsider = getAddress("0x00000000000000000000000000000000000000d9");
const registry = getAddress("0x0000000000000000000000000000000000000a11");
const consortiumSafe = getAddress("0x0000000000000000000000000000000000000c05");
const domain: BreachDomain = {
  federation: "dsc",
  chainId: 31337,
  guardianPause: "0x6F84bA199bB7A188638e676933A8bEFF9280293e",
};
const report: BreachReport = {
  agent,
  scope: "region/gamma",
  severity: "critical",
  evidenceHash: keccak256(toHex("the evidence")),
  observedAt: "2026-06-01T12:00:00Z",
};
const signature = await signBreachReport(domain, report, agentKey);
const hash = breachHash(domain, report);

/** A ChainReader double: the agent registry and the Consortium Safe's owners at block 42. */
function fakeChain(options: {
  /** DSP -> its live agent. */
  agents?: Record<Address, Address>;
  owners?: Address[];
  down?: "recentBlock" | "dspAgent" | "safeState";
}) {
  const unavailable = () => Promise.reject(new ChainUnavailableError("cannot read the chain: ECONNREFUSED"));
  const chain = {
    recentBlock: vi.fn((_maxAgeMs: number) =>
      options.down === "recentBlock" ? unavailable() : Promise.resolve(42n),
    ),
    pinBlock: vi.fn((_confirmations: number) =>
      options.down === "recentBlock" ? unavailable() : Promise.resolve(42n),
    ),
    dspAgent: vi.fn((_registry: Address, owner: Address, _block: bigint) =>
      options.down === "dspAgent" ? unavailable() : Promise.resolve(options.agents?.[owner]),
    ),
    safeState: vi.fn((_safe: Address, _block: bigint) =>
      options.down === "safeState"
        ? unavailable()
        : Promise.resolve({ owners: options.owners ?? [dsp], threshold: 2 }),
    ),
  };
  return chain;
}

const context = (chain: ReturnType<typeof fakeChain>): BreachVerificationContext => ({
  chain: chain as unknown as ChainReader,
  agentRegistry: registry,
  consortiumSafe,
  domain,
  nowMs: Date.parse(report.observedAt) + 10_000,
  maxAgeSeconds: 300,
  headMaxAgeMs: 1000,
  seen: () => false,
});

describe("verifying a breach report against the chain", () => {
  it("accepts a report signed by the live agent of an owner of the Consortium Safe", async () => {
    const chain = fakeChain({ agents: { [dsp]: agent } });
    expect(await verifyBreachReport(context(chain), report, signature)).toEqual({
      ok: true,
      hash,
      signer: agent,
      report,
      dsp,
      block: 42n,
    });
    expect(chain.dspAgent).toHaveBeenCalledWith(registry, dsp, 42n);
    expect(chain.safeState).toHaveBeenCalledWith(consortiumSafe, 42n);
    // Over HTTP the head may be a second old; a BreachReport an admin applied reads it fresh.
    expect(chain.recentBlock).toHaveBeenCalledWith(1000);
    await verifyBreachReport({ ...context(chain), headMaxAgeMs: 0 }, report, signature);
    expect(chain.pinBlock).toHaveBeenCalledWith(0);
  });

  it("refuses a signer that is no owner's agent: never registered, revoked, or its DSP rotated out", async () => {
    const message = `${agent} is not the agent of an owner of the Consortium Safe at block 42 (never registered, revoked, or its DSP is no longer an owner)`;
    for (const chain of [fakeChain({}), fakeChain({ agents: { [outsider]: agent }, owners: [dsp] })]) {
      expect(await verifyBreachReport(context(chain), report, signature)).toEqual({
        ok: false,
        reason: "NotAnAgent",
        message,
        hash,
        block: 42n,
      });
    }
  });

  it("reads the same chain for any number of reports from keys that are no agents: the owners' agents, once per block", async () => {
    const chain = fakeChain({ agents: { [dsp]: agent } });
    const { generatePrivateKey } = await import("viem/accounts");
    for (let i = 0; i < 20; i++) {
      const key = generatePrivateKey();
      const junk = { ...report, agent: privateKeyToAccount(key).address };
      const verdict = await verifyBreachReport(
        context(chain),
        junk,
        await signBreachReport(domain, junk, key),
      );
      expect(verdict).toMatchObject({ ok: false, reason: "NotAnAgent" });
    }
    // Every call asked about the same owner: what a ChainReader caches per block.
    expect(new Set(chain.dspAgent.mock.calls.map((c) => c[1]))).toEqual(new Set([dsp]));
  });

  it("refuses what the pure judgement refuses without reading the chain", async () => {
    const chain = fakeChain({ agents: { [dsp]: agent } });
    const forged = await verifyBreachReport(context(chain), { ...report, severity: "warning" }, signature);
    expect(forged).toMatchObject({ ok: false, reason: "BadSignature" });
    const malformed = await verifyBreachReport(
      context(chain),
      { ...report, evidenceHash: "0x12" },
      signature,
    );
    expect(malformed).toMatchObject({ ok: false, reason: "Malformed" });
    const replayed = await verifyBreachReport({ ...context(chain), seen: () => true }, report, signature);
    expect(replayed).toMatchObject({ ok: false, reason: "Replayed", hash });
    expect(chain.recentBlock).not.toHaveBeenCalled();
    expect(chain.pinBlock).not.toHaveBeenCalled();
  });

  it("fails closed: a chain that cannot be read throws, for the caller to retry", async () => {
    for (const down of ["recentBlock", "dspAgent", "safeState"] as const) {
      const chain = fakeChain({ agents: { [dsp]: agent }, down });
      await expect(verifyBreachReport(context(chain), report, signature), down).rejects.toBeInstanceOf(
        ChainUnavailableError,
      );
    }
  });
});
