// The guardian pause in one region. Pausing is fast and needs little
// authority: one agent's signed report, one configured Alertmanager alert, or
// a pause on chain. Resuming is slow: a critical-tier resume manifest (see
// manifests/resume.ts) that names the pause tokens it lifts.
//
// The pause lives in the federation state as a set of tokens (pause wins), so
// every region pauses, including one that rejoins after a partition. This
// service judges the signals and writes pause and resume records into that
// state; the enforcer (enforcer.ts) makes the cluster match it.
import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { getAddress, type Hex } from "viem";
import {
  chainPauseToken,
  legacyChainPauseToken,
  pauseContractOf,
  samePauseContract,
  type ChainPause,
  type PauseContract,
} from "../chain/reader.ts";
import type { FederationContext } from "../federation/context.ts";
import { trace } from "../runtime/trace.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { FederationState } from "../state/federation-state.ts";
import type { PauseLedger } from "../state/pause-ledger.ts";
import { pauseRecords, pausesInForce, recordedPauseToken, type ActivePause } from "../state/readers.ts";
import { Topic } from "../runtime/topic.ts";
import type { PauseRecord } from "../state/model.ts";
import { verifyBreachReport, type BreachVerdict } from "./verify-report.ts";
import type { Receipts } from "../receipts/receipt-log.ts";
import type { LogDiscrepancy } from "../core/tlog/anchor.ts";

interface GuardianOptions {
  readonly region: string;
  readonly state: FederationState;
  /** This region's own memory of pauses seen and lifted (the shared document only hints). */
  readonly ledger: PauseLedger;
  readonly federation: () => FederationContext | undefined;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
  /** This region's log of decisions: reports judged, pauses raised and lifted here. */
  readonly receipts?: Receipts;
}

type AlertResult =
  | { readonly status: 401; readonly message: string }
  | { readonly status: 400; readonly message: string }
  | { readonly status: 503; readonly message: string }
  | { readonly status: 200; readonly paused: number; readonly ignored: number };

interface AlertmanagerAlert {
  status?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  startsAt?: unknown;
  fingerprint?: unknown;
}

/** Reads of the chain's pause at an older block dropped in a row before the chain is taken as gone back. */
const MAX_STALE_READS = 3;

const sha256 = (text: string): Hex => `0x${createHash("sha256").update(text).digest("hex")}`;

export class Guardian {
  readonly #o: GuardianOptions;
  readonly #reports: Counter<"source" | "result">;
  #chain: ChainPause | undefined;
  /** The chain and contract the reads below are of: another one starts them over. */
  #chainSource: PauseContract | undefined;
  /** The block of the newest chain read taken: an older one is stale news and changes nothing. */
  #chainBlock = -1n;
  /** The highest pause id seen lifted on chain: a pause is never paused again (a new one gets a new id). */
  #chainLifted = 0n;
  /** Older reads dropped in a row: a chain that stays behind went back (a reset, an RPC behind). */
  #staleInRow = 0;
  /** Tokens this region lifted: what enforces the pause and shows it looks again. */
  readonly lifts = new Topic();
  /** The GuardianPause contract's state changed (read for the first time, paused, unpaused, unreadable). */
  readonly chainChanged = new Topic();

  constructor(options: GuardianOptions) {
    this.#o = options;
    // Every pause record seen is remembered here, so a peer deleting it from the document
    // cannot lift it. In memory at once; on disk shortly after.
    const remember = (): void => {
      options.ledger.remember(pauseRecords(options.state.doc)).catch((error: unknown) => {
        options.logger.error({ err: errorMessage(error) }, "could not save the pause ledger");
      });
    };
    remember();
    options.state.onChange(remember);
    this.#reports = new Counter({
      name: "dsc_breach_reports_total",
      help: "Breach signals received, by source (agent, http, alertmanager, chain) and result.",
      labelNames: ["source", "result"],
      registers: [options.registry],
    });
  }

  /** Counts a breach signal refused before it was judged (a rate limit). */
  countReport(source: "agent" | "http" | "alertmanager", result: string): void {
    this.#reports.inc({ source, result });
  }

  /** Pauses in force in this region: every record seen, less the tokens this region lifted itself. */
  pauses(): ActivePause[] {
    const { ledger, state } = this.#o;
    return pausesInForce([...pauseRecords(state.doc), ...ledger.records()], (t) => ledger.isLifted(t));
  }

  paused(): boolean {
    return this.pauses().length > 0;
  }

  /** The chain's GuardianPause as last read (undefined before the first read or without a guardian config). */
  chainPause(): ChainPause | undefined {
    return this.#chain;
  }

  /**
   * An agent's signed report, from a BreachReport or the HTTP endpoint. A
   * report already lifted by a resume is a replay and refused; one whose
   * pause is in force is accepted again without effect (idempotent).
   */
  async acceptReport(report: unknown, signature: unknown, source: "agent" | "http"): Promise<BreachVerdict> {
    trace(`report/${source}`, "report received");
    const ctx = this.#o.federation();
    const guardian = ctx?.spec.guardian;
    if (!ctx || !guardian) {
      this.#reports.inc({ source, result: "NotConfigured" });
      return {
        ok: false,
        reason: "Malformed",
        message: "this region has no usable Federation with spec.guardian yet; nothing can be verified",
      };
    }
    const verdict = await verifyBreachReport(
      {
        chain: ctx.chain,
        agentRegistry: getAddress(ctx.spec.agentRegistry),
        consortiumSafe: getAddress(ctx.spec.consortiumSafe),
        domain: {
          federation: ctx.name,
          chainId: ctx.spec.chain.chainId,
          guardianPause: getAddress(guardian.pauseContract),
        },
        headMaxAgeMs: source === "http" ? 1000 : 0,
        nowMs: this.#o.now(),
        maxAgeSeconds: guardian.maxReportAgeSeconds ?? 300,
        // Lifted tokens only: a report whose pause is in force changes nothing if taken again.
        seen: (hash) => this.lifted(hash),
      },
      report,
      signature,
    );
    this.#reports.inc({ source, result: verdict.ok ? "Accepted" : verdict.reason });
    trace(`report/${source}`, "report judged", { ok: verdict.ok });
    if (!verdict.ok) {
      this.#o.logger.warn({ reason: verdict.reason, source }, `breach report refused: ${verdict.message}`);
      void this.#o.receipts?.record("breach.refused", source, {
        reason: verdict.reason,
        message: verdict.message.slice(0, 512),
      });
      return verdict;
    }
    void this.#o.receipts?.record("breach.accepted", verdict.hash, {
      source,
      agent: verdict.signer,
      dsp: verdict.dsp,
      severity: verdict.report.severity,
      evidence: verdict.report.evidenceHash,
    });
    await this.#raise({
      token: verdict.hash,
      source: "agent",
      by: verdict.signer,
      dsp: verdict.dsp,
      severity: verdict.report.severity,
      evidence: verdict.report.evidenceHash,
      reason: verdict.report.scope.slice(0, 256),
    });
    return verdict;
  }

  /** Alertmanager's bearer token against the Secret's; undefined when it may go on. Asked before the body is read. */
  authorizeAlertmanager(authorization: string | undefined): AlertResult | undefined {
    const ctx = this.#o.federation();
    const expected = ctx?.alertmanagerToken?.trim();
    // An empty token would match a request that sends none: the webhook is off without one.
    if (!ctx?.spec.guardian?.alertmanager || !expected) {
      this.#reports.inc({ source: "alertmanager", result: "NotConfigured" });
      return {
        status: 503,
        message:
          "spec.guardian.alertmanager is not configured, or its Secret is unreadable or holds no token",
      };
    }
    const given = /^Bearer (.+)$/.exec(authorization ?? "")?.[1] ?? "";
    // Hashes of equal length, so the comparison takes the same time whatever was sent.
    if (!timingSafeEqual(Buffer.from(sha256(given)), Buffer.from(sha256(expected)))) {
      this.#reports.inc({ source: "alertmanager", result: "Unauthorized" });
      return { status: 401, message: "missing or wrong bearer token" };
    }
    return undefined;
  }

  /** An Alertmanager webhook (version 4 payload): the configured firing alerts pause. */
  async acceptAlerts(authorization: string | undefined, body: unknown): Promise<AlertResult> {
    const refused = this.authorizeAlertmanager(authorization);
    if (refused) return refused;
    const config = this.#o.federation()?.spec.guardian?.alertmanager;
    if (!config) return { status: 503, message: "spec.guardian.alertmanager is not configured" };
    const alerts = (body as { alerts?: unknown } | null)?.alerts;
    if (!Array.isArray(alerts)) {
      this.#reports.inc({ source: "alertmanager", result: "Malformed" });
      return { status: 400, message: "body.alerts: expected Alertmanager's webhook payload (version 4)" };
    }
    let [paused, ignored] = [0, 0];
    for (const alert of alerts.slice(0, 256) as AlertmanagerAlert[]) {
      const name = typeof alert.labels?.alertname === "string" ? alert.labels.alertname : "";
      const severity = typeof alert.labels?.severity === "string" ? alert.labels.severity : "none";
      const rule = config.alerts.find((r) => r.alertname === name);
      const pauses =
        alert.status === "firing" && rule !== undefined && (rule.severities?.includes(severity) ?? true);
      if (!pauses) {
        ignored++;
        continue;
      }
      // One alert (fingerprint and start) is one pause: Alertmanager resends it every repeat_interval.
      const identity = JSON.stringify([name, alert.fingerprint, alert.startsAt]);
      const summary = typeof alert.annotations?.summary === "string" ? alert.annotations.summary : "";
      await this.#raise({
        token: sha256(identity),
        source: "alertmanager",
        by: "alertmanager",
        dsp: "-",
        severity: severity.replace(/\s/g, "_").slice(0, 63) || "none",
        evidence: sha256(JSON.stringify(alert)),
        reason: `${name}${summary ? `: ${summary}` : ""}`.replace(/\p{Cc}/gu, " ").slice(0, 256),
      });
      paused++;
    }
    this.#reports.inc({ source: "alertmanager", result: paused > 0 ? "Accepted" : "Ignored" });
    return { status: 200, paused, ignored };
  }

  /**
   * The chain's GuardianPause at the Federation controller's block: a pause
   * there that the state does not know (raised on chain directly) pauses the
   * clusters too.
   *
   * Reads need not come in block order (two passes, or an RPC node behind
   * another). One older than the newest already taken is dropped: read after
   * a resume lifted the pause it names, it would show that pause still in
   * force on chain and raise a new one that no resume names. Only a few in a
   * row, though: a chain that stays behind went back, and is read afresh.
   */
  async observeChain(ctx: FederationContext, block: bigint): Promise<void> {
    const contract = pauseContractOf(ctx.spec);
    if (!contract) {
      this.#setChain(undefined);
      return;
    }
    const ours = (): boolean =>
      this.#chainSource !== undefined && samePauseContract(contract, this.#chainSource);
    if (!ours()) {
      this.#startOver(contract);
      // What the contract before said is no fact of this one's.
      this.#setChain(undefined);
    }
    if (this.#stale(block)) return;
    let state: ChainPause;
    try {
      state = await ctx.chain.guardianPause(contract.address, block);
    } catch (error) {
      // Unknown once a read fails: a resume waits for a chain state it has read (fail closed).
      if (ours() && block >= this.#chainBlock) this.#setChain(undefined);
      throw error;
    }
    // Another contract, or a newer read, landed while this one was on its way.
    if (!ours() || this.#stale(block)) return;
    this.#chainBlock = block;
    if (!state.paused && state.id > this.#chainLifted) this.#chainLifted = state.id;
    this.#setChain(state);
    if (!state.paused || state.id <= this.#chainLifted) return;
    const token = chainPauseToken(contract, state.id);
    // This chain pause is handled (recorded, or lifted here).
    if (recordedPauseToken(this.#o.state.doc, token) || this.#o.ledger.isLifted(token)) return;
    // A pause this federation raised and recorded carries its token as evidence. Only one in
    // force counts: a guardian pausing again with a lifted token as evidence must still pause.
    // So does a token of the release before 0.1.0 (`chain-<id>`, no contract) of this pause,
    // raised before the upgrade: one resume lifts it, not two.
    const evidence = state.evidence.toLowerCase();
    const before = legacyChainPauseToken(state.id);
    const inForce = this.pauses().some(
      (p) =>
        p.token === evidence ||
        (p.token === before &&
          p.source === "chain" &&
          p.by === state.guardian &&
          p.evidence.toLowerCase() === evidence),
    );
    if (inForce) return;
    this.#reports.inc({ source: "chain", result: "Accepted" });
    await this.#raise({
      token,
      source: "chain",
      by: state.guardian,
      dsp: "-",
      severity: "critical",
      evidence: state.evidence,
      reason: `GuardianPause ${state.id.toString()} on chain`,
    });
  }

  #startOver(source: PauseContract | undefined): void {
    this.#chainSource = source;
    this.#chainBlock = -1n;
    this.#chainLifted = 0n;
    this.#staleInRow = 0;
  }

  /** Whether a read at `block` is older than the newest taken, and to be dropped. */
  #stale(block: bigint): boolean {
    if (block >= this.#chainBlock) {
      this.#staleInRow = 0;
      return false;
    }
    if (++this.#staleInRow <= MAX_STALE_READS) return true;
    this.#o.logger.warn(
      { from: this.#chainBlock.toString(), to: block.toString() },
      "the chain's GuardianPause is read at an older block, again and again: taken as a chain that went back",
    );
    this.#startOver(this.#chainSource);
    return false;
  }

  #setChain(state: ChainPause | undefined): void {
    const before = this.#chain;
    this.#chain = state;
    if (before?.paused !== state?.paused || before?.id !== state?.id) this.chainChanged.publish();
  }

  /**
   * A critical discrepancy of a log, as the seeds' table says: a split view
   * found by this region's witness (a log signed two checkpoints that cannot
   * both be true), or an anchor on chain that the log contradicts. The
   * federation pauses, with the evidence in the receipt (anyone holding the
   * log's key can check it); the pause carries its hash. Once per evidence:
   * the hash is of what was found, not of who found it or when, so every
   * region that finds it raises the same pause.
   */
  async raiseDiscrepancy(found: LogDiscrepancy, logOf: string): Promise<void> {
    const evidence =
      found.kind === "root_mismatch"
        ? sha256([...found.checkpoints].sort().join("\n"))
        : sha256(["anchor_invalid", found.origin, String(found.size), found.anchored].join("\n"));
    if (this.pauses().some((p) => p.token === evidence) || this.lifted(evidence)) return;
    void this.#o.receipts?.record("discrepancy", found.origin, {
      ...(found.kind === "root_mismatch"
        ? { kind: found.kind, size: found.size, checkpoints: [...found.checkpoints] }
        : { ...found }),
      evidence,
    });
    this.#reports.inc({ source: "log", result: "Accepted" });
    await this.#raise({
      token: evidence,
      source: "log",
      by: this.#o.region,
      dsp: "-",
      severity: "critical",
      evidence,
      reason: (found.kind === "root_mismatch"
        ? `root_mismatch: ${logOf}'s log signed two checkpoints of size ${String(found.size)} with different roots`
        : `anchor_invalid: the root anchored on chain for ${logOf}'s log at size ${String(found.size)} is not a checkpoint of the log`
      ).slice(0, 256),
    });
  }

  /** Whether this region has lifted this token itself. */
  lifted(token: string): boolean {
    return this.#o.ledger.isLifted(token);
  }

  /**
   * A resume manifest this region verified itself: of the tokens it names,
   * those in force now stop pausing here, for good. A token not in force yet
   * (a pause raised after the signing, or one still on its way) is not lifted
   * in advance. The document then carries a hint, so that the other regions
   * verify the same manifest; they lift only on their own verification.
   * Returns the tokens lifted.
   */
  async resume(tokens: readonly string[], manifest: string): Promise<string[]> {
    const inForce = new Set(this.pauses().map((p) => p.token));
    const lifting = [...new Set(tokens)].filter((t) => inForce.has(t));
    if (lifting.length === 0) return [];
    const at = this.#o.now();
    await this.#o.ledger.lift(lifting, manifest, at);
    for (const token of lifting) void this.#o.receipts?.record("pause.lifted", token, { manifest });
    this.lifts.publish();
    await this.#o.state.change((d) => d.resume({ tokens: lifting, manifest, region: this.#o.region, at }));
    return lifting;
  }

  async #raise(p: Omit<PauseRecord, "region" | "at">): Promise<void> {
    const record = { ...p, region: this.#o.region, at: this.#o.now() };
    trace(`pause/${p.token}`, "raise");
    await this.#o.state.change((d) => d.pause(record));
    trace(`pause/${p.token}`, "raised, durable");
    void this.#o.receipts?.record("pause.raised", p.token, {
      source: p.source,
      by: p.by,
      dsp: p.dsp,
      severity: p.severity,
      evidence: p.evidence,
      reason: p.reason,
    });
    if (p.source !== "chain") void this.#recordOnChain(p.token, p.evidence);
  }

  /**
   * Records a pause raised here on chain with the guardian key, if one is
   * configured. The token is the evidence, so the chain watcher knows it.
   * Best effort: the clusters are already paused; a failure is logged.
   */
  async #recordOnChain(token: string, evidence: string): Promise<void> {
    const record = this.#o.federation()?.recordPause;
    if (!record) return;
    const onChain = /^0x[0-9a-f]{64}$/.test(token) ? (token as Hex) : (evidence as Hex);
    try {
      const id = await record(onChain);
      this.#o.logger.info({ token, pauseId: id.toString() }, "pause recorded on chain");
    } catch (error) {
      this.#o.logger.warn(
        { token, err: errorMessage(error) },
        "could not record the pause on chain; the clusters are paused regardless",
      );
    }
  }
}
