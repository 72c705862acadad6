// The ConsortiumManifests this process wrote last, each as the API server
// answered the write. The informer caches metadata only, so a reconcile reads
// the manifest whole; when the informer's resourceVersion is one this process
// just wrote (the mirror's write of a manifest, a status write), that version
// is here, and the GET is not needed: it would return the same object. Any
// other version, newer or written by someone else, is read from the server.
// Bounded to the most recent writes, so memory does not grow with the number
// of manifests.
import type { ConsortiumManifestObject } from "../api/v1alpha1/objects.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";

const KIND = "ConsortiumManifest";
/** A manifest whose JSON is longer than this is read from the server each time. */
const MAX_CHARS = 256 * 1024;

export class RecentWrites {
  readonly #max: number;
  /** Each kept as its JSON text: compact, and parsed anew for every reader. */
  readonly #objects = new Map<string, { readonly resourceVersion: string; readonly json: string }>();

  /** At most `max` manifests of at most 256 Ki characters each: 32 MiB at the very most by default. */
  constructor(max = 64) {
    this.#max = max;
  }

  /** An object a write returned; any kind may come (the appliers write every kind), only manifests are kept. */
  remember(object: unknown): void {
    const o = object as ConsortiumManifestObject | undefined;
    const { name, namespace, resourceVersion } = o?.metadata ?? {};
    // The appliers also write the objects approved manifests hold, which may be of any group.
    if (o?.apiVersion !== API_VERSION || o.kind !== KIND || !name || !namespace || !resourceVersion) return;
    const key = `${namespace}/${name}`;
    this.#objects.delete(key); // re-inserted last: the map's order is the order of writes
    const json = JSON.stringify(o);
    if (json.length > MAX_CHARS) return;
    this.#objects.set(key, { resourceVersion, json });
    for (const oldest of this.#objects.keys()) {
      if (this.#objects.size <= this.#max) break;
      this.#objects.delete(oldest);
    }
  }

  /** The manifest at exactly `resourceVersion`, if this process wrote that version last; a copy. */
  get(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
  ): ConsortiumManifestObject | undefined {
    const held = this.#objects.get(`${namespace}/${name}`);
    if (!held || resourceVersion === undefined || held.resourceVersion !== resourceVersion) return undefined;
    return JSON.parse(held.json) as ConsortiumManifestObject;
  }

  /** A manifest deleted: a later object of the same name is another one. */
  forget(namespace: string, name: string): void {
    this.#objects.delete(`${namespace}/${name}`);
  }
}
