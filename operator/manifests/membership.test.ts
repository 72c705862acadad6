import { describe, expect, it } from "vitest";
import type { ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import { membershipRule } from "./reconciler.ts";

const spec = (tier: ConsortiumManifestSpec["tier"], kind: string): ConsortiumManifestSpec => ({
  tier,
  targets: ["alpha"],
  nonce: 1,
  expiresAt: "2030-01-01T00:00:00Z",
  objects: [{ apiVersion: "dsc.federation.dev/v1alpha1", kind, metadata: { name: "dsc" } }],
  proposal: { agent: "0x0000000000000000000000000000000000000001", signature: "0x" },
});

describe("a change of membership", () => {
  it("needs the critical tier", () => {
    expect(membershipRule(spec("upgrade", "Federation"))).toMatch(/must be critical, not upgrade/);
    expect(membershipRule(spec("operational", "Federation"))).toMatch(/spec.tier/);
    expect(membershipRule(spec("critical", "Federation"))).toBeUndefined();
    expect(membershipRule(spec("operational", "ConsortiumManifest"))).toBeUndefined();
  });
});
