// Server-side apply under the operator's own field manager, for any kind and
// for the /status subresource: `application/apply-patch+yaml` (JSON is YAML)
// on the object or on its /status, through ObjectApi (plain JSON, see
// kube/objects-api.ts), with `fieldValidation=Strict` so that a misspelt field is
// refused instead of silently dropped.
import type { KubeAccess } from "../kube/access.ts";
import { APPLY_PATCH } from "../kube/patch.ts";
import type { ObjectHeader } from "../kube/object.ts";
import { ObjectApi } from "../kube/objects-api.ts";

export const FIELD_MANAGER = "dsc-operator";

export interface ApplyOptions {
  /**
   * Take over fields another manager owns instead of failing with 409.
   * Default true: a controller is the authority over what it applies and
   * cannot ask a human to resolve a conflict.
   */
  readonly force?: boolean;
  /** Validate and compute the result without persisting it. */
  readonly dryRun?: boolean;
}

/** Told of each write as it starts: the object sent, and the promise of the object as stored. */
export type WriteObserver = (sent: ObjectHeader, stored: Promise<unknown>) => void;

/** The apply body: the caller's object without managedFields, which the API server refuses in an apply. */
export function applyBody(object: ObjectHeader): Record<string, unknown> {
  const body: Record<string, unknown> = { ...object };
  if (object.metadata && "managedFields" in object.metadata) {
    body.metadata = Object.fromEntries(
      Object.entries(object.metadata).filter(([k]) => k !== "managedFields"),
    );
  }
  return body;
}

export class Applier {
  readonly fieldManager: string;
  readonly #api: ObjectApi;
  readonly #writing: WriteObserver | undefined;

  /** `writing` sees each write (not a dry run) as it starts: what was sent, and the object as it will be stored. */
  constructor(
    kc: KubeAccess,
    options: { readonly fieldManager?: string; readonly writing?: WriteObserver } = {},
  ) {
    this.fieldManager = options.fieldManager ?? FIELD_MANAGER;
    this.#api = ObjectApi.forConfig(kc);
    this.#writing = options.writing;
  }

  /**
   * Applies the fields of `object` (which should hold only the fields this
   * operator owns) and returns the object as stored. Creates it if absent.
   */
  apply<T extends ObjectHeader>(object: T, options: ApplyOptions = {}): Promise<T> {
    return this.#seen(
      object,
      this.#api.patchRaw(object, APPLY_PATCH, applyBody(object), this.#query(options)),
      options,
    );
  }

  /**
   * Applies `object.status` through the /status subresource (a custom
   * resource needs `subresources.status`); everything else in the object
   * but its identity is ignored there.
   */
  applyStatus<T extends ObjectHeader>(object: T, options: ApplyOptions = {}): Promise<T> {
    return this.#seen(
      object,
      this.#api.patchRaw(object, APPLY_PATCH, applyBody(object), this.#query(options), "/status"),
      options,
    );
  }

  #seen<T>(object: ObjectHeader, write: Promise<T>, options: ApplyOptions): Promise<T> {
    try {
      if (options.dryRun !== true) this.#writing?.(object, write);
    } catch {
      // An observer is told, never in the way: the write goes on whatever it does.
    }
    return write;
  }

  #query(options: ApplyOptions): Record<string, string> {
    return {
      fieldManager: this.fieldManager,
      fieldValidation: "Strict",
      force: String(options.force ?? true),
      ...(options.dryRun === true && { dryRun: "All" }),
    };
  }
}
