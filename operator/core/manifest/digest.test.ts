import { calculateSafeMessageHash, hashSafeMessage } from "@safe-global/protocol-kit";
import fc from "fast-check";
import { getAddress, hashTypedData, type Address } from "viem";
import { describe, expect, it } from "vitest";
import type { ConsortiumManifestSpec } from "../../api/v1alpha1/consortium-manifest.ts";
import { CanonicalError, canonicalJson } from "./canonical.ts";
import {
  canonicalManifest,
  manifestDigest,
  manifestHashes,
  manifestTypedData,
  type ApprovalDomain,
  type ManifestIdentity,
} from "./digest.ts";

const domain: ApprovalDomain = {
  federation: "dsc",
  chainId: 31337,
  consortiumSafe: "0x6F84bA199bB7A188638e676933A8bEFF9280293e",
};
const board: Address = "0x7d59336e50A67B12DA258E8019A02BE5E24dE155";
const id: ManifestIdentity = { namespace: "payments", name: "api" };
const spec: ConsortiumManifestSpec = {
  tier: "upgrade",
  targets: ["beta", "alpha"],
  nonce: 7,
  expiresAt: "2027-01-01T00:00:00Z",
  objects: [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "api", namespace: "payments" },
      spec: { replicas: 3, template: { spec: { containers: [{ name: "api", image: "api:1.2.3" }] } } },
    },
  ],
  proposal: { agent: "0x0000000000000000000000000000000000000001", signature: "0x" },
};
/** JSON as Kubernetes objects carry it: integers only (fractions are quoted). */
const k8sJson = fc
  .jsonValue({ maxDepth: 4 })
  .map(
    (v) =>
      JSON.parse(
        JSON.stringify(v, (_k, x: unknown) =>
          typeof x === "number" && !Number.isSafeInteger(x) ? String(x) : x,
        ),
      ) as unknown,
  );

const digestOf = (d: ApprovalDomain, i: ManifestIdentity, s: ConsortiumManifestSpec) =>
  manifestDigest(canonicalManifest(d, i, s));

describe("canonical JSON", () => {
  it("orders keys and drops whitespace, so equal objects have one text", () => {
    expect(canonicalJson({ b: [1, { d: true, c: null }], a: "x" })).toBe(
      '{"a":"x","b":[1,{"c":null,"d":true}]}',
    );
  });

  it("refuses what JSON cannot say exactly instead of dropping it", () => {
    expect(() => canonicalJson({ replicas: 1.5 })).toThrow(CanonicalError);
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/\$\.n/);
    expect(() => canonicalJson([undefined])).toThrow(/has no JSON form/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(CanonicalError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow(/refers to itself/);
  });

  it("round-trips every JSON value and ignores key order", () => {
    fc.assert(
      fc.property(k8sJson, (normal) => {
        const text = canonicalJson(normal, "$");
        expect(JSON.parse(text)).toEqual(normal);
        const reversed = JSON.parse(
          JSON.stringify(normal, (_k, v: unknown) =>
            v && typeof v === "object" && !Array.isArray(v)
              ? Object.fromEntries(Object.entries(v).reverse())
              : v,
          ),
        ) as unknown;
        expect(canonicalJson(reversed)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});

describe("manifest digest", () => {
  it("is stable for a known manifest (a change here breaks every existing approval)", () => {
    expect(digestOf(domain, id, spec)).toMatchInlineSnapshot(
      `"0xaf741f9ec6e40c6a5bc21cc8028430eb9174606e833e6e80b2452daad6e6feaa"`,
    );
  });

  it("does not depend on target order, duplicates, or how the expiry instant is written", () => {
    const same = digestOf(domain, id, {
      ...spec,
      targets: ["alpha", "beta", "alpha"],
      expiresAt: "2026-12-31T19:00:00-05:00",
    });
    expect(same).toBe(digestOf(domain, id, spec));
  });

  it("changes when anything that matters changes", () => {
    const base = digestOf(domain, id, spec);
    const variants: [string, string][] = [
      ["tier", digestOf(domain, id, { ...spec, tier: "critical" })],
      ["action", digestOf(domain, id, { ...spec, action: "resume" })],
      ["targets", digestOf(domain, id, { ...spec, targets: ["alpha"] })],
      ["nonce", digestOf(domain, id, { ...spec, nonce: 8 })],
      ["expiry", digestOf(domain, id, { ...spec, expiresAt: "2027-01-01T00:00:01Z" })],
      ["objects", digestOf(domain, id, { ...spec, objects: [{ ...spec.objects[0], kind: "StatefulSet" }] })],
      ["federation", digestOf({ ...domain, federation: "dsc-staging" }, id, spec)],
      ["chain", digestOf({ ...domain, chainId: 1 }, id, spec)],
      ["safe", digestOf({ ...domain, consortiumSafe: board }, id, spec)],
      ["name", digestOf(domain, { ...id, name: "api2" }, spec)],
      ["namespace", digestOf(domain, { ...id, namespace: "default" }, spec)],
    ];
    for (const [what, digest] of variants) expect(digest, what).not.toBe(base);
    expect(new Set(variants.map(([, d]) => d)).size).toBe(variants.length);
  });

  it("changes with any tampering of any object, however deep", () => {
    fc.assert(
      fc.property(
        k8sJson,
        fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
        (value, path) => {
          const original = structuredClone(spec.objects);
          const tampered: Record<string, unknown>[] = structuredClone(spec.objects);
          let cursor = tampered[0] as Record<string, unknown>;
          for (const key of path.slice(0, -1)) {
            const next = Object.hasOwn(cursor, key) ? cursor[key] : undefined;
            cursor[key] = next && typeof next === "object" && !Array.isArray(next) ? next : {};
            cursor = cursor[key] as Record<string, unknown>;
          }
          const last = path[path.length - 1] as string;
          const normal = value;
          cursor[last] = normal;
          fc.pre(canonicalJson(tampered) !== canonicalJson(original));
          expect(digestOf(domain, id, { ...spec, objects: tampered })).not.toBe(digestOf(domain, id, spec));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("the Safe message a signer approves", () => {
  it("matches protocol-kit's own Safe message hashing, for both Safes", () => {
    const manifest = canonicalManifest(domain, id, spec);
    const typed = manifestTypedData(manifest);
    const hashes = manifestHashes(manifest, board);
    const sdkTyped = {
      ...typed,
      domain: { ...typed.domain, chainId: Number(typed.domain?.chainId) },
      message: {
        ...typed.message,
        nonce: String(typed.message.nonce),
        expiresAt: String(typed.message.expiresAt),
      },
    };
    expect(hashSafeMessage(sdkTyped as never)).toBe(hashes.dataHash);
    expect(calculateSafeMessageHash(domain.consortiumSafe, hashes.dataHash, "1.5.0", 31337n)).toBe(
      hashes.consortiumMessageHash,
    );
    expect(calculateSafeMessageHash(board, hashes.dataHash, "1.5.0", 31337n)).toBe(hashes.boardMessageHash);
  });

  it("hashes every manifest as viem's hashTypedData and protocol-kit do (random manifests and domains)", () => {
    const address = fc
      .uint8Array({ minLength: 20, maxLength: 20 })
      .map((bytes) => getAddress(`0x${Buffer.from(bytes).toString("hex")}`));
    fc.assert(
      fc.property(
        fc.record({
          federation: fc.string({ unit: "grapheme", maxLength: 40 }),
          chainId: fc.integer({ min: 1, max: 2 ** 40 }),
          consortiumSafe: address,
          board: address,
          namespace: fc.string({ minLength: 1, maxLength: 20 }),
          name: fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
          tier: fc.constantFrom("operational", "upgrade", "critical" as const),
          action: fc.constantFrom(undefined, "apply", "resume" as const),
          targets: fc.array(fc.string({ unit: "grapheme", maxLength: 12 }), { maxLength: 5 }),
          nonce: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          expiry: fc.integer({ min: 0, max: 253_402_300_799 }),
        }),
        (r) => {
          const manifest = canonicalManifest(
            { federation: r.federation, chainId: r.chainId, consortiumSafe: r.consortiumSafe },
            { namespace: r.namespace, name: r.name },
            {
              ...spec,
              tier: r.tier,
              ...(r.action ? { action: r.action } : {}),
              targets: r.targets,
              nonce: r.nonce,
              expiresAt: new Date(r.expiry * 1000).toISOString(),
            },
          );
          const hashes = manifestHashes(manifest, r.board);
          expect(hashes.dataHash).toBe(hashTypedData(manifestTypedData(manifest)));
          const safeMessage = (safe: Address) =>
            hashTypedData({
              domain: { chainId: BigInt(r.chainId), verifyingContract: safe },
              types: { SafeMessage: [{ name: "message", type: "bytes" }] },
              primaryType: "SafeMessage",
              message: { message: hashes.dataHash },
            });
          expect(hashes.consortiumMessageHash).toBe(safeMessage(r.consortiumSafe));
          expect(hashes.boardMessageHash).toBe(safeMessage(r.board));
          expect(calculateSafeMessageHash(r.board, hashes.dataHash, "1.5.0", BigInt(r.chainId))).toBe(
            hashes.boardMessageHash,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it("shows the signer the digest, tier and sorted targets", () => {
    const typed = manifestTypedData(canonicalManifest(domain, id, spec));
    expect(typed.message.tier).toBe("upgrade");
    expect(typed.message.targets).toEqual(["alpha", "beta"]);
    expect(typed.message.manifest).toBe("payments/api");
    expect(typed.message.digest).toBe(digestOf(domain, id, spec));
    expect(typed.domain?.verifyingContract).toBe(getAddress(domain.consortiumSafe));
  });
});
