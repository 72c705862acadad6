// Which URL serves a kind: its resource (plural) name and whether it is
// namespaced, read from the group version's discovery document (/api/v1,
// /apis/<group>/<version>) and cached per group version. A kind missing from
// the cached document is looked up once more before it counts as unknown: a
// CRD may have been installed since (a manifest can carry the CRD and its
// objects together).

export interface ResourceInfo {
  /** The plural resource name in URLs, e.g. `configmaps`. */
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

// metav1.APIResourceList, the fields read here.
interface ResourceList {
  readonly resources?: readonly {
    readonly name: string;
    readonly kind: string;
    readonly namespaced: boolean;
  }[];
}

export class Discovery {
  readonly #get: (path: string) => Promise<unknown>;
  readonly #isNotFound: (err: unknown) => boolean;
  readonly #versions = new Map<string, Promise<Map<string, ResourceInfo>>>();

  /** `get` fetches a path as JSON; `isNotFound` tells a 404 (an unknown group version) from other errors. */
  constructor(get: (path: string) => Promise<unknown>, isNotFound: (err: unknown) => boolean) {
    this.#get = get;
    this.#isNotFound = isNotFound;
  }

  /** The resource serving `kind` in `apiVersion`, or undefined if the API server has none. */
  async resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    const cached = (await this.#load(apiVersion, false)).get(kind);
    if (cached) return cached;
    return (await this.#load(apiVersion, true)).get(kind);
  }

  #load(apiVersion: string, fresh: boolean): Promise<Map<string, ResourceInfo>> {
    const cached = fresh ? undefined : this.#versions.get(apiVersion);
    if (cached) return cached;
    const loading = this.#fetch(apiVersion);
    this.#versions.set(apiVersion, loading);
    // A failed lookup (network, 403) is not remembered: the next call tries again.
    loading.catch(() => {
      if (this.#versions.get(apiVersion) === loading) this.#versions.delete(apiVersion);
    });
    return loading;
  }

  async #fetch(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    let list: ResourceList;
    try {
      list = (await this.#get(path)) as ResourceList;
    } catch (err) {
      if (this.#isNotFound(err)) return new Map();
      throw err;
    }
    const byKind = new Map<string, ResourceInfo>();
    for (const r of list.resources ?? []) {
      // `deployments/status`, `pods/log`...: subresources share their parent's kind.
      if (r.name.includes("/")) continue;
      byKind.set(r.kind, { name: r.name, kind: r.kind, namespaced: r.namespaced });
    }
    return byKind;
  }
}
