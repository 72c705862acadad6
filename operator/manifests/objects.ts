// Applying a manifest's objects to this cluster, all or nothing as far as the
// API server lets us: Namespaces first (so the rest can be validated inside
// them), then every other object dry-run, then for real. A mistake in object
// seven is found before object one is changed.
import type { Hex } from "viem";
import type { ObjectReference } from "../api/v1alpha1/consortium-manifest.ts";
import { httpStatus } from "../kube/errors.ts";
import type { ObjectApi } from "../kube/objects-api.ts";
import type { Applier } from "../runtime/apply.ts";
import { errorMessage } from "../runtime/errors.ts";
import {
  decorate,
  describeRef,
  DIGEST_ANNOTATION,
  MANAGED_LABEL,
  MANIFEST_ANNOTATION,
  referenceOf,
  sameObject,
} from "./labels.ts";

export class ApplyError extends Error {
  override name = "ApplyError";
}

function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON
    }
  }
  return errorMessage(error);
}

interface ApplyInput {
  readonly manifest: { readonly namespace: string; readonly name: string };
  readonly objects: readonly Record<string, unknown>[];
  readonly digest: Hex;
  readonly nonce: number;
  /** What this manifest applied before: known to be its own, not read again. */
  readonly applied: readonly ObjectReference[];
  /**
   * Whether the version may take over an object that exists and is not this
   * manifest's (made by hand, by a chart, or by another manifest): only a
   * critical version may, since a server-side apply with force takes every
   * field and a later prune deletes the object.
   */
  readonly adopt: boolean;
}

/** What the takeover check keeps of a live object (its marks, nothing of its data); undefined when there is none. */
type LiveObject = { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined;

/** Whether the operator applied `live` for manifest `id` (namespace/name), by its marks. */
const managedBy = (live: NonNullable<LiveObject>, id: string): boolean =>
  live.labels?.[MANAGED_LABEL] === "true" && live.annotations?.[MANIFEST_ANNOTATION] === id;

const liveKey = (ref: ObjectReference): string =>
  `${ref.apiVersion} ${ref.kind} ${ref.namespace ?? ""} ${ref.name}`;

const headerOf = (ref: ObjectReference) => ({
  apiVersion: ref.apiVersion,
  kind: ref.kind,
  metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
});

async function readLive(api: ObjectApi, ref: ObjectReference): Promise<LiveObject> {
  let live: unknown;
  try {
    live = await api.readRaw(headerOf(ref));
  } catch (error) {
    if (httpStatus(error) === 404) return undefined;
    throw error;
  }
  // Only a 404 means absent: an answer that is no object is an error, not a free name.
  if (typeof live !== "object" || live === null) throw new Error("the API server answered with no object");
  const metadata = (live as { metadata?: { labels?: unknown; annotations?: unknown } }).metadata;
  return {
    labels: (metadata?.labels ?? {}) as Record<string, string>,
    annotations: (metadata?.annotations ?? {}) as Record<string, string>,
  };
}

/**
 * Reads of live objects started ahead of an apply: the mirror starts those
 * the takeover check will make while it writes a manifest it verified, so
 * that the apply which follows need not wait a round trip for them. A read
 * is used once, and only while younger than `maxAgeMs` (250 ms: the check was
 * never atomic, a read then a forced write, and this widens its window from
 * one round trip to at most that); anything else is read afresh. Only an
 * object's labels and annotations are kept, at most `max` of them, and a read
 * older than `maxAgeMs` is dropped at the next prefetch or take.
 */
export class LiveReads {
  readonly #api: ObjectApi;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  readonly #max: number;
  readonly #reads = new Map<string, { readonly at: number; readonly read: Promise<LiveObject> }>();

  constructor(api: ObjectApi, options: { now?: () => number; maxAgeMs?: number; max?: number } = {}) {
    this.#api = api;
    this.#now = options.now ?? (() => performance.now());
    this.#maxAgeMs = options.maxAgeMs ?? 250;
    this.#max = options.max ?? 256;
  }

  /**
   * Starts the reads the takeover check of applying `objects` for `manifest`
   * would make: of those it did not apply before (`applied`), which the check
   * does not read. Best effort: a failure is left to the check.
   */
  prefetch(
    manifest: { readonly namespace: string; readonly name: string },
    objects: readonly Record<string, unknown>[],
    applied: readonly ObjectReference[] = [],
  ): void {
    this.#dropAged();
    void Promise.all(
      objects.map(async (object) => {
        const namespaced = await this.#api.isNamespaced(String(object.apiVersion), String(object.kind));
        const ref = referenceOf(decorate(object, manifest, "0x", 0, namespaced));
        if (applied.some((a) => sameObject(a, ref))) return;
        const read = readLive(this.#api, ref);
        read.catch(() => undefined); // handled by whoever takes it, or by nobody
        const key = liveKey(ref);
        this.#reads.delete(key);
        this.#reads.set(key, { at: this.#now(), read });
        for (const oldest of this.#reads.keys()) {
          if (this.#reads.size <= this.#max) break;
          this.#reads.delete(oldest);
        }
      }),
    ).catch(() => undefined);
  }

  /** The read of `ref` started ahead, once; undefined if there is none young enough. */
  take(ref: ObjectReference): Promise<LiveObject> | undefined {
    this.#dropAged();
    const key = liveKey(ref);
    const held = this.#reads.get(key);
    if (!held) return undefined;
    this.#reads.delete(key);
    return this.#now() - held.at < this.#maxAgeMs ? held.read : undefined;
  }

  #dropAged(): void {
    const now = this.#now();
    // In the order they were made: the first young one ends the sweep.
    for (const [key, held] of this.#reads) {
      if (now - held.at < this.#maxAgeMs) break;
      this.#reads.delete(key);
    }
  }

  /** Reads held, for tests and bounds. */
  get size(): number {
    return this.#reads.size;
  }
}

/**
 * Refuses, before anything is written, to take over an existing object this
 * manifest does not manage. Only objects new to the manifest are read: a
 * resync of what it applied costs nothing more. A read started ahead
 * (LiveReads) is used if it succeeded; one that failed is made again.
 */
async function checkAdoption(
  api: ObjectApi,
  input: ApplyInput,
  decorated: readonly Record<string, unknown>[],
  reads: LiveReads | undefined,
): Promise<void> {
  if (input.adopt) return;
  const id = `${input.manifest.namespace}/${input.manifest.name}`;
  const fresh = decorated.filter((o) => !input.applied.some((a) => sameObject(a, referenceOf(o))));
  await Promise.all(
    fresh.map(async (object) => {
      const ref = referenceOf(object);
      let live: LiveObject;
      try {
        const ahead = reads?.take(ref);
        live = await (ahead ? ahead.catch(() => readLive(api, ref)) : readLive(api, ref));
      } catch (error) {
        throw new ApplyError(`reading ${describeRef(ref)}: ${apiMessage(error)}`);
      }
      if (!live || managedBy(live, id)) return;
      const owner = live.annotations?.[MANIFEST_ANNOTATION];
      throw new ApplyError(
        `${describeRef(ref)} exists and is not this manifest's (${owner ? `it belongs to ${owner}` : "not managed by the operator"}): taking it over needs the critical tier`,
      );
    }),
  );
}

/** Kinds other objects may need to exist first: applied, in order, before the rest. */
const isFoundation = (o: Record<string, unknown>): boolean =>
  (o.apiVersion === "v1" && o.kind === "Namespace") || o.kind === "CustomResourceDefinition";

/**
 * Applies every object; returns what was applied, in manifest order.
 * Namespaces and CRDs go first, one by one; then every other object is
 * dry-run (all of them, in parallel) and only if all pass, applied in
 * parallel, like one sync wave. `beforeApply` (the finalizer) is done before
 * anything is written, beside the dry runs when it can be.
 */
export async function applyObjects(
  api: ObjectApi,
  applier: Applier,
  input: ApplyInput,
  beforeApply: () => Promise<void> = () => Promise.resolve(),
  reads?: LiveReads,
): Promise<ObjectReference[]> {
  const decorated = await Promise.all(
    input.objects.map(async (object, i) => {
      const where = `spec.objects[${String(i)}] (${String(object.kind)})`;
      try {
        const namespaced = await api.isNamespaced(String(object.apiVersion), String(object.kind));
        return decorate(object, input.manifest, input.digest, input.nonce, namespaced);
      } catch (error) {
        throw new ApplyError(`${where}: ${apiMessage(error)}`);
      }
    }),
  );
  const applyOne = async (object: Record<string, unknown>, dryRun: boolean): Promise<void> => {
    try {
      await applier.apply(object, { dryRun });
    } catch (error) {
      const ref = describeRef(referenceOf(object));
      throw new ApplyError(`${dryRun ? "validating" : "applying"} ${ref}: ${apiMessage(error)}`);
    }
  };
  const foundation = decorated.filter(isFoundation);
  const rest = decorated.filter((o) => !isFoundation(o));
  // A single object's own apply is already all or nothing: no dry run needed.
  const dryRun = (): Promise<unknown> =>
    rest.length > 1 ? Promise.all(rest.map((o) => applyOne(o, true))) : Promise.resolve();
  // The takeover check reads, the finalizer touches only the ConsortiumManifest and the dry runs
  // change nothing: none need wait for another, and no object is written before all three are done.
  const adoption = checkAdoption(api, input, decorated, reads);
  if (foundation.length === 0) {
    await Promise.all([adoption, beforeApply(), dryRun()]);
  } else {
    // Objects inside a new Namespace cannot be validated before it exists.
    await Promise.all([adoption, beforeApply()]);
    for (const object of foundation) await applyOne(object, false);
    await dryRun();
  }
  await Promise.all(rest.map((o) => applyOne(o, false)));
  return decorated.map(referenceOf);
}

/**
 * Where a version put its objects in this cluster, for a prune: their references, placed as
 * its apply placed them. A kind this cluster no longer serves has no object left to prune.
 */
export async function placedReferences(
  api: ObjectApi,
  manifest: { readonly namespace: string; readonly name: string },
  version: {
    readonly digest: string;
    readonly nonce: number;
    readonly objects: readonly Record<string, unknown>[];
  },
): Promise<ObjectReference[]> {
  // One discovery read per kind, however many objects share it.
  const kinds = new Map<string, ReturnType<ObjectApi["resource"]>>();
  const resourceOf = (object: Record<string, unknown>) => {
    const [apiVersion, kind] = [String(object.apiVersion), String(object.kind)];
    const key = `${apiVersion} ${kind}`;
    let resource = kinds.get(key);
    if (!resource) kinds.set(key, (resource = api.resource(apiVersion, kind)));
    return resource;
  };
  const placed = await Promise.all(
    version.objects.map(async (object) => {
      const resource = await resourceOf(object);
      return (
        resource &&
        referenceOf(decorate(object, manifest, version.digest as Hex, version.nonce, resource.namespaced))
      );
    }),
  );
  return placed.filter((ref) => ref !== undefined);
}

/**
 * Deletes objects this manifest applied before and no longer holds, but only
 * while they still carry our label and this manifest's name: an object since
 * taken over by another manifest is left alone. Nor is one the version being
 * applied wrote (`applying`, its digest): the same object may be named under
 * two versions of its API (autoscaling/v1 and v2), and the reference the
 * version before used still reads it. With `only`, just objects last written
 * by that version are deleted. Returns what was deleted.
 */
export async function pruneObjects(
  api: ObjectApi,
  manifest: { readonly namespace: string; readonly name: string },
  previous: readonly ObjectReference[],
  keep: readonly ObjectReference[],
  written: { readonly applying?: string | undefined; readonly only?: string } = {},
): Promise<ObjectReference[]> {
  const pruned: ObjectReference[] = [];
  const same = (a: string | undefined, b: string | undefined): boolean =>
    a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
  for (const ref of previous.filter((p) => !keep.some((k) => sameObject(p, k)))) {
    try {
      const live = await readLive(api, ref);
      if (!live || !managedBy(live, `${manifest.namespace}/${manifest.name}`)) continue;
      const digest = live.annotations?.[DIGEST_ANNOTATION];
      if (same(digest, written.applying)) continue;
      if (written.only !== undefined && !same(digest, written.only)) continue;
      await api.delete(headerOf(ref), { propagationPolicy: "Background" });
      pruned.push(ref);
    } catch (error) {
      if (httpStatus(error) === 404) continue;
      throw new ApplyError(`pruning ${describeRef(ref)}: ${apiMessage(error)}`);
    }
  }
  return pruned;
}
