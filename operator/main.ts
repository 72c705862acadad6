// The operator: one process per region. It serves this cluster's Federation
// and ConsortiumManifests, and writes only to its own cluster. This file only
// wires: each feature's folder builds its own parts (setup.ts), and the
// manager runs the controllers on the leader.
import { mkdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { delimiter, join } from "node:path";
import { pino, type Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { admissionPolicy } from "./admission/policy.ts";
import { SCALE_GUARD_FIELD_MANAGER, ScaleGuard } from "./admission/scale-guard.ts";
import { API_VERSION } from "./api/v1alpha1/fields.ts";
import type {
  BreachReportObject,
  ConsortiumManifestObject,
  FederationObject,
} from "./api/v1alpha1/objects.ts";
import { loadConfig, type OperatorConfig, type PeerSettings } from "./config.ts";
import { CurrentFederation } from "./federation/context.ts";
import { federationController } from "./federation/setup.ts";
import { GUARDIAN_FIELD_MANAGER } from "./guardian/actions.ts";
import { ALERTMANAGER_PATH, BREACH_PATH, guardianRequest } from "./guardian/http.ts";
import { RateLimiter } from "./runtime/rate-limit.ts";
import { breachReportController, setupGuardian } from "./guardian/setup.ts";
import { pauseStatusController } from "./federation/pause-status.ts";
import { KubeClient } from "./kube/client.ts";
import { loadDefault, loadKubeconfigFiles } from "./kube/config.ts";
import { ObjectApi } from "./kube/objects-api.ts";
import { manifestController, manifestReader } from "./manifests/setup.ts";
import { RecentWrites } from "./manifests/recent-writes.ts";
import { LiveReads } from "./manifests/objects.ts";
import { operatorMetrics } from "./metrics/metrics.ts";
import { fingerprint } from "./peers/identity.ts";
import { PeerTransport } from "./peers/transport.ts";
import { setupReplication } from "./replication/setup.ts";
import { Applier } from "./runtime/apply.ts";
import { errorMessage } from "./runtime/errors.ts";
import { EventRecorder } from "./runtime/events.ts";
import { Informer } from "./runtime/informer.ts";
import { Manager } from "./runtime/manager.ts";
import { serve, type Route } from "./runtime/server.ts";
import { ledgerSeed, PauseLedger } from "./state/pause-ledger.ts";
import { PolicyLedger } from "./state/policy-ledger.ts";
import { PREVIOUS, StateStore } from "./state/store.ts";
import { Verifier } from "./verification/verifier.ts";
import { configureTrace } from "./runtime/trace.ts";
import { loadLogKey } from "./receipts/key.ts";
import { LOG_PREFIX, logRoute, MIRROR_PREFIX, mirrorRoute } from "./receipts/http.ts";
import { logOrigin, ReceiptLog } from "./receipts/receipt-log.ts";
import { RECEIPT_WINDOW_MS, throttled } from "./receipts/throttled.ts";
import { setupWitnessing } from "./witness/setup.ts";
import { ADD_CHECKPOINT_PATH, addCheckpointRoute, TRUST_PREFIX, trustRoute } from "./witness/http.ts";

export async function runOperator(config: OperatorConfig): Promise<{ stop(): Promise<void> }> {
  const log = pino({
    level: config.logLevel,
    // One key once per line (children add `component`; log pipelines may refuse repeated keys).
    base: { app: "dsc-operator", region: config.region ?? "unset" },
  });
  configureTrace(log, config.trace);
  // One client for everything: one pool of connections, one discovery cache.
  // `kubeconfig` is $KUBECONFIG: possibly several files, merged as kubectl does.
  const kc = new KubeClient(
    config.kubeconfig
      ? loadKubeconfigFiles(config.kubeconfig.split(delimiter).filter(Boolean))
      : loadDefault(),
  );
  const registry = new Registry();
  // The event-loop lag is sampled every 100 ms, not prom-client's default 10: a 10 ms timer
  // wakes an idle operator 100 times a second (6.0 against 0.9 ms of CPU a second, measured in
  // a bare Node process), and a stall worth an alert lasts far longer than either.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  const metrics = operatorMetrics(registry);
  // What this process writes of a ConsortiumManifest, a reconcile need not read back.
  const recent = new RecentWrites();
  const writing = (sent: unknown, stored: Promise<unknown>): void => {
    recent.track(sent, stored);
  };
  const applier = new Applier(kc, { writing });
  const api = ObjectApi.forConfig(kc);
  const events = new EventRecorder({ logger: log, reportingInstance: config.identity, kubeConfig: kc });
  const informer = <T extends FederationObject | ConsortiumManifestObject | BreachReportObject>(
    plural: string,
    metadataOnly = false,
    whole?: (object: T) => void,
  ): Informer<T> =>
    new Informer<T>({
      kubeConfig: kc,
      path: `/apis/${API_VERSION}/${plural}`,
      logger: log.child({ informer: plural }),
      metadataOnly,
      ...(whole && { whole }),
    });
  const federations = informer<FederationObject>("federations");
  const breachReports = informer<BreachReportObject>("breachreports");
  // Metadata only: enough to enqueue on a new generation or a deletion; a reconcile reads
  // the manifest whole. npm run bench, "live", shows what the cache costs. The watch brings
  // each change whole, kept a moment with this process's own writes: the reconcile it sets off
  // (a manifest a DSP just applied) need not read it again.
  const manifests = informer<ConsortiumManifestObject>("consortiummanifests", true, (m) => {
    recent.remember(m);
  });

  const current = new CurrentFederation();
  // The federation's policy in force here: adopted only from a policy manifest this region verified.
  const policy = config.peers ? await PolicyLedger.open(config.peers.stateDir) : PolicyLedger.inMemory();
  const verifier = new Verifier(config.namespace, () => policy.current());
  // Names managed workloads for the admission policy that refuses a scale by hand; it writes once started.
  const scaleGuard = config.installAdmissionPolicy
    ? new ScaleGuard(new Applier(kc, { fieldManager: SCALE_GUARD_FIELD_MANAGER }), api)
    : undefined;
  const read = manifestReader(manifests, api, recent);
  // What the takeover check of an apply reads, started by the mirror beside its write.
  const liveReads = new LiveReads(api);

  // The guardian's own field manager: the workloads a pause scales, status.guardian and the
  // Federation's Paused condition.
  const guardianApplier = new Applier(kc, { fieldManager: GUARDIAN_FIELD_MANAGER });
  // Replication and the guardian pause, when this operator has a peer identity.
  const federated = config.peers
    ? await federate(config, config.peers, {
        log,
        registry,
        current,
        verifier,
        read,
        mirrorApplier: new Applier(kc, {
          fieldManager: "dsc-replication",
          writing,
        }),
        guardianApplier,
        api,
        liveReads,
      })
    : undefined;
  const { replication, guardian, receipts, witnessing } = federated ?? {};

  const controllers = [
    federationController({
      federations,
      current,
      api,
      namespace: config.namespace,
      federationName: config.federationName,
      applier,
      events,
      metrics,
      pollMs: config.chainPollMs,
      policy: () => policy.current(),
      policyChanged: policy.changed,
      logger: log,
      registry,
      guardian: guardian?.guardian,
      replicationStatus: replication && (() => replication.status()),
      receipts,
      logStatus:
        receipts &&
        (() => ({
          origin: receipts.log.checkpoint.origin,
          vkey: receipts.vkey,
          size: receipts.log.size,
          root: Buffer.from(receipts.log.checkpoint.root).toString("base64"),
          ...witnessing?.status(),
        })),
    }),
    manifestController({
      manifests,
      read,
      current,
      verifier,
      api,
      applier,
      liveReads,
      events,
      metrics,
      resyncMs: config.resyncMs,
      settleMs: config.statusSettleMs,
      workers: config.workers,
      policy,
      ...(scaleGuard && { scaleGuard }),
      ...(receipts && { receipts }),
      logger: log,
      registry,
      replication: replication && {
        records: replication.records,
        changed: replication.manifestsChanged,
        progress: replication.progressChanged,
      },
      guardian: guardian && {
        view: guardian.guardian,
        transitions: guardian.transitions,
        chainChanged: guardian.guardian.chainChanged,
      },
    }),
    breachReportController({
      reports: breachReports,
      guardian: guardian?.guardian,
      applier,
      events,
      logger: log,
      registry,
    }),
    ...(replication ? [replication.mirror] : []),
    ...(guardian
      ? [
          guardian.enforcer,
          pauseStatusController({
            federations,
            current,
            pauses: () => guardian.guardian.pauses(),
            chainPause: () => guardian.guardian.chainPause(),
            applier: guardianApplier,
            events,
            logger: log,
            registry,
            changed: [
              (listener) => guardian.pausesChanged.subscribe(listener),
              (listener) => guardian.guardian.chainChanged.subscribe(listener),
            ],
          }),
        ]
      : []),
  ];

  const operatorUser = config.installAdmissionPolicy
    ? await installAdmissionPolicy(api, applier, log)
    : undefined;
  // The scale guard writes as the leader only: a standby would write its own, older list.
  const scaleGuardRunnable = scaleGuard && operatorUser ? [scaleGuard.runnable(operatorUser, log)] : [];

  // Only the leader speaks for the region: a standby replica dialling the
  // same peers would replace the leader's connections, back and forth.
  const manager = new Manager({
    logger: log,
    runnables: [federated ? [federated.transport] : [], [...scaleGuardRunnable, ...controllers]],
    leaderElection: config.leaderElection
      ? {
          namespace: config.namespace,
          name: "dsc-operator",
          identity: config.identity,
          kubeConfig: kc,
          registry,
        }
      : undefined,
  });
  // An agent reports a breach now and then; a sender of hundreds a second is not one.
  const reportLimit = new RateLimiter({ perSecond: 20, burst: 40 });
  const guardianRoute: Route = (req, res) =>
    void guardianRequest(req, res, guardian?.guardian, log, reportLimit);
  const server = await serve({
    host: config.httpHost,
    port: config.httpPort,
    registry,
    ready: () => manager.running,
    post: new Map([
      [BREACH_PATH, guardianRoute],
      [ALERTMANAGER_PATH, guardianRoute],
      ...(witnessing ? [[ADD_CHECKPOINT_PATH, addCheckpointRoute(witnessing.witness)] as const] : []),
    ]),
    get: new Map([
      ...(receipts
        ? [
            [
              LOG_PREFIX,
              logRoute(
                receipts.log,
                receipts.vkey,
                () => witnessing?.cosigning.checkpoint() ?? receipts.log.checkpoint.note,
              ),
            ] as const,
          ]
        : []),
      ...(witnessing
        ? [
            [
              MIRROR_PREFIX,
              mirrorRoute((region) => {
                const log = witnessing.mirrors.get(region);
                const vkey = witnessing.pinnedKey(region);
                return log && vkey ? { log, vkey } : undefined;
              }),
            ] as const,
            [TRUST_PREFIX, trustRoute((name) => witnessing.trusted.cosigned(name))] as const,
          ]
        : []),
    ]),
  });
  log.info(
    { port: server.port },
    `serving /metrics, /healthz, /readyz, POST ${BREACH_PATH} and POST ${ALERTMANAGER_PATH}`,
  );

  federations.start();
  manifests.start();
  breachReports.start();
  await manager.start();

  return {
    async stop() {
      await manager.stop();
      await Promise.all([federations.stop(), manifests.stop(), breachReports.stop()]);
      guardian?.stop();
      await replication?.close();
      witnessing?.close();
      await receipts?.flushed();
      await events.flush();
      await server.close();
      kc.close();
      log.info("stopped");
    },
  };
}

/** Opens this region's federation state and peer transport, and builds replication and the guardian on them. */
async function federate(
  config: OperatorConfig,
  peers: PeerSettings,
  o: {
    readonly log: Logger;
    readonly registry: Registry;
    readonly current: CurrentFederation;
    readonly verifier: Verifier;
    readonly read: ReturnType<typeof manifestReader>;
    readonly mirrorApplier: Applier;
    readonly guardianApplier: Applier;
    readonly api: ObjectApi;
    readonly liveReads: LiveReads;
  },
) {
  const region = config.region;
  if (!region) throw new Error("DSC_REGION must name this region when DSC_PEER_CERT is set");
  // One after the other: with both missing, the one named is always the certificate.
  const cert = await readSetting("DSC_PEER_CERT", peers.certFile);
  const key = await readSetting("DSC_PEER_KEY", peers.keyFile);
  const ownFingerprint = fingerprint(cert);
  await mkdir(peers.stateDir, { recursive: true });
  const opened = await StateStore.open(peers.stateDir);
  if (opened.tornBytes > 0)
    o.log.warn({ bytes: opened.tornBytes }, "cut a torn tail off the state log (a crash mid-write)");
  if (opened.migrated)
    o.log.info(
      { ...opened.migrated, previous: join(peers.stateDir, PREVIOUS) },
      "migrated the federation state from an older schema (the old one is kept whole)",
    );
  // Every decision a receipt in this region's log, served as tlog-tiles under /log/, and
  // witnessed by the peers whose log keys the Federation pins (witness/setup.ts, below).
  const seed = peers.log ? await loadLogKey(peers.stateDir, peers.logKeyFile) : undefined;
  // Set once witnessing is built below; the log's checkpoints reach it through this.
  const late: { witnessing?: Awaited<ReturnType<typeof setupWitnessing>> | undefined } = {};
  const receipts = seed
    ? await ReceiptLog.open({
        dir: join(peers.stateDir, "log"),
        region,
        origin: logOrigin(config.federationName, region),
        seed,
        logger: o.log.child({ component: "log" }),
        registry: o.registry,
        now: Date.now,
        published: () => {
          late.witnessing?.cosigning.published();
        },
      })
    : undefined;
  if (receipts) o.log.info({ vkey: receipts.vkey, size: receipts.log.size }, "decision log opened");
  const recordRefusal = receipts && throttled(receipts, RECEIPT_WINDOW_MS, Date.now);
  const transport = new PeerTransport({
    region,
    listen: { host: peers.listenHost, port: peers.listenPort },
    certificate: { cert, key },
    peers: [],
    heartbeatMs: peers.heartbeatMs,
    logger: o.log.child({ component: "peers" }),
    registry: o.registry,
    // A refused connection is recorded, once per reason in 10 minutes: anyone can knock.
    refused: (reason) => recordRefusal?.(reason, "peer.refused", "connection", { reason }),
  });
  const replication = setupReplication({
    region,
    opened,
    transport,
    self: (context) => ({
      region: context.spec.region,
      dsp: context.spec.dsp.name,
      safe: context.spec.dsp.safe,
      endpoint: peers.advertise,
      fingerprint: ownFingerprint,
    }),
    federation: () => o.current.get(),
    verifier: o.verifier,
    read: o.read,
    applier: o.mirrorApplier,
    registry: o.registry,
    logger: o.log.child({ component: "replication" }),
    now: Date.now,
    receipts,
    rebase: peers.rebase,
    // Only an apply this region will make checks for a takeover: targeted here, not critical.
    verifiedVersion: (namespace, name, spec, applied) => {
      if (spec.tier !== "critical" && spec.targets.includes(region))
        o.liveReads.prefetch({ namespace, name }, spec.objects, applied);
    },
  });
  o.current.onChange((context) => {
    replication.federationChanged(context);
  });
  // This region's own memory of the pause; an older state starts it from the document.
  const ledger = await PauseLedger.open(peers.stateDir, () => ledgerSeed(replication.replica.doc));
  const guardian = setupGuardian({
    region,
    namespace: config.namespace,
    state: replication.replica,
    ledger,
    current: o.current,
    api: o.api,
    applier: o.guardianApplier,
    registry: o.registry,
    logger: o.log,
    resyncMs: config.resyncMs,
    now: Date.now,
    receipts,
  });
  const witnessing =
    receipts && seed
      ? await setupWitnessing({
          stateDir: peers.stateDir,
          mirrorMaxBytes: peers.mirrorMaxBytes,
          receipts,
          seed,
          channel: transport,
          current: o.current,
          discrepancy: (found, logOf) => {
            guardian.guardian.raiseDiscrepancy(found, logOf).catch((error: unknown) => {
              o.log.error(
                { err: errorMessage(error), kind: found.kind },
                "could not raise the pause for a log discrepancy",
              );
            });
          },
          registry: o.registry,
          logger: o.log,
          now: Date.now,
        })
      : undefined;
  late.witnessing = witnessing;
  return {
    witnessing,
    replication,
    guardian,
    receipts,
    transport: {
      start: async () => {
        await transport.start();
        o.log.info(
          { listen: `${peers.listenHost}:${String(peers.listenPort)}`, fingerprint: ownFingerprint },
          "federation endpoint listening",
        );
      },
      stop: () => transport.stop(),
    },
  };
}

/** The admission policy names the operator's own identity as the one writer of managed objects. */
async function installAdmissionPolicy(
  api: ObjectApi,
  applier: Applier,
  log: Logger,
): Promise<string | undefined> {
  try {
    const review = await api.createRaw<{ status?: { userInfo?: { username?: string } } }>({
      apiVersion: "authentication.k8s.io/v1",
      kind: "SelfSubjectReview",
      metadata: {},
    });
    const username = review.status?.userInfo?.username;
    if (!username) throw new Error("SelfSubjectReview returned no username");
    for (const object of admissionPolicy(username)) await applier.apply(object as never);
    log.info({ username }, "admission policy protects managed objects");
    return username;
  } catch (error) {
    log.error(
      { err: errorMessage(error) },
      "could not install the admission policy: managed objects are not protected against direct edits",
    );
    return undefined;
  }
}

/** A file a setting names, or an error that names the setting, the file and what went wrong. */
async function readSetting(setting: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : errorMessage(error);
    throw new Error(`${setting}=${file}: ${why}`, { cause: error });
  }
}

if (import.meta.main) {
  // A configuration the operator cannot start with ends in one line that names what is
  // missing (for kubectl logs and a CrashLoopBackOff's last state), not a stack trace.
  const start = async () => runOperator(loadConfig(process.env, hostname()));
  const operator = await start().catch((error: unknown) => {
    process.stderr.write(`dsc-operator: cannot start: ${errorMessage(error)}\n`);
    process.exit(1);
  });
  const stop = (): void => {
    operator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
