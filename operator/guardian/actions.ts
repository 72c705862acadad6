// The pause actions a paused region runs on the workloads the operator
// manages (objects labelled dsc.federation.dev/managed=true), and lifting
// them on resume. Everything here is level-triggered: enforcePause and
// liftPause may be called any number of times, and a process killed between
// any two requests leaves a state from which the next call finishes the job.
//
// - Freeze: nothing on the workloads (the manifest controller stops applying).
// - ScaleToZero: each managed Deployment and StatefulSet records its replica
//   count in the annotation dsc.federation.dev/paused-replicas and goes to 0.
//   A record, once written, is never overwritten: it holds the original count
//   until a lift restores it.
// - DenyAll: a NetworkPolicy dsc-guardian-deny-all (every pod, Ingress and
//   Egress, no rule) in each namespace that holds a managed object of any kind.
//
// liftPause undoes all of it whatever the action configured now, so a pause
// whose action changed while it lasted is still lifted completely.
//
// How the replica count is written, and why it is not server-side apply.
// The manifest controller applies workloads with SSA as "dsc-operator" and
// force, so it owns spec.replicas. Had the guardian applied replicas: 0 with
// SSA (force) as "dsc-guardian", it would own the field as an *applier*, and
// an applier that stops applying a field it alone owns deletes it: the
// guardian could never drop its claim after the lift (nor remove its
// annotation with an apply) without spec.replicas vanishing and the API
// server defaulting it to 1. Instead the guardian writes with JSON patches
// (an Update operation, like the scale subresource that `kubectl scale` and
// the HPA use, with the same effect on managedFields): the guardian takes
// spec.replicas as an updater, which never deletes anything, and the
// controller's next forced apply simply takes the field back (without force
// too, while the value is the restored one: equal values are shared, not
// conflicting). The patch goes to the object itself rather than its scale
// subresource because it can carry `test` operations, so that
// - the record and the scale-down are one atomic write, guarded by what was
//   read: there is no moment at which a workload is at zero without its
//   record, the count recorded is the count zeroed, and a record is never
//   written over another;
// - restoring the count and removing the record are one write too, guarded by
//   the record's value: the record goes only with the restore it describes.
// The writes go through the operator's identity (ObjectApi), which the
// admission policy on managed objects lets through.
import type { Logger } from "pino";
import type { PauseAction } from "../api/v1alpha1/federation.ts";
import type { ObjectReference } from "../api/v1alpha1/consortium-manifest.ts";
import { httpStatus } from "../kube/errors.ts";
import type { NamespacedResource, ObjectApi } from "../kube/objects-api.ts";
import { MANAGED_LABEL } from "../manifests/labels.ts";
import type { Applier } from "../runtime/apply.ts";
import { errorMessage } from "../runtime/errors.ts";

export { PAUSE_ACTIONS, type PauseAction } from "../api/v1alpha1/federation.ts";

/** The field manager of everything the guardian writes (give it to the Applier). */
export const GUARDIAN_FIELD_MANAGER = "dsc-guardian";
/** The replica count a workload had before the guardian scaled it to zero. */
export const PAUSED_REPLICAS_ANNOTATION = "dsc.federation.dev/paused-replicas";
/** Marks the guardian's own objects. */
export const GUARDIAN_LABEL = "dsc.federation.dev/guardian";
export const DENY_ALL_POLICY = "dsc-guardian-deny-all";
/** Namespaces that never get a deny-all policy unless the caller says otherwise: cutting them off breaks the cluster. */
export const DEFAULT_EXCLUDED_NAMESPACES: readonly string[] = [
  "kube-system",
  "kube-public",
  "kube-node-lease",
];

interface PauseSummary {
  /**
   * Workloads the guardian holds at zero after this call (enforcePause with
   * ScaleToZero), whether this call scaled them or an earlier one did.
   */
  readonly scaled: ObjectReference[];
  /** Workloads this call scaled back to their recorded count (liftPause). */
  readonly restored: ObjectReference[];
  /**
   * `namespace/name` of the deny-all policies in place after this call
   * (enforcePause with DenyAll), or deleted by this call (liftPause).
   */
  readonly policies: string[];
  /** Whether this call wrote anything: for Events, which should say what happened, once. */
  readonly changed: boolean;
}

interface PauseOptions {
  /**
   * Namespaces left without a deny-all policy even if they hold managed
   * objects. Default DEFAULT_EXCLUDED_NAMESPACES; the operator should add its
   * own namespace, lest the policy cut it off from its peers and the chain
   * that it needs to see the resume.
   */
  readonly excludeNamespaces?: readonly string[];
}

/** Some objects could not be paused or restored; the others were. Retry: every step is idempotent. */
class PauseActionError extends Error {
  override name = "PauseActionError";
  readonly summary: PauseSummary;
  readonly failures: readonly string[];
  constructor(verb: string, summary: PauseSummary, failures: readonly string[]) {
    super(`${verb}: ${String(failures.length)} failed: ${failures.join("; ")}`);
    this.summary = summary;
    this.failures = failures;
  }
}

interface Workload {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly resourceVersion?: string;
    readonly annotations?: Record<string, string>;
  };
  readonly spec?: { readonly replicas?: number };
}

interface NetworkPolicy {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels?: Record<string, string>;
    readonly managedFields?: unknown;
  };
  readonly spec?: {
    readonly podSelector?: { readonly matchLabels?: object; readonly matchExpressions?: unknown[] };
    readonly policyTypes?: readonly string[];
    readonly ingress?: readonly unknown[];
    readonly egress?: readonly unknown[];
  };
}

interface Namespace {
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly status?: { readonly phase?: string };
}

const WORKLOADS = [
  { kind: "Deployment", path: "/apis/apps/v1/deployments" },
  { kind: "StatefulSet", path: "/apis/apps/v1/statefulsets" },
] as const;
type WorkloadKind = (typeof WORKLOADS)[number]["kind"];

const MANAGED = `${MANAGED_LABEL}=true`;
const JSON_PATCH = "application/json-patch+json";
/** How often a write guarded by a `test` is retried on a fresh read when the object changed under it. */
const ATTEMPTS = 8;
/** Requests in flight at once, so a large cluster is paused fast without flooding its API server. */
const CONCURRENCY = 16;

/** RFC 6901: `~` and `/` in a JSON Pointer token. */
const pointer = (token: string): string => token.replace(/~/g, "~0").replace(/\//g, "~1");
const RECORD_PATH = `/metadata/annotations/${pointer(PAUSED_REPLICAS_ANNOTATION)}`;

const refOf = (kind: WorkloadKind, w: Workload): ObjectReference => ({
  apiVersion: "apps/v1",
  kind,
  namespace: w.metadata.namespace,
  name: w.metadata.name,
});
const headerOf = (kind: WorkloadKind, w: Workload) => ({
  apiVersion: "apps/v1",
  kind,
  metadata: { name: w.metadata.name, namespace: w.metadata.namespace },
});
const describe = (kind: string, namespace: string, name: string): string => `${kind} ${namespace}/${name}`;

/** A decimal count as the annotation holds it, or undefined if it holds anything else. */
function recordedCount(value: string): number | undefined {
  return /^(0|[1-9][0-9]{0,8})$/.test(value) ? Number(value) : undefined;
}

/** Runs `fn` on every item, CONCURRENCY at a time, and reports each outcome. */
async function settleAll<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        results[i] = { status: "fulfilled", value: await fn(items[i] as T) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return results;
}

/**
 * A JSON patch guarded by `test` operations, retried on a fresh read when a
 * test fails (422) or the object changed (409). `plan` looks at the live
 * object and returns the patch, or no ops when there is nothing to write.
 * An object deleted meanwhile yields `gone`: there is nothing left to pause or restore.
 */
async function guardedPatch<R>(
  api: ObjectApi,
  fieldManager: string,
  kind: WorkloadKind,
  first: Workload,
  gone: R,
  plan: (live: Workload) => { ops?: unknown[]; result: R },
): Promise<{ result: R; wrote: boolean }> {
  let live = first;
  for (let attempt = 1; ; attempt++) {
    const step = plan(live);
    if (step.ops === undefined) return { result: step.result, wrote: false };
    try {
      await api.patchRaw(headerOf(kind, live), JSON_PATCH, step.ops, { fieldManager });
      return { result: step.result, wrote: true };
    } catch (error) {
      const status = httpStatus(error);
      if (status === 404) return { result: gone, wrote: false };
      if ((status !== 409 && status !== 422) || attempt >= ATTEMPTS) throw error;
    }
    try {
      live = await api.readRaw<Workload>(headerOf(kind, live));
    } catch (error) {
      if (httpStatus(error) === 404) return { result: gone, wrote: false };
      throw error;
    }
  }
}

async function listWorkloads(api: ObjectApi): Promise<{ kind: WorkloadKind; workload: Workload }[]> {
  const lists = await Promise.all(
    WORKLOADS.map(async ({ kind, path }) =>
      (await api.listPath<Workload>(path, { labelSelector: MANAGED })).map((workload) => ({
        kind,
        workload,
      })),
    ),
  );
  return lists.flat();
}

/**
 * Records and zeroes one workload. Returns whether the guardian now holds it
 * (a workload already at zero with no record has nothing to hold).
 */
async function scaleDown(
  api: ObjectApi,
  fieldManager: string,
  kind: WorkloadKind,
  workload: Workload,
): Promise<{ result: boolean; wrote: boolean }> {
  return guardedPatch(api, fieldManager, kind, workload, false, (live) => {
    const replicas = live.spec?.replicas ?? 1;
    const annotations = live.metadata.annotations;
    const record = annotations?.[PAUSED_REPLICAS_ANNOTATION];
    if (record !== undefined) {
      // Recorded already (an earlier enforce, or one killed mid-way, or a lift
      // killed before it removed the record): the record stays as it is.
      if (replicas === 0) return { result: true };
      return {
        ops: [
          { op: "test", path: RECORD_PATH, value: record },
          { op: "add", path: "/spec/replicas", value: 0 },
        ],
        result: true,
      };
    }
    if (replicas === 0) return { result: false };
    const count = String(replicas);
    // Guarded so that the count recorded is the count zeroed, and no record
    // written meanwhile is written over: by the annotations as read (status
    // updates, frequent while pods come and go, do not touch them), or, with
    // no annotations to test, by the whole object's resourceVersion.
    const guard =
      annotations === undefined
        ? [
            { op: "test", path: "/metadata/resourceVersion", value: live.metadata.resourceVersion },
            { op: "add", path: "/metadata/annotations", value: { [PAUSED_REPLICAS_ANNOTATION]: count } },
          ]
        : [
            { op: "test", path: "/metadata/annotations", value: annotations },
            { op: "test", path: "/spec/replicas", value: replicas },
            { op: "add", path: RECORD_PATH, value: count },
          ];
    return { ops: [...guard, { op: "add", path: "/spec/replicas", value: 0 }], result: true };
  });
}

/** Restores one recorded workload and removes its record, in one write. Returns whether it restored. */
async function restore(
  api: ObjectApi,
  fieldManager: string,
  kind: WorkloadKind,
  workload: Workload,
): Promise<{ result: boolean; wrote: boolean }> {
  return guardedPatch(api, fieldManager, kind, workload, false, (live) => {
    const record = live.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION];
    if (record === undefined) return { result: false };
    const count = recordedCount(record);
    if (count === undefined) {
      throw new Error(
        `${describe(kind, live.metadata.namespace, live.metadata.name)}: ${PAUSED_REPLICAS_ANNOTATION} holds ` +
          `${JSON.stringify(record)}, not a replica count; left as it is`,
      );
    }
    return {
      ops: [
        { op: "test", path: RECORD_PATH, value: record },
        { op: "add", path: "/spec/replicas", value: count },
        { op: "remove", path: RECORD_PATH },
      ],
      result: true,
    };
  });
}

function denyAllPolicy(namespace: string): NetworkPolicy & { apiVersion: string; kind: string } {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: DENY_ALL_POLICY, namespace, labels: { [GUARDIAN_LABEL]: "true" } },
    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  };
}

/** Whether a live policy is exactly the guardian's: a rule or selector added by someone would let traffic through. */
function isDenyAll(policy: NetworkPolicy): boolean {
  const spec = policy.spec;
  const selector = spec?.podSelector ?? {};
  const types = [...(spec?.policyTypes ?? [])].sort();
  return (
    policy.metadata.labels?.[GUARDIAN_LABEL] === "true" &&
    Object.keys(selector.matchLabels ?? {}).length === 0 &&
    (selector.matchExpressions ?? []).length === 0 &&
    types.length === 2 &&
    types[0] === "Egress" &&
    types[1] === "Ingress" &&
    (spec?.ingress ?? []).length === 0 &&
    (spec?.egress ?? []).length === 0
  );
}

const POLICIES_PATH = "/apis/networking.k8s.io/v1/networkpolicies";
const policyKey = (p: { metadata: { namespace: string; name: string } }): string =>
  `${p.metadata.namespace}/${p.metadata.name}`;

/** The guardian's policies, found by name so that one whose label was taken off is still found. */
const listPolicies = (api: ObjectApi): Promise<NetworkPolicy[]> =>
  api.listPath<NetworkPolicy>(POLICIES_PATH, { fieldSelector: `metadata.name=${DENY_ALL_POLICY}` });

/**
 * Namespaces holding a managed object of any namespaced kind, plus managed
 * Namespaces themselves. A kind that cannot be listed (an aggregated API that
 * is down) is reported, not skipped silently.
 */
async function managedNamespaces(
  api: ObjectApi,
  log: Logger | undefined,
): Promise<{ namespaces: Set<string>; failures: string[] }> {
  const resources = await api.namespacedResources();
  const failures: string[] = [];
  const namespaces = new Set<string>();
  const results = await settleAll(resources, (r: NamespacedResource) =>
    api.listPath<{ metadata: { namespace?: string } }>(r.path, { labelSelector: MANAGED }),
  );
  results.forEach((result, i) => {
    const resource = resources[i];
    if (result.status === "fulfilled") {
      for (const item of result.value) if (item.metadata.namespace) namespaces.add(item.metadata.namespace);
    } else {
      const text = `listing managed ${resource?.kind ?? "?"} (${resource?.path ?? "?"}): ${errorMessage(result.reason)}`;
      log?.warn(
        { err: errorMessage(result.reason), path: resource?.path },
        "could not list a kind for managed objects",
      );
      failures.push(text);
    }
  });
  return { namespaces, failures };
}

async function enforceScaleToZero(
  api: ObjectApi,
  applier: Applier,
  log: Logger | undefined,
): Promise<{ scaled: ObjectReference[]; changed: boolean; failures: string[] }> {
  const workloads = await listWorkloads(api);
  const results = await settleAll(workloads, ({ kind, workload }) =>
    scaleDown(api, applier.fieldManager, kind, workload),
  );
  const scaled: ObjectReference[] = [];
  const failures: string[] = [];
  let changed = false;
  results.forEach((result, i) => {
    const { kind, workload } = workloads[i] as (typeof workloads)[number];
    const where = describe(kind, workload.metadata.namespace, workload.metadata.name);
    if (result.status === "rejected") {
      log?.error({ err: errorMessage(result.reason), workload: where }, "could not scale a workload to zero");
      failures.push(`scaling ${where} to zero: ${errorMessage(result.reason)}`);
      return;
    }
    if (result.value.result) scaled.push(refOf(kind, workload));
    if (result.value.wrote) {
      changed = true;
      log?.info({ workload: where }, "scaled to zero for the pause, replica count recorded");
    }
  });
  return { scaled, changed, failures };
}

async function enforceDenyAll(
  api: ObjectApi,
  applier: Applier,
  exclude: ReadonlySet<string>,
  log: Logger | undefined,
): Promise<{ policies: string[]; changed: boolean; failures: string[] }> {
  const [found, allNamespaces, existing] = await Promise.all([
    managedNamespaces(api, log),
    api.listPath<Namespace>("/api/v1/namespaces"),
    listPolicies(api),
  ]);
  const failures = [...found.failures];
  const targets = new Set<string>();
  for (const ns of allNamespaces) {
    const name = ns.metadata.name;
    const managed = found.namespaces.has(name) || ns.metadata.labels?.[MANAGED_LABEL] === "true";
    // A terminating namespace refuses new objects, and its workloads are going anyway.
    if (managed && !exclude.has(name) && ns.status?.phase !== "Terminating") targets.add(name);
  }
  const live = new Map(existing.map((p) => [p.metadata.namespace, p]));
  const targetList = [...targets].sort();
  const results = await settleAll(targetList, async (namespace): Promise<boolean> => {
    const current = live.get(namespace);
    if (current && isDenyAll(current)) return false;
    if (!current) {
      await applier.apply(denyAllPolicy(namespace));
      return true;
    }
    // Someone changed it: an apply would keep rules it does not own, so put the whole object back.
    const desired = denyAllPolicy(namespace);
    const metadata = Object.fromEntries(
      Object.entries(current.metadata).filter(([key]) => key !== "managedFields"),
    ) as NetworkPolicy["metadata"];
    const replacement: NetworkPolicy & { apiVersion: string; kind: string } = {
      ...desired,
      metadata: { ...metadata, labels: { ...metadata.labels, [GUARDIAN_LABEL]: "true" } },
    };
    await api.replaceRaw(replacement, { fieldManager: applier.fieldManager });
    return true;
  });
  const policies: string[] = [];
  let changed = false;
  results.forEach((result, i) => {
    const namespace = targetList[i] ?? "";
    const key = `${namespace}/${DENY_ALL_POLICY}`;
    if (result.status === "rejected") {
      log?.error(
        { err: errorMessage(result.reason), policy: key },
        "could not put a deny-all policy in place",
      );
      failures.push(`deny-all policy ${key}: ${errorMessage(result.reason)}`);
      return;
    }
    policies.push(key);
    if (result.value) {
      changed = true;
      log?.info({ policy: key }, "deny-all network policy in place for the pause");
    }
  });
  return { policies, changed, failures };
}

/**
 * Runs `action` on the managed workloads, idempotently. Only adds: an action
 * configured earlier in the same pause is left in place until liftPause (a
 * pause never loosens while it lasts). `applier` must write as
 * GUARDIAN_FIELD_MANAGER: `new Applier(kc, { fieldManager: GUARDIAN_FIELD_MANAGER })`.
 * Throws PauseActionError (with the summary of what did succeed) if some
 * objects failed; the others are paused.
 */
export async function enforcePause(
  api: ObjectApi,
  applier: Applier,
  action: PauseAction,
  log?: Logger,
  options: PauseOptions = {},
): Promise<PauseSummary> {
  const summary = { scaled: [] as ObjectReference[], restored: [], policies: [] as string[], changed: false };
  let failures: string[] = [];
  switch (action) {
    case "Freeze":
      break;
    case "ScaleToZero": {
      const done = await enforceScaleToZero(api, applier, log);
      summary.scaled = done.scaled;
      summary.changed = done.changed;
      failures = done.failures;
      break;
    }
    case "DenyAll": {
      const exclude = new Set(options.excludeNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES);
      const done = await enforceDenyAll(api, applier, exclude, log);
      summary.policies = done.policies;
      summary.changed = done.changed;
      failures = done.failures;
      break;
    }
  }
  if (failures.length > 0) throw new PauseActionError(`enforcing ${action}`, summary, failures);
  return summary;
}

/**
 * Undoes everything any pause action did, whatever the action is now:
 * scales every recorded workload back to its recorded count (removing the
 * record in the same write) and deletes the guardian's deny-all policies.
 * Idempotent. Throws PauseActionError (with the summary of what did succeed)
 * if some objects could not be restored; the others are.
 */
export async function liftPause(api: ObjectApi, applier: Applier, log?: Logger): Promise<PauseSummary> {
  const [workloads, policies] = await Promise.all([listWorkloads(api), listPolicies(api)]);
  const recorded = workloads.filter(
    (w) => w.workload.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION] !== undefined,
  );
  const [restoredResults, deletedResults] = await Promise.all([
    settleAll(recorded, ({ kind, workload }) => restore(api, applier.fieldManager, kind, workload)),
    settleAll(policies, async (policy): Promise<boolean> => {
      try {
        await api.delete({
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { name: policy.metadata.name, namespace: policy.metadata.namespace },
        });
        return true;
      } catch (error) {
        if (httpStatus(error) === 404) return false;
        throw error;
      }
    }),
  ]);
  const restored: ObjectReference[] = [];
  const deleted: string[] = [];
  const failures: string[] = [];
  restoredResults.forEach((result, i) => {
    const { kind, workload } = recorded[i] as (typeof recorded)[number];
    const where = describe(kind, workload.metadata.namespace, workload.metadata.name);
    if (result.status === "rejected") {
      log?.error(
        { err: errorMessage(result.reason), workload: where },
        "could not restore a paused workload",
      );
      failures.push(`restoring ${where}: ${errorMessage(result.reason)}`);
    } else if (result.value.result) {
      restored.push(refOf(kind, workload));
      log?.info(
        { workload: where, replicas: workload.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION] },
        "restored the replica count recorded at the pause",
      );
    }
  });
  deletedResults.forEach((result, i) => {
    const policy = policies[i] as NetworkPolicy;
    if (result.status === "rejected") {
      log?.error(
        { err: errorMessage(result.reason), policy: policyKey(policy) },
        "could not delete a deny-all policy",
      );
      failures.push(`deleting ${policyKey(policy)}: ${errorMessage(result.reason)}`);
    } else if (result.value) {
      deleted.push(policyKey(policy));
      log?.info({ policy: policyKey(policy) }, "deleted the pause's deny-all network policy");
    }
  });
  const summary: PauseSummary = {
    scaled: [],
    restored,
    policies: deleted.sort(),
    changed: restored.length > 0 || deleted.length > 0,
  };
  if (failures.length > 0) throw new PauseActionError("lifting the pause", summary, failures);
  return summary;
}
