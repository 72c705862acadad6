// Requests for any kind that send and return the API server's own JSON.
//
// client-node 2.0.1 routes bodies and responses through its generated models:
// timestamps become Date objects, MicroTime fields come back as bare strings
// although typed as V1MicroTime, and fields whose JSON names the models
// rename (`from` → `_from`, `default` → `_default`, `continue` → `_continue`)
// are silently dropped from a plain-JSON body: a server-side-applied
// NetworkPolicy rule `{ from: [...] }` arrived as `{}`, an allow-all rule
// (found on the test bed). This subclass keeps KubernetesObjectApi's discovery
// (kind → URL, cached), authentication and middleware, and nothing else.
import {
  ApiException,
  HttpMethod,
  KubernetesObjectApi,
  type KubeConfig,
  V1ObjectMeta,
  type KubernetesObject,
  type RequestContext,
  type ResponseContext,
} from "@kubernetes/client-node";

/**
 * Enough to locate one object: apiVersion, kind, name and (for namespaced
 * kinds) namespace. Any KubernetesObject is one; so is a plain JSON object.
 */
export interface ObjectHeader {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

// KubernetesObjectApi wants its own V1ObjectMeta class; only the header matters for the URL.
function specOf(header: ObjectHeader): KubernetesObject {
  const metadata = new V1ObjectMeta();
  if (header.metadata?.name !== undefined) metadata.name = header.metadata.name;
  if (header.metadata?.namespace !== undefined) metadata.namespace = header.metadata.namespace;
  return {
    ...(header.apiVersion !== undefined && { apiVersion: header.apiVersion }),
    ...(header.kind !== undefined && { kind: header.kind }),
    metadata,
  };
}

/** The HTTP status of a failed API call, if it got that far. */
export function httpStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (err instanceof Error && "statusCode" in err && typeof err.statusCode === "number")
    return err.statusCode;
  return undefined;
}

export class RawApi extends KubernetesObjectApi {
  static forConfig(kc: KubeConfig): RawApi {
    const api = kc.makeApiClient(RawApi);
    api.setDefaultNamespace(kc);
    return api;
  }

  async readRaw<T>(header: ObjectHeader): Promise<T> {
    return this.#send(await this.#request(header, "read", HttpMethod.GET));
  }

  async createRaw<T>(object: ObjectHeader, query: Record<string, string> = {}): Promise<T> {
    const request = await this.#request(object, "create", HttpMethod.POST, "", query);
    request.setHeaderParam("Content-Type", "application/json");
    request.setBody(JSON.stringify(object));
    return this.#send(request);
  }

  /** A PUT: fails with 409 unless metadata.resourceVersion is still the stored one. */
  async replaceRaw<T>(object: ObjectHeader, query: Record<string, string> = {}): Promise<T> {
    const request = await this.#request(object, "replace", HttpMethod.PUT, "", query);
    request.setHeaderParam("Content-Type", "application/json");
    request.setBody(JSON.stringify(object));
    return this.#send(request);
  }

  async patchRaw<T>(
    header: ObjectHeader,
    contentType: string,
    body: unknown,
    query: Record<string, string> = {},
    subresource: "" | "/status" = "",
  ): Promise<T> {
    const request = await this.#request(header, "patch", HttpMethod.PATCH, subresource, query);
    request.setHeaderParam("Content-Type", contentType);
    request.setBody(JSON.stringify(body));
    return this.#send(request);
  }

  async #request(
    header: ObjectHeader,
    action: "create" | "read" | "replace" | "patch",
    method: HttpMethod,
    subresource = "",
    query: Record<string, string> = {},
  ): Promise<RequestContext> {
    const path = (await this.specUriPath(specOf(header), action)) + subresource;
    const request = this.configuration.baseServer.makeRequestContext(path, method);
    request.setHeaderParam("Accept", "application/json");
    for (const [key, value] of Object.entries(query)) request.setQueryParam(key, value);
    return request;
  }

  #send<T>(request: RequestContext): Promise<T> {
    // requestPromise applies authentication and middleware, then processResponse below.
    return this.requestPromise(request) as Promise<T>;
  }

  protected override async processResponse<T extends KubernetesObject>(
    response: ResponseContext,
  ): Promise<T> {
    const text = await response.body.text();
    const body: unknown = text ? JSON.parse(text) : undefined;
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) return body as T;
    throw new ApiException(
      response.httpStatusCode,
      messageOf(body, response.httpStatusCode),
      body,
      response.headers,
    );
  }
}

// The Status message says what went wrong ("the object has been modified..."), so errors read well in logs.
function messageOf(body: unknown, status: number): string {
  if (typeof body === "object" && body !== null && "message" in body && typeof body.message === "string") {
    return `HTTP ${status}: ${body.message}`;
  }
  return `HTTP ${status}`;
}
