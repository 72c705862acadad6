// The Helm chart and the plain manifests against a real API server (the test
// bed's beta region): the rendered chart passes server-side dry-run and is
// applied for real, and helm itself installs and uninstalls it; its RBAC is
// what the operator needs, the restricted profile confines it, and the DSP
// admin gets no more than manifests and breach reports; the operator, run
// with the chart's ServiceAccount token instead of the test bed's masters
// identity, wins the Lease, installs its admission policy, reads its Secret
// and applies an approved manifest a DSP admin submitted; the examples and
// every kustomization in manifests/ pass server-side dry-run. Then the image
// itself (built from the Dockerfile by e2e/image/build.sh) runs as the chart's
// pod would, under its securityContext, with the ServiceAccount's token where
// a pod finds it: it takes over the Lease and applies a manifest.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePeerCertificate } from "../support/certificates.ts";
import { CHART, helm, helmBinary, REPO, template } from "../../charts/helm.ts";
import {
  allowed,
  describeAccess,
  kubectlWith,
  monitoringCrdFiles,
  tokenKubeconfig,
  type Access,
} from "../chart/cluster.ts";
import { find, parseObjects, type StatefulSet } from "../chart/rendered.ts";
import { containerArgs, containerLogs, docker, dockerAvailable, imageUser } from "../image/pod.ts";
import { inCi } from "../observability/files.ts";
import { freePort } from "../testbed/process.ts";
import { approvedSpec, configMapSpec } from "../testbed/approve.ts";
import { eventually } from "../testbed/eventually.ts";
import { federationStatus, manifestStatus } from "../testbed/read.ts";
import {
  adminConfig,
  DELETE_ADMISSION_POLICIES,
  startOperator,
  type OperatorProcess,
} from "../testbed/operator.ts";
import { current, type Testbed } from "../testbed/testbed.ts";

const REGION = "beta";
const suffix = Date.now().toString(36);
/** The release namespace: the operator's own (Lease, Secrets). */
const NS = `dsc-chart-${suffix}`;
/** Where the approved manifest and its objects go. */
const APPS = `chart-apps-${suffix}`;
const FEDERATION = `chart-${suffix}`;
const DSP_ADMIN = `dsp-admin-${suffix}`;
const SA_USER = `system:serviceaccount:${NS}:dsc-operator`;
/** The operator image, built from the Dockerfile by e2e/image/build.sh. */
const IMAGE = "dsc-operator:e2e";
const SA_GROUPS = ["system:serviceaccounts", `system:serviceaccounts:${NS}`, "system:authenticated"];

let testbed: Testbed;
let kc: KubeConfig;
let kubectl = (_args: readonly string[]): Promise<string> => Promise.reject(new Error("no test bed"));
let tmp: string;
let rendered = "";
let restrictedRbac = "";
let operator: OperatorProcess | undefined;
let peerTls: Record<string, string> = {};
let container: string | undefined;
const createdNamespaces: string[] = [];

const apply = (file: string, ...flags: string[]): Promise<string> =>
  kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    "--field-manager=dsc-chart-test",
    ...flags,
    "-f",
    file,
  ]);
const dryRun = (file: string): Promise<string> => apply(file, "--dry-run=server");

async function ensureNamespace(name: string): Promise<void> {
  const exists = await kubectl(["get", "namespace", name, "--ignore-not-found", "-o", "name"]);
  if (exists.trim()) return;
  await kubectl(["create", "namespace", name]);
  // dsc-system stays: the other end-to-end files install their operators there.
  if (name !== "dsc-system") createdNamespaces.push(name);
}

beforeAll(async () => {
  testbed = await current();
  kc = adminConfig(testbed, REGION);
  kubectl = kubectlWith(testbed.bin, testbed.kubeconfig[REGION]);
  tmp = mkdtempSync(join(tmpdir(), "dsc-chart-"));
  helmBinary();
  // helm installs crds/ before the templates; prometheus-operator's CRDs stand for a cluster that runs it.
  await apply(join(CHART, "crds"));
  for (const file of monitoringCrdFiles()) await apply(file);
  await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]);
  await ensureNamespace(NS);
  await ensureNamespace(APPS);
  // What the chart leaves to the DSP: the RPC Secret the Federation names.
  await kubectl([
    "create",
    "secret",
    "generic",
    "chain-rpc",
    "-n",
    NS,
    `--from-literal=url=${testbed.chain.rpcUrl}`,
  ]);
  const peer = generatePeerCertificate(join(tmp, "peer"), REGION);
  peerTls = { "tls.crt": readFileSync(peer.certFile, "utf8"), "tls.key": readFileSync(peer.keyFile, "utf8") };
  const { chain } = testbed;
  const values = {
    region: REGION,
    federation: {
      create: true,
      name: FEDERATION,
      spec: {
        region: REGION,
        dsp: { name: "DSP-2", safe: chain.safes.dsp[REGION] },
        chain: {
          chainId: chain.chainId,
          rpcUrlSecretRef: { name: "chain-rpc", key: "url" },
          confirmations: 0,
        },
        consortiumSafe: chain.safes.consortium,
        daoBoardSafe: chain.safes.daoBoard,
        agentRegistry: chain.federation.agentRegistry,
      },
    },
    peer: {
      enabled: true,
      tls: {
        create: true,
        cert: readFileSync(peer.certFile, "utf8"),
        key: readFileSync(peer.keyFile, "utf8"),
      },
    },
    rbac: {
      dspAdmin: { subjects: [{ kind: "User", name: DSP_ADMIN, apiGroup: "rbac.authorization.k8s.io" }] },
    },
  };
  const valuesFile = join(tmp, "values.yaml");
  writeFileSync(valuesFile, stringify(values));
  rendered = join(tmp, "rendered.yaml");
  writeFileSync(rendered, await template({ namespace: NS, valuesFiles: [valuesFile] }));
}, 900_000);

afterAll(async () => {
  const quietly = (args: readonly string[]) => kubectl(args).catch(() => "");
  // A manifest whose operator is gone keeps its finalizer: release it.
  await quietly([
    "patch",
    "consortiummanifests.dsc.federation.dev",
    "web",
    "-n",
    APPS,
    "--type=merge",
    "-p",
    '{"metadata":{"finalizers":null}}',
  ]);
  await operator?.stop();
  if (container) await docker(["rm", "--force", container]).catch(() => undefined);
  // The policy names this run's ServiceAccount; the next operator installs its own.
  await quietly(DELETE_ADMISSION_POLICIES);
  for (const file of [rendered, restrictedRbac].filter(Boolean))
    await quietly(["delete", "-f", file, "--ignore-not-found", "--wait=false"]);
  for (const ns of createdNamespaces) await quietly(["delete", "namespace", ns, "--wait=false"]);
}, 120_000);

/** Who holds the operator's Lease in the release namespace. */
const leaseHolder = (): Promise<string> =>
  kubectl(["get", "lease", "dsc-operator", "-n", NS, "-o", "jsonpath={.spec.holderIdentity}"]);

/** A DSP admin submits a ConfigMap manifest its own DSP approved (operational), and it is applied. */
async function submitAsDspAdmin(name: string, by: string, logs: () => readonly string[]): Promise<void> {
  const id = { namespace: APPS, name };
  const approved = await approvedSpec(
    testbed.chain,
    id,
    configMapSpec(id, { tier: "operational", targets: [REGION], data: { v: "1" } }),
    { proposer: REGION, signers: [REGION], federation: FEDERATION },
  );
  const manifestFile = join(tmp, `${name}.yaml`);
  writeFileSync(
    manifestFile,
    stringify({
      apiVersion: "dsc.federation.dev/v1alpha1",
      kind: "ConsortiumManifest",
      metadata: { name, namespace: APPS },
      spec: approved.spec,
    }),
  );
  await kubectl([`--as=${DSP_ADMIN}`, "create", "-f", manifestFile]);
  await eventually(
    `the manifest applied by ${by}`,
    async () => (await manifestStatus(kc, APPS, name))?.state === "Applied",
    { logs, timeoutMs: 60_000 },
  );
}

describe("the rendered chart on a real API server", () => {
  it("passes server-side dry-run, then applies for real", async () => {
    const dry = await dryRun(rendered);
    expect(dry).toContain("statefulset.apps/dsc-operator serverside-applied (server dry run)");
    expect(dry).toContain(`federation.dsc.federation.dev/${FEDERATION} serverside-applied (server dry run)`);
    expect(await kubectl(["get", "statefulset", "dsc-operator", "-n", NS, "--ignore-not-found"])).toBe("");
    const real = await apply(rendered);
    for (const kind of [
      "serviceaccount/dsc-operator",
      "clusterrole.rbac.authorization.k8s.io/dsc-operator",
      "clusterrole.rbac.authorization.k8s.io/dsc-operator-dsp-admin",
      "role.rbac.authorization.k8s.io/dsc-operator",
      "service/dsc-operator-federation",
      "networkpolicy.networking.k8s.io/dsc-operator",
      "servicemonitor.monitoring.coreos.com/dsc-operator",
      "prometheusrule.monitoring.coreos.com/dsc-operator",
      "configmap/dsc-operator-dashboard",
      "secret/dsc-operator-peer-tls",
      "statefulset.apps/dsc-operator",
    ])
      expect(real).toContain(`${kind} serverside-applied`);
    const sts = JSON.parse(await kubectl(["get", "statefulset", "dsc-operator", "-n", NS, "-o", "json"])) as {
      spec: { replicas: number };
    };
    expect(sts.spec.replicas).toBe(2);
  });

  it("grants the operator's ServiceAccount what the operator does, and not escalation", async () => {
    const must: Access[] = [
      { verb: "watch", group: "dsc.federation.dev", resource: "consortiummanifests" },
      { verb: "create", group: "dsc.federation.dev", resource: "consortiummanifests", namespace: APPS },
      {
        verb: "patch",
        group: "dsc.federation.dev",
        resource: "consortiummanifests",
        subresource: "status",
        namespace: APPS,
      },
      {
        verb: "patch",
        group: "dsc.federation.dev",
        resource: "federations",
        subresource: "status",
        name: FEDERATION,
      },
      {
        verb: "patch",
        group: "dsc.federation.dev",
        resource: "breachreports",
        subresource: "status",
        namespace: APPS,
      },
      { verb: "create", group: "events.k8s.io", resource: "events", namespace: APPS },
      { verb: "create", group: "authentication.k8s.io", resource: "selfsubjectreviews" },
      {
        verb: "patch",
        group: "admissionregistration.k8s.io",
        resource: "validatingadmissionpolicies",
        name: "dsc-managed-objects",
      },
      {
        verb: "update",
        group: "coordination.k8s.io",
        resource: "leases",
        namespace: NS,
        name: "dsc-operator",
      },
      { verb: "get", resource: "secrets", namespace: NS, name: "chain-rpc" },
      { verb: "patch", group: "apps", resource: "deployments", namespace: APPS },
      { verb: "create", group: "networking.k8s.io", resource: "networkpolicies", namespace: APPS },
      { verb: "delete", resource: "configmaps", namespace: APPS },
    ];
    const mustNot: Access[] = [
      { verb: "watch", resource: "secrets", namespace: NS },
      { verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles" },
      { verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles" },
      { verb: "impersonate", resource: "users" },
      { verb: "deletecollection", resource: "configmaps", namespace: APPS },
    ];
    for (const access of must)
      expect(await allowed(kc, SA_USER, SA_GROUPS, access), describeAccess(access)).toBe(true);
    for (const access of mustNot)
      expect(await allowed(kc, SA_USER, SA_GROUPS, access), describeAccess(access)).toBe(false);
  });

  it("lets the DSP admin submit manifests and breach reports, and nothing else", async () => {
    const must: Access[] = [
      { verb: "create", group: "dsc.federation.dev", resource: "consortiummanifests", namespace: APPS },
      { verb: "patch", group: "dsc.federation.dev", resource: "consortiummanifests", namespace: APPS },
      { verb: "create", group: "dsc.federation.dev", resource: "breachreports", namespace: APPS },
      { verb: "get", group: "dsc.federation.dev", resource: "federations", name: FEDERATION },
      { verb: "list", group: "events.k8s.io", resource: "events", namespace: APPS },
    ];
    const mustNot: Access[] = [
      { verb: "delete", group: "dsc.federation.dev", resource: "consortiummanifests", namespace: APPS },
      {
        verb: "patch",
        group: "dsc.federation.dev",
        resource: "consortiummanifests",
        subresource: "status",
        namespace: APPS,
      },
      { verb: "create", group: "dsc.federation.dev", resource: "federations" },
      { verb: "patch", resource: "configmaps", namespace: APPS },
      { verb: "create", group: "apps", resource: "deployments", namespace: APPS },
      { verb: "get", resource: "secrets", namespace: NS },
    ];
    for (const access of must)
      expect(await allowed(kc, DSP_ADMIN, [], access), describeAccess(access)).toBe(true);
    for (const access of mustNot)
      expect(await allowed(kc, DSP_ADMIN, [], access), describeAccess(access)).toBe(false);
  });
});

describe("helm itself", () => {
  it("installs the chart with --wait, and uninstalls it leaving the CRDs", async () => {
    const release = `helm-${suffix}`;
    const namespace = `dsc-helm-${suffix}`;
    const kubeconfig = `--kubeconfig=${testbed.kubeconfig[REGION]}`;
    const install = await helm([
      "install",
      release,
      CHART,
      kubeconfig,
      "--namespace",
      namespace,
      "--create-namespace",
      "--values",
      join(CHART, "ci/beta-values.yaml"),
      // No load balancer on the test bed: --wait would wait for its address forever.
      "--set",
      "peer.service.type=NodePort",
      "--set",
      `federation.name=${release}`,
      "--wait",
      "--timeout",
      "90s",
    ]);
    expect(install.stderr, install.stderr).toBe("");
    expect(install.stdout).toContain("STATUS: deployed");
    expect(install.stdout).toContain(`Lease ${namespace}/dsc-operator`);
    const names = `clusterrole/${release}-dsc-operator`;
    expect(await kubectl(["get", names, "-o", "name"])).toContain(release);
    const uninstall = await helm(["uninstall", release, kubeconfig, "--namespace", namespace, "--wait"]);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(await kubectl(["get", names, "--ignore-not-found", "-o", "name"])).toBe("");
    expect(await kubectl(["get", `federation/${release}`, "--ignore-not-found", "-o", "name"])).toBe("");
    // Helm never deletes CRDs (that would delete every object of their kinds).
    expect(await kubectl(["get", "crd", "federations.dsc.federation.dev", "-o", "name"])).toContain(
      "federations",
    );
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  });
});

describe("the restricted example profile (ci/restricted-values.yaml)", () => {
  it("confines the operator to what it does itself plus the kinds and namespaces it lists", async () => {
    const release = `restricted-${suffix}`;
    const namespace = `dsc-restricted-${suffix}`;
    for (const ns of [namespace, "payments", "ledger"]) await ensureNamespace(ns);
    const objects = parseObjects(
      await template({ release, namespace, valuesFiles: [join(CHART, "ci/restricted-values.yaml")] }),
    );
    const rbac = objects.filter((o) =>
      ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(o.kind),
    );
    restrictedRbac = join(tmp, "restricted-rbac.yaml");
    writeFileSync(restrictedRbac, rbac.map((o) => stringify(o)).join("---\n"));
    await apply(restrictedRbac);
    const user = `system:serviceaccount:${namespace}:${release}-dsc-operator`;
    const groups = ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"];
    const must: Access[] = [
      { verb: "create", resource: "configmaps", namespace: "payments" },
      { verb: "delete", group: "apps", resource: "deployments", namespace: "ledger" },
      { verb: "update", group: "coordination.k8s.io", resource: "leases", namespace, name: "dsc-operator" },
      { verb: "get", resource: "secrets", namespace, name: "chain-rpc" },
      {
        verb: "patch",
        group: "admissionregistration.k8s.io",
        resource: "validatingadmissionpolicies",
        name: "dsc-managed-objects",
      },
      {
        verb: "patch",
        group: "admissionregistration.k8s.io",
        resource: "validatingadmissionpolicies",
        name: "dsc-managed-scale",
      },
    ];
    const mustNot: Access[] = [
      { verb: "create", resource: "configmaps", namespace: APPS },
      { verb: "get", resource: "secrets", namespace: "payments" },
      { verb: "get", resource: "secrets", namespace: "kube-system" },
      { verb: "update", group: "coordination.k8s.io", resource: "leases", namespace, name: "someone-else" },
      { verb: "list", resource: "secrets", namespace },
      {
        verb: "patch",
        group: "admissionregistration.k8s.io",
        resource: "validatingadmissionpolicies",
        name: "another-policy",
      },
      { verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings" },
    ];
    for (const access of must)
      expect(await allowed(kc, user, groups, access), describeAccess(access)).toBe(true);
    for (const access of mustNot)
      expect(await allowed(kc, user, groups, access), describeAccess(access)).toBe(false);
  });
});

describe("the operator with the chart's ServiceAccount", () => {
  it("leads through the Lease, protects managed objects, and applies what a DSP admin submitted", async () => {
    const token = (await kubectl(["create", "token", "dsc-operator", "-n", NS, "--duration=2h"])).trim();
    const kubeconfig = tokenKubeconfig(kc, token, join(tmp, "operator.kubeconfig"));
    const identity = "dsc-operator-0";
    // startOperator waits for /readyz: ready only once leading.
    operator = await startOperator(testbed, REGION, {
      KUBECONFIG: kubeconfig,
      DSC_NAMESPACE: NS,
      DSC_FEDERATION: FEDERATION,
      DSC_LEADER_ELECTION: "true",
      DSC_IDENTITY: identity,
    });
    const logs = () => [operator?.log ?? ""];
    const holder = await leaseHolder();
    expect(holder).toMatch(new RegExp(`^${identity}_[0-9a-f]{8}$`)); // the pod's name, and a suffix per process

    const policy = await eventually(
      "the admission policy naming the chart's ServiceAccount",
      async () => {
        const text = await kubectl(["get", "validatingadmissionpolicy", "dsc-managed-objects", "-o", "json"]);
        return text.includes(SA_USER) && text;
      },
      { logs },
    );
    expect(policy).toContain(SA_USER);

    await eventually(
      "the Federation read on chain (its RPC Secret read with the chart's Role)",
      async () => {
        const status = await federationStatus(kc, FEDERATION);
        return status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      },
      { logs },
    );

    // A DSP admin submits an approved manifest (impersonated: the admin kubeconfig may impersonate).
    await submitAsDspAdmin("web", "the operator", logs);
    const labels = await kubectl([
      "get",
      "configmap",
      "web",
      "-n",
      APPS,
      "-o",
      "jsonpath={.metadata.labels}",
    ]);
    expect(labels).toContain('"dsc.federation.dev/managed":"true"');
    const events = await kubectl(["get", "events.events.k8s.io", "-n", APPS, "-o", "json"]);
    expect(events).toContain("dsc.federation.dev/operator");

    // Neither the DSP admin (RBAC) nor a cluster admin (the admission policy) may edit it by hand.
    const edit = ["patch", "configmap", "web", "-n", APPS, "--type=merge", "-p", '{"data":{"v":"2"}}'];
    await expect(kubectl([`--as=${DSP_ADMIN}`, ...edit])).rejects.toThrow(/forbidden/i);
    await expect(kubectl(edit)).rejects.toThrow(/managed by the DSC operator/);
    await expect(
      kubectl([`--as=${DSP_ADMIN}`, "delete", "consortiummanifest", "web", "-n", APPS]),
    ).rejects.toThrow(/forbidden/i);

    // Withdrawn by a cluster admin: the operator prunes what it applied, with its own delete right.
    await kubectl(["delete", "consortiummanifest", "web", "-n", APPS, "--timeout=60s"]);
    expect(await kubectl(["get", "configmap", "web", "-n", APPS, "--ignore-not-found"])).toBe("");
    // The Lease is released on a clean stop: the image below takes it over as the second replica.
    await operator.stop();
    operator = undefined;
  }, 180_000);

  it("runs the image as the chart's pod: non-root, read-only, its ENTRYPOINT, in-cluster credentials; leads and applies", async () => {
    if (!(await dockerAvailable())) {
      const why = "no Docker daemon answers (apt-get install docker.io, then start dockerd)";
      if (inCi()) throw new Error(`${why}. CI=true: this test must run here.`);
      console.warn(`SKIPPED the image test: ${why}`);
      return;
    }
    const { stdout: built } = await promisify(execFile)("bash", [join(REPO, "e2e/image/build.sh"), IMAGE], {
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(built.trim()).toBe(IMAGE);
    // What runAsNonRoot checks: a numeric user that is not root.
    expect(await imageUser(IMAGE)).toBe("1000:1000");
    // A configuration it cannot run with: one line naming what is missing, under the same confinement.
    const bare = await docker(["run", "--rm", "--read-only", "--user", "1000:1000", IMAGE]).then(
      () => ({ code: 0, stderr: "" }),
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(bare.code).toBe(1);
    expect(bare.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^dsc-operator: cannot start: not in a cluster and no kubeconfig/),
    ]);

    const statefulSet = find(parseObjects(readFileSync(rendered, "utf8")), "StatefulSet") as StatefulSet;
    const server = new URL(kc.getCurrentCluster()?.server ?? "");
    const cluster = kc.getCurrentCluster();
    const caPem = cluster?.caData
      ? Buffer.from(cluster.caData, "base64").toString("utf8")
      : readFileSync(cluster?.caFile ?? "", "utf8");
    const [httpPort, peerPort] = [await freePort(), await freePort()];
    const name = `dsc-operator-1-${suffix}`;
    container = name;
    const args = containerArgs(statefulSet, {
      image: IMAGE,
      name,
      namespace: NS,
      apiServer: { host: server.hostname, port: Number(server.port), caPem },
      token: (await kubectl(["create", "token", "dsc-operator", "-n", NS, "--duration=1h"])).trim(),
      secrets: { "peer-tls": peerTls },
      // The host's network stands in for the pod's: free ports on loopback for its two listeners.
      env: {
        DSC_HTTP_HOST: "127.0.0.1",
        DSC_HTTP_PORT: String(httpPort),
        DSC_PEER_LISTEN: `127.0.0.1:${String(peerPort)}`,
      },
      workDir: join(tmp, "pod"),
    });
    await docker(args);
    const logs = (): string[] => [containerLogs(name)];
    const url = `http://127.0.0.1:${String(httpPort)}`;
    const ok = async (path: string) => (await fetch(`${url}${path}`).catch(() => undefined))?.ok === true;
    await eventually("the container's /healthz", () => ok("/healthz"), { logs });
    // Ready only while leading: the host-process operator above released the Lease.
    await eventually("the container's /readyz (leading)", () => ok("/readyz"), { logs, timeoutMs: 60_000 });
    const holder = await leaseHolder();
    expect(holder).toMatch(new RegExp(`^${name}_[0-9a-f]{8}$`)); // the pod's name, and a suffix per process

    // As confined as the chart asks: uid 1000, and nothing written outside its volumes.
    const inspect = JSON.parse((await docker(["inspect", name])).stdout) as {
      HostConfig: { ReadonlyRootfs: boolean; CapDrop: string[]; SecurityOpt: string[] };
    }[];
    expect(inspect[0]?.HostConfig).toMatchObject({
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
    });
    expect((await docker(["exec", name, "id", "-u"])).stdout.trim()).toBe("1000");
    await expect(docker(["exec", name, "touch", "/app/dist/x"])).rejects.toThrow(/Read-only file system/);
    // What the image leaves out: the CLI's packages.
    const modules = (await docker(["exec", name, "ls", "/app/node_modules", "/app/node_modules/@automerge"]))
      .stdout;
    expect(modules).toContain("automerge");
    expect(modules).not.toMatch(/@kubernetes|@safe-global/);

    await submitAsDspAdmin("from-image", "the operator in the container", logs);
    expect(await kubectl(["get", "configmap", "from-image", "-n", APPS, "-o", "jsonpath={.data.v}"])).toBe(
      "1",
    );
    // The federation state went to its volume: the root filesystem stayed read-only.
    expect((await docker(["exec", name, "ls", "/var/lib/dsc"])).stdout).toMatch(/\S/);

    // A clean stop within the grace period, as a kubelet's SIGTERM.
    const { stdout: exit } = await docker(["stop", "--time", "30", name]).then(() =>
      docker(["inspect", "-f", "{{.State.ExitCode}}", name]),
    );
    expect(exit.trim()).toBe("0");
  }, 900_000);
});

describe("manifests/", () => {
  it("every kustomization builds and passes server-side dry-run", async () => {
    await ensureNamespace("dsc-system");
    const dirs = ["manifests", "manifests/monitoring"];
    for (const region of readdirSync(join(REPO, "manifests/regions")))
      dirs.push(`manifests/regions/${region}`, `manifests/regions/${region}/monitoring`);
    for (const dir of dirs) {
      const file = join(tmp, `${dir.replaceAll("/", "-")}.yaml`);
      writeFileSync(file, await kubectl(["kustomize", join(REPO, dir)]));
      const out = await dryRun(file);
      expect(out, dir).toContain("(server dry run)");
      expect(out, dir).not.toContain("error");
    }
  });

  it("the examples pass server-side dry-run against the CRDs", async () => {
    const dir = join(REPO, "manifests/examples");
    // The namespaces the examples live in (examples/namespace.yaml holds payments).
    await ensureNamespace("dsc-system");
    await ensureNamespace("payments");
    // Created under names of this run's own: an apply would merge into what other tests left (a
    // Federation "dsc" with other peers), and validate the merge rather than the example.
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
      const docs = parseObjects(readFileSync(join(dir, file), "utf8")).map((o) => ({
        ...o,
        metadata: { ...o.metadata, name: `${o.metadata.name}-${suffix}` },
      }));
      const renamed = join(tmp, `example-${file}`);
      writeFileSync(renamed, docs.map((d) => stringify(d)).join("---\n"));
      const out = await kubectl(["create", "--dry-run=server", "-f", renamed]);
      expect(out, file).toMatch(/created \(server dry run\)/);
    }
  });

  it("a bad example would be refused, naming the field", async () => {
    const bad = join(tmp, "bad-resume.yaml");
    writeFileSync(
      bad,
      readFileSync(join(REPO, "manifests/examples/resume.yaml"), "utf8").replace(
        "tier: critical",
        "tier: upgrade",
      ),
    );
    await expect(dryRun(bad)).rejects.toThrow(/spec.tier: .*a resume must be critical tier/);
  });
});
