// The operator: one process per region. It serves this cluster's Federation
// and ConsortiumManifests, and writes only to its own cluster.
import { mkdir, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { hostname } from "node:os";
import { delimiter } from "node:path";
import { pino } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { admissionPolicy } from "./admission/policy.ts";
import { API_VERSION } from "./api/v1alpha1/fields.ts";
import { loadConfig, type OperatorConfig } from "./config.ts";
import { KubeClient } from "./kube/client.ts";
import { loadDefault, loadKubeconfigFiles } from "./kube/config.ts";
import { federationReconciler, type FederationObject } from "./federation/reconciler.ts";
import type { ObjectApi } from "./manifests/objects.ts";
import {
  manifestReconciler,
  type ConsortiumManifestObject,
  type ReadManifest,
} from "./manifests/reconciler.ts";
import { operatorMetrics } from "./metrics/metrics.ts";
import { Applier } from "./runtime/apply.ts";
import { Controller, generationChanged } from "./runtime/controller.ts";
import { objectKey, ownKey } from "./runtime/keys.ts";
import { EventRecorder } from "./runtime/events.ts";
import { Informer } from "./runtime/informer.ts";
import { LeaderElector } from "./runtime/leader.ts";
import { httpStatus } from "./runtime/rawapi.ts";
import { canonicalManifest, manifestHashes } from "./core/manifest/digest.ts";
import type { FederationContext } from "./federation/context.ts";
import { fingerprint } from "./peers/identity.ts";
import { PeerTransport } from "./peers/transport.ts";
import { Replication } from "./replication/service.ts";
import { breachReportReconciler, type BreachReportObject } from "./guardian/breach-reconciler.ts";
import { GUARDIAN_FIELD_MANAGER } from "./guardian/actions.ts";
import { GuardianApi } from "./guardian/actions-api.ts";
import { ALERTMANAGER_PATH, BREACH_PATH, guardianRequest } from "./guardian/http.ts";
import { Guardian } from "./guardian/service.ts";
import { StateStore } from "./state/store.ts";
import { verifyManifest } from "./verification/verify.ts";
import type { ConsortiumManifestSpec } from "./api/v1alpha1/consortium-manifest.ts";
import { getAddress } from "viem";

export async function runOperator(config: OperatorConfig): Promise<{ stop(): Promise<void> }> {
  const log = pino({
    level: config.logLevel,
    // One key once per line (children add `component`; log pipelines may refuse repeated keys).
    base: { app: "dsc-operator", region: config.region ?? "unset" },
  });
  // One client for everything: one pool of connections, one discovery cache.
  // `kubeconfig` is $KUBECONFIG: possibly several files, merged as kubectl does.
  const kc = new KubeClient(
    config.kubeconfig
      ? loadKubeconfigFiles(config.kubeconfig.split(delimiter).filter(Boolean))
      : loadDefault(),
  );

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = operatorMetrics(registry);
  const applier = new Applier(kc);
  // One client for the objects manifests hold and the workloads the guardian pauses.
  const api = GuardianApi.forConfig(kc);
  const events = new EventRecorder({ logger: log, reportingInstance: config.identity, kubeConfig: kc });

  const federations = new Informer<FederationObject>({
    kubeConfig: kc,
    path: `/apis/${API_VERSION}/federations`,
    logger: log.child({ informer: "federations" }),
  });
  const breachReports = new Informer<BreachReportObject>({
    kubeConfig: kc,
    path: `/apis/${API_VERSION}/breachreports`,
    logger: log.child({ informer: "breachreports" }),
  });
  // Metadata only: enough to enqueue on a new generation or a deletion; a
  // reconcile reads the manifest whole. With the spec and status of 10,000
  // manifests the cache held about 48 MB of heap, metadata alone 9 MB
  // (measured once); npm run bench, "live", shows the process's RSS.
  const manifests = new Informer<ConsortiumManifestObject>({
    kubeConfig: kc,
    path: `/apis/${API_VERSION}/consortiummanifests`,
    logger: log.child({ informer: "consortiummanifests" }),
    metadataOnly: true,
  });
  const readManifest: ReadManifest = async (namespace, name) => {
    // Not in the cache: not created yet or deleted, as far as this region has seen.
    if (!manifests.get(namespace, name)) return undefined;
    try {
      return await api.readRaw<ConsortiumManifestObject>({
        apiVersion: API_VERSION,
        kind: "ConsortiumManifest",
        metadata: { namespace, name },
      });
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw error;
    }
  };
  const pausedManifests = new Set<string>();

  // Replication with the other regions, when this operator has a peer identity.
  let replication: Replication | undefined;
  let transport: PeerTransport | undefined;
  let ownFingerprint = "";
  let enqueueManifest: (key: string) => void = () => undefined;
  let enqueueFederation: () => void = () => undefined;
  let guardian: Guardian | undefined;
  if (config.peers) {
    const peers = config.peers;
    if (!config.region) throw new Error("DSC_REGION must name this region when DSC_PEER_CERT is set");
    const [cert, key] = await Promise.all([
      readFile(peers.certFile, "utf8"),
      readFile(peers.keyFile, "utf8"),
    ]);
    ownFingerprint = fingerprint(cert);
    await mkdir(peers.stateDir, { recursive: true });
    const opened = await StateStore.open(peers.stateDir);
    if (opened.tornBytes > 0)
      log.warn({ bytes: opened.tornBytes }, "cut a torn tail off the state log (a crash mid-write)");
    transport = new PeerTransport({
      region: config.region,
      listen: { host: peers.listenHost, port: peers.listenPort },
      certificate: { cert, key },
      peers: [],
      heartbeatMs: peers.heartbeatMs,
      logger: log.child({ component: "peers" }),
      registry,
    });
    const verifiedWith = async (
      ctx: FederationContext | undefined,
      namespace: string,
      name: string,
      spec: ConsortiumManifestSpec,
    ) => {
      if (!ctx) return false;
      try {
        const report = await verifyManifest(
          {
            chain: ctx.chain,
            service: ctx.service,
            federationName: ctx.name,
            federation: ctx.spec,
            now: Date.now,
          },
          { namespace, name, spec, appliedNonce: undefined },
        );
        return report.decision.verified;
      } catch {
        return false;
      }
    };
    replication = new Replication({
      region: config.region,
      store: opened.store,
      doc: opened.doc,
      syncStates: opened.syncStates,
      specs: opened.specs,
      transport,
      read: readManifest,
      applier: new Applier(kc, { fieldManager: "dsc-replication" }),
      verified: (namespace, name, spec) => verifiedWith(federation.context(), namespace, name, spec),
      digestOf: (namespace, name, spec) => {
        const ctx = federation.context();
        if (!ctx) throw new Error("no federation yet");
        const canonical = canonicalManifest(
          {
            federation: ctx.name,
            chainId: ctx.spec.chain.chainId,
            consortiumSafe: getAddress(ctx.spec.consortiumSafe),
          },
          { namespace, name },
          spec,
        );
        return manifestHashes(canonical, getAddress(ctx.spec.daoBoardSafe)).digest;
      },
      enqueue: (key) => {
        enqueueManifest(key);
      },
      logger: log.child({ component: "replication" }),
      registry,
      now: Date.now,
    });
    const r = replication;
    guardian = new Guardian({
      region: config.region,
      namespace: config.namespace,
      replication: r,
      federation: () => federation.context(),
      api,
      applier: new Applier(kc, { fieldManager: GUARDIAN_FIELD_MANAGER }),
      registry,
      logger: log.child({ component: "guardian" }),
      now: Date.now,
      resyncMs: config.resyncMs,
      onTransition: (paused) => {
        // On a resume, what the pause held back applies now; the rest is in place. A pause
        // needs no pass over the manifests (each finds it at its next reconcile).
        if (!paused) for (const key of pausedManifests) enqueueManifest(key);
        enqueueFederation();
      },
    });
  }

  const federation = federationReconciler({
    federations,
    api,
    namespace: config.namespace,
    federationName: config.federationName,
    applier,
    events,
    metrics,
    pollMs: config.chainPollMs,
    now: () => new Date(),
    guardian: () => guardian,
    replicationStatus: () => {
      if (!transport || !replication) return undefined;
      const r = replication;
      const peers = transport.status().map((p) => ({
        region: p.region,
        connected: p.connected,
        ...(p.lastHeardMs === null
          ? {}
          : { lastHeard: new Date(p.lastHeardMs).toISOString().replace(/\.\d+Z$/, "Z") }),
        ...(p.rttMs === null ? {} : { rttMilliseconds: Math.round(p.rttMs) }),
        changesPending: r.pending(p.region),
      }));
      return {
        peers,
        peerSummary: peers.map((p) => `${p.region} ${p.connected ? "✓" : "✗"}`).join(" "),
        document: { bytes: r.documentBytes(), manifests: r.manifestCount() },
      };
    },
    // Called only once controllers run, after manifestController exists.
    onChange: (ctx) => {
      if (ctx && transport && replication && config.peers) {
        transport.setPeers(
          (ctx.spec.peers ?? []).map((p) => ({
            region: p.region,
            endpoint: p.endpoint,
            fingerprint: p.certificateSha256,
          })),
        );
        const self = {
          region: ctx.spec.region,
          dsp: ctx.spec.dsp.name,
          safe: ctx.spec.dsp.safe,
          endpoint: config.peers.advertise,
          fingerprint: ownFingerprint,
        };
        const r = replication;
        void r
          .setMembers([self])
          .then(() => r.mirror())
          .catch((error: unknown) => {
            log.warn(
              { err: error instanceof Error ? error.message : String(error) },
              "could not update the federation state",
            );
          });
      }
      for (const m of manifests.list()) manifestController.enqueue(objectKey(m));
    },
  });
  const federationController = new Controller({
    name: "federation",
    reconcile: federation.reconcile,
    logger: log,
    registry,
  }).watch(federations, ownKey, { update: generationChanged });
  const manifestController = new Controller({
    name: "consortiummanifest",
    reconcile: manifestReconciler({
      read: readManifest,
      paused: pausedManifests,
      federation: federation.context,
      api,
      applier,
      events,
      metrics,
      resyncMs: config.resyncMs,
      now: () => new Date(),
      replication: () => replication,
      guardian: () => guardian,
    }),
    logger: log,
    registry,
    workers: config.workers,
  }).watch(manifests, ownKey, { update: generationChanged });
  enqueueManifest = (key) => {
    manifestController.enqueue(key);
  };
  enqueueFederation = () => {
    for (const f of federations.list()) federationController.enqueue(objectKey(f));
  };
  const breachController = new Controller({
    name: "breachreport",
    reconcile: breachReportReconciler({
      reports: breachReports,
      guardian: () => guardian,
      applier,
      events,
      now: () => new Date(),
    }),
    logger: log,
    registry,
  }).watch(breachReports, ownKey, { update: generationChanged });
  const controllers = [federationController, manifestController, breachController];

  // The admission policy names the operator's own identity as the one writer of managed objects.
  if (config.installAdmissionPolicy) {
    try {
      const username = await whoAmI(api);
      for (const object of admissionPolicy(username)) await applier.apply(object as never);
      log.info({ username }, "admission policy protects managed objects");
    } catch (error) {
      log.error(
        { err: error instanceof Error ? error.message : String(error) },
        "could not install the admission policy: managed objects are not protected against direct edits",
      );
    }
  }

  let ready = false;
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (req.method === "POST" && (req.url === BREACH_PATH || req.url === ALERTMANAGER_PATH)) {
      void guardianRequest(req, res, () => guardian, log);
      return;
    }
    if (req.url === "/healthz") return void res.writeHead(200).end("ok\n");
    if (req.url === "/readyz")
      return void res.writeHead(ready ? 200 : 503).end(ready ? "ok\n" : "not ready\n");
    res.writeHead(404).end("not found\n");
  });
  await new Promise<void>((resolve) => server.listen(config.httpPort, config.httpHost, resolve));
  const address = server.address();
  log.info(
    { port: typeof address === "object" && address ? address.port : config.httpPort },
    `serving /metrics, /healthz, /readyz, POST ${BREACH_PATH} and POST ${ALERTMANAGER_PATH}`,
  );

  federations.start();
  manifests.start();
  breachReports.start();
  const startControllers = async (): Promise<void> => {
    // Only the leader speaks for the region: a standby replica dialling the
    // same peers would replace the leader's connections, back and forth.
    if (transport && config.peers) {
      await transport.start();
      log.info(
        {
          listen: `${config.peers.listenHost}:${String(config.peers.listenPort)}`,
          fingerprint: ownFingerprint,
        },
        "federation endpoint listening",
      );
    }
    await Promise.all(controllers.map((c) => c.start()));
    ready = true;
    log.info("controllers started");
  };
  const stopControllers = async (): Promise<void> => {
    ready = false;
    await Promise.all(controllers.map((c) => c.stop()));
  };

  let elector: LeaderElector | undefined;
  if (config.leaderElection) {
    elector = new LeaderElector({
      namespace: config.namespace,
      name: "dsc-operator",
      identity: config.identity,
      logger: log,
      kubeConfig: kc,
      registry,
      onStartedLeading: () => void startControllers(),
      // As controller-runtime does: a replica that lost the lease exits and restarts as a
      // clean standby, rather than resume with whatever it held when it was cut off.
      onStoppedLeading: () =>
        void stopControllers()
          .then(() => transport?.stop())
          .then(() => {
            if (stopping) return;
            log.error("lost the leader lease: exiting so that this replica restarts as a standby");
            process.exit(1);
          }),
    });
    elector.start();
  } else {
    await startControllers();
  }

  let stopping = false;
  return {
    async stop() {
      stopping = true;
      await (elector ? elector.stop() : stopControllers());
      await Promise.all([federations.stop(), manifests.stop(), breachReports.stop()]);
      await guardian?.settled();
      await transport?.stop();
      await replication?.close();
      await events.flush();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      kc.close();
      log.info("stopped");
    },
  };
}

async function whoAmI(api: ObjectApi): Promise<string> {
  const review = await api.createRaw<{ status?: { userInfo?: { username?: string } } }>({
    apiVersion: "authentication.k8s.io/v1",
    kind: "SelfSubjectReview",
    metadata: {},
  });
  const username = review.status?.userInfo?.username;
  if (!username) throw new Error("SelfSubjectReview returned no username");
  return username;
}

if (import.meta.main) {
  const config = loadConfig(process.env, hostname());
  const operator = await runOperator(config);
  const stop = (): void => {
    operator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
