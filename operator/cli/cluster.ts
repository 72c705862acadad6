// dsc status | approvals NAME | pause-history: what the operator shows in the
// cluster, read through the kubeconfig (KUBECONFIG, ~/.kube/config, or
// --kubeconfig / --context) the way kubectl reads it. Also `kubectl dsc ...`:
// kubectl runs bin/kubectl-dsc, which runs this CLI.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ApiException, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { GROUP, VERSION } from "../api/v1alpha1/fields.ts";
import { errorMessage } from "../runtime/errors.ts";
import { formatApprovals, formatPauseHistory, formatStatus, pauseHistory } from "./cluster-format.ts";
import type { BreachReportView, ConsortiumManifestView, FederationView } from "../api/v1alpha1/objects.ts";
import { ClusterError, UsageError } from "./context.ts";

interface ClusterFlags {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly namespace?: string | undefined;
  /** The Federation's name, when the cluster has more than one. */
  readonly federation?: string | undefined;
  readonly json?: boolean | undefined;
}

type Out = (line: string) => void;

export type ClusterCommand = "status" | "approvals" | "pause-history";

function loadKubeConfig(flags: ClusterFlags): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else if (process.env.KUBECONFIG || existsSync(join(homedir(), ".kube", "config"))) kc.loadFromDefault();
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    // client-node would fall back to http://localhost:8080, which is never what was meant.
    else throw new Error("none found: set KUBECONFIG, or pass --kubeconfig FILE");
  } catch (error) {
    throw new UsageError(`cannot read the kubeconfig: ${(error as Error).message}`);
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context))
      throw new UsageError(`no context ${JSON.stringify(flags.context)} in the kubeconfig`);
    kc.setCurrentContext(flags.context);
  }
  if (!kc.getCurrentCluster())
    throw new UsageError("no cluster in the kubeconfig: set KUBECONFIG, or pass --kubeconfig FILE");
  return kc;
}

/** What a failed request says, in one line. */
function explain(kc: KubeConfig, error: unknown, what: string): ClusterError {
  const server = kc.getCurrentCluster()?.server ?? "?";
  if (error instanceof ApiException) {
    // The body is the API server's Status, parsed or as the JSON text.
    let body: unknown = error.body;
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch {
        // plain text
      }
    }
    const message =
      typeof body === "string" ? body : (body as { message?: unknown } | undefined)?.message?.toString();
    if (error.code === 404) return new ClusterError(`${what}: not found${message ? ` (${message})` : ""}`);
    return new ClusterError(`${what}: the API server said ${String(error.code)}: ${message ?? ""}`.trim());
  }
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause?.code;
  return new ClusterError(`${what}: cannot reach ${server}: ${cause ?? errorMessage(error)}`);
}

class Cluster {
  readonly kc: KubeConfig;
  readonly #api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.kc = kc;
    this.#api = kc.makeApiClient(CustomObjectsApi);
  }

  async #request<T>(what: string, call: () => Promise<unknown>): Promise<T> {
    try {
      return (await call()) as T;
    } catch (error) {
      throw explain(this.kc, error, what);
    }
  }

  /** The cluster's Federation: the one named, or the only one. */
  async federation(name: string | undefined): Promise<FederationView> {
    const list = await this.#request<{ items: FederationView[] }>("listing Federations", () =>
      this.#api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: "federations" }),
    );
    const candidates = name ? list.items.filter((f) => f.metadata?.name === name) : list.items;
    const [only, ...more] = candidates;
    if (!only)
      throw new ClusterError(
        name
          ? `no Federation ${JSON.stringify(name)} in this cluster (found: ${list.items.map((f) => f.metadata?.name).join(", ") || "none"})`
          : "no Federation in this cluster: is the DSC operator installed here?",
      );
    if (more.length > 0)
      throw new UsageError(
        `this cluster has ${String(candidates.length)} Federations (${candidates.map((f) => f.metadata?.name).join(", ")}): pick one with --federation NAME`,
      );
    return only;
  }

  manifest(namespace: string, name: string): Promise<ConsortiumManifestView> {
    return this.#request(`ConsortiumManifest ${namespace}/${name}`, () =>
      this.#api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: "consortiummanifests",
        name,
      }),
    );
  }

  /** Every object of a namespaced kind, in all namespaces. */
  async all<T>(plural: string): Promise<T[]> {
    const list = await this.#request<{ items: T[] }>(`listing ${plural}`, () =>
      this.#api.listClusterCustomObject({ group: GROUP, version: VERSION, plural }),
    );
    return list.items;
  }
}

export async function clusterCommand(
  command: ClusterCommand,
  args: readonly string[],
  flags: ClusterFlags,
  out: Out,
  now: () => number = Date.now,
): Promise<number> {
  const [name, ...extra] = args;
  if (command !== "approvals" && name !== undefined)
    throw new UsageError(`dsc ${command} takes no arguments (got ${args.join(" ")})`);
  if (command === "approvals" && !name) throw new UsageError("dsc approvals needs a ConsortiumManifest NAME");
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  const cluster = new Cluster(loadKubeConfig(flags));
  const print = (lines: readonly string[]): void => {
    for (const line of lines) out(line);
  };
  switch (command) {
    case "status": {
      const federation = await cluster.federation(flags.federation);
      if (flags.json) out(JSON.stringify(federation, null, 2));
      else print(formatStatus(federation, now()));
      return 0;
    }
    case "approvals": {
      const namespace =
        flags.namespace ??
        cluster.kc.getContextObject(cluster.kc.getCurrentContext())?.namespace ??
        "default";
      const manifest = await cluster.manifest(namespace, name ?? "");
      if (flags.json) out(JSON.stringify(manifest, null, 2));
      else print(formatApprovals(manifest));
      return 0;
    }
    case "pause-history": {
      const [federation, reports, manifests] = await Promise.all([
        cluster.federation(flags.federation),
        cluster.all<BreachReportView>("breachreports"),
        cluster.all<ConsortiumManifestView>("consortiummanifests"),
      ]);
      const history = pauseHistory(federation, reports, manifests);
      if (flags.json) out(JSON.stringify(history, null, 2));
      else print(formatPauseHistory(history, now()));
      return 0;
    }
  }
}
