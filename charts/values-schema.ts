// The chart's values.schema.json, as code: helm refuses values that do not
// match it, naming the field (e.g. "at '/peer/port': maximum: got 70000,
// want 65535"). federation.spec is the Federation CRD's own schema, taken
// from the generated CRD so the two cannot drift apart; cross-field rules
// that JSON Schema would report obscurely are `fail`s in the templates.
import { parse } from "yaml";
import { crdFiles } from "../operator/api/crd-files.ts";

type Json = Record<string, unknown>;

const str = (extra: Json = {}): Json => ({ type: "string", ...extra });
const bool = (): Json => ({ type: "boolean" });
const int = (minimum: number, maximum?: number): Json => ({
  type: "integer",
  minimum,
  ...(maximum === undefined ? {} : { maximum }),
});
const port = (): Json => int(1, 65_535);
const obj = (properties: Record<string, Json>, extra: Json = {}): Json => ({
  type: "object",
  additionalProperties: false,
  properties,
  ...extra,
});
const stringMap = (): Json => ({ type: "object", additionalProperties: { type: "string" } });
const anyObject = (): Json => ({ type: "object" });
const list = (items: Json, extra: Json = {}): Json => ({ type: "array", items, ...extra });

const QUANTITY = "^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$";
const DURATION = "^[0-9]+(ms|s|m|h)$";
const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/** A CRD's structural schema as JSON Schema: CEL rules and x-kubernetes-* dropped, unknown fields refused. */
export function fromStructural(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(fromStructural);
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema as Json)) {
    if (key === "x-kubernetes-list-type") {
      if (value === "set") out.uniqueItems = true;
      continue;
    }
    if (key.startsWith("x-kubernetes-")) continue;
    // `properties` and `default` hold data, not schema keywords: convert only their values' schemas.
    if (key === "properties")
      out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, fromStructural(v)]));
    else if (key === "default") out[key] = value;
    else out[key] = fromStructural(value);
  }
  const source = schema as Json;
  if (
    source.type === "object" &&
    source.properties !== undefined &&
    source["x-kubernetes-preserve-unknown-fields"] !== true
  )
    out.additionalProperties = false;
  return out;
}

/** The Federation CRD's spec schema, from crds/federations.yaml as generated. */
export function federationSpecSchema(): unknown {
  const text = crdFiles()["federations.yaml"];
  if (!text) throw new Error("no federations.yaml among the generated CRDs");
  const crd = parse(text) as {
    spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: unknown } } } }[] };
  };
  const version = crd.spec.versions[0];
  if (!version) throw new Error("the Federation CRD has no version");
  return fromStructural(version.schema.openAPIV3Schema.properties.spec);
}

export function valuesSchema(): Json {
  const image = obj(
    {
      repository: str({ minLength: 1 }),
      tag: str({ pattern: "^$|^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$" }),
      digest: str({ pattern: "^$|^sha256:[0-9a-f]{64}$" }),
      pullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
    },
    { required: ["repository"] },
  );
  const operator = obj({
    resyncSeconds: { type: "number", minimum: 0.1, maximum: 86_400 },
    chainPollSeconds: { type: "number", minimum: 0.1, maximum: 3_600 },
    workers: int(1, 64),
    httpPort: port(),
    httpHost: str({ minLength: 1 }),
    admissionPolicy: bool(),
    logLevel: { enum: ["trace", "debug", "info", "warn", "error", "fatal", "silent"] },
    extraEnv: list(anyObject()),
  });
  const federation = obj(
    {
      create: bool(),
      name: str({ pattern: "^$|^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$" }),
      spec: anyObject(),
    },
    {
      // The spec is checked against the CRD's schema only when the chart creates the Federation.
      if: { properties: { create: { const: true } }, required: ["create"] },
      then: { properties: { spec: federationSpecSchema() } },
    },
  );
  const peer = obj({
    enabled: bool(),
    port: port(),
    advertise: str({ pattern: "^$|^[A-Za-z0-9.-]+:[0-9]{1,5}$" }),
    heartbeatMs: int(50, 60_000),
    mirrorMaxMB: int(1, 1_048_576),
    stateRebaseMB: int(1, 65_536),
    tls: obj(
      {
        secretName: str({ pattern: "^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", maxLength: 253 }),
        create: bool(),
        cert: str({ pattern: "^$|-----BEGIN CERTIFICATE-----" }),
        key: str({ pattern: "^$|-----BEGIN [A-Z ]*PRIVATE KEY-----" }),
      },
      {
        if: { properties: { create: { const: true } }, required: ["create"] },
        then: {
          properties: { cert: { minLength: 1 }, key: { minLength: 1 } },
          required: ["cert", "key"],
        },
      },
    ),
    service: obj({
      type: { enum: ["ClusterIP", "NodePort", "LoadBalancer"] },
      annotations: stringMap(),
      loadBalancerSourceRanges: list(str()),
      nodePort: { oneOf: [{ type: "null" }, int(1, 65_535)] },
      externalTrafficPolicy: { enum: ["Cluster", "Local"] },
    }),
  });
  const rbacSubjects = list(
    obj(
      {
        kind: { enum: ["User", "Group", "ServiceAccount"] },
        name: str({ minLength: 1 }),
        namespace: str(),
        apiGroup: str(),
      },
      { required: ["kind", "name"] },
    ),
  );
  const policyRule = obj(
    {
      apiGroups: list(str()),
      resources: list(str(), { minItems: 1 }),
      resourceNames: list(str()),
      verbs: list(str({ minLength: 1 }), { minItems: 1 }),
    },
    { required: ["apiGroups", "resources", "verbs"] },
  );
  const namespaces = list(str({ pattern: DNS_LABEL, maxLength: 63 }), { uniqueItems: true });
  const ports = list(port());
  return {
    $schema: "https://json-schema.org/draft-07/schema#",
    title: "dsc-operator values",
    type: "object",
    additionalProperties: false,
    properties: {
      global: anyObject(),
      image,
      imagePullSecrets: list(obj({ name: str({ minLength: 1 }) }, { required: ["name"] })),
      nameOverride: str({ maxLength: 63 }),
      fullnameOverride: str({ maxLength: 63 }),
      replicas: int(1, 5),
      leaderElection: bool(),
      region: str({ pattern: "^$|^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$" }),
      operator,
      federation,
      peer,
      persistence: obj({
        enabled: bool(),
        storageClassName: str(),
        accessModes: list({ enum: ["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"] }, { minItems: 1 }),
        size: str({ pattern: QUANTITY }),
      }),
      service: obj({
        type: { enum: ["ClusterIP", "NodePort", "LoadBalancer"] },
        annotations: stringMap(),
      }),
      updateStrategy: obj(
        {
          type: { enum: ["OnDelete", "RollingUpdate"] },
          rollingUpdate: anyObject(),
        },
        { required: ["type"] },
      ),
      serviceAccount: obj({ create: bool(), name: str(), annotations: stringMap() }),
      rbac: obj({
        create: bool(),
        managedObjects: obj({ rules: list(policyRule, { minItems: 1 }), namespaces }),
        dspAdmin: obj({ create: bool(), subjects: rbacSubjects, namespaces }),
      }),
      networkPolicy: obj({
        enabled: bool(),
        httpFrom: list(anyObject()),
        peerFrom: list(anyObject()),
        egress: obj({
          restrict: bool(),
          apiServerPorts: list(port(), { minItems: 1 }),
          peerPorts: ports,
          chainPorts: ports,
          extra: list(anyObject()),
        }),
      }),
      monitoring: obj({
        serviceMonitor: obj({
          enabled: bool(),
          interval: str({ pattern: DURATION }),
          scrapeTimeout: str({ pattern: DURATION }),
          labels: stringMap(),
        }),
        prometheusRule: obj({ enabled: bool(), labels: stringMap() }),
        dashboard: obj({
          enabled: bool(),
          namespace: str({ pattern: `^$|${DNS_LABEL}` }),
          labels: stringMap(),
          annotations: stringMap(),
        }),
      }),
      resources: obj({ requests: anyObject(), limits: anyObject() }),
      podSecurityContext: anyObject(),
      securityContext: anyObject(),
      podAnnotations: stringMap(),
      podLabels: stringMap(),
      priorityClassName: str(),
      nodeSelector: stringMap(),
      tolerations: list(anyObject()),
      affinity: anyObject(),
      topologySpreadConstraints: list(anyObject()),
      terminationGracePeriodSeconds: int(1, 3_600),
    },
  };
}
