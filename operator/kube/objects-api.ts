// Requests for objects of any kind, sent and answered as the API server's own
// JSON over the operator's KubeClient: discovery (kind → URL, cached by the
// client), a verb per method, lists page by page, and discovery of every
// namespaced kind. No model layer stands between: client-node's generated
// models turn timestamps into Date objects, hand MicroTime fields back as bare
// strings, and silently drop fields whose JSON names the models rename
// (`from` → `_from`, `default` → `_default`, `continue` → `_continue`): through
// them a server-side-applied NetworkPolicy rule `{ from: [...] }` reads back
// as `{}`, an allow-all rule.
//
// Its users: the manifest controller (reads, prunes), the guardian's pause
// actions (whose deny-all policy goes into each namespace holding a managed
// object of any kind, so the kinds cannot be a fixed list), the Applier,
// Events, the Lease and the informers' lists. Instances made from one
// KubeConfig share one client (access.ts).
import { kubeClient, type KubeAccess } from "./access.ts";
import type { KubeClient } from "./client.ts";
import type { KubeList, ObjectHeader } from "./object.ts";

interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** The Accept header, e.g. PARTIAL_METADATA_LIST for metadata only. */
  readonly accept?: string;
}

/** A listable namespaced resource: its collection path across all namespaces, and its kind. */
export interface NamespacedResource {
  /** e.g. `/apis/apps/v1/deployments`, `/api/v1/configmaps`. */
  readonly path: string;
  readonly apiVersion: string;
  readonly kind: string;
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

// The per-group documents, for an API server without aggregated discovery.
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

export class ObjectApi {
  readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** For a KubeClient, or a client-node KubeConfig in tests and the CLI (see access.ts). */
  static forConfig(access: KubeAccess): ObjectApi {
    return new ObjectApi(kubeClient(access));
  }

  /** The resource serving a kind (plural name, namespaced), or undefined when the cluster has none. */
  resource(
    apiVersion: string,
    kind: string,
  ): Promise<{ readonly name: string; readonly namespaced: boolean } | undefined> {
    return this.client.resource(apiVersion, kind);
  }

  /** Whether a kind is namespaced, from discovery (cached by the client); throws for an unknown kind. */
  async isNamespaced(apiVersion: string, kind: string): Promise<boolean> {
    const resource = await this.resource(apiVersion, kind);
    if (!resource)
      throw new Error(`this cluster has no kind ${kind} in ${apiVersion} (is its CRD installed?)`);
    return resource.namespaced;
  }

  async readRaw<T>(header: ObjectHeader): Promise<T> {
    return this.client.request<T>("GET", await this.client.objectPath(header));
  }

  async createRaw<T>(object: ObjectHeader, query: Record<string, string> = {}): Promise<T> {
    return this.client.request<T>("POST", await this.client.objectPath(object, false), {
      query,
      body: object,
    });
  }

  /** A PUT: fails with 409 unless metadata.resourceVersion is still the stored one. */
  async replaceRaw<T>(object: ObjectHeader, query: Record<string, string> = {}): Promise<T> {
    return this.client.request<T>("PUT", await this.client.objectPath(object), { query, body: object });
  }

  async patchRaw<T>(
    header: ObjectHeader,
    contentType: string,
    body: unknown,
    query: Record<string, string> = {},
    subresource: "" | "/status" | "/scale" = "",
  ): Promise<T> {
    const path = (await this.client.objectPath(header)) + subresource;
    return this.client.request<T>("PATCH", path, { query, body, contentType });
  }

  /** A DELETE; `propagationPolicy` Background lets the garbage collector remove dependents afterwards. */
  async delete(
    header: ObjectHeader,
    options: { readonly propagationPolicy?: "Background" | "Foreground" | "Orphan" } = {},
  ): Promise<unknown> {
    return this.client.request("DELETE", await this.client.objectPath(header), {
      ...(options.propagationPolicy !== undefined && {
        body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: options.propagationPolicy },
      }),
    });
  }

  /** A GET of any path, answered as the API server's own JSON; the type is the caller's word. */
  getJson<T>(path: string, query: Record<string, string> = {}, accept = "application/json"): Promise<T> {
    return this.client.request<T>("GET", path, { query, accept });
  }

  /**
   * Lists every object of a collection path (e.g. `/api/v1/namespaces/x/configmaps`,
   * `/apis/group/v1/plural`, or a namespaced kind's path across all
   * namespaces), page by page, in the same shape as the objects watch events
   * carry. The caller vouches that the collection holds objects of type T.
   * The result's resourceVersion is the snapshot's, from which a watch starts.
   */
  async list<T>(path: string, query: ListQuery = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    // A PartialObjectMetadataList with nothing in it says `items: null`.
    let page: Omit<KubeList<T>, "items"> & { items: T[] | null };
    let next: string | undefined;
    do {
      const params: Record<string, string> = { limit: String(PAGE_SIZE) };
      if (query.labelSelector !== undefined) params.labelSelector = query.labelSelector;
      if (query.fieldSelector !== undefined) params.fieldSelector = query.fieldSelector;
      if (next) params.continue = next;
      page = await this.client.request<typeof page>("GET", path, {
        query: params,
        ...(query.accept !== undefined && { accept: query.accept }),
      });
      items.push(...(page.items ?? []));
      next = page.metadata?.continue;
    } while (next);
    // Every page carries the snapshot's resourceVersion.
    const resourceVersion = page.metadata?.resourceVersion;
    return { metadata: resourceVersion === undefined ? {} : { resourceVersion }, items };
  }

  /** The items of list(). */
  async listPath<T>(path: string, query: ListQuery = {}): Promise<T[]> {
    return (await this.list<T>(path, query)).items;
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
