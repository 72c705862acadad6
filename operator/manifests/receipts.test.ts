import { describe, expect, it } from "vitest";
import type { VerificationReport } from "../verification/verify.ts";
import { manifestReceipt } from "./receipts.ts";
import { manifestStatus, type Outcome } from "./status.ts";

const digest = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as const;
const owner = `0x${"1".repeat(40)}` as const;

function report(verified: boolean, d = digest(1)): VerificationReport {
  return {
    manifest: { nonce: 1, tier: "upgrade", targets: ["alpha"] },
    hashes: { digest: d, dataHash: d, consortiumMessageHash: d, boardMessageHash: d },
    block: 7n,
    owners: { consortium: [owner], board: [] },
    verdicts: [],
    proposer: { agent: owner, valid: true },
    decision: {
      verified,
      reason: verified ? "Verified" : "InsufficientApprovals",
      message: verified ? "2 of 3 DSPs approved" : "1 of 2 DSP approvals",
      summary: verified ? "2/2" : "1/2",
      dsp: { approvers: [owner], required: 2 },
      board: { approvers: [], required: 0 },
    },
  } as unknown as VerificationReport;
}

const ref = { apiVersion: "v1", kind: "ConfigMap", namespace: "ns", name: "a" };
const step = (previous: ReturnType<typeof manifestStatus> | undefined, outcome: Outcome) => {
  const next = manifestStatus(previous, 1, outcome, new Date(0));
  return { next, receipt: manifestReceipt(previous, next, outcome) };
};

describe("manifest receipts", () => {
  it("records a decision once, when it changes, as a resync that decides the same records nothing", () => {
    const refused = step(undefined, { kind: "refused", report: report(false) });
    expect(refused.receipt).toMatchObject({
      kind: "manifest.refused",
      details: { reason: "InsufficientApprovals", approvals: "1/2" },
    });
    expect(step(refused.next, { kind: "refused", report: report(false) }).receipt).toBeUndefined();

    const applied = step(refused.next, { kind: "applied", report: report(true), objects: [ref], pruned: [] });
    expect(applied.receipt).toMatchObject({
      kind: "manifest.applied",
      details: { digest: digest(1), block: "7", objects: ["ConfigMap/ns/a"], dspApprovers: [owner] },
    });
    expect(
      step(applied.next, { kind: "applied", report: report(true), objects: [ref], pruned: [] }).receipt,
    ).toBeUndefined();

    // A new version applied is a new receipt; one held by a pause is a verified one.
    const next = step(applied.next, {
      kind: "applied",
      report: report(true, digest(2)),
      objects: [ref],
      pruned: [ref],
    });
    expect(next.receipt?.kind).toBe("manifest.applied");
    const paused = step(next.next, {
      kind: "paused",
      report: report(true, digest(3)),
      message: "paused by alpha",
    });
    expect(paused.receipt).toMatchObject({
      kind: "manifest.verified",
      details: { message: "paused by alpha", state: "Paused" },
    });
  });

  it("records what a withdrawal pruned, once", () => {
    const applied = step(undefined, { kind: "applied", report: report(true), objects: [ref], pruned: [] });
    const base = report(true, digest(2));
    const withdraw = { ...base, manifest: { ...base.manifest, action: "withdraw" } } as VerificationReport;
    const withdrawn = step(applied.next, { kind: "applied", report: withdraw, objects: [], pruned: [ref] });
    expect(withdrawn.next.state).toBe("Withdrawn");
    expect(withdrawn.receipt).toMatchObject({
      kind: "manifest.pruned",
      details: { action: "withdraw", pruned: ["ConfigMap/ns/a"], prunedCount: 1, digest: digest(2) },
    });
    expect(
      step(withdrawn.next, { kind: "applied", report: withdraw, objects: [], pruned: [] }).receipt,
    ).toBeUndefined();
  });

  it("records nothing where nothing was decided: no chain, no federation, an apply that failed", () => {
    for (const outcome of [
      { kind: "chain-unavailable", message: "rpc down" },
      { kind: "no-federation", message: "none" },
      { kind: "apply-failed", report: report(true), message: "conflict" },
    ] as const)
      expect(step(undefined, outcome).receipt).toBeUndefined();
  });
});
