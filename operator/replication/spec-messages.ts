// The messages of the spec exchange, on the peer connection's SPECS channel:
// a region asks for the specs it lacks by digest (WANT), a peer that holds one
// answers with it (SPEC). Pure; decoding never throws, whatever a peer sends.
import { checkDigest, StateInputError } from "../state/model.ts";

export type SpecMessage =
  | { readonly kind: "want"; readonly digests: readonly string[] }
  | { readonly kind: "spec"; readonly digest: string; readonly json: string };

/** Digests per WANT: one message stays small, and a peer answers a bounded burst. */
export const MAX_WANT = 256;

type DecodedSpecMessage =
  { readonly ok: true; readonly message: SpecMessage } | { readonly ok: false; readonly reason: string };

export function encodeSpecMessage(message: SpecMessage): Uint8Array {
  if (message.kind === "want" && (message.digests.length === 0 || message.digests.length > MAX_WANT))
    throw new RangeError(`a WANT holds 1 to ${MAX_WANT} digests, not ${message.digests.length}`);
  return new TextEncoder().encode(JSON.stringify(message));
}

export function decodeSpecMessage(bytes: Uint8Array): DecodedSpecMessage {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return refused("not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return refused("not an object");
  const m = value as Record<string, unknown>;
  try {
    if (m.kind === "want") {
      const digests = m.digests;
      if (!Array.isArray(digests) || digests.length === 0 || digests.length > MAX_WANT)
        return refused(`want.digests: expected 1 to ${MAX_WANT} digests`);
      const checked = digests.map((d) => checkDigest(typeof d === "string" ? d : ""));
      return { ok: true, message: { kind: "want", digests: [...new Set(checked)] } };
    }
    if (m.kind === "spec") {
      if (typeof m.digest !== "string") return refused("spec.digest: expected a string");
      if (typeof m.json !== "string") return refused("spec.json: expected a string");
      return { ok: true, message: { kind: "spec", digest: checkDigest(m.digest), json: m.json } };
    }
  } catch (error) {
    if (error instanceof StateInputError) return refused(error.message);
    throw error;
  }
  return refused(`unknown kind ${JSON.stringify(m.kind)}`.slice(0, 120));
}

const refused = (reason: string): DecodedSpecMessage => ({ ok: false, reason });
