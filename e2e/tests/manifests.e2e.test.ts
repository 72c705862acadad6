// The operator in alpha, as a DSP operator and a signer meet it: kubectl
// applies a ConsortiumManifest, signers approve, and only an approved version
// reaches the cluster; it is put back when it drifts, pruned when dropped,
// refused when tampered, and managed objects refuse direct edits.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { AutoscalingV2Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  ConsortiumManifestSpec,
  ConsortiumManifestStatus,
} from "../../operator/api/v1alpha1/consortium-manifest.ts";
import { Applier } from "../../operator/runtime/apply.ts";
import type { Region } from "../testbed/layout.ts";
import { adminConfig, installFederation, startOperator, type OperatorProcess } from "../testbed/operator.ts";
import { startTcpProxy, type TcpProxy } from "../testbed/tcp-proxy.ts";
import { current, kubectl, type Testbed } from "../testbed/testbed.ts";
import { approvedSpec, manifestObject } from "../testbed/approve.ts";
import { eventually } from "../testbed/eventually.ts";
import { manifestStatus as readManifestStatus } from "../testbed/read.ts";

const run = promisify(execFile);
let testbed: Testbed;
let operator: OperatorProcess;
let kc: KubeConfig;
let proxy: TcpProxy;
let submitter: Applier;
// A namespace per run: the test bed may be kept between runs.
const NS = `payments-${Date.now().toString(36)}`;

beforeAll(async () => {
  testbed = await current();
  // The operator reads the chain through a proxy the test can cut.
  proxy = await startTcpProxy(Number(new URL(testbed.chain.rpcUrl).port));
  await installFederation(testbed, "alpha", {
    rpcUrl: `http://127.0.0.1:${String(proxy.port)}`,
    safeServiceUrl: testbed.safeServiceUrl,
  });
  kc = adminConfig(testbed, "alpha");
  submitter = new Applier(kc, { fieldManager: "dsp-admin" });
  await submitter.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  operator = await startOperator(testbed, "alpha");
}, 120_000);

afterAll(async () => {
  await operator.stop();
  await proxy.close();
});

interface Draft {
  name: string;
  spec: ConsortiumManifestSpec;
}

function configMap(name: string, data: Record<string, string>): Record<string, unknown> {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: NS }, data };
}

/** One expiry for the suite: a draft of the same spec is the same version (the same digest). */
const EXPIRES_AT = new Date(Date.now() + 3_600_000).toISOString();

/** A manifest proposed by alpha's agent, with approvals from the DSPs of `signers`. */
async function draft(
  name: string,
  spec: Partial<Omit<ConsortiumManifestSpec, "proposal" | "signatures">>,
  signers: Region[],
): Promise<Draft> {
  const approved = await approvedSpec(
    testbed.chain,
    { namespace: NS, name },
    {
      tier: "upgrade",
      targets: ["alpha"],
      nonce: 1,
      expiresAt: EXPIRES_AT,
      objects: [configMap(name, { v: "1" })],
      ...spec,
    },
    { signers },
  );
  return { name, spec: approved.spec };
}

const submit = (d: Draft): Promise<unknown> => submitter.apply(manifestObject(NS, d.name, d.spec));

const manifestStatus = (name: string) => readManifestStatus(kc, NS, name);

const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> => eventually(what, probe, { timeoutMs, logs: () => [operator.log] });

const condition = (status: ConsortiumManifestStatus | undefined, type: string) =>
  status?.conditions?.find((c) => c.type === type);
const readConfigMap = (name: string) =>
  kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name, namespace: NS });
const absent = async (name: string): Promise<boolean> =>
  readConfigMap(name).then(
    () => false,
    () => true,
  );

describe("a ConsortiumManifest in alpha", () => {
  it("waits for approvals, saying how many, and applies once the tier is met", async () => {
    await submit(await draft("web", {}, ["alpha"]));
    const pending = await until("1/2 pending", async () => {
      const s = await manifestStatus("web");
      return s?.state === "Pending" && s.observedGeneration === 1 ? s : undefined;
    });
    expect(pending.approvalSummary).toBe("1/2");
    expect(condition(pending, "Verified")).toMatchObject({
      status: "False",
      reason: "InsufficientApprovals",
      message: expect.stringContaining("1 of 2 DSP approvals for tier upgrade") as unknown,
    });
    expect(await absent("web")).toBe(true);

    await submit(await draft("web", {}, ["alpha", "beta"]));
    const applied = await until("applied", async () => {
      const s = await manifestStatus("web");
      return s?.state === "Applied" ? s : undefined;
    });
    expect(applied.approvalSummary).toBe("2/2");
    expect(condition(applied, "Ready")).toMatchObject({ status: "True", observedGeneration: 2 });
    expect(applied.appliedObjects).toEqual([
      { apiVersion: "v1", kind: "ConfigMap", namespace: NS, name: "web" },
    ]);
    const live = await readConfigMap("web");
    expect(live.data).toEqual({ v: "1" });
    expect(live.metadata?.annotations?.["dsc.federation.dev/digest"]).toBe(applied.digest);
    expect(live.metadata?.managedFields?.some((f) => f.manager === "dsc-operator")).toBe(true);

    // What kubectl shows a DSP operator.
    const table = await kubectl(testbed, "alpha", ["get", "consortiummanifests", "-n", NS, "web"]);
    expect(table).toMatch(/NAME\s+TIER\s+APPROVALS\s+STATE\s+REGIONS\s+AGE/);
    expect(table).toMatch(/web\s+upgrade\s+2\/2\s+Applied/);
    const reasons = await until("an Applied event", async () => {
      const out = await kubectl(testbed, "alpha", [
        "get",
        "events.events.k8s.io",
        "-n",
        NS,
        "--field-selector",
        "regarding.name=web",
        "-o",
        "jsonpath={.items[*].reason}",
      ]);
      return out.includes("Applied") ? out : undefined;
    });
    expect(reasons).toMatch(/AwaitingApprovals/);
  });

  it("refuses a direct edit of a managed object, even by a cluster admin", async () => {
    await until("web applied", async () => (await manifestStatus("web"))?.state === "Applied");
    // The operator installs its admission policy at start; the API server enforces it moments later.
    await until("the admission policy in force", () =>
      kubectl(testbed, "alpha", [
        "-n",
        NS,
        "patch",
        "configmap",
        "web",
        "--type=merge",
        "-p",
        "{}",
        "--dry-run=server",
      ]).then(
        () => false,
        (error: unknown) => String(error).includes("managed by the DSC operator"),
      ),
    );
    const attempt = kubectl(testbed, "alpha", [
      "-n",
      NS,
      "patch",
      "configmap",
      "web",
      "--type=merge",
      "-p",
      '{"data":{"v":"hacked"}}',
    ]);
    await expect(attempt).rejects.toThrow(
      /kubernetes-admin may not update configmaps\/web: it is managed by the DSC operator/,
    );
    await expect(kubectl(testbed, "alpha", ["-n", NS, "delete", "configmap", "web"])).rejects.toThrow(
      /managed by the DSC operator/,
    );
    expect((await readConfigMap("web")).data).toEqual({ v: "1" });
  });

  it("refuses a kubectl scale of a managed workload, even by a cluster admin", async () => {
    const web = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "scaled", namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "scaled" } },
        template: {
          metadata: { labels: { app: "scaled" } },
          spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }] },
        },
      },
    };
    await submit(await draft("scaled", { objects: [web] }, ["alpha", "beta"]));
    await until("scaled applied", async () => (await manifestStatus("scaled"))?.state === "Applied");
    const scale = (...dryRun: string[]) =>
      kubectl(testbed, "alpha", ["-n", NS, "scale", "deployment", "scaled", "--replicas=5", ...dryRun]);
    // Probed as a dry run: a scale let through before the policy is in force would change nothing.
    await until("the scale policy to refuse the admin's scale", () =>
      scale("--dry-run=server").then(
        () => false,
        (error: unknown) => String(error).includes("may not scale deployments/scaled"),
      ),
    );
    await expect(scale()).rejects.toThrow(
      /kubernetes-admin may not scale deployments\/scaled: it is managed by the DSC operator/,
    );
    const replicas = await kubectl(testbed, "alpha", [
      "-n",
      NS,
      "get",
      "deployment",
      "scaled",
      "-o",
      "jsonpath={.spec.replicas}",
    ]);
    expect(replicas).toBe("1");
  });

  it("puts drift back", async () => {
    // A controller the admission policy names (the cluster's own must act) can drift the object.
    await kubectl(testbed, "alpha", [
      "-n",
      NS,
      "patch",
      "configmap",
      "web",
      "--type=merge",
      "-p",
      '{"data":{"v":"drifted"}}',
      "--as=system:serviceaccount:kube-system:generic-garbage-collector",
      "--as-group=system:masters",
    ]);
    await until("drift put back", async () => (await readConfigMap("web")).data?.v === "1");
  });

  it("keeps the approved version when the manifest is tampered with after approval", async () => {
    const approved = await draft("web", {}, ["alpha", "beta"]);
    const tampered = { ...approved, spec: { ...approved.spec, objects: [configMap("web", { v: "evil" })] } };
    await submit(tampered);
    const refused = await until("tampered refused", async () => {
      const s = await manifestStatus("web");
      return condition(s, "Verified")?.status === "False" && s?.observedGeneration === 3 ? s : undefined;
    });
    expect(condition(refused, "Applied")).toMatchObject({ status: "True", reason: "PreviousVersionApplied" });
    expect((await readConfigMap("web")).data).toEqual({ v: "1" });
    await submit(approved);
    await until("back to applied", async () => (await manifestStatus("web"))?.state === "Applied");
  });

  it("replaces the older version with a newer approved one, pruning what it no longer holds, and refuses a lower nonce", async () => {
    await submit(
      await draft("web", { nonce: 2, objects: [configMap("web-v2", { v: "2" })] }, ["beta", "gamma"]),
    );
    const v2 = await until("nonce 2 applied", async () => {
      const s = await manifestStatus("web");
      return s?.appliedNonce === 2 ? s : undefined;
    });
    expect(v2.appliedObjects?.map((o) => o.name)).toEqual(["web-v2"]);
    await until("web pruned", () => absent("web"));
    expect((await readConfigMap("web-v2")).data).toEqual({ v: "2" });

    await submit(
      await draft("web", { nonce: 1, objects: [configMap("web-old", { v: "0" })] }, ["alpha", "beta"]),
    );
    const regressed = await until("nonce regression", async () => {
      const s = await manifestStatus("web");
      return condition(s, "Verified")?.reason === "NonceRegression" ? s : undefined;
    });
    expect(condition(regressed, "Verified")?.message).toMatch(/nonce 1 is lower than the applied nonce 2/);
    expect(await absent("web-old")).toBe(true);
  });

  it("keeps an object that a newer version holds under another version of its API", async () => {
    // autoscaling/v1 and autoscaling/v2 are two names of one HorizontalPodAutoscaler.
    const hpa = (apiVersion: string, maxReplicas: number) => ({
      apiVersion,
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "api-scaler", namespace: NS },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "api" },
        minReplicas: 1,
        maxReplicas,
      },
    });
    const read = () =>
      kc
        .makeApiClient(AutoscalingV2Api)
        .readNamespacedHorizontalPodAutoscaler({ name: "api-scaler", namespace: NS })
        .catch(() => undefined);
    await submit(await draft("scaler", { objects: [hpa("autoscaling/v1", 2)] }, ["alpha", "beta"]));
    const uid = await until("nonce 1 applied", async () => {
      const s = await manifestStatus("scaler");
      const live = await read();
      return s?.appliedNonce === 1 && s.state === "Applied" && live?.spec.maxReplicas === 2
        ? live.metadata?.uid
        : undefined;
    });
    await submit(await draft("scaler", { nonce: 2, objects: [hpa("autoscaling/v2", 3)] }, ["alpha", "beta"]));
    const applied = await until("nonce 2 applied", async () => {
      const s = await manifestStatus("scaler");
      return s?.appliedNonce === 2 && s.state === "Applied" ? s : undefined;
    });
    expect(applied.appliedObjects?.map((o) => o.apiVersion)).toEqual(["autoscaling/v2"]);
    // The prune of the version before's reference (autoscaling/v1) must not delete what nonce 2
    // holds: the same object, changed in place (a drift repair would make it anew, another uid).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const live = await read();
    expect(live?.spec.maxReplicas, "the autoscaler nonce 2 applied").toBe(3);
    expect(live?.metadata?.uid, "the same autoscaler, never deleted").toBe(uid);
  });

  it("does not apply a manifest that does not target this region", async () => {
    await submit(await draft("for-beta", { targets: ["beta"] }, ["alpha", "beta"]));
    const status = await until("verified, not targeted", async () => {
      const s = await manifestStatus("for-beta");
      return condition(s, "Applied")?.reason === "NotTargeted" ? s : undefined;
    });
    expect(status.state).toBe("Verified");
    expect(await absent("for-beta")).toBe(true);
  });

  it("applies nothing new while the chain cannot be read, says why, and catches up", async () => {
    proxy.cut();
    try {
      await submit(await draft("during-outage", {}, ["alpha", "beta"]));
      const waiting = await until("chain unavailable", async () => {
        const s = await manifestStatus("during-outage");
        return condition(s, "Verified")?.reason === "ChainUnavailable" ? s : undefined;
      });
      expect(condition(waiting, "Verified")?.message).toMatch(
        /nothing new is applied until the chain can be read/,
      );
      expect(await absent("during-outage")).toBe(true);
    } finally {
      proxy.restore();
    }
    await until(
      "applied after the chain returns",
      async () => (await manifestStatus("during-outage"))?.state === "Applied",
      60_000,
    );
  });

  it("counts approvals posted to the Safe Transaction Service with the dsc CLI", async () => {
    const d = await draft("via-service", { tier: "operational" }, []);
    delete d.spec.signatures;
    await submit(d);
    await until("pending", async () => (await manifestStatus("via-service"))?.state === "Pending");
    const dir = mkdtempSync(join(tmpdir(), "dsc-cli-"));
    const file = join(dir, "manifest.yaml");
    const fedFile = join(dir, "federation.yaml");
    writeFileSync(file, stringify(manifestObject(NS, "via-service", d.spec)));
    const fed = (await kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({
      group: "dsc.federation.dev",
      version: "v1alpha1",
      plural: "federations",
      name: "dsc",
    })) as object;
    writeFileSync(fedFile, stringify(fed));
    await run(
      process.execPath,
      [
        "operator/cli/dsc.ts",
        "sign",
        file,
        "--federation",
        fedFile,
        "--dsp-safe",
        testbed.chain.safes.dsp.gamma,
        "--safe-service",
        testbed.safeServiceUrl,
      ],
      {
        env: {
          ...process.env,
          DSC_KEY: testbed.chain.keys.dspOwners.gamma[0],
          DSC_SAFE_API_KEY: testbed.safeServiceApiKey,
        },
      },
    );
    const applied = await until("applied from the service's approval", async () => {
      const s = await manifestStatus("via-service");
      return s?.state === "Applied" ? s : undefined;
    });
    expect(applied.approvals).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          source: "safe-service",
          valid: true,
          signer: testbed.chain.safes.dsp.gamma,
        }),
      ]),
    );
  });

  it("takes over an existing object it does not manage only at the critical tier", async () => {
    // Made by hand, before any manifest names it.
    await submitter.apply(configMap("taken", { owner: "someone else" }));
    await submit(await draft("taker", { objects: [configMap("taken", { v: "1" })] }, ["alpha", "beta"]));
    const refused = await until("the takeover refused", async () => {
      const c = condition(await manifestStatus("taker"), "Applied");
      return c?.reason === "ApplyFailed" ? c : undefined;
    });
    expect(refused.message).toMatch(
      /ConfigMap\/\S+\/taken exists and is not this manifest's \(not managed by the operator\): taking it over needs the critical tier/,
    );
    expect((await readConfigMap("taken")).data).toEqual({ owner: "someone else" });
  });

  it("prunes what it applied when the manifest is deleted", async () => {
    await kubectl(testbed, "alpha", [
      "-n",
      NS,
      "delete",
      "consortiummanifest",
      "web",
      "--wait=true",
      "--timeout=20s",
    ]);
    await until("web-v2 pruned", () => absent("web-v2"));
  });

  it("reports verifications and reconciles as metrics", async () => {
    const text = await operator.metrics();
    expect(text).toMatch(/dsc_verifications_total\{tier="upgrade",result="Verified"\} [1-9]/);
    expect(text).toMatch(/dsc_verifications_total\{tier="upgrade",result="InsufficientApprovals"\} [1-9]/);
    expect(text).toMatch(
      /controller_runtime_reconcile_total\{controller="consortiummanifest",result="success"\} [1-9]/,
    );
    expect(text).toMatch(/dsc_chain_read_seconds_count\{method="manifest_lens",outcome="ok"\} [1-9]/);
  });
});
