// The messages of the spec exchange, on the peer connection's SPECS channel:
// a region asks for the specs it lacks by digest (WANT), a peer that holds one
// answers with it (SPEC). Pure; decoding never throws, whatever a peer sends.
//
// A SPEC that a region offers before it verified the version itself may carry
// a hint: the manifest's id and the approvals its spec carries (the stored
// form holds none). A peer may check the version against the chain while the
// sender does, instead of after the sender's state change names it; a hint
// decides nothing. Older releases ignore the two fields.
import type { SignedSafe } from "../api/v1alpha1/consortium-manifest.ts";
import { approvalKey } from "../state/document.ts";
import { checkDigest, checkHex, checkId, checkSafe, StateInputError } from "../state/model.ts";
import { BOUNDS, MAX_KEY_LENGTH } from "../state/validate.ts";

/** The manifest a spec belongs to and the approvals it carries: what a peer needs to verify it early. */
export interface SpecHint {
  readonly id: string;
  readonly signatures: readonly { readonly safe: SignedSafe; readonly data: string }[];
}

export type SpecMessage =
  | { readonly kind: "want"; readonly digests: readonly string[] }
  | { readonly kind: "spec"; readonly digest: string; readonly json: string; readonly hint?: SpecHint };

/**
 * Whether the federation state would keep this approval of `digest` (state/validate.ts): a
 * hint carries no approval the state could not, so a peer's hint costs at most what its
 * state change could (each approval is a signature recovered, or a contract asked, on chain).
 */
export const keptApproval = (digest: string, safe: SignedSafe, data: string): boolean =>
  approvalKey(digest, safe, data).length <= MAX_KEY_LENGTH;

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
      const digest = checkDigest(m.digest);
      if (m.hint === undefined) return { ok: true, message: { kind: "spec", digest, json: m.json } };
      const hint = decodeHint(m.hint, digest);
      return typeof hint === "string"
        ? refused(hint)
        : { ok: true, message: { kind: "spec", digest, json: m.json, hint } };
    }
  } catch (error) {
    if (error instanceof StateInputError) return refused(error.message);
    throw error;
  }
  return refused(`unknown kind ${JSON.stringify(m.kind)}`.slice(0, 120));
}

const refused = (reason: string): DecodedSpecMessage => ({ ok: false, reason });

/** A hint, or why it is refused. Throws StateInputError for a malformed id, safe or signature. */
function decodeHint(value: unknown, digest: string): SpecHint | string {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return "spec.hint: expected an object";
  const h = value as Record<string, unknown>;
  if (typeof h.id !== "string" || h.id.length > 512) return "spec.hint.id: expected namespace/name";
  const most = BOUNDS.approvalsPerVersion;
  if (!Array.isArray(h.signatures) || h.signatures.length > most)
    return `spec.hint.signatures: expected an array of at most ${String(most)} approvals`;
  const signatures = h.signatures.map((entry: unknown, i) => {
    const where = `spec.hint.signatures[${String(i)}]`;
    const e = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
    // Bounded before it is checked: a megabyte of "hex" is refused by its length, not scanned.
    if (typeof e.data !== "string" || e.data.length > MAX_KEY_LENGTH)
      throw new StateInputError(`${where}.data: expected hex bytes`);
    const approval = { safe: checkSafe(typeof e.safe === "string" ? e.safe : ""), data: checkHex(e.data) };
    if (!keptApproval(digest, approval.safe, approval.data))
      throw new StateInputError(`${where}.data: longer than an approval the federation state keeps`);
    return approval;
  });
  return { id: checkId(h.id), signatures };
}
