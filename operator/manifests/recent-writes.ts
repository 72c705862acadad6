// The ConsortiumManifests this process wrote or saw last, each as the API
// server answered the write or sent it on the watch. The informer caches
// metadata only, so a reconcile reads the manifest whole; when the informer's
// resourceVersion is one this process just wrote (the mirror's write of a
// manifest, a status write) or its watch just brought (a DSP's kubectl apply),
// that version is here, and the GET is not needed: it would return the same
// object. Any other version is read from the server.
// The informer often shows a write before its answer is back (the API server
// sends the watch event as it answers): a reader that finds a write of that
// manifest in flight waits for its answer rather than reading the same object
// again. Bounded to the most recent writes, so memory does not grow with the
// number of manifests.
import type { ConsortiumManifestObject } from "../api/v1alpha1/objects.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";

const KIND = "ConsortiumManifest";
/** A manifest whose JSON is longer than this is read from the server each time. */
const MAX_CHARS = 256 * 1024;
/** How long a reader waits for a write in flight before it reads the server itself. */
export const SETTLE_WAIT_MS = 1_000;

/** namespace/name of a ConsortiumManifest of this API version; undefined for any other object. */
function keyOf(object: unknown): string | undefined {
  const o = object as ConsortiumManifestObject | undefined;
  const { name, namespace } = o?.metadata ?? {};
  // The appliers also write the objects approved manifests hold, which may be of any group.
  if (o?.apiVersion !== API_VERSION || o.kind !== KIND || !name || !namespace) return undefined;
  return `${namespace}/${name}`;
}

export class RecentWrites {
  readonly #max: number;
  /** Each kept as its JSON text: compact, and parsed anew for every reader. */
  readonly #objects = new Map<string, { readonly resourceVersion: string; readonly json: string }>();
  /** Writes whose answer is not back yet, per manifest: the last one started. */
  readonly #inFlight = new Map<string, Promise<void>>();

  /** At most `max` manifests of at most 256 Ki characters each: 32 MiB at the very most by default. */
  constructor(max = 64) {
    this.#max = max;
  }

  /** A write as it starts (an Applier's WriteObserver): its answer is kept once back. */
  track(sent: unknown, stored: Promise<unknown>): void {
    const key = keyOf(sent);
    if (key === undefined) return;
    const answered: Promise<void> = stored.then(
      (object) => {
        this.remember(object);
      },
      () => undefined, // the writer handles its failure; a reader then reads the server
    );
    this.#inFlight.set(key, answered);
    void answered.then(() => {
      if (this.#inFlight.get(key) === answered) this.#inFlight.delete(key);
    });
  }

  /** Resolves once the last write of this manifest started is answered, or after `maxMs`. */
  async settled(namespace: string, name: string, maxMs = SETTLE_WAIT_MS): Promise<void> {
    const answered = this.#inFlight.get(`${namespace}/${name}`);
    if (!answered) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([answered, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)))]);
    clearTimeout(timer);
  }

  /**
   * An object a write returned or the watch brought; any kind may come (the
   * appliers write every kind), only manifests are kept.
   */
  remember(object: unknown): void {
    const key = keyOf(object);
    const resourceVersion = (object as ConsortiumManifestObject | undefined)?.metadata?.resourceVersion;
    if (key === undefined || !resourceVersion) return;
    this.#objects.delete(key); // re-inserted last: the map's order is the order of writes
    const json = JSON.stringify(object);
    if (json.length > MAX_CHARS) return;
    this.#objects.set(key, { resourceVersion, json });
    for (const oldest of this.#objects.keys()) {
      if (this.#objects.size <= this.#max) break;
      this.#objects.delete(oldest);
    }
  }

  /** The manifest at exactly `resourceVersion`, if this process wrote or saw that version last; a copy. */
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
