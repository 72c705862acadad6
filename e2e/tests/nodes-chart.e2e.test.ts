// The operator as a DSP runs it, on real nodes (e2e/nodes): the image built
// from the Dockerfile, loaded into each region's containerd and installed by
// the chart (a StatefulSet of two with leader election and a state volume
// each, in-cluster credentials through the kubernetes Service), federated
// over the regions' node ports. An approved manifest runs as real containers
// in all three; the leader pod killed, the standby takes over and nothing is
// applied twice; a region's node restarted (every process and container
// killed), it comes back and catches up with what was approved meanwhile.
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Pod,
} from "@kubernetes/client-node";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHART, helm } from "../../charts/helm.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import { eventually } from "../testbed/eventually.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  federationSpec,
  installFederation,
  peerCertificate,
  submitApproved,
} from "../testbed/operator.ts";
import { federationStatus } from "../testbed/read.ts";
import { current, kubectl as testbedKubectl, type Testbed } from "../testbed/testbed.ts";

const RUN = Date.now().toString(36);
/** The chart's release namespace: the operator's own (its Lease, Secrets and pods). */
const NS = `dsc-nodes-${RUN}`;
/** Where the approved manifests and their objects go. */
const APPS = `nodes-apps-${RUN}`;
const IMAGE = "dsc-operator:e2e";
const PEER_NODE_PORT = 30443;
const ON_THE_REAL_NODE = {
  nodeSelector: { "dsc.test/node": "real" },
  tolerations: [{ key: "dsc.test/node", value: "real", effect: "NoSchedule" }],
};

let testbed: Testbed;
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const admin = (region: Region) => new Applier(kc(region), { fieldManager: "dsp-admin" });
const index = (region: Region) => REGIONS.indexOf(region) + 1;
const nodeAddress = (region: Region) => `10.250.${String(index(region))}.1`;
const hostAddress = (region: Region) => `10.250.${String(index(region))}.254`;
const nodeDir = (region: Region) => join(testbed.layout.regionDir(region), "node");

const run = promisify(execFile);
const node = (action: "up" | "down" | "restart" | "load", region: Region, ...args: string[]) =>
  run("bash", [join(import.meta.dirname, "../nodes/node.sh"), action, region, ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });

const operatorLogs = async (region: Region): Promise<string[]> => {
  const pods = await core(region)
    .listNamespacedPod({ namespace: NS })
    .catch(() => ({ items: [] as V1Pod[] }));
  return pods.items.map((p) => `${region}/${p.metadata?.name ?? ""}: ${p.status?.phase ?? ""}`);
};
const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000) =>
  eventually(what, probe, { timeoutMs });
const core = (region: Region) => kc(region).makeApiClient(CoreV1Api);
const kubectl = (region: Region, args: readonly string[]) => testbedKubectl(testbed, region, args);

beforeAll(async () => {
  testbed = await current();
  for (const region of REGIONS) {
    await node("up", region);
    await node("load", region, IMAGE);
  }
  for (const region of REGIONS) await install(region);
}, 1_800_000);

afterAll(async () => {
  for (const region of REGIONS) {
    await helm(["uninstall", "dsc-operator", "-n", NS, "--kubeconfig", testbed.kubeconfig[region], "--wait"]);
    // Its manifests keep their finalizers once their operator is gone.
    for (const name of ["web", "while-gamma-down"])
      await admin(region)
        .apply({
          apiVersion: "dsc.federation.dev/v1alpha1",
          kind: "ConsortiumManifest",
          metadata: { name, namespace: APPS, finalizers: [] },
        } as never)
        .catch(() => undefined);
    await core(region)
      .deleteNamespace({ name: APPS })
      .catch(() => undefined);
    await core(region)
      .deleteNamespace({ name: NS })
      .catch(() => undefined);
    // The admission policies name this release's ServiceAccount; the next operator writes its own.
    await kubectl(region, [
      "delete",
      "validatingadmissionpolicybinding,validatingadmissionpolicy",
      "dsc-managed-objects",
      "dsc-manifest-ownership",
      "dsc-managed-scale",
      "--ignore-not-found",
    ]).catch(() => undefined);
    await installFederation(testbed, region);
  }
  if (process.env.DSC_NODES_KEEP !== "1") for (const region of REGIONS) await node("down", region);
}, 600_000);

/** The chart in a region, as a DSP installs it, with the state volumes a provisioner would make. */
async function install(region: Region): Promise<void> {
  const applier = new Applier(kc(region), { fieldManager: "dsp-admin" });
  // What a run that was stopped midway left of its release outside its namespace.
  await kubectl(region, [
    "delete",
    "clusterrole,clusterrolebinding,persistentvolume",
    "-l",
    "app.kubernetes.io/instance=dsc-operator",
    "--ignore-not-found",
  ]);
  await applier.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  await applier.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: APPS } });
  const peer = peerCertificate(testbed, region);
  await applier.apply({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: { name: "peer-tls", namespace: NS },
    stringData: { "tls.crt": peer.cert, "tls.key": peer.key },
  } as never);
  await applier.apply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "chain-rpc", namespace: NS },
    stringData: { url: `http://${hostAddress(region)}:${String(testbed.layout.ports.anvil)}` },
  } as never);
  // The pods reach the chain through the node's relay; the peers at their node ports. Written
  // as the test bed writes its Federations (installFederation), so the next suite's replaces it.
  await new Applier(kc(region), { fieldManager: "dsc-testbed" }).apply({
    apiVersion: "dsc.federation.dev/v1alpha1",
    kind: "Federation",
    metadata: { name: "dsc" },
    spec: {
      ...federationSpec(testbed.chain, region),
      peers: REGIONS.filter((r) => r !== region).map((r) => ({
        region: r,
        endpoint: `${nodeAddress(r)}:${String(PEER_NODE_PORT)}`,
        certificateSha256: peerCertificate(testbed, r).fingerprint,
      })),
    },
  } as never);
  for (const i of [0, 1]) {
    const path = join(nodeDir(region), `volume-${String(i)}`);
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o777);
    await applier.apply({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `${NS}-${String(i)}`, labels: { "app.kubernetes.io/instance": "dsc-operator" } },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: "",
        hostPath: { path, type: "Directory" },
        claimRef: { namespace: NS, name: `state-dsc-operator-${String(i)}` },
      },
    } as never);
  }
  const [repository, tag] = IMAGE.split(":");
  const values = {
    image: { repository, tag, pullPolicy: "Never" },
    region,
    federation: { create: false, name: "dsc" },
    operator: { resyncSeconds: 10 },
    peer: {
      enabled: true,
      advertise: `${nodeAddress(region)}:${String(PEER_NODE_PORT)}`,
      tls: { secretName: "peer-tls" },
      service: { type: "NodePort", nodePort: PEER_NODE_PORT },
    },
    ...ON_THE_REAL_NODE,
    // The chart's egress policy, enforced here (kube-router): the API server's endpoint port
    // (what the kubernetes Service leads to), the peers' node port, the chain and Safe service.
    networkPolicy: {
      egress: {
        apiServerPorts: [443, testbed.layout.ports.regions[region].apiserver],
        peerPorts: [PEER_NODE_PORT],
        chainPorts: [testbed.layout.ports.anvil, testbed.layout.ports.safeService],
      },
    },
    monitoring: { serviceMonitor: { enabled: false }, prometheusRule: { enabled: false } },
  };
  const file = join(nodeDir(region), "values.yaml");
  writeFileSync(file, stringify(values));
  const installed = await helm([
    "upgrade",
    "--install",
    "dsc-operator",
    CHART,
    "-n",
    NS,
    "--kubeconfig",
    testbed.kubeconfig[region],
    "--values",
    file,
  ]);
  expect(installed.stderr).not.toMatch(/Error/);
}

const leader = async (region: Region): Promise<string | undefined> =>
  (
    await kc(region)
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: "dsc-operator", namespace: NS })
      .catch(() => undefined)
  )?.spec?.holderIdentity ?? undefined;

const peersConnected = async (region: Region) => {
  const summary = (await federationStatus(kc(region)))?.peerSummary ?? "";
  return summary.split(" ").filter((s) => s === "✓").length === 2;
};

const webPods = async (region: Region): Promise<V1Pod[]> =>
  (await core(region).listNamespacedPod({ namespace: APPS, labelSelector: "app=web" })).items.filter(
    (p) => p.status?.phase === "Running" && p.metadata?.deletionTimestamp === undefined,
  );

const deployment = (region: Region, name: string) =>
  kc(region)
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name, namespace: APPS })
    .catch(() => undefined);

const webSpec = (nonce: number, replicas: number) => ({
  tier: "upgrade" as const,
  targets: [...REGIONS],
  nonce,
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  objects: [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: APPS },
      spec: {
        replicas,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            ...ON_THE_REAL_NODE,
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "web",
                image: "dsc-nodes.local/busybox:1",
                imagePullPolicy: "Never",
                command: ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"],
              },
            ],
          },
        },
      },
    },
  ],
});

describe("the chart's operator on real nodes", { timeout: 600_000 }, () => {
  it("runs as pods in every region: a leader each, its peers connected", async () => {
    for (const region of REGIONS) {
      await until(
        `two operator pods Running in ${region}`,
        async () =>
          (await core(region).listNamespacedPod({ namespace: NS })).items.filter(
            (p) => p.status?.phase === "Running",
          ).length === 2,
        300_000,
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\n${(await operatorLogs(region)).join("\n")}`);
      });
      await until(`a leader in ${region}`, () => leader(region));
    }
    for (const region of REGIONS) await until(`${region}'s peers connected`, () => peersConnected(region));
  });

  it("applies an approved manifest as real containers in all three", async () => {
    await submitApproved(testbed, "alpha", APPS, "web", webSpec(1, 2), { signers: ["alpha", "beta"] });
    for (const region of REGIONS)
      await until(`web running in ${region}`, async () => (await webPods(region)).length === 2);
  });

  it("goes on when the leader pod is killed: the standby takes over, and nothing is applied twice", async () => {
    const before = await leader("beta");
    expect(before).toBeTruthy();
    const generation = (await deployment("beta", "web"))?.metadata?.generation;
    // The holder is the pod's name and a suffix of its process (operator/config.ts).
    const pod = (before ?? "").replace(/_[0-9a-f]{8}$/, "");
    await core("beta").deleteNamespacedPod({ name: pod, namespace: NS, gracePeriodSeconds: 0 });
    const after = await until("another leader in beta", async () => {
      const now = await leader("beta");
      return now && now !== before ? now : undefined;
    });
    expect(after).not.toBe(before);
    await submitApproved(testbed, "alpha", APPS, "web", webSpec(2, 3), { signers: ["alpha", "beta"] });
    for (const region of REGIONS)
      await until(`three web pods in ${region}`, async () => (await webPods(region)).length === 3);
    // One apply of version 2 in beta, whichever pod led: the generation moved once.
    expect((await deployment("beta", "web"))?.metadata?.generation).toBe((generation ?? 0) + 1);
  });

  it("catches up after its node restarts, with what was approved while it was down", async () => {
    const restarted = node("restart", "gamma");
    await submitApproved(
      testbed,
      "alpha",
      APPS,
      "while-gamma-down",
      {
        tier: "operational",
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "while-gamma-down", namespace: APPS },
            data: { run: RUN },
          },
        ],
      },
      { signers: ["alpha"] },
    );
    await restarted;
    await until(
      "gamma caught up",
      async () =>
        (
          await core("gamma")
            .readNamespacedConfigMap({ name: "while-gamma-down", namespace: APPS })
            .catch(() => undefined)
        )?.data?.run === RUN,
      300_000,
    );
    await until("web running in gamma again", async () => (await webPods("gamma")).length === 3);
  });
});
