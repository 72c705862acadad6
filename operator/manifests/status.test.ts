import { describe, expect, it } from "vitest";
import type { VerificationReport } from "../verification/verify.ts";
import { consortiumManifestStatus } from "../api/v1alpha1/consortium-manifest.ts";
import { parse } from "../api/schema.ts";
import { manifestStatus, MAX_STATUS_APPROVALS, sameStatus } from "./status.ts";

const DIGEST = `0x${"ab".repeat(32)}` as const;
const signer = (n: number) => `0x${n.toString(16).padStart(40, "0")}` as const;

/** A refused report whose spec carried `invalid` bad inline signatures beside `valid` good ones. */
function report(valid: number, invalid: number): VerificationReport {
  const verdicts = [
    ...Array.from({ length: invalid }, (_, i) => ({
      safe: "consortium" as const,
      signer: signer(1000 + i),
      kind: "ecdsa" as const,
      source: "inline" as const,
      valid: false,
      reason: "not an owner of the Consortium Safe at block 7",
    })),
    ...Array.from({ length: valid }, (_, i) => ({
      safe: "consortium" as const,
      signer: signer(i + 1),
      kind: "contract" as const,
      source: "inline" as const,
      valid: true,
    })),
  ];
  return {
    manifest: { nonce: 1 },
    hashes: { digest: DIGEST, dataHash: DIGEST, consortiumMessageHash: DIGEST, boardMessageHash: DIGEST },
    block: 7n,
    owners: { consortium: [], board: [] },
    verdicts,
    proposer: { agent: signer(9), valid: true },
    decision: {
      verified: false,
      reason: "InsufficientApprovals",
      message: "2 of 3 DSP approvals",
      summary: "2/3 DSPs",
    },
  } as unknown as VerificationReport;
}

describe("a manifest's status", () => {
  it("stays inside the CRD's limit however many signatures a spec carries, keeping the valid ones", () => {
    const status = manifestStatus(undefined, 1, { kind: "refused", report: report(2, 600) }, new Date(0));
    expect(status.approvals).toHaveLength(MAX_STATUS_APPROVALS);
    expect(status.approvals?.filter((a) => a.valid)).toHaveLength(2);
    // What the API server would check: the CRD's own schema.
    expect(() => parse(consortiumManifestStatus, status, "status")).not.toThrow();
  });

  it("keeps every verdict when they fit", () => {
    const status = manifestStatus(undefined, 1, { kind: "refused", report: report(2, 3) }, new Date(0));
    expect(status.approvals).toHaveLength(5);
  });

  it("shows a withdrawal in effect as Withdrawn, naming what it pruned, and a plain version as Applied", () => {
    const verified = (action: "apply" | "withdraw"): VerificationReport => {
      const r = report(2, 0);
      return {
        ...r,
        manifest: { ...r.manifest, action },
        decision: { verified: true, reason: "Verified", message: "approved", summary: "2/2 DSPs" },
      } as VerificationReport;
    };
    const pruned = [{ apiVersion: "v1", kind: "ConfigMap", namespace: "apps", name: "web" }];
    const withdrawn = manifestStatus(
      undefined,
      2,
      { kind: "applied", report: verified("withdraw"), objects: [], pruned },
      new Date(0),
    );
    expect(withdrawn.state).toBe("Withdrawn");
    expect(withdrawn.conditions?.find((c) => c.type === "Applied")).toMatchObject({
      status: "True",
      reason: "Withdrawn",
      message: expect.stringMatching(/^withdrawn: pruned .*web/) as string,
    });
    expect(() => parse(consortiumManifestStatus, withdrawn, "status")).not.toThrow();
    const applied = manifestStatus(
      undefined,
      1,
      { kind: "applied", report: verified("apply"), objects: pruned, pruned: [] },
      new Date(0),
    );
    expect(applied.state).toBe("Applied");
  });

  it("is the same status read back from the API server (keys sorted), whatever moved in the block only", () => {
    const built = {
      ...manifestStatus(undefined, 1, { kind: "refused", report: report(2, 1) }, new Date(0)),
      regions: [{ region: "alpha", state: "Applied" as const, nonce: 1 }],
      regionSummary: "alpha ✓",
    };
    // What the API server returns: every object's keys sorted, nothing undefined.
    const sortKeys = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sortKeys)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([, x]) => x !== undefined)
                .sort(([a], [b]) => (a < b ? -1 : 1))
                .map(([k, x]) => [k, sortKeys(x)]),
            )
          : v;
    const readBack = sortKeys(built) as typeof built;
    expect(JSON.stringify(readBack)).not.toBe(JSON.stringify(built)); // the orders differ
    expect(sameStatus(readBack, built)).toBe(true);
    expect(sameStatus(readBack, { ...built, block: 8 })).toBe(true);
    expect(sameStatus(readBack, { ...built, regionSummary: "alpha pending" })).toBe(false);
    expect(sameStatus(readBack, { ...built, regions: [{ region: "alpha", state: "Pending" }] })).toBe(false);
    expect(sameStatus(undefined, built)).toBe(false);
  });
});
