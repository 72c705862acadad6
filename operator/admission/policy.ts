// A native ValidatingAdmissionPolicy (no webhook server to run or to fail
// open) that refuses writes to objects the operator manages by anyone but the
// operator and the cluster's own controllers, which must keep updating status,
// revision annotations and garbage-collecting.
import { MANAGED_LABEL } from "../manifests/labels.ts";

export const POLICY_NAME = "dsc-managed-objects";

/** CEL string literal: single-quoted, with quotes and backslashes escaped. */
const cel = (text: string): string => `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

export function admissionPolicy(operatorUser: string): [Record<string, unknown>, Record<string, unknown>] {
  const allowed = [
    `request.userInfo.username == ${cel(operatorUser)}`,
    "request.userInfo.username.startsWith('system:serviceaccount:kube-system:')",
    "request.userInfo.username == 'system:kube-controller-manager'",
    "request.userInfo.username == 'system:kube-scheduler'",
  ].join(" || ");
  const policy = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: POLICY_NAME, labels: { "app.kubernetes.io/managed-by": "dsc-operator" } },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ["*"],
            apiVersions: ["*"],
            operations: ["CREATE", "UPDATE", "DELETE"],
            // Subresources pass: objectSelector sees a Scale (no labels), not the workload.
            // A scale by hand is drift, put back at the next resync.
            resources: ["*"],
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
            "request.userInfo.username + ' may not ' + request.operation.lowerAscii() + ' ' + request.resource.resource + '/' + request.name + ': it is managed by the DSC operator and changes only through an approved ConsortiumManifest'",
        },
      ],
    },
  };
  const binding = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name: POLICY_NAME, labels: { "app.kubernetes.io/managed-by": "dsc-operator" } },
    spec: { policyName: POLICY_NAME, validationActions: ["Deny"] },
  };
  return [policy, binding];
}
