import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { crdFiles } from "./crd-files.ts";
import { consortiumManifestSpec } from "./v1alpha1/consortium-manifest.ts";
import { federationSpec } from "./v1alpha1/federation.ts";
import { parse, ValidationError } from "./schema.ts";

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
});
