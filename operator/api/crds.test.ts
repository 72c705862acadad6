import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { crdFiles } from "./crd-files.ts";
import { breachReportSpec, breachReportStatus } from "./v1alpha1/breach-report.ts";
import { consortiumManifestSpec } from "./v1alpha1/consortium-manifest.ts";
import { federationSpec } from "./v1alpha1/federation.ts";
import { parse, ValidationError, type FieldError } from "./schema.ts";

const dir = resolve(import.meta.dirname, "../../crds");

describe("the CRDs in crds/", () => {
  it("are exactly what the code generates (run `node operator/api/generate-crds.ts` after changing the API)", () => {
    const generated = crdFiles();
    expect(readdirSync(dir).sort()).toEqual(Object.keys(generated).sort());
    for (const [file, text] of Object.entries(generated))
      expect(readFileSync(join(dir, file), "utf8"), file).toBe(text);
  });
});

describe("the operator's own validation, from the same schema", () => {
  it("lists every problem with its field path and what to write instead", () => {
    const bad = {
      tier: "urgent",
      targets: ["alpha", "alpha"],
      nonce: 0,
      expiresAt: "tomorrow",
      objects: [{ kind: "ConfigMap" }],
      proposal: { agent: "0x12", signature: "0x" },
      extra: true,
    };
    try {
      parse(consortiumManifestSpec, bad, "spec");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const messages = (error as ValidationError).errors.map((e) => `${e.path}: ${e.message}`);
      expect(messages).toEqual(
        expect.arrayContaining([
          'spec.tier: must be one of critical, upgrade, operational; got "urgent"',
          "spec.targets: must not repeat an item",
          "spec.nonce: must be at least 1, got 0",
          'spec.expiresAt: "tomorrow" is not an RFC 3339 date-time (e.g. 2026-12-31T00:00:00Z)',
          "spec.objects[0].apiVersion: is required (e.g. apps/v1)",
          "spec.objects[0].metadata.name: is required",
          'spec.proposal.agent: "0x12" is not an Ethereum address (0x followed by 40 hex digits)',
          "spec.extra: is not a known field",
        ]),
      );
    }
  });

  it("accepts a Federation with the seeds' tiers left to their defaults", () => {
    const spec = parse(
      federationSpec,
      {
        region: "alpha",
        dsp: { name: "DSP-1", safe: "0x0000000000000000000000000000000000000001" },
        chain: { chainId: 1, rpcUrlSecretRef: { name: "rpc", key: "url" } },
        consortiumSafe: "0x0000000000000000000000000000000000000002",
        daoBoardSafe: "0x0000000000000000000000000000000000000003",
        agentRegistry: "0x0000000000000000000000000000000000000004",
      },
      "spec",
    );
    expect(spec.tiers).toBeUndefined();
    expect(() => parse(federationSpec, { ...spec, region: "Alpha!" }, "spec")).toThrow(/spec.region/);
  });

  it("lists every problem of a BreachReport with its field path", () => {
    const bad = {
      agent: "0xnot",
      scope: "",
      severity: "urgent",
      evidenceHash: "0x12",
      observedAt: "yesterday",
      signature: "0x123",
      extra: 1,
    };
    expect(() => parse(breachReportSpec, bad, "spec")).toThrow(ValidationError);
    const errors: FieldError[] = [];
    expect(breachReportSpec.check(bad, "spec", errors)).toBe(false);
    expect(errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      'spec.agent: "0xnot" is not an Ethereum address (0x followed by 40 hex digits)',
      "spec.scope: must be at least 1 characters",
      'spec.severity: must be one of warning, critical; got "urgent"',
      'spec.evidenceHash: "0x12" is not a 32-byte hash (0x followed by 64 hex digits)',
      'spec.observedAt: "yesterday" is not an RFC 3339 date-time (e.g. 2026-12-31T00:00:00Z)',
      'spec.signature: "0x123" is not hex bytes (0x followed by an even number of hex digits)',
      "spec.extra: is not a known field",
    ]);
    const missing: FieldError[] = [];
    breachReportSpec.check({}, "spec", missing);
    expect(missing.map((e) => e.path)).toEqual([
      "spec.agent",
      "spec.scope",
      "spec.severity",
      "spec.evidenceHash",
      "spec.observedAt",
      "spec.signature",
    ]);
  });

  it("accepts a BreachReport as an agent writes it, and its status as the operator writes it", () => {
    const spec = {
      agent: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      scope: "region/gamma",
      severity: "critical",
      evidenceHash: `0x${"ab".repeat(32)}`,
      observedAt: "2026-06-01T12:00:00Z",
      signature: `0x${"11".repeat(65)}`,
    };
    expect(parse(breachReportSpec, spec, "spec")).toEqual(spec);
    expect(() => parse(breachReportSpec, { ...spec, scope: "x".repeat(254) }, "spec")).toThrow(
      /spec\.scope: must be at most 253 characters/,
    );
    const status = {
      state: "Refused",
      reason: "NotAnAgent",
      message: "no agent token",
      token: spec.evidenceHash,
    };
    expect(parse(breachReportStatus, status, "status")).toEqual(status);
    expect(() => parse(breachReportStatus, { ...status, state: "Pending" }, "status")).toThrow(
      /status\.state: must be one of Accepted, Refused/,
    );
  });
});
