// What the guardian's pause actions need from the API server beyond ObjectApi:
// listing a collection across all namespaces by path, and discovery of every
// namespaced kind (a deny-all policy goes into each namespace that holds a
// managed object of any kind, so the kinds cannot be a fixed list).
//
// Both are plain GETs through the same client as RawApi (its connections and
// raw-JSON responses). It is an ObjectApi, so one instance can serve the
// manifest controller as well.
import { kubeClient, type KubeAccess } from "../kube/access.ts";
import { ObjectApi } from "../manifests/objects.ts";

export interface ListOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** A listable namespaced resource: its collection path across all namespaces, and its kind. */
export interface NamespacedResource {
  /** e.g. `/apis/apps/v1/deployments`, `/api/v1/configmaps`. */
  readonly path: string;
  readonly apiVersion: string;
  readonly kind: string;
}

// A list as the API server sends it. Items of a list carry no apiVersion or kind.
interface JsonList<T> {
  readonly metadata?: { readonly continue?: string };
  readonly items?: T[];
}

// Aggregated discovery (apidiscovery.k8s.io/v2, GA in Kubernetes 1.30): one
// request per root instead of one per group version.
interface DiscoveryList {
  readonly kind?: string;
  readonly items?: readonly {
    readonly metadata?: { readonly name?: string };
    readonly versions?: readonly {
      readonly version: string;
      readonly resources?: readonly {
        readonly resource: string;
        readonly responseKind?: { readonly kind?: string };
        readonly scope?: string;
        readonly verbs?: readonly string[];
      }[];
    }[];
  }[];
}

// The legacy documents, for an API server without aggregated discovery.
interface GroupList {
  readonly kind?: string;
  readonly groups?: readonly { readonly preferredVersion?: { readonly groupVersion?: string } }[];
  readonly versions?: readonly string[];
}
interface ResourceList {
  readonly resources?: readonly {
    readonly name: string;
    readonly kind: string;
    readonly namespaced: boolean;
    readonly verbs?: readonly string[];
  }[];
}

const AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const PAGE_SIZE = 500;

const collectionPath = (apiVersion: string, resource: string): string =>
  `/${apiVersion.includes("/") ? "apis" : "api"}/${apiVersion}/${resource}`;

export class GuardianApi extends ObjectApi {
  static override forConfig(access: KubeAccess): GuardianApi {
    return new GuardianApi(kubeClient(access));
  }

  /** A GET of any path, answered as the API server's own JSON; the type is the caller's word. */
  getJson<T>(path: string, query: Record<string, string> = {}, accept = "application/json"): Promise<T> {
    return this.client.request<T>("GET", path, { query, accept });
  }

  /** Every object of a collection path (all namespaces for a namespaced kind), page by page. */
  async listPath<T>(path: string, options: ListOptions = {}): Promise<T[]> {
    const items: T[] = [];
    let next: string | undefined;
    do {
      const query: Record<string, string> = { limit: String(PAGE_SIZE) };
      if (options.labelSelector !== undefined) query.labelSelector = options.labelSelector;
      if (options.fieldSelector !== undefined) query.fieldSelector = options.fieldSelector;
      if (next) query.continue = next;
      const page = await this.getJson<JsonList<T>>(path, query);
      items.push(...(page.items ?? []));
      next = page.metadata?.continue;
    } while (next);
    return items;
  }

  /**
   * Every namespaced resource that can be listed, in each group's preferred
   * version, subresources left out. Uses aggregated discovery, and the
   * per-group documents when the server does not offer it (or when
   * `aggregated` is false).
   */
  async namespacedResources(options: { readonly aggregated?: boolean } = {}): Promise<NamespacedResource[]> {
    const accept = options.aggregated === false ? "application/json" : `${AGGREGATED},application/json`;
    const roots = await Promise.all(
      ["/api", "/apis"].map((path) => this.getJson<DiscoveryList & GroupList>(path, {}, accept)),
    );
    if (roots.every((root) => root.kind === "APIGroupDiscoveryList")) {
      return roots.flatMap((root) =>
        (root.items ?? []).flatMap((group) => {
          // Versions come in order of preference.
          const preferred = group.versions?.[0];
          if (!preferred) return [];
          const name = group.metadata?.name ?? "";
          const apiVersion = name === "" ? preferred.version : `${name}/${preferred.version}`;
          return (preferred.resources ?? [])
            .filter((r) => r.scope === "Namespaced" && (r.verbs ?? []).includes("list"))
            .map((r) => ({
              path: collectionPath(apiVersion, r.resource),
              apiVersion,
              kind: r.responseKind?.kind ?? "",
            }));
        }),
      );
    }
    // An answer to the same Accept header: APIVersions for /api, APIGroupList for /apis.
    const [core = {}, groups = {}] = roots;
    const versions = [
      ...(core.versions ?? []),
      ...(groups.groups ?? []).flatMap((g) => g.preferredVersion?.groupVersion ?? []),
    ];
    const lists = await Promise.all(
      versions.map(async (apiVersion) => ({
        apiVersion,
        list: await this.getJson<ResourceList>(collectionPath(apiVersion, "").replace(/\/$/, "")),
      })),
    );
    return lists.flatMap(({ apiVersion, list }) =>
      (list.resources ?? [])
        .filter((r) => !r.name.includes("/") && r.namespaced && (r.verbs ?? []).includes("list"))
        .map((r) => ({ path: collectionPath(apiVersion, r.name), apiVersion, kind: r.kind })),
    );
  }
}
