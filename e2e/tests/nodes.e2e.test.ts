// The operator as a DSP runs it, on real nodes (e2e/nodes): the image built
// from the Dockerfile, loaded into each region's containerd and installed by
// the chart (a StatefulSet of two with leader election and a state volume
// each, its NetworkPolicy enforced, in-cluster credentials through the
// kubernetes Service), federated over the regions' node ports. An approved
// manifest runs as real containers in all three; the leader pod killed,
// another process leads and nothing is applied twice; an agent's report
// pauses all three: in alpha and beta (ScaleToZero) the containers stop, in
// gamma (DenyAll) the operator's NetworkPolicy stops real requests between two
// pods, and a critical resume brings both back; a region's node restarted
// (every process and container killed), it catches up with what was approved
// meanwhile. The nodes stay up afterwards with DSC_NODES_KEEP=1.
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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
import { configMapSpec } from "../testbed/approve.ts";
import { eventually } from "../testbed/eventually.ts";
import { breachReportObject, resumeSpec, signedReport, unpauseChain } from "../testbed/guardian.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  DELETE_ADMISSION_POLICIES,
  federationSpec,
  installCrds,
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
/** What each region's pause does: the containers stop, or the traffic. */
const ACTION: Record<Region, "ScaleToZero" | "DenyAll"> = {
  alpha: "ScaleToZero",
  beta: "ScaleToZero",
  gamma: "DenyAll",
};
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
  await unpauseChain(testbed.chain); // a clean start whatever ran before
  // The image from the Dockerfile, as CI builds it (seconds when it is current), so that
  // `npm run nodes` needs nothing built beforehand.
  await run("bash", [join(import.meta.dirname, "../image/build.sh"), IMAGE], { maxBuffer: 16 * 1024 * 1024 });
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
    for (const name of ["web", "resume", "while-gamma-down"])
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
    await kubectl(region, DELETE_ADMISSION_POLICIES).catch(() => undefined);
    await installFederation(testbed, region);
  }
  if (process.env.DSC_NODES_KEEP !== "1") for (const region of REGIONS) await node("down", region);
}, 600_000);

/** The chart in a region, as a DSP installs it, with the state volumes a provisioner would make. */
async function install(region: Region): Promise<void> {
  const applier = admin(region);
  await installCrds(testbed, region);
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
      guardian: { pauseContract: testbed.chain.federation.guardianPause, action: ACTION[region] },
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

const pausedIn = async (region: Region): Promise<boolean> =>
  (await federationStatus(kc(region)))?.guardian?.paused ?? false;

/** The processes running `httpd` in the region's node's cgroups: the containers themselves. */
function httpdProcesses(region: Region): number {
  const pids = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name === "cgroup.procs")
        for (const pid of readFileSync(join(dir, entry.name), "utf8").split("\n")) if (pid) pids.add(pid);
    }
  };
  walk(`/sys/fs/cgroup/pids/dsc-${region}`);
  return [...pids].filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("httpd");
    } catch {
      return false; // gone meanwhile
    }
  }).length;
}

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
                command: [
                  "sh",
                  "-c",
                  "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www",
                ],
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
      await until(
        `web running as containers in ${region}`,
        async () => (await webPods(region)).length === 2 && httpdProcesses(region) === 2,
      );
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

  it("pauses on an agent's report: real containers stop, real traffic stops; a critical resume restores both", async () => {
    // In gamma, a client pod whose readiness is "the web server answers it".
    const web = (await webPods("gamma"))[0]?.status?.podIP;
    expect(web).toMatch(/^10\.244\.3\./);
    await admin("gamma").apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "client", namespace: APPS, labels: { app: "client" } },
      spec: {
        ...ON_THE_REAL_NODE,
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: "client",
            image: "dsc-nodes.local/busybox:1",
            imagePullPolicy: "Never",
            command: ["sleep", "3600"],
            readinessProbe: {
              // Debian's busybox nc has no -z: a real request, and the page's word in the answer.
              exec: {
                command: [
                  "sh",
                  "-c",
                  `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 ${web ?? ""} 8080 | grep -q ok`,
                ],
              },
              periodSeconds: 1,
              timeoutSeconds: 2,
              failureThreshold: 1,
            },
          },
        ],
      },
    } as never);
    const clientReady = async () =>
      (await core("gamma").listNamespacedPod({ namespace: APPS, labelSelector: "app=client" })).items.some(
        (p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      );
    await until("the client reaches the web server in gamma", clientReady);

    const report = await signedReport(testbed.chain, testbed.chain.keys.agents.beta, "nodes", {
      evidence: `nodes ${RUN}`,
    });
    await admin("beta").apply(breachReportObject(APPS, "breach", report));
    await until("paused in all three", async () => (await Promise.all(REGIONS.map(pausedIn))).every(Boolean));
    for (const region of ["alpha", "beta"] as const)
      await until(
        `no web container left in ${region}`,
        async () => (await webPods(region)).length === 0 && httpdProcesses(region) === 0,
      );
    await until("the traffic stopped in gamma", async () => !(await clientReady()));
    expect(httpdProcesses("gamma")).toBe(3); // DenyAll stops traffic, not containers

    const tokens = (await federationStatus(kc("alpha")))?.guardian?.pauses.map((p) => p.token) ?? [];
    expect(tokens.length).toBeGreaterThan(0);
    await submitApproved(testbed, "alpha", APPS, "resume", resumeSpec(tokens), {
      signers: ["alpha", "beta", "gamma"],
      boardSigners: 1,
    });
    await until("resumed in all three", async () =>
      (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
    );
    for (const region of ["alpha", "beta"] as const)
      await until(
        `web back as containers in ${region}`,
        async () => (await webPods(region)).length === 3 && httpdProcesses(region) === 3,
      );
    await until("the traffic flows again in gamma", clientReady);
  });

  it("catches up after its node restarts, with what was approved while it was down", async () => {
    const restarted = node("restart", "gamma");
    await submitApproved(
      testbed,
      "alpha",
      APPS,
      "while-gamma-down",
      configMapSpec(
        { namespace: APPS, name: "while-gamma-down" },
        { tier: "operational", targets: [...REGIONS], data: { run: RUN } },
      ),
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
