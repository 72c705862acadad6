// The Helm chart without a cluster: what charts/generate.ts writes is what is
// in the repository; `helm lint` and `helm template` pass with the default and
// the example values; what the chart renders is what the operator reads
// (operator/config.ts) and serves; values.schema.json and the templates refuse
// bad values naming the field; the examples in manifests/examples/ pass the
// operator's own schemas. helm is built from the Go module proxy on first use
// (e2e/testbed/helm/build.sh, about 3.5 min cold), then cached.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "../../operator/api/schema.ts";
import { breachReportSpec } from "../../operator/api/v1alpha1/breach-report.ts";
import {
  consortiumManifestSpec,
  type ConsortiumManifestSpec,
} from "../../operator/api/v1alpha1/consortium-manifest.ts";
import { federationSpec } from "../../operator/api/v1alpha1/federation.ts";
import { loadConfig } from "../../operator/config.ts";
import { resumeTokens } from "../../operator/manifests/resume.ts";
import { CONFIGURATION_KINDS } from "../../operator/core/approval/tier-floor.ts";
import { existingGenerated, GENERATED_DIRS, generatedFiles } from "../../charts/generate.ts";
import { CHART, helm, helmBinary, REPO, template } from "../../charts/helm.ts";
import {
  envOf,
  find,
  operatorContainer,
  operatorVariables,
  parseObjects,
  type K8sObject,
  type PolicyRule,
  type StatefulSet,
} from "./rendered.ts";

/** charts/dsc-operator/ci/*-values.yaml, as [name, path]. */
const exampleValues = readdirSync(join(CHART, "ci"))
  .filter((f) => f.endsWith("-values.yaml"))
  .map((f) => [`ci/${f}`, join(CHART, "ci", f)] as const);
/** Every environment variable operator/config.ts reads. */
const configVariables = operatorVariables();

let defaults: K8sObject[];

beforeAll(async () => {
  helmBinary();
  defaults = parseObjects(await template());
}, 900_000);

describe("generated files", () => {
  it("are what `node charts/generate.ts` writes (run it after changing the API or the chart)", async () => {
    const files = await generatedFiles();
    // Nothing stale in the directories the script owns.
    expect(existingGenerated()).toEqual(
      Object.keys(files)
        .filter((f) => GENERATED_DIRS.some((dir) => f.startsWith(`${dir}/`)))
        .sort(),
    );
    for (const [file, text] of Object.entries(files))
      expect(readFileSync(join(REPO, file), "utf8"), file).toBe(text);
  }, 60_000);

  it("the chart's CRDs are crds/, byte for byte", () => {
    for (const file of readdirSync(join(REPO, "crds")))
      expect(readFileSync(join(CHART, "crds", file), "utf8"), file).toBe(
        readFileSync(join(REPO, "crds", file), "utf8"),
      );
  });
});

describe("helm lint", () => {
  it.each([["the default values", undefined] as const, ...exampleValues])(
    "passes --strict with %s",
    async (_name, values) => {
      const result = await helm(["lint", "--strict", CHART, ...(values ? ["--values", values] : [])]);
      expect(result.stderr + result.stdout).toContain("0 chart(s) failed");
      expect(result.code).toBe(0);
    },
  );
});

describe("helm template with the default values", () => {
  it("runs two replicas of the operator, one active through leader election on a Lease", () => {
    const sts = find(defaults, "StatefulSet") as StatefulSet;
    expect(sts.spec.replicas).toBe(2);
    expect(sts.spec.podManagementPolicy).toBe("Parallel");
    const env = envOf(operatorContainer(defaults));
    expect(env.DSC_LEADER_ELECTION).toBe("true");
    const role = find(defaults, "Role") as K8sObject & { rules: PolicyRule[] };
    expect(role.rules).toContainEqual({
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: ["dsc-operator"],
      verbs: ["get", "update"],
    });
  });

  it("sets only variables operator/config.ts reads, and they parse", () => {
    const container = operatorContainer(defaults);
    const env = envOf(container);
    for (const name of Object.keys(env)) expect(configVariables, name).toContain(name);
    const config = loadConfig(env, "pod");
    const http = container.ports.find((p) => p.name === "http");
    expect(http?.containerPort).toBe(config.httpPort);
    expect(config.httpPort).toBe(8080);
    expect(config.peers).toBeUndefined();
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
  });

  it("runs as non-root with a read-only root filesystem and a writable /tmp", () => {
    const sts = find(defaults, "StatefulSet") as StatefulSet;
    const container = operatorContainer(defaults);
    expect(sts.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
  });

  it("gives the StatefulSet a headless governing Service that lists the standby too, for metrics", () => {
    const sts = find(defaults, "StatefulSet") as StatefulSet;
    const headless = find(defaults, "Service", sts.spec.serviceName) as K8sObject & {
      spec: { clusterIP: string; publishNotReadyAddresses: boolean };
    };
    expect(headless.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });
    const monitor = find(defaults, "ServiceMonitor") as K8sObject & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string; path: string; relabelings: { targetLabel: string }[] }[];
      };
    };
    expect(headless.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: "http", path: "/metrics" });
    // The alert rules and the dashboard select job="dsc-operator".
    expect(monitor.spec.endpoints[0]?.relabelings).toContainEqual({
      action: "replace",
      targetLabel: "job",
      replacement: "dsc-operator",
    });
  });

  it("wraps files/prometheus-rules.yaml in a PrometheusRule and files/dashboard.json in a Grafana ConfigMap", () => {
    const rules = parseYaml(readFileSync(join(CHART, "files/prometheus-rules.yaml"), "utf8")) as {
      groups?: unknown[];
    };
    const rule = find(defaults, "PrometheusRule") as K8sObject & { spec: { groups: unknown[] } };
    expect(rule.spec.groups).toEqual(rules.groups ?? []);
    const dashboard = defaults.find(
      (o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1",
    ) as (K8sObject & { data: Record<string, string> }) | undefined;
    expect(dashboard).toBeDefined();
    const [json] = Object.values(dashboard?.data ?? {});
    expect(JSON.parse(json ?? "")).toEqual(
      JSON.parse(readFileSync(join(CHART, "files/dashboard.json"), "utf8")),
    );
  });

  it("lets the DSP admin submit manifests and breach reports, and write nothing else", () => {
    const admin = find(defaults, "ClusterRole", "dsc-operator-dsp-admin") as K8sObject & {
      rules: PolicyRule[];
    };
    const writes = ["create", "update", "patch", "delete", "deletecollection", "*"];
    for (const rule of admin.rules) {
      const written = rule.verbs.filter((v) => writes.includes(v));
      if (written.length === 0) continue;
      expect(rule.apiGroups).toEqual(["dsc.federation.dev"]);
      for (const resource of rule.resources ?? [])
        expect(["consortiummanifests", "breachreports"]).toContain(resource);
      // Deleting a manifest would prune its objects without an approval.
      expect(rule.verbs).not.toContain("delete");
    }
    const canCreate = (resource: string) =>
      admin.rules.some((r) => r.resources?.includes(resource) && r.verbs.includes("create"));
    expect(canCreate("consortiummanifests")).toBe(true);
    expect(canCreate("breachreports")).toBe(true);
  });

  it("keeps the operator's own Secrets access to get by name in its namespace", () => {
    const role = find(defaults, "Role") as K8sObject & { rules: PolicyRule[] };
    expect(role.metadata.namespace).toBe("dsc-system");
    const secrets = role.rules.filter((r) => r.resources?.includes("secrets"));
    expect(secrets).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }]);
    const core = find(defaults, "ClusterRole", "dsc-operator") as K8sObject & { rules: PolicyRule[] };
    expect(core.rules.some((r) => r.resources?.includes("secrets") || r.resources?.includes("*"))).toBe(
      false,
    );
  });

  it("lets the NetworkPolicy name only ports the container has", () => {
    const policy = find(defaults, "NetworkPolicy") as K8sObject & {
      spec: { ingress: { ports: { port: string | number }[] }[] };
    };
    const named = new Set(operatorContainer(defaults).ports.map((p) => p.name));
    for (const rule of policy.spec.ingress)
      for (const port of rule.ports) if (typeof port.port === "string") expect(named).toContain(port.port);
  });
});

describe("helm template with the example values", () => {
  it.each(exampleValues)("%s: a federated region the operator can run", async (_name, file) => {
    const values = parseYaml(readFileSync(file, "utf8")) as {
      region: string;
      federation?: { create?: boolean; name?: string; spec?: unknown };
    };
    const objects = parseObjects(await template({ valuesFiles: [file] }));
    const container = operatorContainer(objects);
    const env = envOf(container);
    for (const name of Object.keys(env)) expect(configVariables, name).toContain(name);
    const config = loadConfig(env, "pod");
    expect(config.region).toBe(values.region);
    expect(config.peers).toBeDefined();
    const mount = (name: string) => container.volumeMounts.find((m) => m.name === name)?.mountPath;
    expect(config.peers?.certFile).toBe(`${mount("peer-tls") ?? "?"}/tls.crt`);
    expect(config.peers?.keyFile).toBe(`${mount("peer-tls") ?? "?"}/tls.key`);
    expect(config.peers?.stateDir).toBe(mount("state"));
    const federationPort = container.ports.find((p) => p.name === "federation")?.containerPort;
    expect(config.peers?.listenPort).toBe(federationPort);
    const sts = find(objects, "StatefulSet") as StatefulSet;
    const stateVolume =
      sts.spec.volumeClaimTemplates?.some((t) => t.metadata.name === "state") ??
      sts.spec.template.spec.volumes.some((v) => v.name === "state");
    expect(stateVolume).toBe(true);
    if (values.federation?.create) {
      const federation = find(objects, "Federation") as K8sObject & { spec: unknown };
      expect(federation.metadata.name).toBe(values.federation.name);
      expect(env.DSC_FEDERATION).toBe(values.federation.name);
      // The operator's own validation, from the same schema as the CRD.
      expect(() => parse(federationSpec, federation.spec, "spec")).not.toThrow();
    }
  });
});

describe("bad values are refused, naming the field", () => {
  const refusals: [string, readonly string[], string][] = [
    ["a replica count below one", ["replicas=0"], "at '/replicas': minimum: got 0, want 1"],
    ["a port out of range", ["peer.port=70000"], "at '/peer/port': maximum"],
    ["a misspelt key", ["replica=3"], "additional properties 'replica' not allowed"],
    ["an unknown pull policy", ["image.pullPolicy=Sometimes"], "at '/image/pullPolicy'"],
    ["a size that is not a quantity", ["persistence.size=lots"], "at '/persistence/size'"],
    ["a scrape interval that is not a duration", ["monitoring.serviceMonitor.interval=soon"], "interval'"],
    [
      "an RBAC subject of no known kind",
      ["rbac.dspAdmin.subjects[0].kind=Robot", "rbac.dspAdmin.subjects[0].name=r2"],
      "at '/rbac/dspAdmin/subjects/0/kind'",
    ],
    [
      "a Federation the CRD would refuse",
      ["federation.create=true", "federation.name=dsc", "federation.spec.region=Alpha"],
      "at '/federation/spec/region': 'Alpha' does not match pattern",
    ],
    [
      "a Federation missing required fields",
      ["federation.create=true", "federation.name=dsc", "federation.spec.region=alpha"],
      "at '/federation/spec': missing properties 'dsp', 'chain'",
    ],
    ["a peer Secret to create without its certificate", ["peer.tls.create=true"], "at '/peer/tls/cert'"],
    [
      "replication without a region",
      ["peer.enabled=true"],
      "region must name this cluster's region (e.g. alpha) when peer.enabled is true",
    ],
    [
      "two replicas without leader election",
      ["leaderElection=false"],
      "leaderElection must be true with more than one replica",
    ],
  ];
  it.each(refusals)("%s", async (_what, set, message) => {
    await expect(template({ set })).rejects.toThrow(message);
  });
});

describe("manifests/examples", () => {
  const dir = join(REPO, "manifests/examples");
  const docs = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => ({
        file,
        object: d.toJS() as K8sObject & { spec?: unknown },
      })),
    );

  it("hold a Federation per region, a ConsortiumManifest per tier, a resume and a BreachReport", () => {
    const of = (kind: string) => docs.filter((d) => d.object.kind === kind).map((d) => d.object);
    expect(of("Federation").map((f) => (f.spec as { region: string }).region)).toEqual([
      "alpha",
      "beta",
      "gamma",
    ]);
    const manifests = of("ConsortiumManifest").map((m) => m.spec as ConsortiumManifestSpec);
    expect(new Set(manifests.map((m) => m.tier))).toEqual(new Set(["critical", "upgrade", "operational"]));
    expect(manifests.filter((m) => m.action === "resume").map((m) => m.tier)).toEqual(["critical"]);
    expect(of("BreachReport")).toHaveLength(1);
  });

  it.each(docs.map((d) => [`${d.file} (${d.object.kind})`, d.object] as const))(
    "%s passes the operator's own schema",
    (_name, object) => {
      if (object.kind === "Federation") parse(federationSpec, object.spec, "spec");
      if (object.kind === "BreachReport") parse(breachReportSpec, object.spec, "spec");
      if (object.kind === "ConsortiumManifest") {
        const spec = parse(consortiumManifestSpec, object.spec, "spec");
        const resume = resumeTokens(spec);
        if (spec.action === "resume") expect(resume).toMatchObject({ tokens: expect.any(Array) as unknown });
        else expect(resume).toBeUndefined();
      }
    },
  );
});

describe("the managed-objects role", () => {
  interface Rule {
    apiGroups: string[];
    resources: string[];
    verbs: string[];
  }
  const rules = (
    parseYaml(readFileSync(join(CHART, "values.yaml"), "utf8")) as {
      rbac: { managedObjects: { rules: Rule[] } };
    }
  ).rbac.managedObjects.rules;
  const covers = (group: string, resource: string): boolean =>
    rules.some(
      (r) =>
        r.apiGroups.includes(group) &&
        r.resources.includes(resource) &&
        ["get", "list", "create", "patch", "delete"].every((v) => r.verbs.includes(v)),
    );
  /** Kind -> resource, for the kinds the tier policy names and the workloads it means by "code". */
  const RESOURCES: Record<string, string> = {
    ConfigMap: "configmaps",
    Secret: "secrets",
    Service: "services",
    Endpoints: "endpoints",
    Ingress: "ingresses",
    HorizontalPodAutoscaler: "horizontalpodautoscalers",
    PodDisruptionBudget: "poddisruptionbudgets",
    EndpointSlice: "endpointslices",
  };

  it("is not every kind, and never grants escalate, bind or impersonate", () => {
    expect(rules.some((r) => r.apiGroups.includes("*") || r.resources.includes("*"))).toBe(false);
    for (const r of rules)
      expect(r.verbs.filter((v) => ["escalate", "bind", "impersonate", "*"].includes(v))).toEqual([]);
  });

  it("covers every kind the tier policy calls configuration, and the workloads", () => {
    for (const kind of CONFIGURATION_KINDS) {
      const [group = "", name = ""] = kind.split("/");
      expect(covers(group, RESOURCES[name] ?? `(no resource for ${name})`), kind).toBe(true);
    }
    for (const [group, resource] of [
      ["apps", "deployments"],
      ["apps", "statefulsets"],
      ["apps", "daemonsets"],
      ["batch", "jobs"],
      ["batch", "cronjobs"],
      ["", "namespaces"],
      ["", "serviceaccounts"],
      ["networking.k8s.io", "networkpolicies"],
    ] as const)
      expect(covers(group, resource), `${group}/${resource}`).toBe(true);
  });
});
