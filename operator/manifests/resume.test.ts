import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import { RESUME_KIND, resumeTokens } from "./resume.ts";

const base: ConsortiumManifestSpec = {
  tier: "critical",
  action: "resume",
  targets: ["alpha", "beta", "gamma"],
  nonce: 1,
  expiresAt: "2030-01-01T00:00:00Z",
  objects: [],
  proposal: { agent: "0x0000000000000000000000000000000000000001", signature: "0x" },
};
const resume = (tokens: unknown, extra: Record<string, unknown>[] = []): ConsortiumManifestSpec => ({
  ...base,
  objects: [
    {
      apiVersion: "dsc.federation.dev/v1alpha1",
      kind: RESUME_KIND,
      metadata: { name: "resume" },
      spec: { tokens },
    },
    ...extra,
  ],
});

describe("what a resume manifest lifts", () => {
  it("names the tokens the signers reviewed, once each", () => {
    expect(resumeTokens(resume(["0xab", "chain-7", "0xab"]))).toEqual({ tokens: ["0xab", "chain-7"] });
  });

  it("is nothing for an apply without a GuardianResume", () => {
    const apply = { ...base, action: "apply" as const, objects: [{ apiVersion: "v1", kind: "ConfigMap" }] };
    expect(resumeTokens(apply)).toBeUndefined();
  });

  it("refuses, naming the field, what is not a well-formed resume", () => {
    const cases: [ConsortiumManifestSpec, RegExp][] = [
      [
        { ...resume(["t"]), action: "apply" },
        /spec\.objects\[0\]: a GuardianResume belongs in a manifest whose action is resume/,
      ],
      [{ ...base }, /spec\.objects: a resume holds exactly one object/],
      [
        resume(["t"], [{ apiVersion: "v1", kind: "ConfigMap" }]),
        /spec\.objects: a resume holds exactly one object/,
      ],
      [resume([]), /spec\.objects\[0\]\.spec\.tokens: list the 1 to 64 pause tokens/],
      [resume("t"), /spec\.objects\[0\]\.spec\.tokens: list/],
      [resume(Array.from({ length: 65 }, (_, i) => `t${String(i)}`)), /list the 1 to 64/],
      [
        resume(["ok", "has space"]),
        /spec\.objects\[0\]\.spec\.tokens\[1\]: "has space" is not a pause token/,
      ],
      [resume([42]), /tokens\[0\]: 42 is not a pause token/],
    ];
    for (const [spec, message] of cases) {
      const result = resumeTokens(spec);
      expect(result && "error" in result ? result.error : "no error").toMatch(message);
    }
  });

  it("never throws and never lifts a token it was not given, whatever the objects hold", () => {
    fc.assert(
      fc.property(fc.array(fc.anything(), { maxLength: 4 }), fc.anything(), (objects, tokens) => {
        const spec = resume(tokens, objects as Record<string, unknown>[]);
        const result = resumeTokens(spec);
        if (result && "tokens" in result) {
          expect(Array.isArray(tokens)).toBe(true);
          for (const t of result.tokens) expect(tokens as unknown[]).toContain(t);
        }
      }),
      { numRuns: 300 },
    );
  });
});
