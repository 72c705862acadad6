// The CustomResourceDefinitions, built from the same schemas the operator
// validates with. `node operator/api/generate-crds.ts` writes them to crds/.
import type { OpenAPISchema, Schema } from "../schema.ts";
import { breachReportSpec, breachReportStatus } from "./breach-report.ts";
import { consortiumManifestSpec, consortiumManifestStatus } from "./consortium-manifest.ts";
import { federationSpec, federationStatus } from "./federation.ts";
import { GROUP, VERSION } from "./fields.ts";

interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface KindDefinition {
  kind: string;
  plural: string;
  shortNames: string[];
  scope: "Namespaced" | "Cluster";
  spec: Schema<unknown>;
  status: Schema<unknown>;
  columns: PrinterColumn[];
  description: string;
}

const AGE: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export const KINDS = {
  Federation: {
    kind: "Federation",
    plural: "federations",
    shortNames: ["fed"],
    scope: "Cluster",
    spec: federationSpec,
    status: federationStatus,
    description: "This cluster's place in the DSC federation: region, DSP, chain and Safes.",
    columns: [
      { name: "Region", type: "string", jsonPath: ".spec.region" },
      { name: "DSP", type: "string", jsonPath: ".spec.dsp.name" },
      { name: "Block", type: "integer", jsonPath: ".status.chain.block" },
      { name: "Peers", type: "string", jsonPath: ".status.peerSummary" },
      { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      AGE,
    ],
  },
  ConsortiumManifest: {
    kind: "ConsortiumManifest",
    plural: "consortiummanifests",
    shortNames: ["cman"],
    scope: "Namespaced",
    spec: consortiumManifestSpec,
    status: consortiumManifestStatus,
    description: "Kubernetes objects applied only once the Consortium Safe approves them at their tier.",
    columns: [
      { name: "Tier", type: "string", jsonPath: ".spec.tier" },
      { name: "Approvals", type: "string", jsonPath: ".status.approvalSummary" },
      { name: "State", type: "string", jsonPath: ".status.state" },
      { name: "Regions", type: "string", jsonPath: ".status.regionSummary" },
      { name: "Nonce", type: "integer", jsonPath: ".spec.nonce", priority: 1 },
      { name: "Digest", type: "string", jsonPath: ".status.digest", priority: 1 },
      AGE,
    ],
  },
  BreachReport: {
    kind: "BreachReport",
    plural: "breachreports",
    shortNames: ["breach"],
    scope: "Namespaced",
    spec: breachReportSpec,
    status: breachReportStatus,
    description:
      "A monitoring agent's signed breach report; accepted only from a DSP's soulbound agent, it pauses the federation.",
    columns: [
      { name: "Agent", type: "string", jsonPath: ".spec.agent" },
      { name: "Severity", type: "string", jsonPath: ".spec.severity" },
      { name: "State", type: "string", jsonPath: ".status.state" },
      { name: "Reason", type: "string", jsonPath: ".status.reason" },
      { name: "Token", type: "string", jsonPath: ".status.token", priority: 1 },
      AGE,
    ],
  },
} as const satisfies Record<string, KindDefinition>;

export type KindName = keyof typeof KINDS;

export function customResourceDefinition(name: KindName): object {
  const def: KindDefinition = KINDS[name];
  const schema: OpenAPISchema = {
    type: "object",
    description: def.description,
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec: def.spec.openapi,
      status: def.status.openapi,
    },
    required: ["spec"],
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: def.scope,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.kind.toLowerCase(),
        shortNames: def.shortNames,
        categories: ["dsc"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {} },
          additionalPrinterColumns: def.columns,
        },
      ],
    },
  };
}
