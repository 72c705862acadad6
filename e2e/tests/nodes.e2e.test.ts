// The guardian pause on real kubelets (e2e/nodes): an approved manifest's
// Deployment runs as real containers on each region's real node; a breach
// pauses all three; in alpha and beta (ScaleToZero) the containers stop, in
// gamma (DenyAll) the NetworkPolicy the operator writes really blocks traffic
// between two pods (kube-router enforces it); a critical resume brings the
// containers back and lets the traffic through again. The operators run as
// processes beside the test bed, as in the other suites. The nodes are
// started here and stopped afterwards (DSC_NODES_KEEP=1 keeps them).
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Applier } from "../../operator/runtime/apply.ts";
import { eventually } from "../testbed/eventually.ts";
import { chainPause, resumeSpec, signedReport, unpauseChain } from "../testbed/guardian.ts";
import { REGIONS, type Region } from "../testbed/layout.ts";
import {
  adminConfig,
  directPeers,
  installFederation,
  startFederatedSuite,
  submitApproved,
  type OperatorProcess,
} from "../testbed/operator.ts";
import { federationStatus } from "../testbed/read.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

let testbed: Testbed;
const operators = new Map<Region, OperatorProcess>();
const RUN = Date.now().toString(36);
const NS = `nodes-${RUN}`;
const kc = (region: Region): KubeConfig => adminConfig(testbed, region);
const core = (region: Region) => kc(region).makeApiClient(CoreV1Api);
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

const nodeScript = join(import.meta.dirname, "../nodes/node.sh");
const node = (action: "up" | "down", region: Region) =>
  promisify(execFile)("bash", [nodeScript, action, region], { maxBuffer: 16 * 1024 * 1024 });

const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventually(what, probe, { timeoutMs, logs: () => [...operators.values()].map((o) => o.log) });

beforeAll(async () => {
  testbed = await current();
  // The first run builds the kubelet, kube-router and two images (minutes; cached after).
  for (const region of REGIONS) await node("up", region);
  await unpauseChain(testbed.chain);
  for (const [region, operator] of await startFederatedSuite(testbed, {
    namespace: NS,
    stateName: `nodes-state-${RUN}`,
    options: (region) => ({
      peers: directPeers(testbed, region),
      guardian: { action: ACTION[region], recordOnChain: true },
    }),
  }))
    operators.set(region, operator);
}, 1_800_000);

afterAll(async () => {
  await resume("resume-final").catch(() => undefined);
  await Promise.all(
    REGIONS.map((r) =>
      core(r)
        .deleteNamespace({ name: NS })
        .catch(() => undefined),
    ),
  );
  await Promise.all([...operators.values()].map((o) => o.stop()));
  for (const region of REGIONS) await installFederation(testbed, region);
  if (process.env.DSC_NODES_KEEP !== "1") for (const region of REGIONS) await node("down", region);
}, 180_000);

const pods = async (region: Region, app: string): Promise<V1Pod[]> =>
  (await core(region).listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` })).items;

const ready = (pod: V1Pod): boolean =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** The processes running `httpd` in the region's node's cgroups: the containers themselves. */
function httpdProcesses(region: Region): number {
  const root = `/sys/fs/cgroup/pids/dsc-${region}`;
  const pids = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name === "cgroup.procs")
        for (const pid of readFileSync(join(dir, entry.name), "utf8").split("\n")) if (pid) pids.add(pid);
    }
  };
  walk(root);
  return [...pids].filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("httpd");
    } catch {
      return false; // gone meanwhile
    }
  }).length;
}

const pausedIn = async (region: Region): Promise<boolean> =>
  (await federationStatus(kc(region)))?.guardian?.paused ?? false;

async function resume(name: string): Promise<void> {
  const tokens = (await federationStatus(kc("alpha")))?.guardian?.pauses.map((p) => p.token) ?? [];
  if (tokens.length === 0) return;
  await until("pause recorded on chain", async () => (await chainPause(testbed.chain)).paused);
  await unpauseChain(testbed.chain);
  await submitApproved(testbed, "alpha", NS, name, resumeSpec(tokens), {
    signers: ["alpha", "beta", "gamma"],
    boardSigners: 1,
  });
  await until(`${name}: resumed in all three`, async () =>
    (await Promise.all(REGIONS.map(pausedIn))).every((p) => !p),
  );
}

describe("the guardian pause on real kubelets", () => {
  it("stops real containers and real traffic in every region, and a critical resume restores both", async () => {
    // An approved web server, two replicas on each region's real node.
    await submitApproved(
      testbed,
      "alpha",
      NS,
      "web",
      {
        tier: "upgrade",
        targets: [...REGIONS],
        nonce: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        objects: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "web", namespace: NS },
            spec: {
              replicas: 2,
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
      },
      { signers: ["alpha", "beta"] },
    );
    for (const region of REGIONS)
      await until(`web running as containers in ${region}`, async () => {
        const running = (await pods(region, "web")).filter((p) => p.status?.phase === "Running");
        return running.length === 2 && httpdProcesses(region) === 2;
      });

    // In gamma, a client pod whose readiness is "the web server answers it".
    const web = (await pods("gamma", "web"))[0]?.status?.podIP;
    expect(web).toMatch(/^10\.244\.3\./);
    await new Applier(kc("gamma"), { fieldManager: "dsp-admin" }).apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "client", namespace: NS, labels: { app: "client" } },
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
    });
    const clientReady = async () => (await pods("gamma", "client")).some(ready);
    await until("the client reaches the web server in gamma", clientReady);

    // An agent's report in beta pauses all three.
    const report = await signedReport(testbed.chain, testbed.chain.keys.agents.beta, "nodes", {
      evidence: `nodes ${RUN}`,
    });
    const res = await fetch(`http://127.0.0.1:${String(operators.get("beta")?.port)}/v1/breach-reports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(202);
    await until("paused in all three", async () => (await Promise.all(REGIONS.map(pausedIn))).every(Boolean));

    for (const region of ["alpha", "beta"] as const)
      await until(
        `no web container left in ${region}`,
        async () => (await pods(region, "web")).length === 0 && httpdProcesses(region) === 0,
      );
    await until("the traffic stopped in gamma", async () => !(await clientReady()));
    expect(httpdProcesses("gamma")).toBe(2); // DenyAll stops traffic, not containers

    await resume("resume-1");
    for (const region of ["alpha", "beta"] as const)
      await until(`web back as containers in ${region}`, async () => {
        const running = (await pods(region, "web")).filter((p) => p.status?.phase === "Running");
        return running.length === 2 && httpdProcesses(region) === 2;
      });
    await until("the traffic flows again in gamma", clientReady);
  }, 300_000);
});
