import { getAddress, keccak256, toHex, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it, vi } from "vitest";
import { ChainUnavailableError, type Agent, type ChainReader } from "../chain/reader.ts";
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
  token?: Agent;
  owners?: Address[];
  down?: "pinBlock" | "agentOf" | "safeState";
}) {
  const unavailable = () => Promise.reject(new ChainUnavailableError("cannot read the chain: ECONNREFUSED"));
  const chain = {
    pinBlock: vi.fn((_confirmations?: number) =>
      options.down === "pinBlock" ? unavailable() : Promise.resolve(42n),
    ),
    agentOf: vi.fn((_registry: Address, _agent: Address, _block: bigint) =>
      options.down === "agentOf" ? unavailable() : Promise.resolve(options.token),
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
  seen: () => false,
});

describe("verifying a breach report against the chain", () => {
  it("accepts a report signed by an agent whose DSP owns part of the Consortium Safe", async () => {
    const chain = fakeChain({ token: { tokenId: 3n, dsp } });
    expect(await verifyBreachReport(context(chain), report, signature)).toEqual({
      ok: true,
      hash,
      signer: agent,
      report,
      dsp,
      block: 42n,
    });
    expect(chain.pinBlock).toHaveBeenCalledWith(0);
    expect(chain.agentOf).toHaveBeenCalledWith(registry, agent, 42n);
    expect(chain.safeState).toHaveBeenCalledWith(consortiumSafe, 42n);
  });

  it("refuses a signer without an agent token (never registered, or revoked)", async () => {
    const chain = fakeChain({});
    expect(await verifyBreachReport(context(chain), report, signature)).toEqual({
      ok: false,
      reason: "NotAnAgent",
      message: `${agent} holds no agent token at block 42 (never registered, or revoked)`,
      hash,
      block: 42n,
    });
  });

  it("refuses an agent whose DSP is not an owner of the Consortium Safe", async () => {
    const chain = fakeChain({ token: { tokenId: 3n, dsp: outsider }, owners: [dsp] });
    expect(await verifyBreachReport(context(chain), report, signature)).toEqual({
      ok: false,
      reason: "DspNotMember",
      message: `the agent's DSP ${outsider} is not an owner of the Consortium Safe at block 42`,
      hash,
      dsp: outsider,
      block: 42n,
    });
  });

  it("refuses what the pure judgement refuses without reading the chain", async () => {
    const chain = fakeChain({ token: { tokenId: 3n, dsp } });
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
    expect(chain.pinBlock).not.toHaveBeenCalled();
  });

  it("fails closed: a chain that cannot be read throws, for the caller to retry", async () => {
    for (const down of ["pinBlock", "agentOf", "safeState"] as const) {
      const chain = fakeChain({ token: { tokenId: 3n, dsp }, down });
      await expect(verifyBreachReport(context(chain), report, signature), down).rejects.toBeInstanceOf(
        ChainUnavailableError,
      );
    }
  });
});
