// The operator: one process per region. It serves this cluster's Federation
// and ConsortiumManifests, and writes only to its own cluster.
import { createServer } from "node:http";
import { hostname } from "node:os";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { admissionPolicy } from "./admission/policy.ts";
import { API_VERSION } from "./api/v1alpha1/fields.ts";
import { loadConfig, type OperatorConfig } from "./config.ts";
import { federationReconciler, type FederationObject } from "./federation/reconciler.ts";
import { ObjectApi } from "./manifests/objects.ts";
import { manifestReconciler, type ConsortiumManifestObject } from "./manifests/reconciler.ts";
import { operatorMetrics } from "./metrics/metrics.ts";
import { Applier } from "./runtime/apply.ts";
import { Controller, generationChanged } from "./runtime/controller.ts";
import { ownKey } from "./runtime/keys.ts";
import { EventRecorder } from "./runtime/events.ts";
import { Informer } from "./runtime/informer.ts";
import { LeaderElector } from "./runtime/leader.ts";

export async function runOperator(config: OperatorConfig): Promise<{ stop(): Promise<void> }> {
  const log = pino({
    level: config.logLevel,
    base: { component: "dsc-operator", ...(config.region ? { region: config.region } : {}) },
  });
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = operatorMetrics(registry);
  const applier = new Applier(kc);
  const api = ObjectApi.forConfig(kc);
  const events = new EventRecorder({ logger: log, reportingInstance: config.identity, kubeConfig: kc });

  const federations = new Informer<FederationObject>({
    kubeConfig: kc,
    path: `/apis/${API_VERSION}/federations`,
    logger: log.child({ informer: "federations" }),
  });
  const manifests = new Informer<ConsortiumManifestObject>({
    kubeConfig: kc,
    path: `/apis/${API_VERSION}/consortiummanifests`,
    logger: log.child({ informer: "consortiummanifests" }),
  });

  const federation = federationReconciler({
    federations,
    core: kc.makeApiClient(CoreV1Api),
    namespace: config.namespace,
    federationName: config.federationName,
    applier,
    events,
    metrics,
    pollMs: config.chainPollMs,
    now: () => new Date(),
    onChange: () => {
      for (const m of manifests.list())
        manifestController.enqueue(`${m.metadata?.namespace ?? ""}/${m.metadata?.name ?? ""}`);
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
      manifests,
      federation: federation.context,
      api,
      applier,
      events,
      metrics,
      resyncMs: config.resyncMs,
      now: () => new Date(),
    }),
    logger: log,
    registry,
    workers: config.workers,
  }).watch(manifests, ownKey, { update: generationChanged });
  const controllers = [federationController, manifestController];

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
    if (req.url === "/healthz") return void res.writeHead(200).end("ok\n");
    if (req.url === "/readyz")
      return void res.writeHead(ready ? 200 : 503).end(ready ? "ok\n" : "not ready\n");
    res.writeHead(404).end("not found\n");
  });
  await new Promise<void>((resolve) => server.listen(config.httpPort, config.httpHost, resolve));
  const address = server.address();
  log.info(
    { port: typeof address === "object" && address ? address.port : config.httpPort },
    "serving /metrics, /healthz and /readyz",
  );

  federations.start();
  manifests.start();
  const startControllers = async (): Promise<void> => {
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
      onStoppedLeading: () => void stopControllers(),
    });
    elector.start();
  } else {
    await startControllers();
  }

  return {
    async stop() {
      await (elector ? elector.stop() : stopControllers());
      await Promise.all([federations.stop(), manifests.stop()]);
      await events.flush();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
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
