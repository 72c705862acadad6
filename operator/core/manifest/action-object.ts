// A manifest whose action is not `apply` (a resume, a policy change) carries
// exactly one object of its own kind, and that kind belongs nowhere else:
// one check for every such action, so each says the same thing the same way.
// Pure; hostile input reaches here only past the schema, and never throws.
import type { ConsortiumManifestSpec, ManifestAction } from "../../api/v1alpha1/consortium-manifest.ts";
import { API_VERSION } from "../../api/v1alpha1/fields.ts";

export interface ActionObjectRule {
  readonly action: Exclude<ManifestAction, "apply">;
  /** The kind (in dsc.federation.dev) only this action carries. */
  readonly kind: string;
  /** How the manifest is called in the error: "a resume", "a policy manifest". */
  readonly noun: string;
  /** The one object, written out, for the error's fix. */
  readonly example: string;
}

/**
 * The action's one object, or why the spec breaks the rule; undefined when
 * the spec is another action's and holds none of this kind.
 */
export function actionObject(
  spec: ConsortiumManifestSpec,
  rule: ActionObjectRule,
): { readonly object: Record<string, unknown> } | { readonly error: string } | undefined {
  const found = spec.objects
    .map((o: unknown, i) => ({ o, i }))
    .filter(
      (x): x is { o: Record<string, unknown>; i: number } =>
        typeof x.o === "object" &&
        x.o !== null &&
        (x.o as Record<string, unknown>).kind === rule.kind &&
        (x.o as Record<string, unknown>).apiVersion === API_VERSION,
    );
  if ((spec.action ?? "apply") !== rule.action) {
    const first = found[0];
    return first
      ? {
          error: `spec.objects[${String(first.i)}]: a ${rule.kind} belongs in a manifest whose action is ${rule.action}`,
        }
      : undefined;
  }
  const only = found[0];
  if (spec.objects.length !== 1 || !only)
    return { error: `spec.objects: ${rule.noun} holds exactly one object, ${rule.example}` };
  return { object: only.o };
}
