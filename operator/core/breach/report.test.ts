import fc from "fast-check";
import {
  concatHex,
  encodeAbiParameters,
  keccak256,
  numberToHex,
  parseSignature,
  serializeSignature,
  toHex,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it, vi } from "vitest";
import {
  breachHash,
  breachTypedData,
  judgeReport,
  signBreachReport,
  type BreachDomain,
  type BreachReport,
  type JudgeOptions,
} from "./report.ts";

const agentKey: Hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const otherKey: Hex = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const agent = privateKeyToAccount(agentKey).address;
const other = privateKeyToAccount(otherKey).address;

const domain: BreachDomain = {
  federation: "dsc",
  chainId: 31337,
  guardianPause: "0x6F84bA199bB7A188638e676933A8bEFF9280293e",
};
const observedAt = "2026-06-01T12:00:00Z";
const observedMs = Date.parse(observedAt);
const report: BreachReport = {
  agent,
  scope: "region/gamma",
  severity: "critical",
  evidenceHash: keccak256(toHex("the evidence")),
  observedAt,
};
const options: JudgeOptions = { nowMs: observedMs + 5_000, maxAgeSeconds: 300, seen: () => false };

const judge = (r: unknown, signature: unknown, o: Partial<JudgeOptions> = {}) =>
  judgeReport(domain, r, signature, { ...options, ...o });

const signed = await signBreachReport(domain, report, agentKey);

describe("the typed message of a breach report", () => {
  it("is EIP-712 BreachReport under the guardian's domain, with the time in unix seconds", () => {
    const typed = breachTypedData(domain, report);
    expect(typed.domain).toEqual({
      name: "DSC Federation Guardian",
      version: "1",
      chainId: 31337n,
      verifyingContract: domain.guardianPause,
    });
    expect(typed.primaryType).toBe("BreachReport");
    expect(typed.message).toEqual({
      federation: "dsc",
      agent,
      scope: "region/gamma",
      severity: "critical",
      evidenceHash: report.evidenceHash,
      observedAt: BigInt(observedMs / 1000),
    });
  });

  it("hashes as a contract would, from the type string (the guardian pause contract can check it)", () => {
    const typeHash = keccak256(
      toHex(
        "BreachReport(string federation,address agent,string scope,string severity,bytes32 evidenceHash,uint64 observedAt)",
      ),
    );
    const structHash = keccak256(
      encodeAbiParameters(
        [
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "address" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "uint64" },
        ],
        [
          typeHash,
          keccak256(toHex("dsc")),
          agent,
          keccak256(toHex("region/gamma")),
          keccak256(toHex("critical")),
          report.evidenceHash,
          BigInt(observedMs / 1000),
        ],
      ),
    );
    const domainSeparator = keccak256(
      encodeAbiParameters(
        [
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "uint256" },
          { type: "address" },
        ],
        [
          keccak256(
            toHex("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
          ),
          keccak256(toHex("DSC Federation Guardian")),
          keccak256(toHex("1")),
          31337n,
          domain.guardianPause,
        ],
      ),
    );
    expect(breachHash(domain, report)).toBe(keccak256(concatHex(["0x1901", domainSeparator, structHash])));
  });

  it("has one hash for one report however it is written (address case, time zone, fraction)", () => {
    const hash = breachHash(domain, report);
    expect(breachHash(domain, { ...report, agent: agent.toLowerCase() as Hex })).toBe(hash);
    expect(
      breachHash(domain, {
        ...report,
        evidenceHash: report.evidenceHash.toUpperCase().replace("0X", "0x") as Hex,
      }),
    ).toBe(hash);
    expect(breachHash(domain, { ...report, observedAt: "2026-06-01T14:00:00.250+02:00" })).toBe(hash);
  });

  it("changes with every field and with every part of the domain", () => {
    const hash = breachHash(domain, report);
    const variants: BreachReport[] = [
      { ...report, agent: other },
      { ...report, scope: "region/alpha" },
      { ...report, severity: "warning" },
      { ...report, evidenceHash: keccak256(toHex("other evidence")) },
      { ...report, observedAt: "2026-06-01T12:00:01Z" },
    ];
    const domains: BreachDomain[] = [
      { ...domain, federation: "other" },
      { ...domain, chainId: 1 },
      { ...domain, guardianPause: "0x7d59336e50A67B12DA258E8019A02BE5E24dE155" },
    ];
    const hashes = [
      ...variants.map((v) => breachHash(domain, v)),
      ...domains.map((d) => breachHash(d, report)),
    ];
    expect(new Set([hash, ...hashes]).size).toBe(hashes.length + 1);
  });
});

describe("judging a breach report", () => {
  it("accepts the agent's own signature and names the signer and the report's hash", async () => {
    const verdict = await judge(report, signed);
    expect(verdict).toEqual({ ok: true, hash: breachHash(domain, report), signer: agent, report });
  });

  it("accepts the agent's address in lower case, and returns it checksummed", async () => {
    const verdict = await judge({ ...report, agent: agent.toLowerCase() }, signed);
    expect(verdict).toMatchObject({ ok: true, signer: agent, report: { agent } });
  });

  it("refuses malformed fields, naming each field and what to write", async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...report, evidenceHash: "0x12" }, /^spec\.evidenceHash: "0x12" is not .*64 hex digits/],
      [{ ...report, agent: "0x12" }, /^spec\.agent: .*40 hex digits/],
      [{ ...report, severity: "urgent" }, /^spec\.severity: must be one of warning, critical/],
      [{ ...report, scope: "" }, /^spec\.scope: must be at least 1 characters/],
      [{ ...report, scope: "x".repeat(254) }, /^spec\.scope: must be at most 253 characters/],
      [{ ...report, observedAt: "tomorrow" }, /^spec\.observedAt: "tomorrow" is not an RFC 3339/],
      [{ ...report, observedAt: "2026-06-01" }, /^spec\.observedAt: "2026-06-01" is not an RFC 3339/],
      [{ ...report, observedAt: "1969-12-31T23:59:59Z" }, /^spec\.observedAt: .* is before 1970/],
      [{ ...report, agent: agent.toLowerCase().replace("a", "A") }, /^spec\.agent: .*EIP-55 checksum/],
      [{ ...report, extra: 1 }, /^spec\.extra: is not a known field/],
      [
        { agent, scope: "s", severity: "warning", evidenceHash: report.evidenceHash },
        /^spec\.observedAt: is required/,
      ],
      [{ ...report, scope: 42 }, /^spec\.scope: must be a string, got 42/],
      [null, /^spec: must be an object, got null/],
      [[report], /^spec: must be an object/],
      ["a report", /^spec: must be an object/],
    ];
    for (const [bad, message] of cases) {
      const verdict = await judge(bad, signed);
      expect(verdict, JSON.stringify(bad)).toEqual({
        ok: false,
        reason: "Malformed",
        message: expect.stringMatching(message) as unknown,
      });
    }
  });

  it("refuses a signature that is not hex bytes as malformed, naming spec.signature", async () => {
    for (const bad of [undefined, 42, "0x123", "zz", signed.slice(2), { r: "0x1", s: "0x2", v: 27 }]) {
      expect(await judge(report, bad)).toEqual({
        ok: false,
        reason: "Malformed",
        message: expect.stringMatching(/^spec\.signature: /) as unknown,
      });
    }
  });

  it("names at most five problems, then how many more", async () => {
    const verdict = await judge(
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${String(i)}`, i])),
      "0x",
    );
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.message).toMatch(/; \(and \d+ more\)$/);
  });

  it("refuses what cannot be read at all (a throwing getter, a BigInt) without throwing", async () => {
    const trap = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error("boom");
        },
      },
    );
    const getter = Object.defineProperty({ ...report }, "scope", {
      enumerable: true,
      get: () => {
        throw new Error("boom");
      },
    });
    for (const bad of [trap, getter, { ...report, scope: 10n }]) {
      expect(await judge(bad, signed)).toMatchObject({ ok: false, reason: "Malformed" });
    }
  });

  it("reads a getter once: what is checked is what is signed", async () => {
    let reads = 0;
    const shifty = Object.defineProperty({ ...report }, "evidenceHash", {
      enumerable: true,
      get: () => (reads++ === 0 ? report.evidenceHash : "0xnothex"),
    });
    expect(await judge(shifty, signed)).toMatchObject({ ok: true });
    expect(reads).toBe(1);
  });

  it("refuses a signature of the wrong length, unrecoverable, or by anyone but the agent", async () => {
    const hash = breachHash(domain, report);
    const { r, s, yParity } = parseSignature(signed);
    const cases: [Hex, RegExp][] = [
      ["0x", /must be 65 bytes.*got 0/],
      [concatHex([r, s]), /must be 65 bytes.*got 64/],
      [concatHex([signed, "0x00"]), /must be 65 bytes.*got 66/],
      [`0x${"00".repeat(65)}`, /no signer can be recovered/],
      [concatHex([r, s, numberToHex(29, { size: 1 })]), /no signer can be recovered/],
      [await signBreachReport(domain, report, otherKey), new RegExp(`recovers to ${other}`)],
      // The agent's eth_sign of the hash is a signature of something else.
      [
        await privateKeyToAccount(agentKey).signMessage({ message: { raw: hash } }),
        /is not .* signature of this report/,
      ],
      [serializeSignature({ r, s, yParity: 1 - yParity }), /./],
    ];
    for (const [signature, message] of cases) {
      expect(await judge(report, signature), signature).toEqual({
        ok: false,
        hash,
        reason: "BadSignature",
        message: expect.stringMatching(message) as unknown,
      });
    }
  });

  it("fails the signature when any field or the domain is changed after signing", async () => {
    const tampered: BreachReport[] = [
      { ...report, agent: other },
      { ...report, scope: "region/alpha" },
      { ...report, severity: "warning" },
      { ...report, evidenceHash: keccak256(toHex("other evidence")) },
      { ...report, observedAt: "2026-06-01T12:00:01Z" },
    ];
    for (const t of tampered) {
      const verdict = await judge(t, signed);
      expect(verdict).toMatchObject({ ok: false, reason: "BadSignature", hash: breachHash(domain, t) });
    }
    for (const d of [
      { ...domain, federation: "other" },
      { ...domain, chainId: 1 },
      { ...domain, guardianPause: other },
    ]) {
      expect(await judgeReport(d, report, signed, options)).toMatchObject({
        ok: false,
        reason: "BadSignature",
      });
    }
  });

  it("refuses a stale report, and one dated beyond the clock skew, at their exact bounds", async () => {
    const at = (seconds: number) => ({ nowMs: observedMs + seconds * 1000 });
    expect(await judge(report, signed, at(300))).toMatchObject({ ok: true });
    expect(await judge(report, signed, at(300.5))).toMatchObject({
      ok: false,
      reason: "Stale",
      message: expect.stringMatching(
        /^spec\.observedAt .* is 301 s old \(at most 300 s allowed\)/,
      ) as unknown,
    });
    expect(await judge(report, signed, at(-60))).toMatchObject({ ok: true });
    expect(await judge(report, signed, at(-61))).toMatchObject({
      ok: false,
      reason: "FromFuture",
      message: expect.stringMatching(/is 61 s ahead .* \(at most 60 s allowed\)/) as unknown,
    });
    expect(await judge(report, signed, { ...at(-61), maxSkewSeconds: 120 })).toMatchObject({ ok: true });
    expect(await judge(report, signed, { ...at(-1), maxSkewSeconds: 0 })).toMatchObject({
      reason: "FromFuture",
    });
    expect(await judge(report, signed, { nowMs: Number.NaN })).toMatchObject({ ok: false });
  });

  it("refuses a replay: the same report seen before, whatever its signature", async () => {
    const hash = breachHash(domain, report);
    const seen = new Set<Hex>([hash]);
    const verdict = await judge(report, signed, { seen: (h) => seen.has(h) });
    expect(verdict).toEqual({
      ok: false,
      hash,
      reason: "Replayed",
      message: expect.stringContaining(hash) as unknown,
    });
    // The high-s twin of the same signature recovers the same agent: still the same report.
    const { r, s, yParity } = parseSignature(signed);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const twin = serializeSignature({ r, s: numberToHex(n - BigInt(s), { size: 32 }), yParity: 1 - yParity });
    expect(await judge(report, twin, { seen: (h) => seen.has(h) })).toMatchObject({ reason: "Replayed" });
  });

  it("asks `seen` only about signed, timely reports", async () => {
    const seen = vi.fn(() => false);
    await judge(report, "0x", { seen });
    await judge({ ...report, scope: "forged" }, signed, { seen });
    await judge(report, signed, { seen, nowMs: observedMs + 3_600_000 });
    expect(seen).not.toHaveBeenCalled();
    await judge(report, signed, { seen });
    expect(seen).toHaveBeenCalledWith(breachHash(domain, report));
  });
});

describe("judging hostile input (property tests)", () => {
  const hex = (min: number, max: number) =>
    fc.uint8Array({ minLength: min, maxLength: max }).map((b) => toHex(b));
  const anyValue = fc.oneof(
    fc.anything(),
    fc.bigInt(),
    fc.string({ maxLength: 300 }),
    hex(0, 80),
    fc.constant("x".repeat(100_000)),
  );
  /** Mostly a good value, sometimes a hostile one: so that most reports get past the field checks. */
  const mostly = (good: fc.Arbitrary<unknown>, ...bad: fc.Arbitrary<unknown>[]) =>
    fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: fc.oneof(anyValue, ...bad), weight: 1 });
  const hostileReport = fc.oneof(
    { arbitrary: anyValue, weight: 1 },
    {
      arbitrary: fc
        .tuple(
          fc.record({
            agent: mostly(
              fc.constantFrom(agent, agent.toLowerCase(), other),
              fc.constant(agent.toUpperCase()),
              hex(19, 21),
            ),
            scope: mostly(
              fc.oneof(fc.constant(report.scope), fc.string({ minLength: 1, maxLength: 253 })),
              fc.string({ minLength: 254, maxLength: 300 }),
            ),
            severity: mostly(fc.constantFrom("warning", "critical"), fc.constantFrom("CRITICAL", "")),
            evidenceHash: mostly(fc.oneof(fc.constant(report.evidenceHash), hex(32, 32)), hex(0, 40)),
            observedAt: mostly(
              fc.oneof(
                fc.constant(observedAt),
                fc
                  .date({ noInvalidDate: true, min: new Date(0), max: new Date("9999-12-31") })
                  .map((d) => d.toISOString()),
              ),
            ),
          }),
          fc.nat({ max: 7 }),
          anyValue,
        )
        // Now and then a field it does not know.
        .map(([r, n, extra]) => (n === 0 ? { ...r, extra } : r)),
      weight: 4,
    },
  );
  const hostileSignature = fc.oneof(
    fc.constant(signed),
    hex(65, 65),
    hex(0, 130),
    fc.nat({ max: 131 }).map((n) => signed.slice(0, n)),
    anyValue,
  );

  const isTheSignedReport = (r: unknown): boolean => {
    if (typeof r !== "object" || r === null) return false;
    const o = r as Record<string, unknown>;
    return (
      Object.keys(o).length === 5 &&
      (o.agent === agent || o.agent === agent.toLowerCase()) &&
      o.scope === report.scope &&
      o.severity === report.severity &&
      o.evidenceHash === report.evidenceHash &&
      o.observedAt === report.observedAt
    );
  };

  it("never throws and never accepts what the agent did not sign", async () => {
    await fc.assert(
      fc.asyncProperty(hostileReport, hostileSignature, async (r, signature) => {
        const verdict = await judge(r, signature, {
          maxAgeSeconds: Number.MAX_SAFE_INTEGER,
          maxSkewSeconds: 1e12,
        });
        // The only signature by the agent in reach is `signed`, of `report`.
        expect(verdict.ok).toBe(signature === signed && isTheSignedReport(r));
        if (!verdict.ok) expect(verdict.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it("accepts a well-formed report exactly when its agent signed it", async () => {
    const key = fc.constantFrom(agentKey, otherKey);
    const wellFormed = fc.record({
      agent: fc.constantFrom(agent, other),
      scope: fc.string({ minLength: 1, maxLength: 253 }),
      severity: fc.constantFrom("warning" as const, "critical" as const),
      evidenceHash: hex(32, 32),
      observedAt: fc
        .integer({ min: -60, max: 300 })
        .map((s) => new Date(observedMs + 5_000 - s * 1000).toISOString()),
    });
    await fc.assert(
      fc.asyncProperty(wellFormed, key, async (r, k) => {
        const signature = await signBreachReport(domain, r, k);
        const verdict = await judge(r, signature);
        const byAgent = privateKeyToAccount(k).address === r.agent;
        expect(verdict.ok, JSON.stringify(verdict)).toBe(byAgent);
        if (!byAgent) expect(verdict).toMatchObject({ reason: "BadSignature" });
      }),
      { numRuns: 60 },
    );
  });

  it("reads v as 27/28 or 0/1 and refuses every other value", async () => {
    const v = Number.parseInt(signed.slice(-2), 16);
    for (let value = 0; value < 256; value++) {
      const same = value === v || value === v - 27;
      const verdict = await judge(
        report,
        concatHex([signed.slice(0, -2) as Hex, numberToHex(value, { size: 1 })]),
      );
      expect(verdict.ok, String(value)).toBe(same);
    }
  });

  it("refuses the agent's signature with any byte of r or s changed, or cut", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 63 }),
        fc.integer({ min: 1, max: 255 }),
        fc.nat({ max: 129 }),
        async (at, xor, cut) => {
          const bytes = Buffer.from(signed.slice(2), "hex");
          bytes[at] = (bytes[at] ?? 0) ^ xor;
          expect((await judge(report, toHex(bytes))).ok).toBe(false);
          expect((await judge(report, signed.slice(0, 2 + cut))).ok).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});
