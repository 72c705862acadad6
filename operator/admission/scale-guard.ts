// The scale subresource carries no labels, so the managed-objects policy's
// selector cannot see a `kubectl scale` of a managed workload. The
// dsc-managed-scale policy names the managed workloads itself, as a list in
// its own CEL (`deployments.<namespace>.<name>`), and refuses a scale of one
// of them by anyone but the operator and the named controllers. The guard
// keeps which manifest holds which workload in an annotation of that policy,
// so a restarted operator starts from what it wrote before, not from nothing.
//
// A ConfigMap as the policy's parameters was tried first: on these API servers
// (1.34) the parameter informer kept the ConfigMap as first seen (no data)
// and never saw it change, so nothing was ever refused.
import type { ObjectReference } from "../api/v1alpha1/consortium-manifest.ts";
import type { Applier } from "../runtime/apply.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import type { Logger } from "pino";
import { httpStatus } from "../kube/errors.ts";
import { errorMessage } from "../runtime/errors.ts";
import { allowedWriters, cel, POLICY_LABELS } from "./writers.ts";

export const SCALE_POLICY_NAME = "dsc-managed-scale";
const ANNOTATION = "dsc.federation.dev/scale-guard";
/** The guard's applier writes as this manager: `new Applier(kc, { fieldManager: SCALE_GUARD_FIELD_MANAGER })`. */
export const SCALE_GUARD_FIELD_MANAGER = "dsc-scale-guard";

/** The built-in kinds with a scale subresource, and their resource names. */
const SCALABLE: Readonly<Record<string, string>> = {
  "apps/v1/Deployment": "deployments",
  "apps/v1/StatefulSet": "statefulsets",
  "apps/v1/ReplicaSet": "replicasets",
  "v1/ReplicationController": "replicationcontrollers",
};

/** The keys of the managed workloads among `objects`: resource, namespace and name. */
export function scaleKeys(objects: readonly ObjectReference[]): string[] {
  const keys = new Set<string>();
  for (const o of objects) {
    const resource = SCALABLE[`${o.apiVersion}/${o.kind}`];
    if (resource && o.namespace) keys.add(`${resource}.${o.namespace}.${o.name}`);
  }
  return [...keys].sort();
}

/** The policy refusing a scale of any of `managed`'s workloads, remembering whose each is. */
export function scalePolicy(
  operatorUser: string,
  managed: ReadonlyMap<string, readonly string[]>,
): Record<string, unknown> {
  const keys = [...new Set([...managed.values()].flat())].sort();
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: {
      name: SCALE_POLICY_NAME,
      labels: POLICY_LABELS,
      annotations: { [ANNOTATION]: JSON.stringify(Object.fromEntries([...managed].sort())) },
    },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ["apps", ""],
            apiVersions: ["*"],
            operations: ["UPDATE"],
            resources: [
              "deployments/scale",
              "statefulsets/scale",
              "replicasets/scale",
              "replicationcontrollers/scale",
            ],
          },
        ],
      },
      validations: [
        {
          expression: `${allowedWriters(operatorUser)} || !((request.resource.resource + '.' + request.namespace + '.' + request.name) in [${keys.map(cel).join(", ")}])`,
          reason: "Forbidden",
          messageExpression:
            "request.userInfo.username + ' may not scale ' + request.resource.resource + '/' + request.name + ': it is managed by the DSC operator and changes only through an approved ConsortiumManifest'",
        },
      ],
    },
  };
}

/** What the annotation says each manifest holds; anything unreadable starts empty (the next passes rewrite it). */
export function readAnnotation(text: string | undefined): Map<string, string[]> {
  const managed = new Map<string, string[]>();
  if (!text) return managed;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null) return managed;
    for (const [manifest, keys] of Object.entries(parsed))
      if (Array.isArray(keys) && keys.every((k) => typeof k === "string")) managed.set(manifest, keys);
  } catch {
    // A damaged annotation: start over.
  }
  return managed;
}

export class ScaleGuard {
  readonly #applier: Applier;
  readonly #api: Pick<ObjectApi, "readRaw">;
  readonly #managed = new Map<string, string[]>();
  #operatorUser: string | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** The write waiting to start: a change made meanwhile goes in it. */
  #queued: Promise<void> | undefined;
  /** The last write failed: the next record writes even if nothing changed. */
  #stale = false;

  constructor(applier: Applier, api: Pick<ObjectApi, "readRaw">) {
    this.#applier = applier;
    this.#api = api;
  }

  /**
   * Starts writing the policy, naming `operatorUser` as a writer, from what
   * the policy in the cluster says (records made before this merge in).
   */
  async start(operatorUser: string): Promise<void> {
    try {
      const existing = await this.#api.readRaw<{ metadata?: { annotations?: Record<string, string> } }>({
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicy",
        metadata: { name: SCALE_POLICY_NAME },
      });
      for (const [manifest, keys] of readAnnotation(existing.metadata?.annotations?.[ANNOTATION]))
        if (!this.#managed.has(manifest)) this.#managed.set(manifest, keys);
    } catch (error) {
      if (httpStatus(error) !== 404) throw error;
    }
    this.#operatorUser = operatorUser;
    await this.#write();
  }

  /**
   * Starts the guard as a manager runnable, on the leader only (a standby would
   * write its own, older list); a failed first write is logged, and made again
   * by the next record.
   */
  runnable(operatorUser: string, log: Logger): { start(): Promise<void>; stop(): Promise<void> } {
    return {
      start: () =>
        this.start(operatorUser).catch((error: unknown) => {
          log.error(
            { err: errorMessage(error) },
            "could not write the scale policy; retried with the next apply",
          );
        }),
      stop: () => Promise.resolve(),
    };
  }

  /** Makes the managed workloads of `manifest` (namespace/name) exactly `objects`'; [] releases them. */
  record(manifest: string, objects: readonly ObjectReference[]): Promise<void> {
    const keys = scaleKeys(objects);
    const before = this.#managed.get(manifest) ?? [];
    if (before.join(",") === keys.join(",") && !this.#stale) return this.#queued ?? Promise.resolve();
    if (keys.length === 0) this.#managed.delete(manifest);
    else this.#managed.set(manifest, keys);
    return this.#write();
  }

  /** One write at a time; changes made while one is in flight go in the next, together. */
  #write(): Promise<void> {
    const user = this.#operatorUser;
    if (user === undefined) return Promise.resolve(); // start() writes what was recorded before it
    if (this.#queued) return this.#queued;
    const queued = this.#writing.then(async () => {
      this.#queued = undefined;
      try {
        await this.#applier.apply(scalePolicy(user, this.#managed) as never);
        this.#stale = false;
      } catch (error) {
        this.#stale = true;
        throw error;
      }
    });
    this.#queued = queued;
    this.#writing = queued.catch(() => undefined);
    return queued;
  }
}
