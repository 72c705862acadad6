// Requests for any kind that send and return the API server's own JSON.
//
// This used to extend client-node's KubernetesObjectApi, whose generated
// models turn timestamps into Date objects, hand MicroTime fields back as bare
// strings, and silently drop fields whose JSON names the models rename
// (`from` → `_from`, `default` → `_default`, `continue` → `_continue`): a
// server-side-applied NetworkPolicy rule `{ from: [...] }` arrived as `{}`, an
// allow-all rule (found on the test bed). It is now a thin layer over the
// operator's own KubeClient (operator/kube), which has no model layer at all:
// discovery (kind → URL, cached) and a verb per method.
import { ApiError, type KubeClient } from "../kube/client.ts";
import { kubeClient, type KubeAccess } from "../kube/access.ts";

/**
 * Enough to locate one object: apiVersion, kind, name and (for namespaced
 * kinds) namespace. Any Kubernetes object is one; so is a plain JSON object.
 */
export interface ObjectHeader {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

/**
 * The HTTP status of a failed API call, if it got that far. Besides the
 * operator's ApiError, it reads the status of errors from client-node (the
 * CLI, tests): its ApiException carries a numeric `code`, its watch errors a
 * `statusCode`. Node's system errors have string codes (`ECONNRESET`).
 */
export function httpStatus(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.statusCode;
  if (!(err instanceof Error)) return undefined;
  if ("statusCode" in err && typeof err.statusCode === "number") return err.statusCode;
  if ("code" in err && typeof err.code === "number" && "body" in err) return err.code;
  return undefined;
}

export class RawApi {
  readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** For a KubeClient, or a client-node KubeConfig in tests and the CLI (see kube/access.ts). */
  static forConfig(access: KubeAccess): RawApi {
    return new RawApi(kubeClient(access));
  }

  /** The resource serving a kind (plural name, namespaced), or undefined when the cluster has none. */
  resource(
    apiVersion: string,
    kind: string,
  ): Promise<{ readonly name: string; readonly namespaced: boolean } | undefined> {
    return this.client.resource(apiVersion, kind);
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
    subresource: "" | "/status" = "",
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
}
