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
// - dsc-managed-scale refuses a scale of a managed workload (the scale
//   subresource carries no labels for the first policy's selector to match)
//   by anyone but the same writers: that policy names the workloads itself and
//   is written by the scale guard (scale-guard.ts).
import { MANAGED_LABEL } from "../manifests/labels.ts";
import { SCALE_POLICY_NAME } from "./scale-guard.ts";
import { allowedWriters, cel, POLICY_LABELS } from "./writers.ts";

export const POLICY_NAME = "dsc-managed-objects";
export const OWNERSHIP_POLICY_NAME = "dsc-manifest-ownership";
export { SCALE_POLICY_NAME };

/** The policies and bindings the operator installs at start; the scale policy itself is the scale guard's. */
export function admissionPolicy(operatorUser: string): Record<string, unknown>[] {
  const labels = POLICY_LABELS;
  const allowed = allowedWriters(operatorUser);
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
  // The scale policy is written by the scale guard, with the workloads it names; a binding
  // to a policy not written yet binds nothing.
  return [
    policy,
    binding(POLICY_NAME),
    ownership,
    binding(OWNERSHIP_POLICY_NAME),
    binding(SCALE_POLICY_NAME),
  ];
}
