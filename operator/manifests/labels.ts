// How applied objects are marked: a label the admission policy selects on,
// and annotations that say which manifest, digest and nonce put them there.
import type { Hex } from "viem";
import type { ObjectReference } from "../api/v1alpha1/consortium-manifest.ts";

export const MANAGED_LABEL = "dsc.federation.dev/managed";
export const MANIFEST_ANNOTATION = "dsc.federation.dev/manifest";
export const DIGEST_ANNOTATION = "dsc.federation.dev/digest";
const NONCE_ANNOTATION = "dsc.federation.dev/nonce";
export const FINALIZER = "dsc.federation.dev/prune";

type Metadata = {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};

/** The object as the operator applies it: marked, and placed in the manifest's namespace if it names none. */
export function decorate(
  object: Record<string, unknown>,
  manifest: { namespace: string; name: string },
  digest: Hex,
  nonce: number,
  namespaced: boolean,
): Record<string, unknown> {
  const metadata = { ...(object.metadata as Metadata | undefined) };
  metadata.labels = { ...metadata.labels, [MANAGED_LABEL]: "true" };
  metadata.annotations = {
    ...metadata.annotations,
    [MANIFEST_ANNOTATION]: `${manifest.namespace}/${manifest.name}`,
    [DIGEST_ANNOTATION]: digest,
    [NONCE_ANNOTATION]: String(nonce),
  };
  if (namespaced) metadata.namespace ??= manifest.namespace;
  else delete metadata.namespace;
  return { ...object, metadata };
}

export function referenceOf(object: Record<string, unknown>): ObjectReference {
  const metadata = object.metadata as Metadata;
  return {
    apiVersion: String(object.apiVersion),
    kind: String(object.kind),
    ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
    name: metadata.name ?? "",
  };
}

export const sameObject = (a: ObjectReference, b: ObjectReference): boolean =>
  a.apiVersion === b.apiVersion &&
  a.kind === b.kind &&
  (a.namespace ?? "") === (b.namespace ?? "") &&
  a.name === b.name;

export const describeRef = (r: ObjectReference): string =>
  `${r.kind}/${r.namespace ? `${r.namespace}/` : ""}${r.name}`;
