// Lists a collection as the API server's own JSON. client-node's typed list
// calls turn timestamps into Date objects and rename a few fields (`from` to
// `_from`, ...), while its watch hands events over as plain JSON: an informer
// fed by both would hold objects of two shapes. Listing raw keeps one shape.
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import {
  V1ListMeta,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";

export interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** An API error with its HTTP status, shaped as client-node's watch reports one. */
export class HttpStatusError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = "HttpStatusError";
    this.statusCode = statusCode;
  }
}

// The list as the API server sends it (client-node's V1ListMeta calls `continue` `_continue`).
interface JsonList<T> {
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items: T[];
}

const PAGE_SIZE = 500;
const TIMEOUT_MS = 60_000;

async function getJson(kc: KubeConfig, path: string, params: Record<string, string>): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + path);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  const options: RequestOptions = { method: "GET", headers: { Accept: "application/json" } };
  await kc.applyToHTTPSOptions(options);
  const send = url.protocol === "http:" ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const status = res.statusCode ?? 0;
        if (status === 200) {
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
          return;
        }
        let message = body.slice(0, 500);
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          // not a Status object: keep the raw text
        }
        reject(new HttpStatusError(status, `GET ${url.pathname}: HTTP ${status}: ${message}`));
      });
    });
    req.setTimeout(TIMEOUT_MS, () =>
      req.destroy(new Error(`GET ${url.pathname}: no answer in ${TIMEOUT_MS} ms`)),
    );
    req.on("error", reject);
    req.end();
  });
}

/**
 * Lists every object of a collection path (e.g. `/api/v1/namespaces/x/configmaps`,
 * `/apis/group/v1/plural`), page by page, as plain JSON. The caller vouches
 * that the collection holds objects of type T.
 */
export async function listJson<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  query: ListQuery = {},
): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  let page: JsonList<T>;
  let next: string | undefined;
  do {
    const params: Record<string, string> = { limit: String(PAGE_SIZE) };
    if (query.labelSelector !== undefined) params.labelSelector = query.labelSelector;
    if (query.fieldSelector !== undefined) params.fieldSelector = query.fieldSelector;
    if (next) params.continue = next;
    page = (await getJson(kc, path, params)) as JsonList<T>;
    items.push(...page.items);
    next = page.metadata?.continue;
  } while (next);
  // Every page carries the snapshot's resourceVersion, from which the watch starts.
  const metadata = new V1ListMeta();
  const resourceVersion = page.metadata?.resourceVersion;
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  return { metadata, items };
}
