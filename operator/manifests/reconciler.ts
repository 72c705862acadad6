// The ConsortiumManifest controller. Level-triggered and idempotent: each
// pass reads the manifest, verifies it against the chain at one block, and
// brings the cluster to what the verified version says: apply, prune, or
// leave the last verified version in place. Killed at any line, the next pass
// does the same again: server-side apply converges, the finalizer is added
// before anything is applied, and status is written last.
import type { Logger } from "pino";
import type {
  ConsortiumManifestSpec,
  ConsortiumManifestStatus,
  ObjectReference,
} from "../api/v1alpha1/consortium-manifest.ts";
import type { RegionState } from "../state/model.ts";
import { consortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import { parse, ValidationError } from "../api/schema.ts";
import type { ConsortiumManifestObject, ReadManifest } from "../api/v1alpha1/objects.ts";
import { ChainUnavailableError, pauseContractOf, type ChainPause } from "../chain/reader.ts";
import type { FederationContext } from "../federation/context.ts";
import type { OperatorMetrics } from "../metrics/metrics.ts";
import type { Applier } from "../runtime/apply.ts";
import type { Reconciler, Result } from "../runtime/controller.ts";
import type { EventRecorder } from "../runtime/events.ts";
import { parseKey } from "../runtime/keys.ts";
import type { AppliedObjects, RegionEntry, ReconcileRecord } from "../replication/manifest-records.ts";
import type { ActivePause } from "../state/readers.ts";
import { appliedInStatus, type AppliedVersion } from "../core/approval/policy.ts";
import type { Verifier } from "../verification/verifier.ts";
import type { VerificationReport } from "../verification/verify.ts";
import { describeRef, FINALIZER, sameObject } from "./labels.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import { applyObjects, ApplyError, placedReferences, pruneObjects, type LiveReads } from "./objects.ts";
import { manifestStatus, sameStatus, type Outcome } from "./status.ts";
import { pausedMessage, plan, type AppliedMemo, type Plan } from "./plan.ts";
import { resumeTokens } from "./resume.ts";
import { policyChange, policyStep, type AdoptedPolicy } from "../core/approval/federation-policy.ts";
import { trace } from "../runtime/trace.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { Receipts } from "../receipts/receipt-log.ts";
import { manifestReceipt } from "./receipts.ts";

export interface ManifestControllerOptions {
  readonly read: ReadManifest;
  /**
   * Keys whose last pass left them Paused, kept here because the cache has no
   * status: what a resume re-reconciles (after a restart every key is reconciled anyway).
   */
  readonly paused: Set<string>;
  readonly federation: () => FederationContext | undefined;
  readonly verifier: Verifier;
  readonly api: ObjectApi;
  readonly applier: Applier;
  /** Reads of live objects started ahead (by the mirror): the takeover check uses them once. */
  readonly liveReads?: LiveReads;
  readonly events: EventRecorder;
  readonly metrics: OperatorMetrics;
  /** Re-verify and re-apply this often: picks up approvals from the chain and the service, and puts drift back. */
  readonly resyncMs: number;
  readonly now: () => Date;
  /** The guardian pause, when this region replicates with others (it lives in the federation state). */
  readonly guardian?: PauseView;
  /** The federation state, when this region replicates with others. */
  readonly records?: FederationRecords;
  /** The federation policy in force in this region, and where a verified policy manifest puts a new one. */
  readonly policy: PolicyView;
  /** Names each manifest's workloads for the admission policy's scale guard (admission/scale-guard.ts). */
  readonly scaleGuard?: { record(manifest: string, objects: readonly ObjectReference[]): Promise<void> };
  /** This region's log of decisions; what a pass decided anew goes in as a receipt. */
  readonly receipts?: Receipts;
  /**
   * Whether this pass was asked for by other regions' progress only (and takes that mark):
   * such a pass refreshes the per-region summary from what the last apply verified, without
   * verifying again, as long as nothing it depended on changed (`epoch`).
   */
  readonly progressOnly?: (key: string) => boolean;
  /** Changes whenever what every manifest was verified against does: the federation, the policy, a pause. */
  readonly epoch?: () => number;
  /**
   * How long, at most, the status of a version newly applied here waits for the other targeted
   * regions' outcomes (DEFAULT_SETTLE_MS; 0 writes it at once). Their outcomes usually follow
   * within a few hundred milliseconds, and one status write then shows them all.
   */
  readonly settleMs?: number;
}

/** How soon a resume waiting for a newer read of the GuardianPause contract asks again. */
const RESUME_READ_RETRY_MS = 1_000;

/**
 * How long, at most, the status of a version newly applied here waits for the
 * other targeted regions' outcomes, so that one status write shows them all.
 */
export const DEFAULT_SETTLE_MS = 1_000;

/** What the reconciler asks of the policy ledger (state/policy-ledger.ts). */
export interface PolicyView {
  current(): AdoptedPolicy;
  /** False where the region keeps no state on disk: it keeps the built-in policy. */
  readonly durable: boolean;
  /** Puts a policy in force here once it is on disk; false if one of this nonce or higher came first. */
  adopt(adopted: AdoptedPolicy): Promise<boolean>;
}

/** What the reconciler asks of the guardian pause (guardian/service.ts). */
export interface PauseView {
  pauses(): ActivePause[];
  /** The chain's GuardianPause as last read; undefined without one. */
  chainPause(): ChainPause | undefined;
  lifted(token: string): boolean;
  /** Lifts, in this region, the tokens in force that a resume it verified names; returns them. */
  resume(tokens: readonly string[], manifest: string): Promise<readonly string[]>;
}

/** What the reconciler tells the federation state, and reads back for status (replication/manifest-records.ts). */
export interface FederationRecords {
  /** A version this region is about to verify, offered so the other regions can verify it beside it. */
  offerAhead?(id: string, spec: ConsortiumManifestSpec): void;
  /** A version this region has verified, handed on as it is applied here, so other regions start at once. */
  submit(id: string, spec: ConsortiumManifestSpec, digest: string): Promise<void>;
  recordReconcile(id: string, spec: ConsortiumManifestSpec, outcome: ReconcileRecord): Promise<void>;
  /**
   * The highest version this region applied, as the state keeps it: asked
   * only when status has none (a status lost or wiped). Any peer can write
   * this record, so it is a hint that can only make a region refuse, and it
   * is not read when the region's own status answers (nor is the spec store).
   */
  applied(id: string): Promise<AppliedVersion | undefined>;
  regions(
    id: string,
    targets: readonly string[],
    winnerDigest: string | undefined,
  ): { regions: RegionEntry[]; summary: string };
  /**
   * The highest version the state says this region applied, with its objects, unless its
   * digest is one of `except`: what a crash may have applied without its status saying so.
   */
  appliedObjects(id: string, except: readonly string[]): Promise<AppliedObjects | undefined>;
}

export function manifestReconciler(options: ManifestControllerOptions): Reconciler {
  const { api, applier, events, metrics } = options;
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;

  /** Writes status unless the one shown already says the same; whether it wrote. */
  const writeStatus = async (
    object: ConsortiumManifestObject,
    status: ConsortiumManifestStatus,
  ): Promise<boolean> => {
    if (sameStatus(object.status, status)) return false;
    await applier.applyStatus({
      apiVersion: API_VERSION,
      kind: "ConsortiumManifest",
      metadata: { name: object.metadata?.name ?? "", namespace: object.metadata?.namespace ?? "" },
      status,
    });
    return true;
  };

  const addFinalizer = async (object: ConsortiumManifestObject): Promise<void> => {
    if (object.metadata?.finalizers?.includes(FINALIZER)) return;
    await applier.apply({
      apiVersion: API_VERSION,
      kind: "ConsortiumManifest",
      metadata: {
        name: object.metadata?.name ?? "",
        namespace: object.metadata?.namespace ?? "",
        finalizers: [FINALIZER],
      },
    });
  };
  // A JSON patch, not an apply: the mirror's write (replication/mirror.ts) may own the entry too,
  // and an apply without it would release only this manager's share. The tests make it remove
  // exactly the entry read, of the object read (not one recreated since under the same name); a
  // list changed since fails, and the next pass reads it again.
  const removeFinalizer = async (object: ConsortiumManifestObject): Promise<void> => {
    const at = object.metadata?.finalizers?.indexOf(FINALIZER) ?? -1;
    if (at < 0) return;
    const path = `/metadata/finalizers/${String(at)}`;
    await api.patchRaw(
      {
        apiVersion: API_VERSION,
        kind: "ConsortiumManifest",
        metadata: { name: object.metadata?.name ?? "", namespace: object.metadata?.namespace ?? "" },
      },
      "application/json-patch+json",
      [
        { op: "test", path: "/metadata/uid", value: object.metadata?.uid ?? "" },
        { op: "test", path, value: FINALIZER },
        { op: "remove", path },
      ],
    );
  };

  // The last full apply of each manifest in this process. A pass that finds
  // the same verified digest at the same generation, sooner than a resync,
  // has nothing to apply: it is another region's progress, or a status echo.
  // It refreshes status and leaves the dry-run and apply to the due resync,
  // which still puts drift back. Empty after a restart, so the first pass
  // always applies.
  const applied = new Map<
    string,
    AppliedMemo & { readonly report: VerificationReport; readonly epoch: number }
  >();
  // The scale policy is a guard beside the apply, not part of it: a failed write is logged and
  // made again by the next pass's record (the guard remembers it failed), never a failed apply.
  const guardScale = async (key: string, objects: readonly ObjectReference[], log: Logger) => {
    try {
      await options.scaleGuard?.record(key, objects);
    } catch (error) {
      log.warn({ err: errorMessage(error) }, "could not write the scale policy; the next pass tries again");
    }
  };
  // Deletions held by a pause, so that the Event is sent once.
  const heldDeletions = new Set<string>();
  // Statuses decided but not yet written: a version newly applied waits, at most settleMs from
  // its first apply whatever passes come between, for the other targeted regions' outcomes, so
  // that its one write shows them all (the progress passes those outcomes cause write it), not
  // one write for this region's outcome and another when the others' come in. Every pass until
  // then decides from the waiting status as if it were written (what is applied, what to prune,
  // what a receipt or an Event already said). Lost on a restart, whose first pass applies the
  // version again and writes; the state already holds this region's outcome.
  const settling = new Map<
    string,
    {
      readonly uid: string | undefined;
      readonly digest: string;
      readonly due: number;
      readonly status: ConsortiumManifestStatus;
    }
  >();

  // A prune deletes what this region last decided it applied (the status shown, or the one
  // waiting) and the version being applied does not hold. A crash after an apply and before its
  // status (which waits up to settleMs for the other regions) leaves that version's objects
  // known only to the federation state, as the highest version applied here: those are pruned
  // too, but only objects still carrying that version's digest and this manifest's marks, and
  // at best effort, for any peer can write that record. A failure there is logged, never the
  // pass's.
  // The version swept that way last, by manifest: once is enough (what it left carries its
  // digest until pruned), and a record a peer pinned at the highest nonce must not cost a spec
  // read and a read per object at every pass.
  const swept = new Map<string, string>();
  const prune = async (
    key: string,
    id: { readonly namespace: string; readonly name: string },
    previous: ConsortiumManifestStatus | undefined,
    keep: readonly ObjectReference[],
    logger: Logger,
    applying?: string,
  ): Promise<ObjectReference[]> => {
    const shown = previous?.appliedObjects ?? [];
    const pruned = await pruneObjects(api, id, shown, keep, { applying });
    try {
      const except = [previous?.appliedDigest, applying, swept.get(key)].filter((d) => d !== undefined);
      const unshown = await options.records?.appliedObjects(key, except);
      if (!unshown) return pruned;
      const placed = await placedReferences(api, id, unshown);
      const fresh = placed.filter((p) => !shown.some((s) => sameObject(s, p)));
      const recovered = await pruneObjects(api, id, fresh, keep, { applying, only: unshown.digest });
      swept.set(key, unshown.digest);
      return [...pruned, ...recovered];
    } catch (error) {
      logger.warn(
        { err: errorMessage(error) },
        "could not prune what the federation state says this region applied last; left as it is",
      );
      return pruned;
    }
  };

  return async (key, { log }): Promise<Result> => {
    trace(key, "reconcile");
    const { namespace = "", name } = parseKey(key);
    const object = await options.read(namespace, name);
    if (!object?.metadata) {
      options.paused.delete(key);
      applied.delete(key);
      settling.delete(key);
      swept.delete(key);
      return {};
    }
    const id = { namespace, name };
    const generation = object.metadata.generation ?? 0;
    const pending = settling.get(key);
    if (pending && pending.uid !== object.metadata.uid) settling.delete(key); // another object now
    const waiting = pending?.uid === object.metadata.uid ? pending : undefined;
    // What this region last decided: the status shown, or the one waiting to be written.
    const previous = waiting?.status ?? object.status;
    const now = options.now();
    /**
     * Records the outcome (state, receipt) and writes status. With `settle`, the status of a
     * version applied anew waits for the other targeted regions: the milliseconds until it is
     * due are returned, and a later pass (progress, or the due time's) writes it.
     */
    const finish = async (
      outcome: Outcome,
      logger: Logger = log,
      spec?: ConsortiumManifestSpec,
      settle = false,
    ): Promise<number | undefined> => {
      // Only an apply (or its refresh) leaves a memo a progress pass may show again.
      if (outcome.kind !== "applied") applied.delete(key);
      let status = manifestStatus(previous, generation, outcome, now);
      const records = options.records;
      if (records && spec && "report" in outcome) {
        // This region's outcome goes into the federation state before it shows in status.
        // A withdrawal in effect is recorded as applied (its version is what holds here): the
        // federation state's region states stay those every release since the first reads.
        const state: RegionState =
          outcome.kind === "not-targeted"
            ? "NotTargeted"
            : status.state === "Withdrawn"
              ? "Applied"
              : (status.state ?? "Pending");
        await records.recordReconcile(key, spec, {
          state,
          digest: outcome.report.hashes.digest,
          nonce: spec.nonce,
        });
        const { regions, summary } = records.regions(
          `${namespace}/${name}`,
          spec.targets,
          outcome.report.hashes.digest,
        );
        status = { ...status, regions, regionSummary: summary };
      }
      if (records && spec && "report" in outcome) trace(key, "outcome recorded in the state");
      // The receipt is durable before the status shows the decision: a crash between the two
      // then repeats the receipt at the next pass, rather than losing it.
      const receipt = options.receipts && manifestReceipt(previous, status, outcome);
      if (receipt) await options.receipts.record(receipt.kind, key, receipt.details);
      if (status.state === "Paused") options.paused.add(key);
      else options.paused.delete(key);
      // A version applied here that the status shown does not have yet waits for the other
      // regions, from its first apply on; anything else is written at once.
      const kept =
        outcome.kind === "applied" && waiting?.digest === outcome.report.hashes.digest ? waiting : undefined;
      const due = kept ? kept.due : now.getTime() + settleMs;
      if (
        outcome.kind === "applied" &&
        (settle || kept) &&
        now.getTime() < due &&
        status.appliedDigest !== object.status?.appliedDigest &&
        status.regions?.some((r) => r.state === "Pending")
      ) {
        settling.set(key, { uid: object.metadata?.uid, digest: outcome.report.hashes.digest, due, status });
        trace(key, "status waits for the other regions");
        return due - now.getTime();
      }
      const wrote = await writeStatus(object, status);
      settling.delete(key);
      trace(key, wrote ? "status written" : "status unchanged", { outcome: outcome.kind });
      logger.debug({ outcome: outcome.kind }, "reconciled");
      return undefined;
    };

    if (object.metadata.deletionTimestamp) {
      applied.delete(key);
      settling.delete(key);
      // Nothing is deleted while paused: the finalizer holds the manifest until the resume.
      const first = options.guardian?.pauses()[0];
      if (first) {
        const message = pausedMessage(first, "pruned");
        options.paused.add(key); // a resume queues it again
        if (!heldDeletions.has(key)) {
          heldDeletions.add(key);
          events.event(object, {
            type: "Warning",
            reason: "GuardianPaused",
            note: `deletion held: ${message}`,
          });
        }
        return { requeueAfter: options.resyncMs };
      }
      options.paused.delete(key);
      heldDeletions.delete(key);
      const pruned = await prune(key, id, previous, [], log);
      if (pruned.length > 0) {
        await options.receipts?.record("manifest.pruned", key, {
          cause: "the ConsortiumManifest was deleted in this cluster",
          digest: previous?.appliedDigest ?? null,
          pruned: pruned.slice(0, 32).map(describeRef),
          objectCount: pruned.length,
        });
      }
      if (pruned.length > 0)
        events.event(object, {
          type: "Normal",
          reason: "Pruned",
          note: `deleted ${String(pruned.length)} object(s) on manifest deletion`,
        });
      metrics.appliedObjects.remove({ namespace, manifest: name });
      await guardScale(key, [], log);
      await removeFinalizer(object);
      return {};
    }

    let spec;
    try {
      spec = parse(consortiumManifestSpec, object.spec, "spec");
    } catch (error) {
      const message = error instanceof ValidationError ? error.message : String(error);
      await finish({ kind: "invalid", message });
      events.event(object, { type: "Warning", reason: "InvalidSpec", note: message });
      return {};
    }

    // A resume must name the pauses it lifts, a policy change carries one policy, and an apply neither.
    const lift = resumeTokens(spec);
    const change = policyChange(spec);
    const rule =
      (lift && "error" in lift ? lift.error : undefined) ??
      (change && "error" in change ? change.error : undefined) ??
      (spec.action === "withdraw" && spec.objects.length > 0
        ? "spec.objects: a withdraw holds no objects: it prunes what the versions before it applied"
        : undefined);
    if (rule) {
      await finish({ kind: "invalid", message: rule });
      events.event(object, { type: "Warning", reason: "InvalidSpec", note: rule });
      return {};
    }

    // Another region's progress, and nothing else, since this version was verified and applied
    // here: its status shows the regions anew from the same verification.
    const memo = applied.get(key);
    const since = now.getTime() - (memo?.at ?? 0);
    if (
      options.progressOnly?.(key) &&
      memo?.generation === generation &&
      memo.epoch === options.epoch?.() &&
      since < options.resyncMs &&
      (options.guardian?.pauses().length ?? 0) === 0
    ) {
      const wait = await finish(
        { kind: "applied", report: memo.report, objects: memo.objects, pruned: memo.pruned },
        log,
        spec,
      );
      if (wait === undefined) trace(key, "progress refreshed");
      return { requeueAfter: wait ?? options.resyncMs - since };
    }
    const verifiedIn = options.epoch?.() ?? 0;

    const federation = options.federation();
    if (!federation) {
      await finish({
        kind: "no-federation",
        message: "no usable Federation in this cluster yet (see the Federation's status)",
      });
      return { requeueAfter: options.resyncMs };
    }

    // A policy adopted while this version is verified means it was judged under the old one.
    const policyAtVerify = options.policy.current();
    try {
      options.records?.offerAhead?.(key, spec);
    } catch (error) {
      // An offer the peers miss costs them a round trip later, never this verification.
      log.warn({ err: errorMessage(error) }, "could not offer the version to the peers ahead");
    }
    let report;
    try {
      report = await options.verifier.verify(federation, {
        namespace,
        name,
        spec,
        applied: appliedInStatus(previous) ?? (await options.records?.applied(key)),
      });
    } catch (error) {
      if (!(error instanceof ChainUnavailableError)) throw error;
      metrics.verifications.inc({ tier: spec.tier, result: "ChainUnavailable" });
      await finish({ kind: "chain-unavailable", message: error.message });
      events.event(object, { type: "Warning", reason: "ChainUnavailable", note: error.message });
      throw error; // rate-limited retry with per-key backoff: fail closed, keep trying
    }
    trace(key, "verified", { result: report.decision.reason });
    if (options.policy.current() !== policyAtVerify) return { requeueAfter: 1 };
    const logger = log.child({ digest: report.hashes.digest, tier: spec.tier, nonce: spec.nonce });
    metrics.verifications.inc({ tier: spec.tier, result: report.decision.reason });
    // Plan: what to do with this version, decided without I/O (plan.ts).
    const guardian = options.guardian;
    const decide = (): Plan =>
      plan({
        verified: report.decision.verified,
        region: federation.spec.region,
        targets: spec.targets,
        resume: lift && "tokens" in lift ? lift.tokens : undefined,
        policy:
          change && "policy" in change
            ? options.policy.durable
              ? policyStep(
                  options.policy.current(),
                  { nonce: spec.nonce, digest: report.hashes.digest, policy: change.policy },
                  { consortium: report.owners.consortium.length, board: report.owners.board.length },
                )
              : {
                  kind: "unworkable",
                  message:
                    "this region keeps no federation state on disk (no peer identity), so it keeps the built-in policy",
                }
            : undefined,
        pause: guardian && {
          pauses: guardian.pauses(),
          chain: guardian.chainPause(),
          contract: pauseContractOf(federation.spec),
          lifted: (token) => guardian.lifted(token),
        },
        digest: report.hashes.digest,
        block: report.block,
        generation,
        previous,
        memo: applied.get(key),
        now: now.getTime(),
        resyncMs: options.resyncMs,
      });
    let next = decide();
    // The version goes to the state, and so to the other regions, at once. An apply does not
    // wait for that write's fsync (a crash before it only means submitting again at the next
    // pass); anything else waits, and is decided again after it, with the pauses as they are
    // then (a prune must see a pause that came meanwhile). An outcome follows its version.
    const submitted =
      report.decision.verified && options.records
        ? options.records.submit(key, spec, report.hashes.digest).then(() => {
            trace(key, "submitted to the state");
          })
        : undefined;
    if (next.kind !== "apply" && submitted) {
      await submitted;
      next = decide();
    }

    // Act, then record.
    const done: Result = { requeueAfter: options.resyncMs };
    switch (next.kind) {
      case "refuse": {
        await finish({ kind: "refused", report }, logger, spec);
        const waiting = report.decision.reason === "InsufficientApprovals";
        events.event(object, {
          type: waiting ? "Normal" : "Warning",
          reason: waiting ? "AwaitingApprovals" : report.decision.reason,
          note: report.decision.message,
        });
        logger.info(
          { reason: report.decision.reason, summary: report.decision.summary },
          report.decision.message,
        );
        return { requeueAfter: options.resyncMs };
      }
      case "prune-not-targeted":
        // A manifest that stops targeting this region takes its objects with it.
        await prune(key, id, previous, [], logger);
        await guardScale(key, [], logger);
        await finish({ kind: "not-targeted", report, region: federation.spec.region }, logger, spec);
        return done;
      case "resume-held":
        await finish({ kind: "paused", report, message: next.message }, logger, spec);
        // Queued again when the chain's pause changes (manifests/setup.ts); a newer read of an
        // unchanged pause changes nothing there, so a wait for one asks again shortly.
        return next.soon ? { requeueAfter: RESUME_READ_RETRY_MS } : done;
      case "resume-done":
        await finish({ kind: "applied", report, objects: [], pruned: [] }, logger, spec);
        return done;
      case "resume":
        await guardian?.resume(next.tokens, key);
        await finish({ kind: "applied", report, objects: [], pruned: [] }, logger, spec);
        if (next.lifting.length > 0) {
          events.event(object, {
            type: "Normal",
            reason: "Resumed",
            note: `lifted ${String(next.lifting.length)} pause(s): ${next.lifting.map((p) => p.token).join(", ")} (${report.decision.summary})`,
          });
          logger.info({ tokens: next.tokens }, "guardian pause lifted by a critical-tier resume");
        }
        return done;
      case "policy": {
        const step = next.step;
        if ("message" in step) {
          await finish({ kind: "superseded", report, message: step.message }, logger, spec);
          return done;
        }
        if (step.kind === "in-force") {
          await finish({ kind: "applied", report, objects: [], pruned: [] }, logger, spec);
          return done;
        }
        if (!change || !("policy" in change)) return done;
        const adopted = await options.policy.adopt({
          policy: change.policy,
          manifest: key,
          nonce: spec.nonce,
          digest: report.hashes.digest,
          at: now.getTime(),
        });
        if (!adopted) return { requeueAfter: 1 }; // another pass adopted one first: judge again
        events.event(object, {
          type: "Normal",
          reason: "PolicyAdopted",
          note: `the federation policy of nonce ${String(spec.nonce)} is in force in this region (${report.decision.summary})`,
        });
        logger.info({ policy: change.policy }, "federation policy adopted");
        await finish({ kind: "applied", report, objects: [], pruned: [] }, logger, spec);
        return done;
      }
      case "hold":
        if (next.inPlace) return done;
        await finish({ kind: "paused", report, message: next.message }, logger, spec);
        if (previous?.state !== "Paused")
          events.event(object, { type: "Warning", reason: "GuardianPaused", note: next.message });
        return done;
      case "refresh": {
        const wait = await finish(
          { kind: "applied", report, objects: next.memo.objects, pruned: next.memo.pruned },
          logger,
          spec,
        );
        return { requeueAfter: wait ?? next.requeueAfter };
      }
      case "apply":
        break;
    }

    const started = performance.now();
    applied.delete(key);
    try {
      const applying = applyObjects(
        api,
        applier,
        {
          manifest: id,
          objects: spec.objects,
          digest: report.hashes.digest,
          nonce: spec.nonce,
          applied: previous?.appliedObjects ?? [],
          adopt: spec.tier === "critical",
        },
        () => addFinalizer(object),
        options.liveReads,
      ).then((objects) => {
        metrics.applySeconds.observe((performance.now() - started) / 1000);
        return objects;
      });
      // Both settle before anything follows: no apply outlives its pass, and an apply's failure
      // (with its outcome) comes before the submission's.
      const [apply, submission] = await Promise.allSettled([applying, submitted]);
      if (apply.status === "rejected") throw apply.reason;
      if (submission.status === "rejected") throw submission.reason;
      const objects = apply.value;
      const pruned = await prune(key, id, previous, objects, logger, report.hashes.digest);
      trace(key, "objects applied");
      metrics.appliedObjects.set({ namespace, manifest: name }, objects.length);
      const wait = await finish({ kind: "applied", report, objects, pruned }, logger, spec, true);
      await guardScale(key, objects, logger);
      applied.set(key, {
        digest: report.hashes.digest,
        generation,
        at: now.getTime(),
        objects,
        pruned,
        report,
        epoch: verifiedIn,
      });
      if (previous?.appliedDigest !== report.hashes.digest) {
        events.event(object, {
          type: "Normal",
          reason: "Applied",
          note: `applied nonce ${String(spec.nonce)} (${report.decision.summary}, digest ${report.hashes.digest})`,
        });
        logger.info({ objects: objects.length, pruned: pruned.length }, "applied");
      }
      return wait === undefined ? done : { requeueAfter: wait };
    } catch (error) {
      if (!(error instanceof ApplyError)) throw error;
      await finish({ kind: "apply-failed", report, message: error.message }, logger, spec);
      events.event(object, { type: "Warning", reason: "ApplyFailed", note: error.message });
      throw error;
    }
  };
}
