// What the chart's end-to-end test needs around a test-bed region: kubectl on
// files, prometheus-operator's CRDs (from the Go module proxy, checksum-verified
// by e2e/testbed/monitoring-crds/go.sum), a ServiceAccount's kubeconfig, and
// SubjectAccessReviews.
import { execFile, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { AuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { REPO } from "../../charts/helm.ts";

const run = promisify(execFile);

/** kubectl of the test bed against one kubeconfig; rejects with kubectl's stderr. */
export function kubectlWith(bin: string, kubeconfig: string) {
  return async (args: readonly string[]): Promise<string> => {
    try {
      const { stdout } = await run(join(bin, "kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], {
        maxBuffer: 64 << 20,
      });
      return stdout;
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? "";
      throw new Error(`kubectl ${args.join(" ")}: ${stderr.trim() || String(error)}`, { cause: error });
    }
  };
}

/** ServiceMonitor and PrometheusRule CRDs of the prometheus-operator release the wrapper module pins. */
export function monitoringCrdFiles(): string[] {
  const out = execFileSync(
    "go",
    ["mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator"],
    {
      cwd: join(REPO, "e2e/testbed/monitoring-crds"),
      encoding: "utf8",
    },
  );
  const { Dir: dir } = JSON.parse(out) as { Dir?: string };
  if (!dir) throw new Error(`go mod download gave no directory: ${out}`);
  return ["servicemonitors", "prometheusrules"].map((plural) =>
    join(dir, "example/prometheus-operator-crd", `monitoring.coreos.com_${plural}.yaml`),
  );
}

/** A kubeconfig that authenticates with `token` to the API server `admin` talks to. */
export function tokenKubeconfig(admin: KubeConfig, token: string, file: string): string {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("the admin kubeconfig has no current cluster");
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: cluster.name,
          cluster: {
            server: cluster.server,
            ...(cluster.caData ? { "certificate-authority-data": cluster.caData } : {}),
            ...(cluster.caFile ? { "certificate-authority": cluster.caFile } : {}),
          },
        },
      ],
      users: [{ name: "token", user: { token } }],
      contexts: [{ name: "token", context: { cluster: cluster.name, user: "token" } }],
      "current-context": "token",
    }),
    { mode: 0o600 },
  );
  return file;
}

export interface Access {
  readonly verb: string;
  readonly resource: string;
  readonly group?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

export const describeAccess = (a: Access): string =>
  `${a.verb} ${a.group ? `${a.group}/` : ""}${a.resource}${a.subresource ? `/${a.subresource}` : ""}` +
  `${a.name ? ` ${a.name}` : ""}${a.namespace ? ` in ${a.namespace}` : " (cluster-wide)"}`;

/** Whether `user` (with `groups`) may do `access`, by the API server's own authorizer. */
export async function allowed(
  kc: KubeConfig,
  user: string,
  groups: readonly string[],
  access: Access,
): Promise<boolean> {
  const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user,
        groups: [...groups],
        resourceAttributes: {
          verb: access.verb,
          resource: access.resource,
          group: access.group ?? "",
          ...(access.namespace ? { namespace: access.namespace } : {}),
          ...(access.name ? { name: access.name } : {}),
          ...(access.subresource ? { subresource: access.subresource } : {}),
        },
      },
    },
  });
  return review.status?.allowed === true;
}
