// The shape of a Kubernetes object as the API server sends it: plain JSON.
// Only the fields the operator reads are typed; kinds add their own (spec,
// status, data...). Timestamps are RFC 3339 strings, as on the wire.

interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  /** Server-side apply's record of who owns which field; never sent back in an apply. */
  managedFields?: unknown[];
}

/**
 * Enough to locate one object: apiVersion, kind, name and (for namespaced
 * kinds) namespace. Any Kubernetes object is one; so is a plain JSON object.
 */
export interface ObjectHeader {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

/** Any object of any kind. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** A list response: the items carry no apiVersion or kind of their own. */
export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  /** `continue` is the token of the next page; resourceVersion is the snapshot a watch starts from. */
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A metav1.Status: what the API server sends with an error, and in a watch ERROR event. */
export interface Status {
  readonly kind?: "Status";
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
}

/**
 * JSON with every object's keys sorted and undefined members left out, as the API server's
 * are: a status built here and the same status read back give one text.
 */
export function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([, member]) => member !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
