// Work queue keys. A key names an object, never a version of it: the
// reconciler reads the current state from the cache, so many events for one
// object collapse into one reconcile (level-triggered, as in controller-runtime).
import type { KubeObject } from "../kube/object.ts";

/** Maps an object to the keys to reconcile when it changes. */
export type KeyMapper<T extends KubeObject = KubeObject> = (obj: T) => readonly string[];

/** client-go's MetaNamespaceKeyFunc: `namespace/name`, or `name` for a cluster-scoped object. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`a ${obj.kind ?? "Kubernetes object"} without metadata.name has no key`);
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

export function parseKey(key: string): { readonly namespace: string | undefined; readonly name: string } {
  const slash = key.indexOf("/");
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The default mapping: an object is reconciled under its own key. */
export const ownKey: KeyMapper = (obj) => [objectKey(obj)];

export interface OwnerType {
  /** The owner's API group ("" for the core group), e.g. "dsc.federation.dev". */
  readonly group: string;
  readonly kind: string;
  /** Owners are cluster-scoped, so their keys carry no namespace. */
  readonly clusterScoped?: boolean;
  /** Follow only the owner reference with `controller: true` (controller-runtime's Owns()); default true. */
  readonly onlyController?: boolean;
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/**
 * controller-runtime's EnqueueRequestForOwner: maps an owned object to the
 * keys of its owners of the given type (the version of the reference is
 * ignored, as owners may be referenced through any served version).
 */
export function ownerKeys(owner: OwnerType): KeyMapper {
  const onlyController = owner.onlyController ?? true;
  return (obj) =>
    (obj.metadata?.ownerReferences ?? [])
      .filter(
        (ref) =>
          ref.kind === owner.kind &&
          groupOf(ref.apiVersion) === owner.group &&
          (!onlyController || ref.controller === true),
      )
      .map((ref) => {
        const namespace = obj.metadata?.namespace;
        return owner.clusterScoped || !namespace ? ref.name : `${namespace}/${ref.name}`;
      });
}
