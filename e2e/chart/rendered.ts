// The rendered chart as objects, for the chart's tests.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseAllDocuments } from "yaml";

/** Every environment variable operator/config.ts reads. */
export function operatorVariables(): Set<string> {
  const source = readFileSync(resolve(import.meta.dirname, "../../operator/config.ts"), "utf8");
  return new Set(
    [...source.matchAll(/env\.([A-Z_]+)|(?:number|flag)\(\s*env,\s*"([A-Z_]+)"/g)].map(
      (m) => m[1] ?? m[2] ?? "",
    ),
  );
}

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: unknown;
}

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly env: EnvVar[];
  readonly ports: { name: string; containerPort: number }[];
  readonly volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  readonly securityContext: Record<string, unknown>;
  readonly readinessProbe: { httpGet: { path: string; port: string } };
  readonly livenessProbe: { httpGet: { path: string; port: string } };
}

export interface StatefulSet extends K8sObject {
  readonly spec: {
    readonly replicas: number;
    readonly serviceName: string;
    readonly podManagementPolicy: string;
    readonly updateStrategy: { type: string };
    readonly template: {
      readonly spec: {
        readonly serviceAccountName: string;
        readonly securityContext: Record<string, unknown>;
        readonly containers: Container[];
        readonly volumes: {
          name: string;
          secret?: { secretName: string; defaultMode?: number };
          emptyDir?: { sizeLimit?: string } | null;
        }[];
      };
    };
    readonly volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}

export interface PolicyRule {
  readonly apiGroups?: string[];
  readonly resources?: string[];
  readonly resourceNames?: string[];
  readonly verbs: string[];
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]?.message ?? ""}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ""} among the rendered objects`);
  return found;
}

export function operatorContainer(objects: readonly K8sObject[]): Container {
  const container = (find(objects, "StatefulSet") as StatefulSet).spec.template.spec.containers[0];
  if (!container) throw new Error("the StatefulSet has no container");
  return container;
}

/** The container's environment, valueFrom entries as `<from ...>` placeholders. */
export function envOf(container: Container): Record<string, string> {
  return Object.fromEntries(
    container.env.map((e) => [e.name, e.value ?? `<from ${JSON.stringify(e.valueFrom)}>`]),
  );
}
