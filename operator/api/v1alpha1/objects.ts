// The three kinds as the API server sends them, shared by the controllers and
// the CLI. A spec is `unknown` until parsed: what kubectl wrote has not been
// validated yet (parse it with the schemas beside this file). The CLI, which
// only prints, reads it as a partial spec.
import type { KubeObject } from "../../kube/object.ts";
import type { BreachReportSpec, BreachReportStatus } from "./breach-report.ts";
import type { ConsortiumManifestSpec, ConsortiumManifestStatus } from "./consortium-manifest.ts";
import type { FederationSpec, FederationStatus } from "./federation.ts";

export interface FederationObject<S = unknown> extends KubeObject {
  spec?: S;
  status?: FederationStatus;
}

export interface ConsortiumManifestObject<S = unknown> extends KubeObject {
  spec?: S;
  status?: ConsortiumManifestStatus;
}

export interface BreachReportObject<S = Record<string, unknown>> extends KubeObject {
  spec?: S;
  status?: BreachReportStatus;
}

/** As the CLI prints them: specs as written, possibly incomplete. */
export type FederationView = FederationObject<Partial<FederationSpec>>;
export type ConsortiumManifestView = ConsortiumManifestObject<Partial<ConsortiumManifestSpec>>;
export type BreachReportView = BreachReportObject<Partial<BreachReportSpec>>;

/**
 * Reads a ConsortiumManifest whole, or undefined if there is none. The
 * operator's informer caches manifests' metadata only: spec and status of
 * 10,000 manifests were about 50 MB of its heap.
 */
export type ReadManifest = (namespace: string, name: string) => Promise<ConsortiumManifestObject | undefined>;
