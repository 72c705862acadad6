import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CHAIN_READ_METHODS, operatorMetrics } from "./metrics.ts";

describe("operator metrics", () => {
  it("start every known tier/result and chain method at zero, so the first event shows in rate()", async () => {
    const registry = new Registry();
    operatorMetrics(registry);
    const text = await registry.metrics();
    expect(text).toMatch(/^dsc_verifications_total\{tier="critical",result="InvalidProposer"\} 0$/m);
    expect(text).toMatch(/^dsc_verifications_total\{tier="operational",result="ChainUnavailable"\} 0$/m);
    expect(text.match(/^dsc_verifications_total\{/gm)).toHaveLength(3 * 9);
    expect(text).toMatch(/^dsc_chain_errors_total\{method="eth_blockNumber"\} 0$/m);
  });

  it("name the same chain read methods as ChainReader times", () => {
    const source = readFileSync(new URL("../chain/reader.ts", import.meta.url), "utf8");
    const timed = [...source.matchAll(/\b(?:timed|this\.read)\(\s*"([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(timed)).toEqual(new Set(CHAIN_READ_METHODS));
  });
});
