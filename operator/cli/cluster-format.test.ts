import { describe, expect, it } from "vitest";
import {
  ago,
  bytes,
  formatApprovals,
  formatPauseHistory,
  formatStatus,
  pauseHistory,
} from "./cluster-format.ts";
import type { BreachReportView, ConsortiumManifestView, FederationView } from "../api/v1alpha1/objects.ts";

const NOW = Date.parse("2026-05-01T10:05:00Z");
const DSP1 = "0xA836575B4121032338b5F3cAcFea2e99f6Cc1826";
const DSP2 = "0x7706Fd87EdD883b8189954841b24c7041403ee32";
const DSP3 = "0xaFfD784fe8b900eeD979EAB111054a22a6453e62";
const BOARD1 = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955";
const AGENT3 = "0x71bE63f3384f5fb98995898A86B02Fb2426c5788";
const TOKEN = `0x71b3770b${"0".repeat(50)}4257`;
const OLD_TOKEN = `0x5e6f7a8b${"1".repeat(50)}abcd`;
const EVIDENCE = `0x${"e".repeat(64)}`;

const pause = {
  token: TOKEN,
  source: "agent",
  by: AGENT3,
  dsp: DSP3,
  severity: "critical",
  evidence: EVIDENCE,
  reason: "settlement invariant broken",
  since: "2026-05-01T10:03:00Z",
  acceptedIn: ["gamma", "alpha", "beta"],
};

const federation = (paused: boolean): FederationView => ({
  metadata: { name: "dsc" },
  spec: {
    region: "alpha",
    dsp: { name: "DSP-1", safe: DSP1 },
    chain: { chainId: 31337, rpcUrlSecretRef: { name: "chain-rpc", key: "url" } },
    consortiumSafe: "0x6F84bA199bB7A188638e676933A8bEFF9280293e",
    daoBoardSafe: "0x7d59336e50A67B12DA258E8019A02BE5E24dE155",
    guardian: { pauseContract: "0x0000000000000000000000000000000000000001", action: "ScaleToZero" },
    peers: [
      { region: "beta", endpoint: "dsc-beta.example.net:7443", certificateSha256: "a".repeat(64) },
      { region: "gamma", endpoint: "dsc-gamma.example.net:7443", certificateSha256: "b".repeat(64) },
    ],
  },
  status: {
    observedGeneration: 1,
    chain: {
      block: 1234,
      readAt: "2026-05-01T10:04:58Z",
      consortiumOwners: [DSP1, DSP2, DSP3],
      consortiumThreshold: 2,
      boardOwners: [BOARD1],
      boardThreshold: 1,
    },
    peers: [
      {
        region: "beta",
        connected: true,
        lastHeard: "2026-05-01T10:04:59.600Z",
        rttMilliseconds: 3,
        changesPending: 0,
      },
      { region: "gamma", connected: false, lastHeard: "2026-05-01T10:02:00Z", changesPending: 1 },
    ],
    peerSummary: "beta ✓ gamma ✗",
    document: { bytes: 13_456, manifests: 5 },
    log: {
      origin: "dsc.federation.dev/dsc/alpha",
      vkey: "dsc.federation.dev/dsc/alpha+12345678+AAAA",
      size: 42,
      root: "AAAA",
      cosignedBy: [
        { region: "beta", size: 42, at: "2026-05-01T10:04:59Z" },
        { region: "gamma", size: 40, at: "2026-05-01T10:02:00Z" },
      ],
      witnessed: [{ region: "beta", size: 17, at: "2026-05-01T10:04:59Z" }],
      mirrored: [{ region: "beta", size: 17 }],
      anchored: [
        { region: "alpha", size: 40, at: "2026-05-01T10:00:00Z", state: "Anchored" },
        { region: "beta", size: 0, state: "Unregistered" },
      ],
      trusted: [{ name: "partner", level: "verify", state: "Consistent", size: 900 }],
      warnings: [
        {
          kind: "timestamp_drift",
          region: "gamma",
          message: "gamma's witness dated its cosignature 400 s from this region's clock",
          at: "2026-05-01T10:04:00Z",
        },
      ],
    },
    policy: {
      tiers: {
        critical: { dspApprovals: 3, boardApprovals: 2 },
        upgrade: { dspApprovals: 2, boardApprovals: 0 },
        operational: { dspApprovals: 1, boardApprovals: 0 },
      },
      stricterHere: ["critical"],
      floors: "critical: RBAC; upgrade: workloads; operational: ConfigMap",
      source: "manifest dsc/policy nonce 2; raised floors: apps/Deployment≥critical",
    },
    guardian: paused
      ? { paused: true, action: "ScaleToZero", chainPaused: true, chainPauseId: 2, pauses: [pause] }
      : { paused: false, action: "ScaleToZero", chainPaused: false, chainPauseId: 2, pauses: [] },
    conditions: [
      {
        type: "Ready",
        status: "True",
        reason: "Ready",
        message: "DSP-1 is an owner of the Consortium Safe",
        lastTransitionTime: "2026-05-01T09:00:00Z",
      },
    ],
  },
});

describe("ago and bytes", () => {
  it("says how long ago, in the unit that reads best", () => {
    expect(ago("2026-05-01T10:04:59.600Z", NOW)).toBe("0.4 s ago");
    expect(ago("2026-05-01T10:04:30Z", NOW)).toBe("30 s ago");
    expect(ago("2026-05-01T10:02:00Z", NOW)).toBe("3 min ago");
    expect(ago("2026-05-01T07:05:00Z", NOW)).toBe("3 h ago");
    expect(ago("2026-04-27T10:05:00Z", NOW)).toBe("4 d ago");
    expect(ago(undefined, NOW)).toBe("never");
    expect(ago("not a time", NOW)).toBe("not a time");
  });

  it("prints sizes in B, kB and MB", () => {
    expect([bytes(512), bytes(13_456), bytes(4_500_000)]).toEqual(["512 B", "13.5 kB", "4.5 MB"]);
  });
});

describe("dsc status", () => {
  it("shows region, peers with RTT and last heard, chain owners and thresholds, document and guardian", () => {
    expect(formatStatus(federation(true), NOW)).toEqual([
      `Federation dsc: region alpha, DSP-1 (Safe ${DSP1})`,
      "Ready       True",
      "Peers",
      "  beta    ✓ connected    rtt 3 ms    last heard 0.4 s ago  (dsc-beta.example.net:7443)",
      "  gamma   ✗ disconnected             last heard 3 min ago, 1 change pending  (dsc-gamma.example.net:7443)",
      "Chain       chain id 31337, block 1234, read 2.0 s ago",
      "  Consortium Safe 0x6F84bA199bB7A188638e676933A8bEFF9280293e: threshold 2 of 3 owners",
      `    ${DSP1}  (this region's DSP)`,
      `    ${DSP2}`,
      `    ${DSP3}`,
      "  DAO Board Safe 0x7d59336e50A67B12DA258E8019A02BE5E24dE155: threshold 1 of 1 owners",
      `    ${BOARD1}`,
      "Document    13.5 kB, 5 manifests",
      "Policy      critical 3+2 Board, upgrade 2, operational 1 DSP approvals (stricter here than the federation: critical)",
      "  floors: critical: RBAC; upgrade: workloads; operational: ConfigMap",
      "  policy from: manifest dsc/policy nonce 2; raised floors: apps/Deployment≥critical",
      "Log         42 receipts, dsc.federation.dev/dsc/alpha",
      "  cosigned by   beta at 42 (1.0 s ago), gamma at 40 (3 min ago)",
      "  witnessing    beta at 17",
      "  mirrors       beta 17",
      "  anchored      alpha Anchored at 40 (5 min ago), beta Unregistered",
      "  watching      partner (verify): Consistent at 900",
      "  timestamp_drift  gamma: gamma's witness dated its cosignature 400 s from this region's clock",
      "Guardian    PAUSED (ScaleToZero), 1 pause in force; chain paused (pause #2)",
      `  ${TOKEN}`,
      "    source    agent, critical",
      `    by        ${AGENT3} (DSP ${DSP3})`,
      "    reason    settlement invariant broken",
      `    evidence  ${EVIDENCE}`,
      "    since     2026-05-01T10:03:00Z (2 min ago)",
      "    regions   gamma, alpha, beta",
      "Conditions",
      "  Ready  True    Ready: DSP-1 is an owner of the Consortium Safe",
    ]);
  });

  it("says when the guardian is not paused, or not configured, and when the status is stale", () => {
    expect(formatStatus(federation(false), NOW)).toContain(
      "Guardian    not paused (on a pause: ScaleToZero); chain not paused",
    );
    const plain = federation(false);
    const bare: FederationView = {
      metadata: { name: "dsc" },
      spec: { region: "beta" },
      status: {
        chain: { ...(plain.status?.chain ?? ({} as never)), readAt: "2026-05-01T07:05:00Z" },
      },
    };
    const lines = formatStatus(bare, NOW);
    expect(lines).toContain("Peers       none (this region does not replicate)");
    expect(lines).toContain("Guardian    not configured (no spec.guardian)");
    expect(lines).toContain("  (this status was last written 3 h ago: is the operator running?)");
    expect(formatStatus({ metadata: { name: "dsc" }, spec: { region: "beta" } }, NOW)).toContain(
      "(no status yet: is the operator running in this cluster?)",
    );
  });
});

const web: ConsortiumManifestView = {
  metadata: { name: "web", namespace: "payments", creationTimestamp: "2026-05-01T10:00:00Z" },
  spec: {
    tier: "upgrade",
    targets: ["alpha", "beta", "gamma"],
    nonce: 2,
    expiresAt: "2026-12-31T00:00:00Z",
    objects: [],
    proposal: { agent: AGENT3, signature: "0x00" },
  },
  status: {
    state: "Pending",
    block: 1200,
    digest: `0x${"d".repeat(64)}`,
    safeMessageHash: `0x${"5".repeat(64)}`,
    approvalSummary: "1/2",
    approvals: [
      { signer: DSP1, safe: "consortium", kind: "contract", source: "inline", valid: true },
      {
        signer: DSP2,
        safe: "consortium",
        kind: "eth_sign",
        source: "safe-service",
        valid: false,
        reason: "not an owner at block 1200",
      },
    ],
    proposer: { agent: AGENT3, dsp: DSP3, valid: true },
    appliedNonce: 1,
    appliedDigest: `0x${"a".repeat(64)}`,
    regions: [
      { region: "alpha", state: "Pending", nonce: 1 },
      { region: "beta", state: "Applied", nonce: 1 },
      { region: "gamma", state: "Pending" },
    ],
    regionSummary: "alpha pending beta ✓ gamma pending",
    conditions: [
      {
        type: "Verified",
        status: "False",
        reason: "InsufficientApprovals",
        message: "1 of 2 DSP approvals for tier upgrade (owners at this block: 3)",
        lastTransitionTime: "2026-05-01T10:00:01Z",
      },
    ],
  },
};

describe("dsc approvals", () => {
  it("lists each approval (counted or refused, and why), the proposer, the digest and the regions", () => {
    expect(formatApprovals(web)).toEqual([
      "ConsortiumManifest payments/web: tier upgrade, action apply, nonce 2",
      "Targets     alpha, beta, gamma",
      "State       Pending (verified at block 1200)",
      "Expires     2026-12-31T00:00:00Z",
      `Digest      0x${"d".repeat(64)}`,
      `Safe msg    0x${"5".repeat(64)} (Consortium)`,
      `Proposer    ✓ ${AGENT3}, agent of DSP ${DSP3}`,
      "Approvals   1/2 (counted / required); 2 signatures found",
      `  ✓ consortium ${DSP1}  contract      inline`,
      `  ✗ consortium ${DSP2}  eth_sign      safe-service: not an owner at block 1200`,
      `Applied     nonce 1, digest 0x${"a".repeat(64)}`,
      "Regions     alpha pending beta ✓ gamma pending",
      "  alpha    Pending     nonce 1",
      "  beta     Applied     nonce 1",
      "  gamma    Pending",
      "Conditions",
      "  Verified  False   InsufficientApprovals: 1 of 2 DSP approvals for tier upgrade (owners at this block: 3)",
    ]);
  });

  it("shows what a resume lifts, and a manifest the operator has not reconciled yet", () => {
    const lines = formatApprovals(resume("resume-1", [TOKEN], "Applied"));
    expect(lines[0]).toBe("ConsortiumManifest payments/resume-1: tier critical, action resume, nonce 1");
    expect(lines).toContain(`Lifts       ${TOKEN}`);
    expect(lines).toContain("Approvals   3/3+1/1 (counted / required: DSPs + Board); 0 signatures found");
    const fresh = formatApprovals({ metadata: { name: "new", namespace: "default" }, spec: web.spec ?? {} });
    expect(fresh).toContain("State       not reconciled yet");
    expect(fresh).toContain(`Proposer    ${AGENT3} (not verified yet)`);
    expect(fresh).toContain("  (none yet: inline, Safe Transaction Service or on chain)");
  });
});

function resume(name: string, tokens: string[], state: "Applied" | "Pending"): ConsortiumManifestView {
  return {
    metadata: { name, namespace: "payments", creationTimestamp: "2026-05-01T10:03:30Z" },
    spec: {
      tier: "critical",
      action: "resume",
      targets: ["alpha", "beta", "gamma"],
      nonce: 1,
      expiresAt: "2026-12-31T00:00:00Z",
      objects: [
        {
          apiVersion: "dsc.federation.dev/v1alpha1",
          kind: "GuardianResume",
          metadata: { name: "resume" },
          spec: { tokens },
        },
      ],
      proposal: { agent: AGENT3, signature: "0x00" },
    },
    status: {
      state,
      approvalSummary: state === "Applied" ? "3/3+1/1" : "2/3+1/1",
      conditions: [
        {
          type: "Applied",
          status: state === "Applied" ? "True" : "False",
          reason: state === "Applied" ? "Applied" : "NotVerified",
          message: "",
          lastTransitionTime: "2026-05-01T10:04:00Z",
        },
      ],
    },
  };
}

const report = (
  name: string,
  state: "Accepted" | "Refused",
  extra: Partial<NonNullable<BreachReportView["status"]>>,
): BreachReportView => ({
  metadata: { name, namespace: "payments", creationTimestamp: "2026-05-01T09:00:00Z" },
  spec: { agent: AGENT3, scope: "bridge drained", severity: "critical" },
  status: { state, ...extra },
});

describe("dsc pause-history", () => {
  const reports = [
    report("breach-old", "Accepted", { token: OLD_TOKEN, dsp: DSP3 }),
    report("forged", "Refused", { reason: "BadSignature", message: "signed by someone else" }),
  ];
  const manifests = [
    web,
    resume("resume-old", [OLD_TOKEN], "Applied"),
    resume("resume-short", [TOKEN], "Pending"),
  ];

  it("rebuilds lifted pauses from BreachReports and resume manifests, beside those in force", () => {
    const history = pauseHistory(federation(true), reports, manifests);
    expect(history.pauses.map((p) => [p.token, p.inForce])).toEqual([
      [OLD_TOKEN, false],
      [TOKEN, true],
    ]);
    expect(history.pauses[0]).toMatchObject({
      raisedAt: "2026-05-01T09:00:00Z",
      by: AGENT3,
      report: "payments/breach-old",
      liftedBy: "payments/resume-old",
      liftedAt: "2026-05-01T10:04:00Z",
    });
    expect(formatPauseHistory(history, NOW)).toEqual([
      "Pause history of federation dsc, as region alpha sees it",
      "Now         PAUSED; chain paused (#2)",
      "Pauses      1 in force, 1 lifted",
      "",
      "○ 0x5e6f7a8b…abcd  lifted 2026-05-01T10:04:00Z by payments/resume-old (3/3+1/1)",
      "    raised    2026-05-01T09:00:00Z",
      `    by        agent ${AGENT3} (DSP ${DSP3})`,
      "    reason    bridge drained",
      "    report    payments/breach-old",
      "",
      `● ${TOKEN}  IN FORCE since 2026-05-01T10:03:00Z (2 min ago)`,
      `    by        agent ${AGENT3} (DSP ${DSP3})`,
      "    reason    settlement invariant broken",
      "    regions   gamma, alpha, beta",
      "    resume    payments/resume-short (Pending 2/3+1/1), not applied",
      "",
      "Refused breach reports",
      `  2026-05-01T09:00:00Z  payments/forged  BadSignature  agent ${AGENT3}: signed by someone else`,
      "",
      "Lifted pauses leave the Federation's status; they are rebuilt here from the BreachReports",
      "and resume ConsortiumManifests in this cluster.",
    ]);
  });

  it("says so when a lifted pause was not raised by a report in this cluster", () => {
    const history = pauseHistory(federation(false), [], [resume("resume-old", [OLD_TOKEN], "Applied")]);
    expect(history.paused).toBe(false);
    const lines = formatPauseHistory(history, NOW);
    expect(lines).toContain("Pauses      0 in force, 1 lifted");
    expect(lines).toContain(
      "    by        not known here (no BreachReport in this cluster names it: a report in another region, an alert or the chain)",
    );
  });
});
