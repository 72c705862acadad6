// One region's real Kubernetes control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, and KWOK with one fake node, so that
// a Deployment gets pods that report Running. Flags follow what
// controller-runtime's envtest passes, plus what the other components need.
import { execFile } from "node:child_process";
import { request } from "node:https";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { regionPki, type ClientName, type RegionPki } from "./pki.ts";
import { startDetached, waitUntil, type ProcessRecord } from "./process.ts";
import { REGIONS, type Region, type RegionPorts } from "./layout.ts";

export interface RegionPlan {
  readonly region: Region;
  readonly dir: string;
  readonly ports: RegionPorts;
  readonly bin: string;
}

/** A kubeconfig with an embedded client certificate, as `kubectl` and client-node read it. */
export function writeKubeconfig(
  file: string,
  region: string,
  port: number,
  pki: RegionPki,
  client: ClientName,
): void {
  const b64 = (path: string): string => readFileSync(path).toString("base64");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: region,
        cluster: {
          server: `https://127.0.0.1:${String(port)}`,
          "certificate-authority-data": b64(pki.caCert),
        },
      },
    ],
    users: [
      {
        name: `${region}-${client}`,
        user: {
          "client-certificate-data": b64(pki.clientCert(client)),
          "client-key-data": b64(pki.clientKey(client)),
        },
      },
    ],
    contexts: [{ name: region, context: { cluster: region, user: `${region}-${client}` } }],
    "current-context": region,
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
}

/** A GET to the API server as `client`; resolves with status and body. */
export function apiGet(
  plan: RegionPlan,
  pki: RegionPki,
  path: string,
  client: ClientName = "admin",
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: plan.ports.apiserver,
        path,
        ca: readFileSync(pki.caCert),
        cert: readFileSync(pki.clientCert(client)),
        key: readFileSync(pki.clientKey(client)),
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** The fake node KWOK manages: big enough that scheduling never fails for capacity. */
function fakeNode(region: string): object {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: `kwok-${region}-0`,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": `kwok-${region}-0`,
        "topology.kubernetes.io/region": region,
        type: "kwok",
      },
    },
    status: {
      allocatable: { cpu: "32", memory: "256Gi", pods: "110" },
      capacity: { cpu: "32", memory: "256Gi", pods: "110" },
    },
  };
}

/**
 * Starts the region's processes in dependency order and returns them as they
 * start, so a caller can record pids before waiting (and stop them on failure).
 */
/** The host side of a region's real node's veth (e2e/nodes/node.sh): 10.250.N.254, N from 1. */
export const nodeHostAddress = (region: Region): string =>
  `10.250.${String(REGIONS.indexOf(region) + 1)}.254`;

export async function startRegion(
  plan: RegionPlan,
  started: (record: ProcessRecord) => void,
): Promise<{ pki: RegionPki; processes: [ProcessRecord, ...ProcessRecord[]] }> {
  const { region, dir, ports, bin } = plan;
  const pki = regionPki(join(dir, "pki"), region);
  const etcdData = join(dir, "etcd");
  rmSync(etcdData, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const kubeconfigs = {
    admin: join(dir, "kubeconfig"),
    "kube-controller-manager": join(dir, "kube-controller-manager.kubeconfig"),
    "kube-scheduler": join(dir, "kube-scheduler.kubeconfig"),
    kwok: join(dir, "kwok.kubeconfig"),
    "dsc-operator": join(dir, "dsc-operator.kubeconfig"),
  } satisfies Record<ClientName, string>;
  for (const [client, file] of Object.entries(kubeconfigs) as [ClientName, string][]) {
    writeKubeconfig(file, region, ports.apiserver, pki, client);
  }
  const log = (name: string): string => join(dir, `${name}.log`);
  const launch = (name: string, args: readonly string[]): ProcessRecord => {
    const record = startDetached(`${region}/${name}`, [join(bin, name), ...args], log(name));
    started(record);
    return record;
  };

  const etcd = launch("etcd", [
    `--name=${region}`,
    `--data-dir=${etcdData}`,
    `--listen-client-urls=http://127.0.0.1:${String(ports.etcdClient)}`,
    `--advertise-client-urls=http://127.0.0.1:${String(ports.etcdClient)}`,
    `--listen-peer-urls=http://127.0.0.1:${String(ports.etcdPeer)}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${String(ports.etcdPeer)}`,
    `--initial-cluster=${region}=http://127.0.0.1:${String(ports.etcdPeer)}`,
    "--unsafe-no-fsync",
    "--log-level=warn",
  ]);
  await waitUntil(etcd, "healthy", async () => {
    const res = await fetch(`http://127.0.0.1:${String(ports.etcdClient)}/health`);
    return res.ok && ((await res.json()) as { health?: string }).health === "true";
  });

  const apiserver = launch("kube-apiserver", [
    `--etcd-servers=http://127.0.0.1:${String(ports.etcdClient)}`,
    `--secure-port=${String(ports.apiserver)}`,
    "--bind-address=127.0.0.1",
    // The kubernetes Service's endpoint: where a real node's pods reach this API server, the
    // host side of that node's veth, relayed to 127.0.0.1 (e2e/nodes/node.sh). Nothing else
    // reads it; the KWOK nodes' pods never connect.
    `--advertise-address=${nodeHostAddress(region)}`,
    `--cert-dir=${join(dir, "apiserver-certs")}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-issuer=https://127.0.0.1:${String(ports.apiserver)}/${region}`,
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    "--authorization-mode=RBAC",
    "--allow-privileged=true",
    "--profiling=false",
    "--v=1",
  ]);
  await waitUntil(apiserver, "ready", async () => (await apiGet(plan, pki, "/readyz")).status === 200);

  const componentArgs = (client: ClientName, port: number): string[] => [
    `--kubeconfig=${kubeconfigs[client]}`,
    `--authentication-kubeconfig=${kubeconfigs[client]}`,
    `--authorization-kubeconfig=${kubeconfigs[client]}`,
    `--secure-port=${String(port)}`,
    "--bind-address=127.0.0.1",
    "--leader-elect=false",
  ];
  const controllerManager = launch("kube-controller-manager", [
    ...componentArgs("kube-controller-manager", ports.controllerManager),
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.caCert}`,
    "--use-service-account-credentials=true",
    `--cluster-name=${region}`,
    "--v=1",
  ]);
  const scheduler = launch("kube-scheduler", [...componentArgs("kube-scheduler", ports.scheduler), "--v=1"]);
  const kwok = launch("kwok", [
    `--kubeconfig=${kubeconfigs.kwok}`,
    "--manage-all-nodes=false",
    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
    `--server-address=127.0.0.1:${String(ports.kwok)}`,
    "--node-lease-duration-seconds=40",
    "--cidr=10.244.0.1/16",
    "--node-ip=10.0.0.2",
  ]);
  await waitUntil(
    kwok,
    "serving",
    async () => (await fetch(`http://127.0.0.1:${String(ports.kwok)}/healthz`)).ok,
  );
  await createFakeNode(plan);
  return { pki, processes: [apiserver, etcd, controllerManager, scheduler, kwok] };
}

async function createFakeNode(plan: RegionPlan): Promise<void> {
  const file = join(plan.dir, "node.json");
  writeFileSync(file, JSON.stringify(fakeNode(plan.region)));
  await new Promise<void>((resolve, reject) => {
    execFile(
      join(plan.bin, "kubectl"),
      [`--kubeconfig=${join(plan.dir, "kubeconfig")}`, "apply", "--server-side", "-f", file],
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`creating the KWOK node in ${plan.region}: ${stderr}`));
        else resolve();
      },
    );
  });
}
