// The tier a manifest needs follows from what it does, not from its label:
// each object has a floor, and a manifest labelled below the highest floor of
// its objects is refused. The floors follow the seeds: whatever changes who
// may do what (RBAC, admission, CRDs, the operator's own namespace, the
// Federation itself) is critical; code and the cluster's shape (workloads,
// Namespaces, anything cluster-scoped) need at least 2 of 3, like "pushing a
// code update to all clusters"; plain configuration is operational. An object
// this table does not name is judged as code (upgrade), never as
// configuration: an unknown kind fails towards more approvals. Pure.
import type { Tier } from "../../api/v1alpha1/fields.ts";
import type { PolicyFloor } from "./federation-policy.ts";

/** Highest first: a tier's rank is how many approvals it carries, relatively. */
const RANK: Readonly<Record<Tier, number>> = { critical: 3, upgrade: 2, operational: 1 };

export const tierRank = (tier: Tier): number => RANK[tier];

/** Namespaces where an object is part of the cluster's control: the operator's own and Kubernetes'. */
const SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"];

/** API groups whose every kind changes who may do what, or what the API is. */
const CRITICAL_GROUPS: Readonly<Record<string, string>> = {
  "rbac.authorization.k8s.io": "RBAC decides who may do what",
  "admissionregistration.k8s.io": "admission configuration decides what the API accepts",
  "apiextensions.k8s.io": "CRDs define the API itself",
  "apiregistration.k8s.io": "APIServices route the API itself",
  "certificates.k8s.io": "certificate signing grants identities",
  "dsc.federation.dev": "the federation's own objects change the federation",
};

/** Namespaced kinds that are configuration, not code: what the operational tier is for. */
export const CONFIGURATION_KINDS: readonly string[] = [
  "/ConfigMap",
  "/Secret",
  "/Service",
  "/Endpoints",
  "networking.k8s.io/Ingress",
  "autoscaling/HorizontalPodAutoscaler",
  "policy/PodDisruptionBudget",
  "discovery.k8s.io/EndpointSlice",
];
const CONFIGURATION: ReadonlySet<string> = new Set(CONFIGURATION_KINDS);

/**
 * Built-in kinds that have no namespace. Any other kind written without one
 * lands in the manifest's own namespace (manifests/labels.ts), so it is judged
 * there: a kind this table misses is at least upgrade either way.
 */
const CLUSTER_SCOPED: ReadonlySet<string> = new Set([
  "/Namespace",
  "rbac.authorization.k8s.io/ClusterRole",
  "rbac.authorization.k8s.io/ClusterRoleBinding",
  "admissionregistration.k8s.io/ValidatingAdmissionPolicy",
  "admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding",
  "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
  "admissionregistration.k8s.io/MutatingWebhookConfiguration",
  "apiextensions.k8s.io/CustomResourceDefinition",
  "apiregistration.k8s.io/APIService",
  "certificates.k8s.io/CertificateSigningRequest",
  "dsc.federation.dev/Federation",
  "/Node",
  "/PersistentVolume",
  "storage.k8s.io/StorageClass",
  "storage.k8s.io/CSIDriver",
  "storage.k8s.io/VolumeAttachment",
  "scheduling.k8s.io/PriorityClass",
  "node.k8s.io/RuntimeClass",
  "networking.k8s.io/IngressClass",
  "flowcontrol.apiserver.k8s.io/FlowSchema",
  "flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration",
]);

/** The floors in one line, for `kubectl get federation -o yaml` and `dsc status`. */
export const FLOOR_SUMMARY =
  "critical: RBAC, admission, CRDs, APIServices, certificates, dsc.federation.dev objects, the operator's and Kubernetes' namespaces; " +
  "upgrade: workloads, Namespaces, cluster-scoped and unlisted kinds; " +
  `operational: ${CONFIGURATION_KINDS.map((k) => k.split("/")[1]).join(", ")}`;

export interface FloorContext {
  /** The operator's own namespace: its Secrets, its Lease, its workload. */
  readonly operatorNamespace: string;
  /** Where a namespaced object written without a namespace is applied. */
  readonly manifestNamespace: string;
  /** Floors the federation policy raises (federation-policy.ts): never lower than the built-in ones. */
  readonly raised?: readonly PolicyFloor[];
}

/** The lowest tier an object may be applied at, and why, in words for a status. */
export interface Floor {
  readonly tier: Tier;
  /** The object, as `Kind namespace/name` or `Kind name`. */
  readonly object: string;
  readonly why: string;
}

interface ObjectLike {
  readonly apiVersion?: unknown;
  readonly kind?: unknown;
  readonly metadata?: { readonly name?: unknown; readonly namespace?: unknown } | undefined;
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");

/** `group/Kind`, the core group empty: how the tables here and a policy's floors name a kind. */
function groupKind(object: ObjectLike): { group: string; kind: string } {
  const apiVersion = text(object.apiVersion);
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  return { group, kind: text(object.kind) };
}

export function objectFloor(object: ObjectLike, ctx: FloorContext): Floor {
  const builtIn = builtInFloor(object, ctx);
  const { group, kind } = groupKind(object);
  const raised = ctx.raised?.find((f) => f.kind === `${group}/${kind}`);
  if (raised && RANK[raised.tier] > RANK[builtIn.tier])
    return {
      tier: raised.tier,
      object: builtIn.object,
      why: `the federation policy raises ${raised.kind} to ${raised.tier}`,
    };
  return builtIn;
}

function builtInFloor(object: ObjectLike, ctx: FloorContext): Floor {
  const { group, kind } = groupKind(object);
  const name = text(object.metadata?.name);
  const clusterScoped = CLUSTER_SCOPED.has(`${group}/${kind}`);
  const namespace = clusterScoped ? "" : text(object.metadata?.namespace) || ctx.manifestNamespace;
  const label = namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
  const floor = (tier: Tier, why: string): Floor => ({ tier, object: label, why });

  const groupWhy = CRITICAL_GROUPS[group];
  if (groupWhy) return floor("critical", groupWhy);
  const where = kind === "Namespace" && group === "" ? name : namespace;
  if (where === ctx.operatorNamespace)
    return floor("critical", `the operator's own namespace ${where} holds its keys and its workload`);
  if (SYSTEM_NAMESPACES.includes(where)) return floor("critical", `${where} is Kubernetes' own namespace`);
  if (!namespace) return floor("upgrade", "a cluster-scoped object changes the whole cluster");
  if (CONFIGURATION.has(`${group}/${kind}`)) return floor("operational", "configuration");
  return floor("upgrade", "workloads and other namespaced objects are code: at least 2 of 3");
}

/** The highest floor among `objects`, the first object to reach it; undefined for none. */
export function manifestFloor(objects: readonly ObjectLike[], ctx: FloorContext): Floor | undefined {
  let highest: Floor | undefined;
  for (const object of objects) {
    const floor = objectFloor(object, ctx);
    if (!highest || RANK[floor.tier] > RANK[highest.tier]) highest = floor;
  }
  return highest;
}
