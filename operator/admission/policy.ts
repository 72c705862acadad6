// Native ValidatingAdmissionPolicies (no webhook server to run or to fail
// open):
// - dsc-managed-objects refuses writes to objects the operator manages, and
//   to their status, by anyone but the operator and the named controllers of
//   the cluster that must keep acting on them (garbage collection, namespace
//   deletion, the workload controllers that write status and revisions);
// - dsc-manifest-ownership lets only the operator (and the garbage collector)
//   add ownerReferences or finalizers to a ConsortiumManifest; others may only
//   remove them. A dangling ownerReference added by hand would have the
//   garbage collector delete the manifest, and its finalizer prune everything.
// A scale by hand (the scale subresource carries no labels for the selector
// to match) is drift, put back at the next resync.
import { MANAGED_LABEL } from "../manifests/labels.ts";

export const POLICY_NAME = "dsc-managed-objects";
export const OWNERSHIP_POLICY_NAME = "dsc-manifest-ownership";

/**
 * kube-controller-manager's controllers that write managed objects, by the
 * service account each runs as (--use-service-account-credentials): deletion
 * (garbage collector, namespace controller, finished Jobs), status and
 * revision annotations (workload controllers), Endpoints copied from a
 * managed Service, scale (the HPA), claims bound (the PV binder).
 */
export const SYSTEM_CONTROLLERS = [
  "generic-garbage-collector",
  "namespace-controller",
  "ttl-after-finished-controller",
  "deployment-controller",
  "replicaset-controller",
  "statefulset-controller",
  "daemon-set-controller",
  "job-controller",
  "cronjob-controller",
  "horizontal-pod-autoscaler",
  "disruption-controller",
  "endpoint-controller",
  "endpointslice-controller",
  "endpointslicemirroring-controller",
  "persistent-volume-binder",
  "resourcequota-controller",
] as const;

/** CEL string literal: single-quoted, with quotes and backslashes escaped. */
const cel = (text: string): string => `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

const labels = { "app.kubernetes.io/managed-by": "dsc-operator" };

export function admissionPolicy(operatorUser: string): Record<string, unknown>[] {
  const controllers = SYSTEM_CONTROLLERS.map((c) => cel(`system:serviceaccount:kube-system:${c}`)).join(", ");
  const allowed = [
    `request.userInfo.username == ${cel(operatorUser)}`,
    `request.userInfo.username in [${controllers}]`,
    // A controller manager run without per-controller credentials acts as itself.
    "request.userInfo.username == 'system:kube-controller-manager'",
  ].join(" || ");
  const policy = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: POLICY_NAME, labels },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ["*"],
            apiVersions: ["*"],
            operations: ["CREATE", "UPDATE", "DELETE"],
            // The objects and their status; a subresource whose object has no labels (scale)
            // does not match the selector.
            resources: ["*", "*/status"],
            scope: "*",
          },
        ],
        objectSelector: { matchLabels: { [MANAGED_LABEL]: "true" } },
      },
      validations: [
        {
          expression: allowed,
          reason: "Forbidden",
          messageExpression:
            "request.userInfo.username + ' may not ' + request.operation.lowerAscii() + ' ' + request.resource.resource + '/' + request.name + (has(request.subResource) && request.subResource != '' ? ' (' + request.subResource + ')' : '') + ': it is managed by the DSC operator and changes only through an approved ConsortiumManifest'",
        },
      ],
    },
  };
  // Only removals: every entry was there before. Removing is the safe direction (a
  // manifest whose finalizer an admin removes prunes nothing).
  const noneAdded = (field: string): string =>
    `(has(object.metadata.${field}) ? object.metadata.${field} : []).all(e, oldObject != null && has(oldObject.metadata.${field}) && e in oldObject.metadata.${field})`;
  const ownership = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: OWNERSHIP_POLICY_NAME, labels },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ["dsc.federation.dev"],
            apiVersions: ["*"],
            operations: ["CREATE", "UPDATE"],
            resources: ["consortiummanifests"],
          },
        ],
      },
      validations: [
        {
          expression: `request.userInfo.username == ${cel(operatorUser)} || request.userInfo.username == 'system:serviceaccount:kube-system:generic-garbage-collector' || (${noneAdded("ownerReferences")} && ${noneAdded("finalizers")})`,
          reason: "Forbidden",
          messageExpression:
            "request.userInfo.username + ' may not add ownerReferences or finalizers to ConsortiumManifest ' + request.name + ': only the DSC operator does (removing them is allowed)'",
        },
      ],
    },
  };
  const binding = (name: string) => ({
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name, labels },
    spec: { policyName: name, validationActions: ["Deny"] },
  });
  return [policy, binding(POLICY_NAME), ownership, binding(OWNERSHIP_POLICY_NAME)];
}
