// What a resume manifest lifts. Its one object, a GuardianResume, names the
// pause tokens the signers reviewed; the digest covers it like any object, so
// the approvals are bound to exactly those pauses. A pause raised after the
// signing has a token they never saw, and stays in force (pause wins).
import type { ConsortiumManifestSpec } from "../api/v1alpha1/consortium-manifest.ts";
import { API_VERSION } from "../api/v1alpha1/fields.ts";
import { actionObject } from "../core/manifest/action-object.ts";

export const RESUME_KIND = "GuardianResume";
const TOKEN = /^[A-Za-z0-9:_.-]{1,100}$/;
const MAX_TOKENS = 64;

const example = `{apiVersion: ${API_VERSION}, kind: ${RESUME_KIND}, metadata: {name: resume}, spec: {tokens: [<token from kubectl get federation -o yaml: status.guardian.pauses[].token>]}}`;

/** The tokens a resume lifts, or why the spec is not a well-formed resume (or apply). */
export function resumeTokens(
  spec: ConsortiumManifestSpec,
): { readonly tokens: readonly string[] } | { readonly error: string } | undefined {
  const found = actionObject(spec, { action: "resume", kind: RESUME_KIND, noun: "a resume", example });
  if (!found || "error" in found) return found;
  const tokens = (found.object.spec as { tokens?: unknown } | undefined)?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0 || tokens.length > MAX_TOKENS)
    return { error: `spec.objects[0].spec.tokens: list the 1 to ${String(MAX_TOKENS)} pause tokens to lift` };
  const bad = tokens.findIndex((t) => typeof t !== "string" || !TOKEN.test(t));
  if (bad >= 0)
    return {
      error: `spec.objects[0].spec.tokens[${String(bad)}]: ${JSON.stringify(tokens[bad])} is not a pause token`,
    };
  return { tokens: [...new Set(tokens as string[])] };
}
