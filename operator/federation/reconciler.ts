// The Federation controller: resolves the RPC URL from its Secret, keeps the
// chain and Safe-service clients current, and reports what it reads on chain
// (owners, thresholds, block) in the Federation's status. It polls: the chain
// has no watch, and a DAO rotation must show without anyone touching the cluster.
import type { Receipts } from "../receipts/receipt-log.ts";
import { getAddress, type Hex } from "viem";
import { effectivePolicy, stricterTiers } from "../core/approval/policy.ts";
import { FLOOR_SUMMARY } from "../core/approval/tier-floor.ts";
import { describePolicy, type AdoptedPolicy } from "../core/approval/federation-policy.ts";
import {
  DEFAULT_CONFIRMATIONS,
  federationSpec,
  type FederationSpec,
  type FederationStatus,
} from "../api/v1alpha1/federation.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import { parse, ValidationError } from "../api/schema.ts";
import { anchorWriter, guardianWriter } from "../chain/writers.ts";
import type { FederationObject } from "../api/v1alpha1/objects.ts";
import { ChainReader, ChainUnavailableError } from "../chain/reader.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import type { OperatorMetrics } from "../metrics/metrics.ts";
import { API_KEY, SafeService } from "../safe/service.ts";
import type { Applier } from "../runtime/apply.ts";
import { setCondition, type Condition } from "../runtime/conditions.ts";
import type { EventRecorder } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Reconciler } from "../runtime/controller.ts";
import { errorMessage } from "../runtime/errors.ts";
import { metaTime } from "../runtime/time.ts";
import type { CurrentFederation, FederationContext } from "./context.ts";
import { withoutPauseFields } from "./status-owners.ts";
import { settledText, VOLATILE_REFRESH_MS } from "./volatile.ts";
import { FRESH_HEAD } from "../verification/verify.ts";
import { trace } from "../runtime/trace.ts";

/** What the Federation controller asks of the guardian pause (guardian/service.ts). */
export interface PauseWatch {
  /** The chain's GuardianPause at the controller's block: a pause raised on chain pauses the clusters too. */
  observeChain(context: FederationContext, block: bigint): Promise<void>;
}

export interface FederationControllerOptions {
  readonly federations: Informer<FederationObject>;
  /** Reads the RPC and guardian Secrets. */
  readonly api: Pick<ObjectApi, "readRaw">;
  /** Where the RPC Secret lives: the operator's own namespace. */
  readonly namespace: string;
  /** The Federation to serve; by default the only one in the cluster. */
  readonly federationName: string | undefined;
  readonly applier: Applier;
  readonly events: EventRecorder;
  readonly metrics: OperatorMetrics;
  readonly pollMs: number;
  readonly now: () => Date;
  /** Where the context goes; set whenever it or the owners on chain change. */
  readonly current: CurrentFederation;
  /** The guardian pause, when this region replicates (it lives in the federation state). */
  readonly guardian?: PauseWatch | undefined;
  /** The federation policy in force in this region (state/policy-ledger.ts). */
  readonly policy: () => AdoptedPolicy;
  /** Peers and the federation state document, when this region replicates. */
  readonly replicationStatus?:
    (() => Pick<FederationStatus, "peers" | "peerSummary" | "document">) | undefined;
  /** This region's log of decisions: an owner-set change seen on chain goes in. */
  readonly receipts?: Receipts | undefined;
  /** This region's log as it stands, shown in status. */
  readonly logStatus?: (() => FederationStatus["log"]) | undefined;
}

interface Current {
  readonly fingerprint: string;
  readonly context: FederationContext;
  owners: string;
}

export function federationReconciler(options: FederationControllerOptions): Reconciler {
  let current: Current | undefined;
  let lastWrite = 0;
  const secrets = new Map<string, { value: string; at: number }>();
  const setContext = (next: Current | undefined): void => {
    const changed = current?.fingerprint !== next?.fingerprint;
    current = next;
    if (changed) options.current.set(next?.context);
  };

  const writeStatus = async (object: FederationObject, status: FederationStatus): Promise<void> => {
    const now = options.now().getTime();
    // Compared with the status as the cluster holds it: a status changed by anyone else is put back.
    const stable = settledText(object.status) === settledText(status);
    if (stable && now - lastWrite < VOLATILE_REFRESH_MS) return;
    lastWrite = now;
    trace(`federation/${object.metadata?.name ?? ""}`, "status compared");
    await options.applier.applyStatus({
      apiVersion: API_VERSION,
      kind: "Federation",
      metadata: { name: object.metadata?.name ?? "" },
      status,
    });
  };

  // The log warnings (kind/region) the last pass saw and announced with an Event.
  let announced = new Set<string>();
  const reconcile: Reconciler = async (key, { log }) => {
    trace(`federation/${key}`, "reconcile");
    const object = select(options.federations.list(), options.federationName);
    if (object.kind === "none" || object.kind === "ambiguous") {
      if (object.kind === "ambiguous")
        log.error(
          { names: object.names },
          "several Federations in this cluster: set DSC_FEDERATION to the one to serve",
        );
      setContext(undefined);
      return {};
    }
    const federation = object.federation;
    if (federation.metadata?.name !== key) return {};
    const generation = federation.metadata.generation ?? 0;
    const conditions = (list: readonly Condition[]) => [...list];
    // status.guardian and the Paused condition are written by their own controller (status-owners.ts).
    let status: FederationStatus = {
      ...(federation.status && withoutPauseFields(federation.status)),
      observedGeneration: generation,
    };
    const condition = (
      type: string,
      value: "True" | "False" | "Unknown",
      reason: string,
      message: string,
    ): void => {
      status = {
        ...status,
        conditions: conditions(
          setCondition(
            status.conditions,
            { type, status: value, reason, message, observedGeneration: generation },
            options.now(),
          ),
        ),
      };
    };

    let spec: FederationSpec;
    try {
      spec = parse(federationSpec, federation.spec, "spec");
    } catch (error) {
      const message = error instanceof ValidationError ? error.message : String(error);
      condition("Ready", "False", "InvalidSpec", message);
      await writeStatus(federation, status);
      setContext(undefined);
      return {};
    }

    const readSecret = async (ref: { name: string; key: string }, field: string): Promise<string> => {
      // A Secret read is reused for a few seconds: a pass runs at every chain poll, and a
      // rotated key need not be seen sooner than that.
      const cacheKey = `${ref.name}/${ref.key}`;
      const cached = secrets.get(cacheKey);
      const at = options.now().getTime();
      if (cached && at - cached.at < SECRET_REREAD_MS) return cached.value;
      try {
        const found = await options.api.readRaw<{ data?: Record<string, string> }>({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: ref.name, namespace: options.namespace },
        });
        const value = found.data?.[ref.key];
        if (!value) throw new Error(`key ${ref.key} is missing`);
        const text = Buffer.from(value, "base64").toString("utf8").trim();
        secrets.set(cacheKey, { value: text, at });
        return text;
      } catch (error) {
        throw new SecretError(
          `${field}: Secret ${options.namespace}/${ref.name} key ${ref.key}: ${errorMessage(error)}`,
        );
      }
    };
    // The policy this region decides by, shown where an SRE or a DSP looks.
    const inForce = options.policy();
    status = {
      ...status,
      policy: {
        tiers: effectivePolicy(inForce.policy.tiers, spec.tiers),
        stricterHere: stricterTiers(inForce.policy.tiers, spec.tiers),
        floors: FLOOR_SUMMARY,
        source: describePolicy(inForce),
      },
    };
    const guardian = spec.guardian;
    let rpcUrl: string;
    let guardianKey: string | undefined;
    let alertmanagerToken: string | undefined;
    let anchorKey: string | undefined;
    let serviceApiKey: string | undefined;
    try {
      rpcUrl = await readSecret(spec.chain.rpcUrlSecretRef, "spec.chain.rpcUrlSecretRef");
      // A private key the operator signs chain writes with: 0x and 64 hex digits, or nothing is built.
      const readKey = async (ref: Parameters<typeof readSecret>[0], field: string): Promise<string> => {
        const key = await readSecret(ref, field);
        if (!/^0x[0-9a-fA-F]{64}$/.test(key))
          throw new SecretError(`${field}: the Secret must hold 0x and 64 hex digits`);
        return key;
      };
      if (guardian?.guardianKeySecretRef)
        guardianKey = await readKey(guardian.guardianKeySecretRef, "spec.guardian.guardianKeySecretRef");
      const anchoring = spec.log?.anchor;
      if (anchoring?.anchorKeySecretRef)
        anchorKey = await readKey(anchoring.anchorKeySecretRef, "spec.log.anchor.anchorKeySecretRef");
      const service = spec.safeTransactionService;
      if (service?.apiKeySecretRef) {
        serviceApiKey = await readSecret(
          service.apiKeySecretRef,
          "spec.safeTransactionService.apiKeySecretRef",
        );
        const where = `spec.safeTransactionService.apiKeySecretRef: Secret ${options.namespace}/${service.apiKeySecretRef.name} key ${service.apiKeySecretRef.key}`;
        if (!serviceApiKey)
          throw new SecretError(
            `${where} is empty or whitespace; put the service's API key there, or remove the reference`,
          );
        if (!API_KEY.test(serviceApiKey))
          throw new SecretError(
            `${where} holds characters an HTTP header cannot carry (a line break or space inside the key?); it is not shown`,
          );
      }
      if (guardian?.alertmanager)
        alertmanagerToken = await readSecret(
          guardian.alertmanager.tokenSecretRef,
          "spec.guardian.alertmanager.tokenSecretRef",
        );
      if (guardian?.alertmanager) {
        if (alertmanagerToken)
          condition(
            "AlertmanagerWebhook",
            "True",
            "TokenSet",
            "the webhook accepts alerts with the bearer token",
          );
        else
          condition(
            "AlertmanagerWebhook",
            "False",
            "EmptyToken",
            `spec.guardian.alertmanager.tokenSecretRef: Secret ${options.namespace}/${guardian.alertmanager.tokenSecretRef.name} key ${guardian.alertmanager.tokenSecretRef.key} is empty or whitespace; the webhook refuses every request until it holds a token`,
          );
      }
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      condition("ChainReadable", "False", "SecretMissing", error.message);
      condition("Ready", "False", "SecretMissing", error.message);
      await writeStatus(federation, status);
      setContext(undefined);
      return { requeueAfter: options.pollMs };
    }

    // Rebuild the clients only when what they depend on changes; never log the URL or keys.
    const fingerprint = JSON.stringify([
      federation.metadata.name,
      spec,
      rpcUrl,
      guardianKey,
      alertmanagerToken,
      anchorKey,
      serviceApiKey,
    ]);
    if (current?.fingerprint !== fingerprint) {
      const chain = new ChainReader({
        rpcUrl,
        chainId: spec.chain.chainId,
        freshHead: FRESH_HEAD,
        observe: (method, seconds, ok) => {
          options.metrics.chainReadSeconds.observe({ method, outcome: ok ? "ok" : "error" }, seconds);
          if (!ok) options.metrics.chainErrors.inc({ method });
        },
      });
      const serviceUrl = spec.safeTransactionService?.url;
      setContext({
        fingerprint,
        owners: "",
        context: {
          name: federation.metadata.name,
          spec,
          chain,
          service: serviceUrl
            ? new SafeService(serviceUrl, spec.chain.chainId, {
                ...(serviceApiKey !== undefined ? { apiKey: serviceApiKey } : {}),
              })
            : undefined,
          ...(alertmanagerToken !== undefined ? { alertmanagerToken } : {}),
          ...(guardian && guardianKey
            ? {
                recordPause: guardianWriter({
                  rpcUrl,
                  chainId: spec.chain.chainId,
                  contract: getAddress(guardian.pauseContract),
                  key: guardianKey as Hex,
                }),
              }
            : {}),
          ...(spec.log?.anchor && anchorKey
            ? {
                anchorLog: anchorWriter({
                  rpcUrl,
                  chainId: spec.chain.chainId,
                  contract: getAddress(spec.log.anchor.contract),
                  key: anchorKey as Hex,
                }).anchor,
              }
            : {}),
        },
      });
      log.info({ chainId: spec.chain.chainId }, "federation configured");
    }
    const live = current as Current;

    try {
      // The periodic pass reads the head when the last read is half a poll old.
      const block = await live.context.chain.pinBlock(
        spec.chain.confirmations ?? DEFAULT_CONFIRMATIONS,
        options.pollMs / 2,
      );
      trace(`federation/${key}`, "block pinned");
      const [consortium, board] = await Promise.all([
        live.context.chain.safeState(getAddress(spec.consortiumSafe), block),
        live.context.chain.safeState(getAddress(spec.daoBoardSafe), block),
      ]);
      status = {
        ...status,
        chain: {
          block: Number(block),
          readAt: metaTime(options.now()),
          consortiumOwners: [...consortium.owners],
          consortiumThreshold: consortium.threshold,
          boardOwners: [...board.owners],
          boardThreshold: board.threshold,
        },
      };
      condition("ChainReadable", "True", "Read", `read at block ${block.toString()}`);
      const dspListed = consortium.owners.includes(getAddress(spec.dsp.safe));
      if (dspListed)
        condition("Ready", "True", "Ready", `${spec.dsp.name} is an owner of the Consortium Safe`);
      else
        condition(
          "Ready",
          "False",
          "DspNotOwner",
          `this region's DSP Safe ${spec.dsp.safe} is not an owner of the Consortium Safe at block ${block.toString()}`,
        );
      const owners = JSON.stringify([consortium.owners, board.owners]);
      if (live.owners !== owners) {
        if (live.owners !== "") {
          options.events.event(federation, {
            type: "Warning",
            reason: "OwnersChanged",
            note: `Consortium Safe owners are now ${consortium.owners.join(", ")}`,
          });
          log.warn(
            { owners: consortium.owners },
            "Consortium Safe owners changed: every manifest is verified anew",
          );
          void options.receipts?.record("owners.changed", spec.consortiumSafe, {
            block: block.toString(),
            consortium: [...consortium.owners],
            consortiumThreshold: consortium.threshold,
            board: [...board.owners],
            boardThreshold: board.threshold,
          });
        }
        live.owners = owners;
        options.current.set(live.context);
      }
      trace(`federation/${key}`, "owners read");
      await options.guardian?.observeChain(live.context, block);
      trace(`federation/${key}`, "chain pause observed");
    } catch (error) {
      if (!(error instanceof ChainUnavailableError)) throw error;
      condition("ChainReadable", "False", "ChainUnavailable", error.message);
      condition(
        "Ready",
        "False",
        "ChainUnavailable",
        `${error.message}; nothing new is applied until the chain can be read`,
      );
      log.warn({ err: error.message }, "chain unavailable");
    }
    const replication = options.replicationStatus?.();
    if (replication) {
      status = { ...status, ...replication };
      // A peer refused for its protocol versions stays refused until one side upgrades: a condition.
      const incompatible = (replication.peers ?? []).filter((p) => p.incompatible !== undefined);
      if (incompatible.length > 0)
        condition(
          "PeersCompatible",
          "False",
          "ProtocolVersion",
          incompatible.map((p) => p.incompatible ?? "").join("; "),
        );
      else
        condition(
          "PeersCompatible",
          "True",
          "Compatible",
          "every peer that connected speaks a version in common",
        );
    }
    const logNow = options.logStatus?.();
    if (logNow) {
      status = { ...status, log: logNow };
      // Warnings of the logs (the seeds' timestamp_drift, schema_incompatible, sample_missing):
      // a condition while any is recent, and an Event for each new one.
      // What was announced is this process's memory, not the object's status: whoever can write
      // the status can neither silence an Event nor have one repeated.
      const recent = new Set((logNow.warnings ?? []).map((w) => `${w.kind}/${w.region}`));
      for (const w of logNow.warnings ?? [])
        if (!announced.has(`${w.kind}/${w.region}`))
          options.events.event(federation, {
            type: w.kind === "sample_missing" ? "Normal" : "Warning",
            reason: LOG_WARNING_REASONS[w.kind],
            note: w.message,
          });
      announced = recent;
      const warning = logNow.warnings?.find((w) => w.kind !== "sample_missing");
      const forked = logNow.trusted?.find((t) => t.state === "Inconsistent");
      if (forked)
        condition(
          "LogConsistent",
          "False",
          "TrustedLogInconsistent",
          `the log of ${forked.name}, which spec.trust lists at ${forked.level}, is inconsistent: ${forked.message ?? ""}`,
        );
      else if (warning)
        condition("LogConsistent", "False", LOG_WARNING_REASONS[warning.kind], warning.message);
      else condition("LogConsistent", "True", "Consistent", "no log warning in the last 10 minutes");
    }
    trace(`federation/${key}`, "status built");
    await writeStatus(federation, status);
    trace(`federation/${key}`, "status written");
    return { requeueAfter: options.pollMs };
  };
  return reconcile;
}

const SECRET_REREAD_MS = 5_000;

const LOG_WARNING_REASONS = {
  timestamp_drift: "TimestampDrift",
  schema_incompatible: "SchemaIncompatible",
  sample_missing: "SampleMissing",
  mirror_full: "MirrorFull",
} as const;

class SecretError extends Error {
  override name = "SecretError";
}

type Selection =
  { kind: "none" } | { kind: "ambiguous"; names: string[] } | { kind: "one"; federation: FederationObject };

function select(all: readonly FederationObject[], name: string | undefined): Selection {
  const candidates = name ? all.filter((f) => f.metadata?.name === name) : all;
  if (candidates.length === 0) return { kind: "none" };
  if (candidates.length > 1)
    return { kind: "ambiguous", names: candidates.map((f) => f.metadata?.name ?? "") };
  return { kind: "one", federation: candidates[0] as FederationObject };
}
