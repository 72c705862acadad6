// Lists a collection as the API server's own JSON, page by page: the same
// shape as the objects watch events carry, so an informer's cache holds
// objects of one shape.
import { kubeClient, type KubeAccess } from "../kube/access.ts";
import type { KubeList } from "../kube/object.ts";

export interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** The Accept header, e.g. PARTIAL_METADATA_LIST for metadata only. */
  readonly accept?: string;
}

const PAGE_SIZE = 500;

/**
 * Lists every object of a collection path (e.g. `/api/v1/namespaces/x/configmaps`,
 * `/apis/group/v1/plural`). The caller vouches that the collection holds
 * objects of type T. The result's resourceVersion is the snapshot's, from
 * which a watch starts.
 */
export async function listJson<T>(
  access: KubeAccess,
  path: string,
  query: ListQuery = {},
): Promise<KubeList<T>> {
  const client = kubeClient(access);
  const items: T[] = [];
  // A PartialObjectMetadataList with nothing in it says `items: null`.
  let page: Omit<KubeList<T>, "items"> & { items: T[] | null };
  let next: string | undefined;
  do {
    const params: Record<string, string> = { limit: String(PAGE_SIZE) };
    if (query.labelSelector !== undefined) params.labelSelector = query.labelSelector;
    if (query.fieldSelector !== undefined) params.fieldSelector = query.fieldSelector;
    if (next) params.continue = next;
    page = await client.request<typeof page>("GET", path, {
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
