// A peer's identity is its certificate: the Federation spec pins, per region,
// the SHA-256 fingerprint of the peer's DER certificate. No CA is involved, so
// nothing a CA signs can impersonate a peer, and replacing a region's
// certificate is a change of the pin (itself a federation decision).
import { createHash, X509Certificate } from "node:crypto";

/** Why a connection was refused: the `reason` label of dsc_peer_refused_total. */
export type RefusalReason =
  | "no_certificate"
  | "unknown_certificate"
  | "wrong_region"
  | "wrong_direction"
  | "version_mismatch"
  | "tls_handshake";

/** The SHA-256 fingerprint of a certificate (PEM or DER) as 64 lower-case hex digits. */
export function fingerprint(pemOrDer: string | Uint8Array): string {
  // X509Certificate parses both forms, and refuses what is not a certificate.
  const der = new X509Certificate(pemOrDer).raw;
  return createHash("sha256").update(der).digest("hex");
}

/** The fingerprint of DER bytes as received in a handshake. */
export function fingerprintDer(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/**
 * A pinned fingerprint in the form `fingerprint` returns. Accepts what tools
 * print: upper case, and the colon-separated form of `openssl x509 -fingerprint`.
 */
export function normalizeFingerprint(pin: string): string {
  const hex = pin
    .replace(/^sha256:/i, "")
    .replaceAll(":", "")
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a SHA-256 fingerprint: ${JSON.stringify(pin)}`);
  return hex;
}

type Identification =
  { readonly ok: true; readonly region: string } | { readonly ok: false; readonly reason: RefusalReason };

/**
 * The region a client certificate authenticates, as the accepting side sees
 * it. `pins` maps fingerprint to region; `dials(region)` says whether this
 * side dials that region, in which case that region must not dial us.
 */
export function identifyClient(
  presented: string | undefined,
  pins: ReadonlyMap<string, string>,
  dials: (region: string) => boolean,
): Identification {
  if (presented === undefined) return { ok: false, reason: "no_certificate" };
  const region = pins.get(presented);
  if (region === undefined) return { ok: false, reason: "unknown_certificate" };
  if (dials(region)) return { ok: false, reason: "wrong_direction" };
  return { ok: true, region };
}

/** Whether the server we dialled for `dialled` presented that region's pinned certificate. */
export function verifyServer(
  presented: string | undefined,
  pins: ReadonlyMap<string, string>,
  dialled: string,
): Identification {
  if (presented === undefined) return { ok: false, reason: "no_certificate" };
  const region = pins.get(presented);
  if (region === undefined) return { ok: false, reason: "unknown_certificate" };
  if (region !== dialled) return { ok: false, reason: "wrong_region" };
  return { ok: true, region };
}
