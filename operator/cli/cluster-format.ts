// What `dsc status`, `dsc approvals` and `dsc pause-history` (and the same as
// `kubectl dsc ...`) print: pure functions from the objects' JSON, as the API
// server returns them, to lines of text. Reading the cluster is cluster.ts.
import type { FederationSpec, FederationStatus } from "../api/v1alpha1/federation.ts";
import type { ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import type { BreachReportView, ConsortiumManifestView, FederationView } from "../api/v1alpha1/objects.ts";
import type { ObjectMeta } from "../kube/object.ts";

type Condition = NonNullable<FederationStatus["conditions"]>[number];

// ---- small pieces ----

/** How long ago `iso` was, seen at `now` (ms): "0.4 s ago", "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function ago(iso: string | undefined, now: number): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const ms = Math.max(0, now - t);
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s ago`;
  if (ms < 90_000) return `${String(Math.round(ms / 1000))} s ago`;
  if (ms < 90 * 60_000) return `${String(Math.round(ms / 60_000))} min ago`;
  if (ms < 36 * 3_600_000) return `${String(Math.round(ms / 3_600_000))} h ago`;
  return `${String(Math.round(ms / 86_400_000))} d ago`;
}

/** 512 B, 12.3 kB, 4.5 MB. */
export function bytes(n: number): string {
  if (n < 1000) return `${String(n)} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}

/** 0x71b3770b…4257: enough of a token or hash to tell it apart on screen. */
export function short(hex: string): string {
  return hex.length > 18 ? `${hex.slice(0, 10)}…${hex.slice(-4)}` : hex;
}

const id = (m: ObjectMeta | undefined): string =>
  m?.namespace ? `${m.namespace}/${m.name ?? "?"}` : (m?.name ?? "?");

function conditionLines(conditions: readonly Condition[] | undefined): string[] {
  if (!conditions || conditions.length === 0) return [];
  const width = Math.max(...conditions.map((c) => c.type.length));
  return [
    "Conditions",
    ...conditions.map(
      (c) =>
        `  ${c.type.padEnd(width)}  ${c.status.padEnd(7)} ${c.reason}${c.message ? `: ${c.message}` : ""}`,
    ),
  ];
}

/** Label and value, the labels in one column. */
const row = (label: string, value: string): string => `${label.padEnd(12)}${value}`.trimEnd();

const plural = (n: number, one: string, many = `${one}s`): string => `${String(n)} ${n === 1 ? one : many}`;

/** Status older than this was not refreshed by a running operator (it writes at every chain poll). */
const STALE_MS = 60_000;

// ---- dsc status ----

export function formatStatus(federation: FederationView, now: number): string[] {
  const spec = federation.spec ?? {};
  const status = federation.status ?? {};
  const lines: string[] = [];
  const dsp = spec.dsp ? `${spec.dsp.name} (Safe ${spec.dsp.safe})` : "?";
  lines.push(`Federation ${federation.metadata?.name ?? "?"}: region ${spec.region ?? "?"}, ${dsp}`);
  const ready = status.conditions?.find((c) => c.type === "Ready");
  if (ready)
    lines.push(row("Ready", `${ready.status}${ready.status === "True" ? "" : ` (${ready.reason})`}`));
  if (
    status.observedGeneration === undefined &&
    status.chain === undefined &&
    (status.conditions ?? []).length === 0
  )
    lines.push("(no status yet: is the operator running in this cluster?)");

  // Peers: every configured peer, with what the operator last saw of it.
  const configured = spec.peers ?? [];
  const seen = status.peers ?? [];
  const regions = [...new Set([...configured.map((p) => p.region), ...seen.map((p) => p.region)])];
  lines.push(row("Peers", regions.length === 0 ? "none (this region does not replicate)" : ""));
  for (const region of regions) {
    const p = seen.find((x) => x.region === region);
    const endpoint = configured.find((x) => x.region === region)?.endpoint;
    const parts = [
      `  ${region.padEnd(8)}`,
      p === undefined ? "? not seen yet " : p.connected ? "✓ connected    " : "✗ disconnected ",
      p?.rttMilliseconds !== undefined ? `rtt ${String(p.rttMilliseconds)} ms`.padEnd(12) : "".padEnd(12),
      `last heard ${ago(p?.lastHeard, now)}`,
    ];
    if (p?.changesPending) parts.push(`, ${plural(p.changesPending, "change")} pending`);
    if (endpoint) parts.push(`  (${endpoint})`);
    lines.push(parts.join(""));
  }

  const chain = status.chain;
  if (chain) {
    lines.push(
      row(
        "Chain",
        `chain id ${String(spec.chain?.chainId ?? "?")}, block ${String(chain.block)}, read ${ago(chain.readAt, now)}`,
      ),
    );
    if (now - Date.parse(chain.readAt) > STALE_MS)
      lines.push(`  (this status was last written ${ago(chain.readAt, now)}: is the operator running?)`);
    lines.push(
      `  Consortium Safe ${spec.consortiumSafe ?? "?"}: threshold ${String(chain.consortiumThreshold)} of ${String(chain.consortiumOwners.length)} owners`,
    );
    for (const o of chain.consortiumOwners)
      lines.push(
        `    ${o}${o.toLowerCase() === spec.dsp?.safe.toLowerCase() ? "  (this region's DSP)" : ""}`,
      );
    lines.push(
      `  DAO Board Safe ${spec.daoBoardSafe ?? "?"}: threshold ${String(chain.boardThreshold)} of ${String(chain.boardOwners.length)} owners`,
    );
    for (const o of chain.boardOwners) lines.push(`    ${o}`);
  } else {
    lines.push(row("Chain", `chain id ${String(spec.chain?.chainId ?? "?")}, not read yet`));
  }

  if (status.document)
    lines.push(
      row("Document", `${bytes(status.document.bytes)}, ${plural(status.document.manifests, "manifest")}`),
    );

  if (status.policy) {
    const t = status.policy.tiers;
    const tier = (name: "critical" | "upgrade" | "operational") =>
      `${name} ${String(t[name].dspApprovals)}${t[name].boardApprovals > 0 ? `+${String(t[name].boardApprovals)} Board` : ""}`;
    const stricter = status.policy.stricterHere;
    lines.push(
      row(
        "Policy",
        `${tier("critical")}, ${tier("upgrade")}, ${tier("operational")} DSP approvals` +
          (stricter.length > 0
            ? ` (stricter here than the federation: ${stricter.join(", ")})`
            : " (the federation's)"),
      ),
    );
    lines.push(`  floors: ${status.policy.floors}`);
    if (status.policy.source) lines.push(`  policy from: ${status.policy.source}`);
  }

  lines.push(...logLines(status.log, now));
  lines.push(...guardianLines(spec, status, now));
  lines.push(...conditionLines(status.conditions));
  return lines;
}

/** The region's decision log: its size, who cosigned it, its anchors, what it watches. */
function logLines(log: FederationStatus["log"], now: number): string[] {
  if (!log) return [];
  const lines = [row("Log", `${plural(log.size, "receipt")}, ${log.origin}`)];
  const cosigned = (log.cosignedBy ?? []).map((c) => `${c.region} at ${String(c.size)} (${ago(c.at, now)})`);
  lines.push(`  cosigned by   ${cosigned.length > 0 ? cosigned.join(", ") : "no peer yet"}`);
  const witnessed = (log.witnessed ?? []).map((w) => `${w.region} at ${String(w.size)}`);
  if (witnessed.length > 0) lines.push(`  witnessing    ${witnessed.join(", ")}`);
  const mirrored = (log.mirrored ?? []).map((m) => `${m.region} ${String(m.size)}`);
  if (mirrored.length > 0) lines.push(`  mirrors       ${mirrored.join(", ")}`);
  const anchored = (log.anchored ?? []).map(
    (a) =>
      `${a.region} ${a.state}${a.size > 0 ? ` at ${String(a.size)}` : ""}${a.at ? ` (${ago(a.at, now)})` : ""}`,
  );
  if (anchored.length > 0) lines.push(`  anchored      ${anchored.join(", ")}`);
  for (const t of log.trusted ?? [])
    lines.push(
      `  watching      ${t.name} (${t.level}): ${t.state}${t.size !== undefined ? ` at ${String(t.size)}` : ""}${t.message ? `: ${t.message}` : ""}`,
    );
  for (const w of log.warnings ?? []) lines.push(`  ${w.kind}  ${w.region}: ${w.message}`);
  return lines;
}

function guardianLines(spec: Partial<FederationSpec>, status: FederationStatus, now: number): string[] {
  const g = status.guardian;
  if (!spec.guardian && !g) return [row("Guardian", "not configured (no spec.guardian)")];
  if (!g) return [row("Guardian", "configured; no status yet")];
  const chain =
    g.chainPaused === undefined
      ? "chain not read yet"
      : g.chainPaused
        ? `chain paused (pause #${String(g.chainPauseId ?? "?")})`
        : "chain not paused";
  const action = g.action ?? spec.guardian?.action ?? "Freeze";
  const lines = [
    row(
      "Guardian",
      g.paused
        ? `PAUSED (${action}), ${plural(g.pauses.length, "pause")} in force; ${chain}`
        : `not paused (on a pause: ${action}); ${chain}`,
    ),
  ];
  for (const p of g.pauses) {
    lines.push(`  ${p.token}`);
    lines.push(`    source    ${p.source}, ${p.severity}`);
    lines.push(`    by        ${p.by}${p.dsp ? ` (DSP ${p.dsp})` : ""}`);
    lines.push(`    reason    ${p.reason}`);
    lines.push(`    evidence  ${p.evidence}`);
    lines.push(`    since     ${p.since} (${ago(p.since, now)})`);
    lines.push(`    regions   ${p.acceptedIn.length > 0 ? p.acceptedIn.join(", ") : "-"}`);
  }
  return lines;
}

// ---- dsc approvals NAME ----

export function formatApprovals(manifest: ConsortiumManifestView): string[] {
  const spec = manifest.spec ?? {};
  const status = manifest.status ?? {};
  const lines: string[] = [];
  lines.push(
    `ConsortiumManifest ${id(manifest.metadata)}: tier ${spec.tier ?? "?"}, action ${spec.action ?? "apply"}, nonce ${String(spec.nonce ?? "?")}`,
  );
  lines.push(row("Targets", (spec.targets ?? []).join(", ") || "-"));
  lines.push(
    row(
      "State",
      `${status.state ?? "not reconciled yet"}${status.block !== undefined ? ` (verified at block ${String(status.block)})` : ""}`,
    ),
  );
  if (spec.expiresAt) lines.push(row("Expires", spec.expiresAt));
  if (status.digest) lines.push(row("Digest", status.digest));
  if (status.safeMessageHash) lines.push(row("Safe msg", `${status.safeMessageHash} (Consortium)`));
  if (status.boardMessageHash && spec.tier === "critical")
    lines.push(row("", `${status.boardMessageHash} (DAO Board)`));
  const proposer = status.proposer;
  if (proposer)
    lines.push(
      row(
        "Proposer",
        `${proposer.valid ? "✓" : "✗"} ${proposer.agent}${proposer.dsp ? `, agent of DSP ${proposer.dsp}` : ""}${proposer.reason ? `: ${proposer.reason}` : ""}`,
      ),
    );
  else if (spec.proposal) lines.push(row("Proposer", `${spec.proposal.agent} (not verified yet)`));

  const approvals = status.approvals ?? [];
  lines.push(
    row(
      "Approvals",
      `${status.approvalSummary ?? "?"} (counted / required${spec.tier === "critical" ? ": DSPs + Board" : ""}); ${plural(approvals.length, "signature")} found`,
    ),
  );
  for (const a of approvals) {
    lines.push(
      `  ${a.valid ? "✓" : "✗"} ${a.safe.padEnd(10)} ${a.signer}  ${a.kind.padEnd(13)} ${a.source}${a.reason ? `: ${a.reason}` : ""}`,
    );
  }
  if (approvals.length === 0) lines.push(`  (none yet: inline, Safe Transaction Service or on chain)`);
  if (spec.action === "resume") {
    const tokens = resumeTokensOf(spec);
    lines.push(row("Lifts", tokens.length > 0 ? tokens.join(", ") : "-"));
  }
  if (status.appliedNonce !== undefined)
    lines.push(
      row(
        "Applied",
        `nonce ${String(status.appliedNonce)}${status.appliedDigest ? `, digest ${status.appliedDigest}` : ""}`,
      ),
    );
  const regions = status.regions ?? [];
  lines.push(row("Regions", status.regionSummary ?? (regions.length === 0 ? "-" : "")));
  for (const r of regions)
    lines.push(
      `  ${r.region.padEnd(8)} ${r.state.padEnd(12)}${r.nonce !== undefined ? `nonce ${String(r.nonce)}` : ""}`.trimEnd(),
    );
  lines.push(...conditionLines(status.conditions));
  return lines;
}

/** The pause tokens a resume manifest names (its GuardianResume object). */
function resumeTokensOf(spec: Partial<ConsortiumManifestSpec>): string[] {
  const resume = spec.objects?.find((o) => o.kind === "GuardianResume");
  const tokens = (resume?.spec as { tokens?: unknown } | undefined)?.tokens;
  return Array.isArray(tokens) ? tokens.filter((t): t is string => typeof t === "string") : [];
}

// ---- dsc pause-history ----

interface PauseEntry {
  readonly token: string;
  readonly inForce: boolean;
  /** When it was raised: the pause's `since`, or the BreachReport's creation. */
  readonly raisedAt?: string;
  readonly source?: string;
  readonly by?: string;
  readonly dsp?: string;
  readonly reason?: string;
  readonly regions?: readonly string[];
  /** The BreachReport that raised it, in this cluster. */
  readonly report?: string;
  /** The applied resume manifest that lifted it, and when. */
  readonly liftedBy?: string;
  readonly liftedAt?: string;
  readonly liftedApprovals?: string;
  /** Resume manifests naming it that are not applied (yet). */
  readonly pendingResumes: readonly string[];
}

interface PauseHistory {
  readonly region: string;
  readonly federation: string;
  readonly paused: boolean;
  readonly chain: string;
  readonly pauses: readonly PauseEntry[];
  readonly refused: readonly {
    readonly report: string;
    readonly at: string;
    readonly reason: string;
    readonly agent: string;
    readonly message?: string;
  }[];
}

const appliedAt = (m: ConsortiumManifestView): string | undefined =>
  m.status?.conditions?.find((c) => c.type === "Applied" && c.status === "True")?.lastTransitionTime ??
  (m.status?.state === "Applied" ? m.metadata?.creationTimestamp : undefined);

/**
 * Pauses in force (from the Federation's status) and lifted (no longer in
 * status: rebuilt from the BreachReports that raised them and the resume
 * manifests that lifted them), oldest first.
 */
export function pauseHistory(
  federation: FederationView,
  reports: readonly BreachReportView[],
  manifests: readonly ConsortiumManifestView[],
): PauseHistory {
  const g = federation.status?.guardian;
  const resumes = manifests.filter((m) => m.spec?.action === "resume");
  const accepted = reports.filter((r) => r.status?.state === "Accepted" && r.status.token);
  const reportOf = (token: string) =>
    accepted.find((r) => r.status?.token?.toLowerCase() === token.toLowerCase());
  const naming = (token: string) =>
    resumes.filter((m) => resumeTokensOf(m.spec ?? {}).some((t) => t.toLowerCase() === token.toLowerCase()));

  const tokens = new Map<string, string>(); // lower case → as written
  for (const p of g?.pauses ?? []) tokens.set(p.token.toLowerCase(), p.token);
  for (const r of accepted) if (r.status?.token) tokens.set(r.status.token.toLowerCase(), r.status.token);
  for (const m of resumes) for (const t of resumeTokensOf(m.spec ?? {})) tokens.set(t.toLowerCase(), t);

  const pauses: PauseEntry[] = [...tokens.values()].map((token) => {
    const inForce = g?.pauses.find((p) => p.token.toLowerCase() === token.toLowerCase());
    const report = reportOf(token);
    const lifting = inForce ? undefined : naming(token).find((m) => appliedAt(m) !== undefined);
    const liftedAt = lifting && appliedAt(lifting);
    const raisedAt = inForce?.since ?? report?.metadata?.creationTimestamp;
    const by = inForce?.by ?? report?.spec?.agent;
    const dsp = inForce?.dsp ?? report?.status?.dsp;
    const reason = inForce?.reason ?? report?.spec?.scope;
    return {
      token,
      inForce: inForce !== undefined,
      ...(raisedAt ? { raisedAt } : {}),
      ...(inForce ? { source: inForce.source } : report ? { source: "agent" } : {}),
      ...(by ? { by } : {}),
      ...(dsp ? { dsp } : {}),
      ...(reason ? { reason } : {}),
      ...(inForce ? { regions: inForce.acceptedIn } : {}),
      ...(report ? { report: id(report.metadata) } : {}),
      ...(lifting ? { liftedBy: id(lifting.metadata) } : {}),
      ...(liftedAt ? { liftedAt } : {}),
      ...(lifting?.status?.approvalSummary ? { liftedApprovals: lifting.status.approvalSummary } : {}),
      pendingResumes: naming(token)
        .filter((m) => appliedAt(m) === undefined)
        .map((m) =>
          `${id(m.metadata)} (${m.status?.state ?? "not reconciled"} ${m.status?.approvalSummary ?? ""})`.replace(
            " )",
            ")",
          ),
        ),
    };
  });
  const when = (p: PauseEntry): string => p.raisedAt ?? p.liftedAt ?? "";
  pauses.sort((a, b) => when(a).localeCompare(when(b)));

  const refused = reports
    .filter((r) => r.status?.state === "Refused")
    .map((r) => ({
      report: id(r.metadata),
      at: r.metadata?.creationTimestamp ?? "",
      reason: r.status?.reason ?? "?",
      agent: r.spec?.agent ?? "?",
      ...(r.status?.message ? { message: r.status.message } : {}),
    }))
    .sort((a, b) => a.at.localeCompare(b.at));

  return {
    region: federation.spec?.region ?? "?",
    federation: federation.metadata?.name ?? "?",
    paused: g?.paused ?? false,
    chain:
      g?.chainPaused === undefined
        ? "chain not read"
        : g.chainPaused
          ? `chain paused (#${String(g.chainPauseId ?? "?")})`
          : "chain not paused",
    pauses,
    refused,
  };
}

export function formatPauseHistory(h: PauseHistory, now: number): string[] {
  const inForce = h.pauses.filter((p) => p.inForce).length;
  const lines = [
    `Pause history of federation ${h.federation}, as region ${h.region} sees it`,
    row("Now", `${h.paused ? "PAUSED" : "not paused"}; ${h.chain}`),
    row("Pauses", `${String(inForce)} in force, ${String(h.pauses.length - inForce)} lifted`),
  ];
  for (const p of h.pauses) {
    const by = p.by ? `${p.source ?? "?"} ${p.by}${p.dsp ? ` (DSP ${p.dsp})` : ""}` : undefined;
    lines.push("");
    if (p.inForce) {
      lines.push(`● ${p.token}  IN FORCE since ${p.raisedAt ?? "?"} (${ago(p.raisedAt, now)})`);
    } else {
      lines.push(
        `○ ${short(p.token)}  lifted ${p.liftedAt ?? "(time unknown)"}${p.liftedBy ? ` by ${p.liftedBy}${p.liftedApprovals ? ` (${p.liftedApprovals})` : ""}` : ""}`,
      );
      if (p.raisedAt) lines.push(`    raised    ${p.raisedAt}`);
    }
    lines.push(
      `    by        ${by ?? "not known here (no BreachReport in this cluster names it: a report in another region, an alert or the chain)"}`,
    );
    if (p.reason) lines.push(`    reason    ${p.reason}`);
    if (p.regions) lines.push(`    regions   ${p.regions.join(", ") || "-"}`);
    if (p.report) lines.push(`    report    ${p.report}`);
    for (const r of p.pendingResumes) lines.push(`    resume    ${r}, not applied`);
  }
  if (h.refused.length > 0) {
    lines.push("", "Refused breach reports");
    for (const r of h.refused)
      lines.push(`  ${r.at}  ${r.report}  ${r.reason}  agent ${r.agent}${r.message ? `: ${r.message}` : ""}`);
  }
  lines.push(
    "",
    "Lifted pauses leave the Federation's status; they are rebuilt here from the BreachReports",
    "and resume ConsortiumManifests in this cluster.",
  );
  return lines;
}
