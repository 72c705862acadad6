// Who may write what the operator manages: the operator itself, and the
// controllers of the cluster that must keep acting on managed objects. One
// CEL expression, shared by every admission policy the operator installs.

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

export const POLICY_LABELS = { "app.kubernetes.io/managed-by": "dsc-operator" };

/** CEL string literal: single-quoted, with quotes and backslashes escaped. */
export const cel = (text: string): string => `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** True when the request comes from the operator or one of the named controllers. */
export function allowedWriters(operatorUser: string): string {
  const controllers = SYSTEM_CONTROLLERS.map((c) => cel(`system:serviceaccount:kube-system:${c}`)).join(", ");
  return [
    `request.userInfo.username == ${cel(operatorUser)}`,
    `request.userInfo.username in [${controllers}]`,
    // A controller manager run without per-controller credentials acts as itself.
    "request.userInfo.username == 'system:kube-controller-manager'",
  ].join(" || ");
}
