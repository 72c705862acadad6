import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dials, isSilent, reconnectDelay, roundTripMs } from "./health.ts";

describe("peer health decisions", () => {
  it("has exactly one region of every pair dial the other", () => {
    const region = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    fc.assert(
      fc.property(region, region, (a, b) => {
        fc.pre(a !== b);
        expect(dials(a, b)).not.toBe(dials(b, a));
      }),
    );
    expect([dials("alpha", "beta"), dials("beta", "gamma"), dials("gamma", "alpha")]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it("calls a peer silent after three heartbeats without a frame, not before", () => {
    expect(isSilent(1_000, 1_000 + 300, 100)).toBe(false);
    expect(isSilent(1_000, 1_000 + 301, 100)).toBe(true);
  });

  it("redials after 100 ms, doubling up to 2 s", () => {
    expect([0, 1, 2, 3, 4, 5, 100].map((n) => reconnectDelay(n))).toEqual([
      100, 200, 400, 800, 1_600, 2_000, 2_000,
    ]);
  });

  it("reports no round trip for an echo from the future or not a number", () => {
    expect(roundTripMs(10, 12.5)).toBe(2.5);
    expect(roundTripMs(13, 12.5)).toBeUndefined();
    expect(roundTripMs(Number.NaN, 12.5)).toBeUndefined();
  });
});
